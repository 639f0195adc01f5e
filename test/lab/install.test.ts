/**
 * The installed stas, as a distribution would ship it, in the kernel lab: lab/run-lab-tests.sh stages
 * `make install DESTDIR=… PREFIX=/usr SYSCONFDIR=/etc` on the host; this test copies the staged tree over the
 * guest's throw-away root, starts a real system bus (dbus-daemon --system, reading the installed policy files
 * from /usr/share/dbus-1/system.d) and runs /usr/sbin/stafd and /usr/sbin/stacd with their installed default
 * configuration files (stafd.conf gets one controller= line) against the kernel target:
 * - the I/O controllers of the discovery log page connect;
 * - the installed stafctl and stacctl (default pprint output and --json) show what the daemons and the kernel have;
 * - the installed policy lets root call the methods, and any other user only introspect;
 * - SIGTERM stops both daemons with status 0 and leaves the connections in place.
 *
 * Runs inside the kernel lab guest with STAS_STAGED_ROOT set (npm run test:lab); skipped anywhere else.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { test } from 'node:test';
import { scaled } from '../support/slow.js';
import { until } from '../support/until.js';
import { disconnectAll, freshLab, labSkipReason } from './support/host.js';
import { clearRegistry, ioControllers, ioNqns } from './support/stas-run.js';

const STAGE = process.env['STAS_STAGED_ROOT'];
const skip =
  labSkipReason() ??
  (!STAGE || !existsSync(`${STAGE}/usr/sbin/stafd`)
    ? 'no staged install (lab/run-lab-tests.sh makes one)'
    : undefined);
const NQN = (i: number) => `nqn.2024-01.io.stas-lab:installed-${i}`;
const SOCKET = '/run/dbus/system_bus_socket';

/** The environment of a program started by systemd: no private bus address, nothing from the test runner. */
function systemEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };
  return env;
}

function run(cmd: string, args: string[], user?: string) {
  const argv = user ? ['-u', user, '--', cmd, ...args] : args;
  const r = spawnSync(user ? 'runuser' : cmd, argv, {
    encoding: 'utf8',
    env: systemEnv(),
    timeout: scaled(30_000),
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('installed programs, configuration templates and D-Bus policy work on a real system bus', {
  skip,
  timeout: scaled(180_000),
}, async (t) => {
  // Like a package manager: the staged /usr and /etc merged into the system's (not the staging root's own mode).
  execFileSync('cp', ['-a', ...readdirSync(STAGE!).map((d) => `${STAGE}/${d}`), '/']);
  const { nvmet, disc } = await freshLab(t);
  clearRegistry();
  const subsystems = [1, 2, 3].map(NQN);
  for (const nqn of subsystems)
    nvmet.addSubsystem({ nqn, namespaces: [{ backend: 'null_blk', sizeBytes: 1 << 20 }], ports: [disc] });

  // The installed templates, with every option commented out, plus what an admin adds.
  appendFileSync(
    '/etc/stas/stafd.conf',
    '\n[Service Discovery]\nzeroconf = disabled\n\n[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1;trsvcid=8009\n',
  );

  mkdirSync('/run/dbus', { recursive: true });
  rmSync(SOCKET, { force: true });
  const bus = spawn('dbus-daemon', ['--system', '--nofork', '--nopidfile'], { stdio: 'ignore' });
  const daemons: ChildProcess[] = [];
  const output: string[] = [];
  t.after(async () => {
    for (const p of daemons) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    bus.kill();
    await disconnectAll();
    clearRegistry();
  });
  await until('the system bus socket', () => existsSync(SOCKET), 10_000);

  const start = (prog: string) => {
    const p = spawn(`/usr/sbin/${prog}`, [], { env: systemEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (d: Buffer) => output.push(`${prog}: ${d}`);
    p.stdout!.on('data', keep);
    p.stderr!.on('data', keep);
    daemons.push(p);
    return p;
  };
  const t0 = Date.now();
  const phase = (what: string) => t.diagnostic(`${what}: ${Date.now() - t0} ms`);
  const stafd = start('stafd');
  const stacd = start('stacd');

  await until(
    'the three I/O controllers connected by the installed stacd',
    async () => JSON.stringify(await ioNqns()) === JSON.stringify(subsystems),
    60_000,
  ).catch((e: Error) => {
    throw new Error(`${e.message}\n${output.join('')}`);
  });

  phase('connected');
  // stacctl: pprint by default (what nvme-stas scripts parse), JSON with --json; both match the kernel.
  const kernel = (await ioControllers()).map((c) => [c.device, c.subsysnqn]).sort();
  const ls = run('/usr/bin/stacctl', ['ls']);
  assert.equal(ls.status, 0, ls.stderr);
  assert.match(ls.stdout, /^\[\{'device': 'nvme\d+',\n/);
  for (const [device, nqn] of kernel) {
    assert.ok(ls.stdout.includes(`'device': '${device}'`), `${device} in stacctl ls`);
    assert.ok(ls.stdout.includes(`'subsysnqn': '${nqn}'`), `${nqn} in stacctl ls`);
  }
  const lsJson = run('/usr/bin/stacctl', ['--json', 'ls']);
  assert.equal(lsJson.status, 0, lsJson.stderr);
  const listed = (JSON.parse(lsJson.stdout) as Record<string, string>[]).map((c) => [
    c['device'],
    c['subsysnqn'],
  ]);
  assert.deepEqual(listed.sort(), kernel);

  // stafctl: the DC and its log page.
  const dcs = JSON.parse(run('/usr/bin/stafctl', ['--json', 'ls']).stdout) as Record<string, string>[];
  assert.deepEqual(
    dcs.map((d) => [d['transport'], d['traddr'], d['trsvcid']]),
    [['tcp', '127.0.0.1', '8009']],
  );
  const adlp = run('/usr/bin/stafctl', ['adlp']);
  assert.equal(adlp.status, 0, adlp.stderr);
  for (const nqn of subsystems)
    assert.ok(adlp.stdout.includes(`'subnqn': '${nqn}'`), `${nqn} in stafctl adlp`);

  phase('CLIs checked');
  // The installed policy: another user may introspect but not call methods.
  for (const ctl of ['stafctl', 'stacctl']) {
    const denied = run(`/usr/bin/${ctl}`, ['ls'], 'nobody');
    assert.equal(denied.status, 1, `${ctl} ls as nobody: ${denied.stdout}${denied.stderr}`);
    assert.match(denied.stderr, /Permission denied: only root may query or control/);
  }
  const introspect = run(
    'busctl',
    ['--system', 'introspect', 'org.nvmexpress.staf', '/org/nvmexpress/staf', 'org.nvmexpress.staf'],
    'nobody',
  );
  assert.equal(introspect.status, 0, introspect.stderr);
  assert.match(introspect.stdout, /\.get_all_log_pages\s+method\s+b\s+s/);

  phase('policy checked');
  // SIGTERM: orderly exit, connections left in place.
  for (const p of [stacd, stafd]) {
    const exited = once(p, 'exit');
    p.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0, output.join(''));
  }
  phase('stopped');
  assert.deepEqual(await ioNqns(), subsystems);
});
