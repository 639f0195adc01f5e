/**
 * The Debian package's units under a real systemd: lab/run-lab-tests.sh runs systemd*.test.js in a guest booted
 * with `lab/vm-run.sh --systemd` (systemd is PID 1, the test runs as the oneshot unit vmrun.service after
 * basic.target: journald and the D-Bus system bus are up). The test installs STAS_DEB with dpkg, then:
 * - stas-config@hostnqn.service / stas-config@hostid.service create a missing host identity and keep an existing one;
 * - `systemctl start stafd stacd` returns once the bus names are owned (Type=dbus);
 * - under the units' hardening, stacd connects the I/O controller of its own controller= line and those of the
 *   discovery log stafd gets (netlink uevents, /dev/nvme-fabrics, sysfs, D-Bus all work);
 * - `systemctl reload stafd` is a SIGHUP: a controller= line added to stafd.conf takes effect, the journal says
 *   "Configuration reloaded", and a bad value's warning is in `journalctl -u stafd -p warning` at priority 4;
 * - `kill -9` of stafd: systemd restarts it (Restart=on-failure) and, its runtime directory kept
 *   (RuntimeDirectoryPreserve=yes), it serves the last-known log pages as soon as it is back on the bus;
 * - `systemctl stop stacd stafd` leaves the I/O connections in place.
 * It prints `systemd-analyze security stafd stacd`'s exposure scores as diagnostics.
 *
 * Skipped anywhere else (outside the lab, or in a lab boot whose PID 1 is not systemd).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { scaled } from '../support/slow.js';
import { until } from '../support/until.js';
import { disconnectAll, freshLab, labSkipReason, skipManDbTrigger } from './support/host.js';
import { clearRegistry, ioNqns } from './support/stas-run.js';

const DEB = process.env['STAS_DEB'];
const skip =
  labSkipReason() ??
  (!existsSync('/run/systemd/system')
    ? 'systemd is not PID 1 here (lab/run-lab-tests.sh runs systemd*.test.js in a lab/vm-run.sh --systemd boot)'
    : undefined) ??
  (!DEB || !existsSync(DEB) ? 'no .deb (lab/run-lab-tests.sh builds one with make deb)' : undefined);

const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive' };
const NQN = (i: number) => `nqn.2024-01.io.stas-lab:systemd-${i}`;

function run(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: ENV, timeout: scaled(300_000) });
  return { status: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}
function ok(cmd: string, args: string[]): string {
  const r = run(cmd, args);
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}:\n${r.out}`);
  return r.stdout;
}
const prop = (unit: string, p: string) => ok('systemctl', ['show', '-p', p, '--value', unit]).trim();
const owned = (name: string) => run('busctl', ['--system', 'status', name]).status === 0;
const journal = (unit: string, ...args: string[]) =>
  run('journalctl', ['--no-pager', '-o', 'cat', '-u', unit, ...args]).stdout;
const status = () => run('systemctl', ['status', '--no-pager', '-l', '-n', '40', 'stafd', 'stacd']).out;
/** The subsystem NQNs of stafctl adlp's log pages (stafd's cached discovery log). */
function adlpNqns(): string[] {
  const r = run('/usr/bin/stafctl', ['--json', 'adlp']);
  if (r.status !== 0) return [];
  const nqns = new Set<string>();
  for (const m of r.stdout.matchAll(/"subnqn":\s*"([^"]+)"/g))
    if (m[1]!.startsWith(NQN(0).slice(0, -1))) nqns.add(m[1]!);
  return [...nqns].sort();
}

test('the .deb under systemd: identity units, Type=dbus, reload, restart, stop, hardening, journal', {
  skip,
  timeout: scaled(900_000),
}, async (t) => {
  t.after(async () => {
    run('systemctl', ['stop', 'stacd', 'stafd']);
    run('dpkg', ['-P', 'stas']);
    await disconnectAll();
    clearRegistry();
  });
  const { nvmet, disc, io } = await freshLab(t);
  clearRegistry();
  // Two subsystems stafd finds through the discovery controller, one stacd.conf names directly.
  for (const nqn of [NQN(1), NQN(2)])
    nvmet.addSubsystem({ nqn, namespaces: [{ backend: 'null_blk', sizeBytes: 1 << 20 }], ports: [disc] });
  nvmet.addSubsystem({ nqn: NQN(3), namespaces: [{ backend: 'null_blk', sizeBytes: 1 << 20 }], ports: [io] });

  skipManDbTrigger();
  ok('dpkg', ['-i', DEB!]);
  // The postinst started the units (systemd runs); stop them to set things up as an admin would.
  ok('systemctl', ['stop', 'stacd', 'stafd']);
  assert.equal(prop('stafd', 'UnitFileState'), 'enabled');

  await t.test('stas-config@hostnqn/@hostid create a missing host identity and keep an existing one', () => {
    const before = readFileSync('/etc/nvme/hostnqn', 'utf8');
    rmSync('/etc/nvme/hostid', { force: true });
    writeFileSync('/etc/nvme/hostnqn', ''); // empty counts as missing (ConditionFileNotEmpty=)
    ok('systemctl', ['start', 'stas-config@hostnqn.service', 'stas-config@hostid.service']);
    const nqn = readFileSync('/etc/nvme/hostnqn', 'utf8').trim();
    const id = readFileSync('/etc/nvme/hostid', 'utf8').trim();
    assert.match(nqn, /^nqn\.2014-08\.org\.nvmexpress:uuid:[0-9a-f-]{36}$/);
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.notEqual(nqn, before.trim());
    // Present now: the condition skips the generator, nothing is replaced.
    ok('systemctl', ['restart', 'stas-config@hostnqn.service', 'stas-config@hostid.service']);
    assert.equal(readFileSync('/etc/nvme/hostnqn', 'utf8').trim(), nqn);
    assert.equal(readFileSync('/etc/nvme/hostid', 'utf8').trim(), id);
    assert.equal(prop('stas-config@hostnqn.service', 'ConditionResult'), 'no');
  });

  appendFileSync('/etc/stas/stafd.conf', '\n[Service Discovery]\nzeroconf = disabled\n');
  appendFileSync(
    '/etc/stas/stacd.conf',
    `\n[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1;trsvcid=4420;nqn=${NQN(3)}\n`,
  );

  await t.test('systemctl start returns once the bus names are owned (Type=dbus)', () => {
    ok('systemctl', ['start', 'stafd', 'stacd']);
    // No waiting: systemd reports the start done only when the name is on the bus.
    assert.ok(owned('org.nvmexpress.staf'), `org.nvmexpress.staf not owned\n${status()}`);
    assert.ok(owned('org.nvmexpress.stac'), `org.nvmexpress.stac not owned\n${status()}`);
    assert.equal(prop('stafd', 'ActiveState'), 'active');
    assert.equal(prop('stacd', 'ActiveState'), 'active');
  });

  await t.test(
    'under the hardened unit, stacd connects its controller= line (fabrics, sysfs, uevents)',
    async () => {
      await until(
        'stacd to connect its controller= line',
        async () => (await ioNqns()).includes(NQN(3)),
        60_000,
        100,
        status,
      );
    },
  );

  await t.test(
    'systemctl reload stafd is a SIGHUP: a new controller= line takes effect, a warning at priority 4',
    async () => {
      const pid = prop('stafd', 'MainPID');
      appendFileSync(
        '/etc/stas/stafd.conf',
        '\n[Global]\nip-family = ipv5\n\n[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1;trsvcid=8009\n',
      );
      ok('systemctl', ['reload', 'stafd']);
      await until(
        '"Configuration reloaded" in the journal',
        () => journal('stafd').includes('Configuration reloaded'),
        30_000,
        100,
        () => journal('stafd'),
      );
      assert.equal(prop('stafd', 'MainPID'), pid, 'reload must not restart the daemon');
      await until(
        'the discovered I/O controllers connected by stacd',
        async () => JSON.stringify(await ioNqns()) === JSON.stringify([NQN(1), NQN(2), NQN(3)]),
        60_000,
        100,
        status,
      );
      const warnings = journal('stafd', '-p', 'warning');
      assert.match(warnings, /ip-family.*ipv5/, `journalctl -u stafd -p warning:\n${warnings}`);
      assert.doesNotMatch(warnings, /Configuration reloaded/, 'info lines are not at warning priority');
      const records = run('journalctl', ['--no-pager', '-o', 'json', '-u', 'stafd'])
        .stdout.split('\n')
        .filter(Boolean);
      const warning = records
        .map((l) => JSON.parse(l) as Record<string, string>)
        .find((r) => /ipv5/.test(r['MESSAGE'] ?? ''));
      assert.equal(warning?.['PRIORITY'], '4');
    },
  );

  await t.test('kill -9: systemd restarts stafd, which serves the last-known log pages at once', async () => {
    await until('stafd to have the log pages', () => adlpNqns().length === 2, 30_000, 100, status);
    await until(
      'the last-known configuration written',
      () => {
        const f = '/run/stafd/last-known-config.json';
        return existsSync(f) && readFileSync(f, 'utf8').includes(NQN(2));
      },
      30_000,
    );
    const pid = prop('stafd', 'MainPID');
    const restarts = Number(prop('stafd', 'NRestarts'));
    ok('kill', ['-9', pid]);
    await until(
      'systemd to restart stafd',
      () => Number(prop('stafd', 'NRestarts')) > restarts && prop('stafd', 'ActiveState') === 'active',
      60_000,
      100,
      status,
    );
    assert.notEqual(prop('stafd', 'MainPID'), pid);
    // Active means on the bus (Type=dbus); the log pages are there at once, from /run/stafd.
    assert.deepEqual(adlpNqns(), [NQN(1), NQN(2)], status());
    assert.deepEqual(await ioNqns(), [NQN(1), NQN(2), NQN(3)]);
  });

  await t.test('systemctl stop leaves the I/O connections in place', async () => {
    ok('systemctl', ['stop', 'stacd', 'stafd']);
    assert.equal(prop('stafd', 'ActiveState'), 'inactive');
    assert.equal(prop('stacd', 'ActiveState'), 'inactive');
    assert.equal(prop('stafd', 'Result'), 'success');
    assert.deepEqual(await ioNqns(), [NQN(1), NQN(2), NQN(3)]);
  });

  await t.test('systemd-analyze security', () => {
    for (const unit of ['stafd', 'stacd']) {
      const r = run('systemd-analyze', ['security', '--no-pager', unit]);
      const score = /Overall exposure level for \S+: (.*)/.exec(r.out)?.[1] ?? r.out.trim().split('\n').pop();
      t.diagnostic(`systemd-analyze security ${unit}: ${score}`);
    }
  });
});
