/**
 * Lab test of the fabric layer against the real kernel: the userspace NVMe/TCP discovery session talks to the
 * kernel nvmet target (log contents, referrals, AEN on a port change, keep-alive), and the kernel adapter
 * (connect through /dev/nvme-fabrics, sysfs scan, duplicate error, disconnect). A hostile log page entry from the
 * test double never reaches /dev/nvme-fabrics.
 *
 * Runs inside the kernel lab guest (npm run test:lab); skipped anywhere else.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { KernelConnectError, KernelFabrics } from '../../src/adapters/kernel/fabrics.js';
import { scanControllers } from '../../src/adapters/kernel/sysfs.js';
import { DiscoverySession } from '../../src/adapters/nvme-tcp/userspace-dc-session.js';
import { OptionValueError } from '../../src/core/kernel-options.js';
import { isDiscoveryLogChange } from '../../src/core/nvme/commands.js';
import { SubType } from '../../src/core/nvme/discovery-log.js';
import { Tid, WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { DiscoveryTarget, ioEntry } from '../support/discovery-target.js';
import { scaled } from '../support/slow.js';
import { freshLab, labSkipReason, nvmeDiscover, waitFor } from './support/host.js';

const skip = labSkipReason();
const NQN = (i: number) => `nqn.2024-01.io.stas-lab:fabric-${i}`;

function session(host: { hostnqn: string; hostid: string }, port: number | string, katoMs = 0) {
  return DiscoverySession.connect({
    traddr: '127.0.0.1',
    trsvcid: port,
    hostNqn: host.hostnqn,
    hostId: host.hostid,
    subsysnqn: WELL_KNOWN_DISC_NQN,
    katoMs,
    commandTimeoutMs: scaled(10_000),
  });
}

test('userspace discovery against kernel nvmet: log, referrals, AEN, keep-alive', { skip }, async (t) => {
  const { nvmet, host, disc, io } = await freshLab(t);
  const io2 = nvmet.addPort({ trsvcid: 4421 });
  for (const i of [1, 2, 3])
    nvmet.addSubsystem({
      nqn: NQN(i),
      namespaces: [{ backend: 'null_blk', sizeBytes: 1 << 20 }],
      ports: [disc, io],
    });
  nvmet.addSubsystem({ nqn: NQN(9), namespaces: [], ports: [io2] });
  nvmet.addReferral(disc, 'to-4421', io2);

  const s = await session(host, 8009, 5000);
  t.after(() => s.close());
  assert.equal(s.identify.cntrltype, 2, 'a discovery controller');
  assert.equal(s.identify.subnqn, WELL_KNOWN_DISC_NQN);
  const log = await s.readDiscoveryLog();
  const nvm = log.entries
    .filter((e) => e.subtype === SubType.nvme)
    .map((e) => [e.subnqn, e.traddr, e.trsvcid])
    .sort();
  assert.deepEqual(
    nvm,
    [1, 2, 3].map((i) => [NQN(i), '127.0.0.1', '8009']),
  );
  const refs = log.entries.filter((e) => e.subtype === SubType.referral);
  assert.deepEqual(
    refs.map((e) => [e.traddr, e.trsvcid, e.portid]),
    [['127.0.0.1', '4421', io2.id]],
  );

  // The same log through nvme-cli (independent of stas).
  const cli = nvmeDiscover('127.0.0.1', 8009);
  assert.equal(cli.genctr, Number(log.genctr));
  assert.equal(cli.records.length, log.entries.length);

  // A port change sends the AEN; the re-read log has the new subsystem.
  await s.enableDiscoveryChangeNotices();
  const aen = once(s, 'aen');
  nvmet.addSubsystem({
    nqn: NQN(4),
    namespaces: [{ backend: 'null_blk', sizeBytes: 1 << 20 }],
    ports: [disc],
  });
  assert.ok(isDiscoveryLogChange((await aen)[0]));
  const after = await s.readDiscoveryLog();
  assert.ok(after.genctr > log.genctr);
  assert.ok(after.entries.some((e) => e.subnqn === NQN(4)));
  // And again on removal (the AER was re-armed, and the log was read so nvmet may notify again).
  const aen2 = once(s, 'aen');
  nvmet.unlink(NQN(4), disc);
  assert.ok(isDiscoveryLogChange((await aen2)[0]));
  assert.ok(!(await s.readDiscoveryLog()).entries.some((e) => e.subnqn === NQN(4)));

  // Keep-alive holds the connection past KATO (5 s): five keep-alives answered in a row (sent every KATO/2, so
  // they span two KATOs with nothing else on the connection) prove that nvmet's keep-alive timer was reset by them.
  let answered = 0;
  const session_ = s as unknown as { command: (what: string, ...rest: unknown[]) => Promise<unknown> };
  const command = session_.command.bind(s);
  t.mock.method(session_, 'command', (what: string, ...rest: unknown[]) => {
    const p = command(what, ...rest);
    if (what === 'Keep Alive')
      void p.then(
        () => answered++,
        () => {},
      );
    return p;
  });
  await waitFor('five keep-alives answered', () => answered >= 5 || s.isClosed, { timeoutMs: 60_000 });
  assert.equal(s.isClosed, false);
  assert.equal((await s.readDiscoveryLog()).entries.length, after.entries.length - 1);
});

test('kernel adapter: connect IOCs and a DC, one sysfs scan sees them, duplicate error, disconnect', {
  skip,
}, async (t) => {
  const { nvmet, host, disc, io } = await freshLab(t);
  for (const i of [1, 2, 3])
    nvmet.addSubsystem({
      nqn: NQN(i),
      namespaces: [{ backend: 'null_blk', sizeBytes: 1 << 20 }],
      ports: [disc, io],
    });

  const kernel = new KernelFabrics({ concurrency: 2 });
  const opts = await kernel.supportedOptions();
  assert.ok(opts.has('host_iface') && opts.has('discovery'));
  const base = { transport: 'tcp', traddr: '127.0.0.1', hostNqn: host.hostnqn, hostId: host.hostid };
  const made = await Promise.all(
    [1, 2, 3].map((i) => kernel.connect({ ...base, trsvcid: '4420', nqn: NQN(i), kato: 120 })),
  );
  const dc = await kernel.connect({
    ...base,
    trsvcid: '8009',
    nqn: WELL_KNOWN_DISC_NQN,
    discovery: true,
    kato: 30,
  });
  assert.equal(new Set(made.map((m) => m.device)).size, 3);

  const scan = await scanControllers();
  const byDev = new Map(scan.map((c) => [c.device, c]));
  for (const [i, m] of made.entries()) {
    const c = byDev.get(m.device)!;
    assert.ok(c, `${m.device} in the scan`);
    assert.deepEqual(
      [c.transport, c.traddr, c.trsvcid, c.srcAddr, c.subsysnqn, c.hostNqn, c.hostId, c.cntrltype],
      ['tcp', '127.0.0.1', '4420', '127.0.0.1', NQN(i + 1), host.hostnqn, host.hostid, 'io'],
    );
  }
  const d = byDev.get(dc.device)!;
  assert.deepEqual([d.cntrltype, d.subsysnqn, d.trsvcid], ['discovery', WELL_KNOWN_DISC_NQN, '8009']);

  await assert.rejects(
    kernel.connect({ ...base, trsvcid: '4420', nqn: NQN(1) }),
    (e: unknown) => e instanceof KernelConnectError && e.code === 'EALREADY',
  );
  await assert.rejects(
    kernel.connect({ ...base, trsvcid: '4420', nqn: NQN(77) }),
    (e: unknown) => e instanceof KernelConnectError && e.code === 'EIO',
  );

  for (const m of [...made, dc]) await kernel.disconnect(m.device);
  assert.deepEqual(await scanControllers(), []);
});

test('a hostile log page entry is refused before it reaches /dev/nvme-fabrics', { skip }, async (t) => {
  const { nvmet, host, io } = await freshLab(t);
  nvmet.addSubsystem({ nqn: NQN(1), namespaces: [{ backend: 'null_blk', sizeBytes: 1 << 20 }], ports: [io] });

  const evil = new DiscoveryTarget({
    entries: [
      ioEntry(1, { traddr: '127.0.0.1,hostnqn=evil', subnqn: NQN(1) }),
      ioEntry(2, { subnqn: `${NQN(1)}\nhostnqn=evil` }),
      ioEntry(3, { trsvcid: '4420,duplicate_connect', subnqn: NQN(1) }),
    ],
  });
  const port = await evil.start();
  t.after(() => evil.stop());
  const s = await session(host, port);
  const log = await s.readDiscoveryLog();
  await s.close();
  assert.equal(log.entries.length, 3);

  const kernel = new KernelFabrics();
  for (const e of log.entries) {
    const tid = Tid.from(
      { transport: 'tcp', traddr: e.traddr, trsvcid: e.trsvcid, subsysnqn: e.subnqn },
      { defaultHostNqn: host.hostnqn },
    );
    await assert.rejects(
      kernel.connect({
        transport: tid.transport,
        traddr: tid.traddr,
        trsvcid: tid.trsvcid,
        nqn: tid.subsysnqn,
        hostNqn: tid.hostNqn,
        hostId: host.hostid,
      }),
      OptionValueError,
    );
  }
  assert.deepEqual(await scanControllers(), [], 'nothing was connected');
});
