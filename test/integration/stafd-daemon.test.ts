// The stafd program end to end on the host: a private dbus-daemon, discovery controllers from the test double,
// the real stafd process, and a D-Bus client (no kernel needed: stafd reaches TCP DCs in userspace).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stafClient } from '../../src/adapters/dbus/clients.js';
import { idlXml, STAFD_OBJECT } from '../../src/adapters/dbus/idl.js';
import { openSystemBus } from '../../src/adapters/dbus/service.js';
import { WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { haveDbusDaemon, startDbusDaemon } from '../support/dbus-daemon.js';
import { DiscoveryTarget, ioEntry } from '../support/discovery-target.js';
import { userspaceDcs } from '../support/stafd-process.js';
import { until } from '../support/until.js';

const STAFD = fileURLToPath(new URL('../../src/cli/stafd.js', import.meta.url));
const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';
const skip = !haveDbusDaemon()
  ? 'dbus-daemon is not installed'
  : process.geteuid?.() !== 0
    ? 'stafd needs root'
    : false;
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Runs a daemon (stafd or stacd) as root would; output() is what it wrote so far. Killed at the end if still up. */
function runDaemon(
  prog: 'stafd' | 'stacd',
  conf: string,
  sys: string,
  env: Record<string, string>,
): ChildProcess & { output: () => string } {
  const proc = spawn(
    process.execPath,
    [STAFD.replace('stafd.js', `${prog}.js`), '-f', conf, '--sys-conf', sys],
    {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  proc.stdout!.on('data', (d) => (output += d));
  proc.stderr!.on('data', (d) => (output += d));
  cleanups.push(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  return Object.assign(proc, { output: () => output });
}

test('stafd serves discovery log pages over D-Bus, reloads on SIGHUP and stops on SIGTERM', {
  skip,
}, async () => {
  const dbus = await startDbusDaemon();
  cleanups.push(() => dbus.stop());
  const a = new DiscoveryTarget({ entries: [ioEntry(1), ioEntry(2)] });
  const b = new DiscoveryTarget({ entries: [ioEntry(3)] });
  await a.start();
  await b.start();
  cleanups.push(
    () => a.stop(),
    () => b.stop(),
  );

  const dir = mkdtempSync(join(tmpdir(), 'stafd-'));
  const conf = join(dir, 'stafd.conf');
  const sys = join(dir, 'sys.conf');
  writeFileSync(sys, `[Host]\nnqn = ${HOSTNQN}\nid = 5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f\n`);
  writeFileSync(
    conf,
    userspaceDcs(
      `[Global]\nkato = 0\n[Service Discovery]\nzeroconf = disabled\n[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1;trsvcid=${a.port}\n`,
    ),
  );
  const proc = runDaemon('stafd', conf, sys, {
    DBUS_SYSTEM_BUS_ADDRESS: dbus.address,
    RUNTIME_DIRECTORY: join(dir, 'run'),
  });

  const bus = await openSystemBus({ address: dbus.address });
  cleanups.push(() => bus.close());
  const staf = stafClient(bus);
  const changed: string[][] = [];
  await until('stafd on the bus', async () => {
    try {
      await staf.processInfo();
      return true;
    } catch {
      return false;
    }
  });
  await staf.onLogPagesChanged((tid) => changed.push(tid));
  await until(
    'log pages of A',
    async () => JSON.parse(await staf.getAllLogPages(false))[0]?.['log-pages'].length === 2,
  );
  const tidA = ['tcp', '127.0.0.1', String(a.port), WELL_KNOWN_DISC_NQN, '', '', HOSTNQN] as const;
  assert.deepEqual(
    (await staf.getLogPages(...tidA)).map((e) => e['subnqn']),
    ['nqn.2024-01.io.stas-test:subsys1', 'nqn.2024-01.io.stas-test:subsys2'],
  );
  assert.equal((await staf.listControllers(false))[0]!['trsvcid'], String(a.port));
  assert.equal(JSON.parse(await staf.processInfo()).hostnqn, HOSTNQN);

  // A change on the DC: AEN, re-read, log_pages_changed.
  a.setEntries([ioEntry(1)]);
  await until('signal after the change', () => changed.length >= 1);
  await until('new log', async () => (await staf.getLogPages(...tidA)).length === 1);

  // The history (stas extension): through D-Bus and stafctl events.
  const events = JSON.parse(await staf.events()) as { kind: string; controller?: string; time: string }[];
  for (const kind of ['dc-added', 'connected', 'log-pages'])
    assert.ok(
      events.some((e) => e.kind === kind),
      kind,
    );
  assert.ok(events.every((e) => !Number.isNaN(Date.parse(e.time))));
  const ctl = spawn(process.execPath, [STAFD.replace('stafd.js', 'stafctl.js'), '-H', 'events'], {
    env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: dbus.address },
  });
  let table = '';
  ctl.stdout.on('data', (d) => (table += d));
  const [ctlCode] = await once(ctl, 'exit');
  assert.equal(ctlCode, 0);
  assert.match(table, /^TIME\s+KIND\s+CONTROLLER\s+DEVICE\s+DETAIL/m);
  assert.match(table, new RegExp(`log-pages\\s+\\(tcp, 127\\.0\\.0\\.1, ${a.port}`));

  // tron through the debug interface.
  await staf.setTron(true);
  assert.equal(await staf.logLevel(), 'DEBUG');

  // SIGHUP: B added, A removed. A config with errors is refused and the last good one kept.
  writeFileSync(
    conf,
    userspaceDcs(`[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1;trsvcid=${b.port}\n[Bogus]\n`),
  );
  proc.kill('SIGHUP');
  await until('error reported', () => proc.output().includes('keeping the last good configuration'));
  assert.equal((await staf.listControllers(false)).length, 1);
  writeFileSync(
    conf,
    userspaceDcs(
      `[Global]\nkato = 0\n[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1;trsvcid=${b.port}\n`,
    ),
  );
  proc.kill('SIGHUP');
  await until('B replaces A', async () => {
    const dcs = await staf.listControllers(false);
    return dcs.length === 1 && dcs[0]!['trsvcid'] === String(b.port);
  });

  // --idl prints what the bus shows.
  const idl = join(dir, 'stafd.idl');
  const r = spawn(process.execPath, [STAFD, '--idl', idl]);
  await once(r, 'exit');
  assert.equal(readFileSync(idl, 'utf8'), idlXml(STAFD_OBJECT));

  proc.kill('SIGTERM');
  const [code] = await once(proc, 'exit');
  assert.equal(code, 0, proc.output());
  const lkc = JSON.parse(readFileSync(join(dir, 'run', 'last-known-config.json'), 'utf8'));
  assert.equal(lkc.dcs[0].tid.trsvcid, String(b.port));
});

test('SIGHUP and SIGTERM during start-up (D-Bus not answering) neither kill stafd nor stacd by their default action', {
  skip: process.geteuid?.() !== 0 ? 'the daemons need root' : false,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'early-'));
  // A "bus" that accepts connections and never answers: start-up waits on it.
  const path = join(dir, 'bus');
  const connected: net.Socket[] = [];
  const silent = net.createServer((s) => connected.push(s));
  await new Promise<void>((r) => silent.listen(path, r));
  cleanups.push(() => {
    for (const s of connected) s.destroy();
    silent.close();
  });
  const sys = join(dir, 'sys.conf');
  writeFileSync(sys, `[Host]\nnqn = ${HOSTNQN}\nid = 5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f\n`);
  for (const prog of ['stafd', 'stacd'] as const) {
    const conf = join(dir, `${prog}.conf`);
    writeFileSync(conf, '[Service Discovery]\nzeroconf = disabled\n');
    const before = connected.length;
    const proc = runDaemon(prog, conf, sys, {
      DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${path}`,
      RUNTIME_DIRECTORY: join(dir, prog),
    });
    await until(`${prog} connecting to the bus`, () => connected.length > before);
    const exited = once(proc, 'exit');
    // Both signals at once: had either no handler yet, its default action would end the process (exit by signal).
    proc.kill('SIGHUP');
    proc.kill('SIGTERM');
    const [code, signal] = await exited;
    assert.deepEqual([code, signal], [0, null], `${prog}: ${proc.output()}`);
    assert.match(proc.output(), /SIGTERM received while starting: stopping once started/);
    assert.match(proc.output(), /start-up did not complete within 5 s; exiting/);
  }
});
