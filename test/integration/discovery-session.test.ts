import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { DcSessionError } from '../../src/adapters/dc-session.js';
import {
  CommandTimeoutError,
  ConnectError,
  NvmeStatusError,
  PeerProtocolError,
  SessionClosedError,
} from '../../src/adapters/nvme-tcp/errors.js';
import { DiscoverySession } from '../../src/adapters/nvme-tcp/userspace-dc-session.js';
import { DimTask, isDiscoveryLogChange } from '../../src/core/nvme/commands.js';
import { SubType } from '../../src/core/nvme/discovery-log.js';
import { DiscoveryLogChangingError } from '../../src/core/nvme/discovery-log-read.js';
import { WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { ioEntry } from '../support/discovery-target.js';
import { sessionHarness } from '../support/session-harness.js';
import { until } from '../support/until.js';

const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';
const HOSTID = '5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f';
const { target, connect } = sessionHarness();

test('connect, identify, read the discovery log, orderly shutdown', async () => {
  const entries = [ioEntry(1), ioEntry(2), ioEntry(3, { subtype: SubType.referral, trsvcid: '8009' })];
  const t = await target({ entries, genctr: 9n, dctype: 'ddc' });
  const s = await connect(t);
  assert.equal(s.cntlid, 1);
  assert.equal(s.identify.cntrltype, 2);
  assert.equal(s.identify.dctype, 1);
  assert.equal(s.identify.subnqn, WELL_KNOWN_DISC_NQN);
  const log = await s.readDiscoveryLog();
  assert.equal(log.genctr, 9n);
  assert.deepEqual(log.entries, entries);
  await s.close();
  assert.ok(s.isClosed);
  await assert.rejects(s.readDiscoveryLog(), SessionClosedError);
});

test('header and data digests, and a log spread over many data PDUs and chunks', async () => {
  const entries = Array.from({ length: 700 }, (_, i) => ioEntry(i));
  const t = await target({ entries, maxDataPerPdu: 5000 });
  const s = await connect(t, { hdrDigest: true, dataDigest: true });
  const log = await s.readDiscoveryLog();
  assert.equal(log.entries.length, 700);
  assert.equal(log.entries[699]!.subnqn, 'nqn.2024-01.io.stas-test:subsys699');
  await s.close();
});

test('a 10,000-entry log is read whole and in order', async () => {
  const entries = Array.from({ length: 10_000 }, (_, i) => ioEntry(i));
  const t = await target({ entries });
  const s = await connect(t, { commandTimeoutMs: 30_000 });
  const log = await s.readDiscoveryLog();
  assert.equal(log.entries.length, 10_000);
  assert.ok(log.entries.every((e, i) => e.subnqn === `nqn.2024-01.io.stas-test:subsys${i}`));
  await s.close();
});

test('a unique discovery NQN is accepted through the well-known NQN; a foreign NQN is refused', async () => {
  const t = await target({ subsysnqn: 'nqn.2024-01.io.stas-test:unique-dc' });
  const s = await connect(t);
  assert.equal(s.identify.subnqn, 'nqn.2024-01.io.stas-test:unique-dc');
  await s.close();
  await assert.rejects(
    connect(t, { subsysnqn: 'nqn.2024-01.io.other' }),
    (e: unknown) => e instanceof NvmeStatusError && e.status.sc === 0x84 && e.status.sct === 1,
  );
});

test('log change notices: AEN event, re-armed for the next change', async () => {
  const t = await target({ entries: [ioEntry(1)] });
  const s = await connect(t);
  await s.enableDiscoveryChangeNotices();
  const first = once(s, 'aen');
  t.setEntries([ioEntry(1), ioEntry(2)]);
  const [ev] = await first;
  assert.ok(isDiscoveryLogChange(ev));
  assert.equal((await s.readDiscoveryLog()).entries.length, 2);
  const second = once(s, 'aen');
  t.setEntries([]);
  assert.ok(isDiscoveryLogChange((await second)[0]));
  assert.equal((await s.readDiscoveryLog()).entries.length, 0);
  await s.close();
});

test('keep-alive is sent while the session is idle, every KATO/2; none once closed', async (tc) => {
  // The keep-alive interval runs on mock timers (the socket does not use them): it fires when the test moves time.
  tc.mock.timers.enable({ apis: ['setInterval'] });
  const t = await target({});
  const s = await connect(t, { katoMs: 200 });
  const sent = tc.mock.method(s as unknown as { command: (...a: unknown[]) => Promise<unknown> }, 'command');
  tc.mock.timers.tick(99);
  assert.equal(sent.mock.callCount(), 0, 'not before KATO/2');
  tc.mock.timers.tick(1);
  await until('the first keep-alive at the target', () => t.keepAlives === 1);
  tc.mock.timers.tick(100);
  await until('the second keep-alive at the target', () => t.keepAlives === 2);
  assert.equal(sent.mock.callCount(), 2);
  await s.close();
  const before = sent.mock.callCount(); // close() itself sends the shutdown commands
  tc.mock.timers.tick(10_000);
  assert.equal(sent.mock.callCount(), before, 'the interval is cleared');
  assert.equal(t.keepAlives, 2);
});

test('DIM registration with a CDC is recorded; a DDC refuses it', async () => {
  const cdc = await target({ dctype: 'cdc' });
  const s = await connect(cdc);
  const reg = {
    hostNqn: HOSTNQN,
    hostId: Buffer.from(HOSTID.replace(/-/g, ''), 'hex'),
    symname: 'rack4',
    ename: 'h1',
    ever: 'Linux',
    trtype: 3,
    adrfam: 1,
  };
  await s.dim(DimTask.Register, reg);
  await s.dim(DimTask.Deregister, reg);
  assert.deepEqual(
    cdc.dimRecords.map((r) => [r.task, r.hostNqn, r.dim.entries[0]!.symname]),
    [
      [0, HOSTNQN, 'rack4'],
      [1, HOSTNQN, 'rack4'],
    ],
  );
  await s.close();
  assert.equal(cdc.dimRecords.length, 2, 'nothing left to deregister at close');
  // Registered when closing: close() deregisters first.
  const s2 = await connect(cdc);
  await s2.dim(DimTask.Register, reg);
  await s2.close();
  assert.deepEqual(
    cdc.dimRecords.slice(2).map((r) => r.task),
    [0, 1],
  );
  const ddc = await target({ dctype: 'ddc' });
  const d = await connect(ddc);
  await assert.rejects(d.dim(DimTask.Register, reg), NvmeStatusError);
  await d.close();
});

test('PLEO: honoured when supported, refused with a status otherwise', async () => {
  const yes = await target({ entries: [ioEntry(1)], pleoSupported: true });
  const s = await connect(yes);
  assert.equal((await s.discoveryLogOptions()) & 0x2, 0x2);
  assert.equal((await s.readDiscoveryLog({ pleo: true })).entries.length, 1);
  await s.close();
  const no = await target({ entries: [ioEntry(1)] });
  const n = await connect(no);
  assert.equal((await n.discoveryLogOptions()) & 0x2, 0);
  await assert.rejects(n.readDiscoveryLog({ pleo: true }), NvmeStatusError);
  await n.close();
});

test('failures are typed: refused, no answer, dropped mid-transfer, GENCTR churn, malformed and oversize PDUs', async () => {
  const free = net.createServer();
  await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
  const port = (free.address() as net.AddressInfo).port;
  await new Promise<void>((r) => free.close(() => r()));
  await assert.rejects(
    DiscoverySession.connect({
      traddr: '127.0.0.1',
      trsvcid: port,
      hostNqn: HOSTNQN,
      hostId: HOSTID,
      subsysnqn: WELL_KNOWN_DISC_NQN,
      katoMs: 0,
    }),
    (e: unknown) => e instanceof ConnectError && e.code === 'ECONNREFUSED',
  );

  const silent = await target({ misbehave: { kind: 'never-answer', after: 'icreq' } });
  await assert.rejects(connect(silent, { connectTimeoutMs: 300 }), CommandTimeoutError);
  const mute = await target({ misbehave: { kind: 'never-answer', after: 'connect' } });
  await assert.rejects(connect(mute, { commandTimeoutMs: 300 }), /Connect got no response within 300 ms/);

  const dropper = await target({
    entries: Array.from({ length: 10 }, (_, i) => ioEntry(i)),
    misbehave: { kind: 'close-mid-transfer' },
  });
  const s1 = await connect(dropper);
  await assert.rejects(s1.readDiscoveryLog(), SessionClosedError);

  const churn = await target({ entries: [ioEntry(1)], misbehave: { kind: 'churn-genctr' } });
  const s2 = await connect(churn);
  // One error family: the core's DiscoveryLogChangingError arrives as the session error of kind `changing`.
  await assert.rejects(
    s2.readDiscoveryLog(),
    (e: unknown) =>
      e instanceof DcSessionError && e.kind === 'changing' && e.cause instanceof DiscoveryLogChangingError,
  );
  await s2.close();

  const bad = await target({ misbehave: { kind: 'malformed-pdu', on: 'identify' } });
  await assert.rejects(connect(bad), PeerProtocolError);

  const huge = await target({ entries: [ioEntry(1)], misbehave: { kind: 'oversize-pdu' } });
  const s3 = await connect(huge, { maxPduLength: 1 << 20 });
  await assert.rejects(
    s3.readDiscoveryLog(),
    (e: unknown) => e instanceof PeerProtocolError && /exceeds the limit/.test(e.message),
  );
  assert.ok(s3.isClosed);

  const slow = await target({ entries: [ioEntry(1)], misbehave: { kind: 'slow', delayMs: 50 } });
  const s4 = await connect(slow);
  assert.equal((await s4.readDiscoveryLog()).entries.length, 1);
  await s4.close();
  const tooSlow = await target({ misbehave: { kind: 'slow', delayMs: 500 } });
  await assert.rejects(connect(tooSlow, { commandTimeoutMs: 100 }), CommandTimeoutError);
});

test('a bad PDU closes that session only', async () => {
  const good = await target({ entries: [ioEntry(1)] });
  const evil = await target({ entries: [ioEntry(2)] });
  const a = await connect(good);
  const b = await connect(evil);
  evil.misbehave = { kind: 'malformed-pdu', on: 'log-page' };
  const closed = once(b, 'close');
  await assert.rejects(b.readDiscoveryLog(), PeerProtocolError);
  const [why] = await closed;
  assert.ok(why instanceof PeerProtocolError);
  assert.equal((await a.readDiscoveryLog()).entries[0]!.subnqn, 'nqn.2024-01.io.stas-test:subsys1');
  await a.close();
});
