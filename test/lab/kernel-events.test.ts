/**
 * Lab test of the kernel event and passthrough adapters against the real kernel: uevents for controller add,
 * discovery-log-change AEN and remove; the discovery log read through the passthrough ioctl equals the userspace
 * NVMe/TCP read; a userspace session bound to an interface (SO_BINDTODEVICE).
 *
 * Runs inside the kernel lab guest (npm run test:lab); skipped anywhere else.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KernelFabrics } from '../../src/adapters/kernel/fabrics.js';
import { identifyController, kernelDiscoveryLog } from '../../src/adapters/kernel/passthrough.js';
import { UeventMonitor } from '../../src/adapters/kernel/uevents.js';
import { DiscoverySession } from '../../src/adapters/nvme-tcp/userspace-dc-session.js';
import { Tid, WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import type { NvmeEvent } from '../../src/core/uevent.js';
import { scaled } from '../support/slow.js';
import { freshLab, labSkipReason } from './support/host.js';

const skip = labSkipReason();
const NQN = (i: number) => `nqn.2024-01.io.stas-lab:events-${i}`;

/** Collects events; `next(pred)` resolves with the first matching one (already seen or future), bounded. */
function recorder(m: UeventMonitor) {
  const seen: NvmeEvent[] = [];
  const waiters: { pred: (e: NvmeEvent) => boolean; resolve: (e: NvmeEvent) => void }[] = [];
  m.on('nvme', (e) => {
    seen.push(e);
    for (const w of [...waiters])
      if (w.pred(e)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e);
      }
  });
  return {
    seen,
    next(pred: (e: NvmeEvent) => boolean, what: string, timeoutMs = 10_000): Promise<NvmeEvent> {
      const hit = seen.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const limit = scaled(timeoutMs);
        const timer = setTimeout(
          () => reject(new Error(`no ${what} uevent within ${limit} ms; saw ${JSON.stringify(seen)}`)),
          limit,
        );
        waiters.push({
          pred,
          resolve: (e) => {
            clearTimeout(timer);
            resolve(e);
          },
        });
      });
    },
  };
}

test('uevents for add, AEN and remove; passthrough DLP equals the userspace read', { skip }, async (t) => {
  const { nvmet, host, disc, io } = await freshLab(t);
  for (const i of [1, 2])
    nvmet.addSubsystem({
      nqn: NQN(i),
      namespaces: [{ backend: 'null_blk', sizeBytes: 1 << 20 }],
      ports: [disc, io],
    });

  const monitor = new UeventMonitor();
  monitor.start();
  t.after(() => monitor.stop());
  const events = recorder(monitor);

  const kernel = new KernelFabrics();
  const base = { transport: 'tcp', traddr: '127.0.0.1', hostNqn: host.hostnqn, hostId: host.hostid };
  const ioc = await kernel.connect({ ...base, trsvcid: '4420', nqn: NQN(1) });
  const dc = await kernel.connect({
    ...base,
    trsvcid: '8009',
    nqn: WELL_KNOWN_DISC_NQN,
    discovery: true,
    kato: 30,
  });
  await events.next((e) => e.kind === 'add' && e.device === ioc.device, `add ${ioc.device}`);
  await events.next((e) => e.kind === 'add' && e.device === dc.device, `add ${dc.device}`);

  const id = await identifyController(dc.device);
  assert.equal(id.cntrltype, 2);
  assert.equal(id.subnqn, WELL_KNOWN_DISC_NQN);

  // The same log two ways: kernel passthrough ioctl and userspace NVMe/TCP.
  const viaKernel = await kernelDiscoveryLog(dc.device);
  const s = await DiscoverySession.connect({
    traddr: '127.0.0.1',
    trsvcid: 8009,
    hostNqn: host.hostnqn,
    hostId: host.hostid,
    subsysnqn: WELL_KNOWN_DISC_NQN,
    katoMs: 0,
  });
  const viaUser = await s.readDiscoveryLog();
  await s.close();
  assert.equal(viaKernel.genctr, viaUser.genctr);
  assert.deepEqual(viaKernel.entries, viaUser.entries);
  assert.ok(viaKernel.entries.some((e) => e.subnqn === NQN(2)));

  // A change on the port: the persistent DC's AEN arrives as a uevent; the re-read log has the new subsystem.
  nvmet.addSubsystem({ nqn: NQN(3), namespaces: [{ backend: 'null_blk', sizeBytes: 1 << 20 }], ports: [io] });
  nvmet.link(NQN(3), disc);
  const aen = await events.next((e) => e.kind === 'aen' && e.device === dc.device, `AEN on ${dc.device}`);
  assert.equal((aen as { aen: number }).aen, 0x70f002);
  assert.ok((await kernelDiscoveryLog(dc.device)).entries.some((e) => e.subnqn === NQN(3)));

  for (const c of [ioc, dc]) await kernel.disconnect(c.device);
  await events.next((e) => e.kind === 'remove' && e.device === ioc.device, `remove ${ioc.device}`);
  await events.next((e) => e.kind === 'remove' && e.device === dc.device, `remove ${dc.device}`);
});

test('a userspace discovery session bound to an interface (host-iface)', { skip }, async (t) => {
  const { nvmet, host, disc } = await freshLab(t);
  nvmet.addSubsystem({
    nqn: NQN(1),
    namespaces: [{ backend: 'null_blk', sizeBytes: 1 << 20 }],
    ports: [disc],
  });
  const tid = Tid.from(
    { transport: 'tcp', traddr: '127.0.0.1', hostIface: 'lo' },
    { defaultHostNqn: host.hostnqn },
  );
  const s = await DiscoverySession.connect({
    traddr: tid.traddr,
    trsvcid: tid.trsvcid,
    hostIface: tid.hostIface,
    hostNqn: tid.hostNqn,
    hostId: host.hostid,
    subsysnqn: WELL_KNOWN_DISC_NQN,
    katoMs: 0,
  });
  assert.ok((await s.readDiscoveryLog()).entries.some((e) => e.subnqn === NQN(1)));
  await s.close();
  await assert.rejects(
    DiscoverySession.connect({
      traddr: '127.0.0.1',
      trsvcid: 8009,
      hostIface: 'nosuchif0',
      hostNqn: host.hostnqn,
      hostId: host.hostid,
      subsysnqn: WELL_KNOWN_DISC_NQN,
      katoMs: 0,
    }),
    (e: unknown) => (e as { code?: string }).code === 'ENODEV',
  );
});
