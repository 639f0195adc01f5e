/**
 * The Debian package (`make deb`) in the kernel lab: lab/run-lab-tests.sh builds it on the host and passes its path
 * as STAS_DEB; this test installs it into the guest's throw-away root with dpkg, as an admin would:
 * - `dpkg -i`: every file of the package in place, the conffiles registered, the installed programs run from the
 *   bundle (stafd --version, --idl loads the whole program), the postinst creates a missing host ID and keeps an
 *   existing host NQN, never writes sys.conf, and enables the units (deb-systemd-helper; nothing is started:
 *   the guest has no systemd);
 * - `dpkg -r`: the programs go, the conffiles (one edited) stay, the host identity stays;
 * - `dpkg -P`: the conffiles, the units' enablement and the daemons' runtime state go; /etc/stas goes unless an
 *   admin's own file is in it (kept); the host identity stays. Nothing else of the package is left.
 *
 * Runs inside the kernel lab guest with STAS_DEB set (npm run test:lab); skipped anywhere else.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { test } from 'node:test';
import { scaled } from '../support/slow.js';
import { labSkipReason, skipManDbTrigger } from './support/host.js';

const DEB = process.env['STAS_DEB'];
const skip =
  labSkipReason() ??
  (!DEB || !existsSync(DEB) ? 'no .deb (lab/run-lab-tests.sh builds one with make deb)' : undefined);

const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive' };
const KNOWN_NQN = 'nqn.2014-08.org.nvmexpress:uuid:0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: ENV, timeout: scaled(300_000) });
  return { status: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}
function ok(cmd: string, args: string[]): string {
  const r = run(cmd, args);
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}:\n${r.out}`);
  return r.stdout;
}
/** dpkg-query -W -f='${field}' stas: stdout, '' when the package is unknown. */
function query(field: string): string {
  return run('dpkg-query', ['-W', '-f=${' + field + '}', 'stas']).stdout;
}
const exists = (p: string) => {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
};

test('the .deb installs, removes and purges cleanly with dpkg', { skip, timeout: scaled(900_000) }, (t) => {
  // The guest's host identity as the other tests found it, back afterwards.
  const identity = ['/etc/nvme/hostnqn', '/etc/nvme/hostid'].map(
    (f) => [f, existsSync(f) ? readFileSync(f) : null] as const,
  );
  t.after(() => {
    for (const [f, content] of identity) {
      if (content === null) rmSync(f, { force: true });
      else writeFileSync(f, content);
    }
  });
  // The package's own files (dpkg-deb -c: "./usr/sbin/stafd" …), regular files only.
  const listing = ok('dpkg-deb', ['-c', DEB!]);
  const files = listing
    .split('\n')
    .filter((l) => l.startsWith('-'))
    .map((l) => l.slice(l.indexOf('./') + 1));
  const conffiles = files.filter((f) => f.startsWith('/etc/'));
  const programs = files.filter((f) => !f.startsWith('/etc/'));
  assert.ok(programs.includes('/usr/sbin/stafd') && programs.includes('/usr/lib/stas/stas_native.node'));
  assert.deepEqual(conffiles.sort(), [
    '/etc/stas/stacd.conf',
    '/etc/stas/stafd.conf',
    '/etc/stas/sys.conf.doc',
  ]);
  assert.deepEqual(
    files.filter((f) => f.includes('node_modules') || f.endsWith('package.json')),
    [],
    'no node_modules',
  );

  // A clean start in the throw-away root: nothing of stas from another test, an existing host NQN, no host ID.
  for (const f of files) rmSync(f, { force: true });
  rmSync('/usr/lib/stas', { recursive: true, force: true });
  rmSync('/etc/stas', { recursive: true, force: true });
  mkdirSync('/etc/nvme', { recursive: true });
  writeFileSync('/etc/nvme/hostnqn', `${KNOWN_NQN}\n`);
  rmSync('/etc/nvme/hostid', { force: true });

  // man-db's trigger would rebuild the whole manual page index after each dpkg run: minutes in the emulated
  // guest, and nothing this test looks at. Its documented switch off, in the throw-away root only.
  rmSync('/var/lib/man-db/auto-update', { force: true });

  // dpkg -i
  skipManDbTrigger();
  ok('dpkg', ['-i', DEB!]);
  assert.match(`${query('Status')} ${query('Version')}`, /^install ok installed \d/);
  for (const f of files) assert.ok(existsSync(f), `${f} installed`);
  const registered = query('Conffiles');
  for (const f of conffiles) assert.match(registered, new RegExp(`^ ${f} [0-9a-f]{32}$`, 'm'));
  const version = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'))
    .version as string;
  for (const p of [
    '/usr/sbin/stafd',
    '/usr/sbin/stacd',
    '/usr/bin/stafctl',
    '/usr/bin/stacctl',
    '/usr/bin/stasadm',
  ])
    assert.equal(ok(p, ['--version']), `stas ${version}\n`, p);
  ok('/usr/sbin/stafd', ['--idl', '/tmp/deb-test-idl.xml']);
  assert.match(readFileSync('/tmp/deb-test-idl.xml', 'utf8'), /<interface name="org.nvmexpress.staf">/);
  // postinst: the missing host ID created, the existing host NQN kept, sys.conf left alone.
  assert.equal(readFileSync('/etc/nvme/hostnqn', 'utf8'), `${KNOWN_NQN}\n`);
  const hostid = readFileSync('/etc/nvme/hostid', 'utf8');
  assert.match(hostid, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n$/);
  assert.equal(existsSync('/etc/stas/sys.conf'), false, 'the postinst writes no sys.conf');
  // postinst: the units enabled (WantedBy=multi-user.target), not started (no systemd here).
  for (const unit of ['stafd.service', 'stacd.service']) {
    const link = `/etc/systemd/system/multi-user.target.wants/${unit}`;
    assert.equal(readlinkSync(link), `/lib/systemd/system/${unit}`, link);
  }
  // What a running system adds: an edited conffile, the daemons' runtime state.
  writeFileSync(
    '/etc/stas/stafd.conf',
    `${readFileSync('/etc/stas/stafd.conf', 'utf8')}\n[Global]\ntron = true\n`,
  );
  for (const d of ['/run/stafd', '/run/stacd']) {
    mkdirSync(d, { recursive: true });
    writeFileSync(`${d}/last-known-config.json`, '{}');
  }

  // dpkg -r: the programs go; the conffiles and the host identity stay.
  ok('dpkg', ['-r', 'stas']);
  assert.match(query('Status'), /^deinstall ok config-files$/);
  for (const f of programs) assert.equal(exists(f), false, `${f} removed`);
  assert.equal(exists('/usr/lib/stas'), false);
  for (const f of conffiles) assert.ok(existsSync(f), `${f} kept by dpkg -r`);
  assert.match(readFileSync('/etc/stas/stafd.conf', 'utf8'), /tron = true/);
  assert.equal(readFileSync('/etc/nvme/hostid', 'utf8'), hostid);

  // dpkg -P: conffiles, enablement and runtime state go; an admin's own file in /etc/stas and the identity stay.
  writeFileSync('/etc/stas/sys.conf', '[Host]\nsymname = rack 4\n');
  ok('dpkg', ['-P', 'stas']);
  assert.doesNotMatch(query('Status'), /installed|config-files/);
  for (const f of files) assert.equal(exists(f), false, `${f} purged`);
  assert.deepEqual(readdirSync('/etc/stas'), ['sys.conf'], "only the admin's own file is left in /etc/stas");
  for (const d of ['/run/stafd', '/run/stacd']) assert.equal(exists(d), false, `${d} purged`);
  for (const unit of ['stafd.service', 'stacd.service']) {
    assert.equal(exists(`/etc/systemd/system/multi-user.target.wants/${unit}`), false, `${unit} disabled`);
    assert.equal(exists(`/var/lib/systemd/deb-systemd-helper-enabled/${unit}.dsh-also`), false);
  }
  assert.equal(readFileSync('/etc/nvme/hostnqn', 'utf8'), `${KNOWN_NQN}\n`);
  assert.equal(readFileSync('/etc/nvme/hostid', 'utf8'), hostid);

  // Without an admin's file, /etc/stas itself goes: install and purge again.
  rmSync('/etc/stas/sys.conf');
  skipManDbTrigger();
  ok('dpkg', ['-i', DEB!]);
  ok('dpkg', ['-P', 'stas']);
  assert.equal(exists('/etc/stas'), false, '/etc/stas purged');
  for (const f of files) assert.equal(exists(f), false, `${f} purged`);
});
