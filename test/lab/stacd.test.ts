/**
 * stafd + stacd + the kernel nvmet target with a private dbus-daemon, in the kernel lab: every I/O controller of
 * the discovery log is connected by the kernel; a subsystem removed from the port (AEN) is disconnected under
 * only-stas-connections and kept under no-disconnect; a connection made outside stas is adopted, not duplicated;
 * controller= lines stay when their DLPE goes; stacd and stafd restarts disconnect nothing; the plan shown before
 * a change is the plan executed.
 *
 * Runs inside the kernel lab guest (npm run test:lab); skipped anywhere else.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type StacClient, stacClient, stafClient } from '../../src/adapters/dbus/clients.js';
import { openSystemBus } from '../../src/adapters/dbus/service.js';
import { scanControllers } from '../../src/adapters/kernel/sysfs.js';
import { startDbusDaemon } from '../support/dbus-daemon.js';
import { until } from '../support/until.js';
import { connectOptions, fabricsConnect, freshLab, labSkipReason } from './support/host.js';
import { controllerLine, stafdConf } from './support/stafd-run.js';

const skip = labSkipReason();
const NQN = (i: number) => `nqn.2024-01.io.stas-lab:stacd-${i}`;

/**
 * Makes sure that a whole stacd pass ran after this call (as StasRun.fullPass): once stacd answers on the bus
 * (its signal handling is installed), SIGHUP (same configuration) twice, each time waiting until a new pass
 * started. Passes never overlap, so the second one starting means the first one, which saw the kernel and stafd
 * as they were when this was called, has finished executing: what it would have disconnected is gone by then.
 */
async function fullPass(stac: StacClient, stacd: ChildProcess): Promise<void> {
  const passes = async () => {
    try {
      return Number((JSON.parse(await stac.processInfo()) as Record<string, string>)['reconcile passes']);
    } catch {
      return undefined; // not on the bus (yet)
    }
  };
  for (let i = 0; i < 2; i++) {
    let n: number | undefined;
    await until('stacd on the bus', async () => {
      n = await passes();
      return n !== undefined;
    });
    stacd.kill('SIGHUP');
    await until(`stacd pass ${n! + 1}`, async () => ((await passes()) ?? 0) > n!);
  }
}

const ioNqns = async () =>
  (await scanControllers())
    .filter((c) => c.cntrltype === 'io')
    .map((c) => c.subsysnqn)
    .sort();

/** A daemon process of ours on the private bus. */
function daemon(
  prog: 'stafd' | 'stacd',
  conf: string,
  sys: string,
  bus: string,
  runDir: string,
): ChildProcess & { output: () => string } {
  const p = spawn(process.execPath, [`dist/src/cli/${prog}.js`, '-f', conf, '--sys-conf', sys], {
    env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: bus, RUNTIME_DIRECTORY: runDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  p.stdout!.on('data', (d) => (out += d));
  p.stderr!.on('data', (d) => (out += d));
  return Object.assign(p, { output: () => out });
}

async function stopDaemon(p: ChildProcess & { output?: () => string }): Promise<void> {
  if (p.exitCode !== null) return;
  p.kill('SIGTERM');
  const [code, signal] = await once(p, 'exit');
  assert.equal(code, 0, `exit ${code} signal ${signal}; output:\n${p.output?.().slice(-3000)}`);
}

test('stafd + stacd + nvmet: connect, AEN-driven disconnect, adoption, restarts, plan', {
  skip,
}, async (t) => {
  const { nvmet, host, disc } = await freshLab(t);
  for (const i of [1, 2, 3])
    nvmet.addSubsystem({
      nqn: NQN(i),
      namespaces: [{ backend: 'null_blk', sizeBytes: 1 << 20 }],
      ports: [disc],
    });
  const dbus = await startDbusDaemon();
  t.after(() => dbus.stop());
  const dir = mkdtempSync(join(tmpdir(), 'stas-lab-'));
  const sys = join(dir, 'sys.conf');
  writeFileSync(sys, `[Host]\nnqn = ${host.hostnqn}\nid = ${host.hostid}\n`);
  const stafConf = join(dir, 'stafd.conf');
  writeFileSync(stafConf, stafdConf({ controllers: [controllerLine(8009)] }));
  const stacConf = join(dir, 'stacd.conf');
  writeFileSync(
    stacConf,
    `[Controllers]\ncontroller = transport=tcp;traddr=127.0.0.1;trsvcid=8009;nqn=${NQN(3)}\n`,
  );

  let stafd = daemon('stafd', stafConf, sys, dbus.address, join(dir, 'stafd'));
  let stacd = daemon('stacd', stacConf, sys, dbus.address, join(dir, 'stacd'));
  t.after(async () => {
    for (const p of [stacd, stafd]) if (p.exitCode === null) p.kill('SIGKILL');
  });

  // All I/O controllers of the log are connected, once each.
  await until('3 IOCs connected', async () => (await ioNqns()).length === 3).catch((e) => {
    throw new Error(`${e.message}\nstafd:\n${stafd.output()}\nstacd:\n${stacd.output()}`);
  });
  assert.deepEqual(await ioNqns(), [NQN(1), NQN(2), NQN(3)]);

  const bus = await openSystemBus({ address: dbus.address });
  t.after(() => bus.close());
  const stac = stacClient(bus);
  assert.equal((await stac.listControllers(false)).length, 3);

  // The plan shown is what then happens: with stacd stopped, subsys1 leaves the port; stafd re-reads its log (AEN);
  // stacd starts again and is asked for its plan. Its first pass starts at once (no soak), so the plan shows either
  // the disconnect still to come or, once that pass is done, nothing more to do; never anything else.
  await stopDaemon(stacd);
  nvmet.unlink(NQN(1), disc);
  const staf = stafClient(bus);
  await until('stafd saw the change', async () => !(await staf.getAllLogPages(false)).includes(NQN(1)));
  stacd = daemon('stacd', stacConf, sys, dbus.address, join(dir, 'stacd'));
  let shown: { action: string; subsysnqn: string; device?: string }[] | undefined;
  await until('stacd plan', async () => {
    try {
      shown = JSON.parse(await stac.plan());
      return true;
    } catch {
      return false;
    }
  });
  const shownActions = shown!.map((i) => [i.action, i.subsysnqn]).sort();
  const after: string[][] = [
    ['keep', NQN(2)],
    ['keep', NQN(3)],
  ];
  if (shownActions.length === 3) assert.deepEqual(shownActions, [['disconnect', NQN(1)], ...after]);
  else assert.deepEqual(shownActions, after);
  // AEN → log_pages_changed → stacd disconnects what stas made (only-stas-connections, the default).
  await until('subsys1 disconnected', async () => !(await ioNqns()).includes(NQN(1)));
  assert.deepEqual(await ioNqns(), [NQN(2), NQN(3)]);
  // The device vanishes while stacd's delete_controller write is still returning: wait for its event.
  const disconnectEvents = async () =>
    (JSON.parse(await stac.events()) as { kind: string; controller: string }[]).filter(
      (e) => e.kind === 'disconnected',
    );
  await until('the disconnect event', async () => (await disconnectEvents()).length > 0);
  const disconnected = await disconnectEvents();
  assert.equal(disconnected.length, 1, 'subsys1, and only it, disconnected by that pass');
  assert.match(disconnected[0]!.controller, new RegExp(NQN(1)));

  // controller= stays when its DLPE goes.
  nvmet.unlink(NQN(3), disc);
  nvmet.link(NQN(1), disc); // keep the port listening with something else
  await until('subsys1 back', async () => (await ioNqns()).includes(NQN(1)));
  await fullPass(stac, stacd); // a whole pass that saw the log without subsys3
  assert.ok((await ioNqns()).includes(NQN(3)), 'the controller= IOC is kept without its DLPE');

  // A connection made outside stas (nvme connect, the udev rule) is adopted, not duplicated.
  await stopDaemon(stacd);
  nvmet.addSubsystem({
    nqn: NQN(4),
    namespaces: [{ backend: 'null_blk', sizeBytes: 1 << 20 }],
    ports: [disc],
  });
  fabricsConnect(
    connectOptions({
      transport: 'tcp',
      traddr: '127.0.0.1',
      trsvcid: 8009,
      nqn: NQN(4),
      hostnqn: host.hostnqn,
      hostid: host.hostid,
    }),
  );
  stacd = daemon('stacd', stacConf, sys, dbus.address, join(dir, 'stacd'));
  await until('stacd adopted subsys4', async () => {
    try {
      return (await stac.listControllers(false)).some(
        (c) => c['subsysnqn'] === NQN(4) && c['device'] !== 'nvme?',
      );
    } catch {
      return false;
    }
  });
  assert.equal(
    (await ioNqns()).filter((n) => n === NQN(4)).length,
    1,
    'no duplicate of the nvme-connect-made controller',
  );

  // Restarts disconnect nothing.
  const before = await ioNqns();
  await stopDaemon(stacd);
  assert.deepEqual(await ioNqns(), before, 'stopping stacd leaves connections in place');
  stacd = daemon('stacd', stacConf, sys, dbus.address, join(dir, 'stacd'));
  await stopDaemon(stafd);
  await fullPass(stac, stacd); // a whole pass with stafd away
  assert.deepEqual(await ioNqns(), before, 'stacd restarted while stafd is away: nothing disconnected');
  stafd = daemon('stafd', stafConf, sys, dbus.address, join(dir, 'stafd'));
  await until('stafd connected to its DC again', async () => {
    try {
      return (await staf.listControllers(true)).some((c) => c['connected'] === 'True');
    } catch {
      return false; // not on the bus yet
    }
  });
  await fullPass(stac, stacd); // a whole pass with stafd back and its log read again
  assert.deepEqual(await ioNqns(), before, 'stafd restart: nothing disconnected');
  await stopDaemon(stacd);
  await stopDaemon(stafd);
});

test('no-disconnect keeps connections when their DLPE goes', { skip }, async (t) => {
  const { nvmet, host, disc } = await freshLab(t);
  for (const i of [1, 2])
    nvmet.addSubsystem({
      nqn: NQN(i),
      namespaces: [{ backend: 'null_blk', sizeBytes: 1 << 20 }],
      ports: [disc],
    });
  const dbus = await startDbusDaemon();
  t.after(() => dbus.stop());
  const dir = mkdtempSync(join(tmpdir(), 'stas-lab-'));
  const sys = join(dir, 'sys.conf');
  writeFileSync(sys, `[Host]\nnqn = ${host.hostnqn}\nid = ${host.hostid}\n`);
  const stafConf = join(dir, 'stafd.conf');
  writeFileSync(stafConf, stafdConf({ controllers: [controllerLine(8009)] }));
  const stacConf = join(dir, 'stacd.conf');
  writeFileSync(stacConf, '[I/O controller connection management]\ndisconnect-scope = no-disconnect\n');
  const stafd = daemon('stafd', stafConf, sys, dbus.address, join(dir, 'stafd'));
  const stacd = daemon('stacd', stacConf, sys, dbus.address, join(dir, 'stacd'));
  t.after(async () => {
    for (const p of [stacd, stafd]) if (p.exitCode === null) p.kill('SIGKILL');
  });
  await until('2 IOCs connected', async () => (await ioNqns()).length === 2);
  const bus = await openSystemBus({ address: dbus.address });
  t.after(() => bus.close());
  const staf = stafClient(bus);
  nvmet.unlink(NQN(1), disc);
  await until('stafd saw the change', async () => !(await staf.getAllLogPages(false)).includes(NQN(1)));
  await fullPass(stacClient(bus), stacd); // a whole pass that saw the log without subsys1
  assert.deepEqual(await ioNqns(), [NQN(1), NQN(2)], 'sticky under no-disconnect');
  await stopDaemon(stacd);
  await stopDaemon(stafd);
});
