import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, test } from 'node:test';
import { DiscoverySession } from '../../src/adapters/nvme-tcp/userspace-dc-session.js';
import { formatDhchapSecret } from '../../src/core/nvme/auth-crypto.js';
import { DiscoveryLsp } from '../../src/core/nvme/commands.js';
import { SubType } from '../../src/core/nvme/discovery-log.js';
import { Tid, WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { type DcDeps, DiscoveryControllerRunner } from '../../src/daemons/stafd/discovery-controller.js';
import { DiscoveryTarget, ioEntry, type TargetOptions } from '../support/discovery-target.js';

const identity = {
  hostNqn: 'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f',
  hostId: '5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f',
  symname: 'rack4',
};
const logs: string[] = [];
const deps: DcDeps = {
  connect: (o) => DiscoverySession.connect({ ...o, connectTimeoutMs: 1000, commandTimeoutMs: 2000 }),
  identity,
  kato: 0,
  hdrDigest: false,
  dataDigest: false,
  pleo: true,
  timing: { fastRetryMs: 50, slowRetryMs: 200, dimRetryMs: 50, logRetryMs: 50 },
  log: (level, m) => logs.push(`${level}: ${m}`),
};
const runners: DiscoveryControllerRunner[] = [];
const targets: DiscoveryTarget[] = [];
after(async () => {
  for (const r of runners) await r.stop();
  for (const t of targets) await t.stop();
});

async function setup(opts: TargetOptions, port?: number) {
  const t = new DiscoveryTarget({ ...opts, ...(port ? { port } : {}) });
  await t.start();
  targets.push(t);
  const tid = Tid.from(
    { transport: 'tcp', traddr: '127.0.0.1', trsvcid: String(t.port), subsysnqn: WELL_KNOWN_DISC_NQN },
    { defaultHostNqn: identity.hostNqn },
  );
  const r = new DiscoveryControllerRunner(tid, 'configured', undefined, deps);
  runners.push(r);
  return { t, r };
}

test('connects, reads and caches the log, re-reads on every change notice', async () => {
  const { t, r } = await setup({ entries: [ioEntry(1), ioEntry(2, { traddr: '0.0.0.0' })] });
  const first = once(r, 'logPages');
  r.start();
  const [pages] = await first;
  assert.equal(r.state, 'connected');
  assert.deepEqual(
    pages.map((e: { subnqn: string }) => e.subnqn),
    ['nqn.2024-01.io.stas-test:subsys1'],
    'unusable addresses dropped',
  );
  const second = once(r, 'logPages');
  t.setEntries([ioEntry(1), ioEntry(3)]);
  assert.equal((await second)[0].length, 2);
  assert.equal(r.logPages[1]!.subnqn, 'nqn.2024-01.io.stas-test:subsys3');
});

test('a lost connection keeps the cached log and reconnects, re-reading the log', async () => {
  const { t, r } = await setup({ entries: [ioEntry(1)] });
  r.start();
  await once(r, 'logPages');
  const port = t.port;
  await t.stop();
  await once(r, 'state'); // waiting for a retry
  assert.equal(r.logPages.length, 1, 'cache kept while disconnected');
  // The controller comes back on the same port with a changed log.
  const back = new DiscoveryTarget({ port, entries: [ioEntry(1), ioEntry(2)] });
  await back.start();
  targets.push(back);
  let pages: unknown[] = [];
  while (pages.length !== 2) [pages] = await once(r, 'logPages');
  assert.equal(r.state, 'connected');
});

test('unreachable: exponential backoff from the fast retry up to the slow one; error logged once', async () => {
  const { t, r } = await setup({});
  const port = t.port;
  await t.stop();
  logs.length = 0;
  r.start();
  const seen: (number | undefined)[] = [];
  while (seen.length < 4) {
    await once(r, 'state');
    if (r.state === 'waiting') seen.push(r.retryIntervalMsValue);
  }
  assert.deepEqual(seen, [50, 100, 200, 200]);
  assert.equal(logs.filter((l) => l.startsWith('error:') && l.includes(`127.0.0.1, ${port}`)).length, 1);
  await r.stop();
  assert.equal(r.state, 'stopped');
});

test('registers with a CDC (DIM) and deregisters on stop; a DDC is asked for PLEO', async () => {
  const cdc = await setup({ dctype: 'cdc', entries: [ioEntry(1)] });
  cdc.r.start();
  await once(cdc.r, 'logPages');
  assert.equal(cdc.r.dctype, 'cdc');
  assert.equal(cdc.r.registered, true);
  assert.equal(cdc.t.dimRecords[0]!.dim.entries[0]!.symname, 'rack4');
  assert.equal(cdc.t.dimRecords[0]!.dim.entries[0]!.trtype, 3, 'tcp');
  await cdc.r.stop();
  assert.deepEqual(
    cdc.t.dimRecords.map((d) => d.task),
    [0, 1],
  );

  const ddc = await setup({
    dctype: 'ddc',
    pleoSupported: true,
    entries: [ioEntry(1), ioEntry(2, { subtype: SubType.referral })],
  });
  ddc.r.start();
  const [pages] = await once(ddc.r, 'logPages');
  assert.equal(pages.length, 2);
  assert.equal(ddc.r.dctype, 'ddc');
  assert.equal(ddc.t.dimRecords.length, 0);
  // What the DDC received: every discovery log request (each chunk of the consistent read) asks for PLEO.
  assert.ok(ddc.t.logPageLsps.length > 0);
  assert.ok(
    ddc.t.logPageLsps.every((lsp) => (lsp & DiscoveryLsp.PLEO) !== 0),
    `LSPs ${ddc.t.logPageLsps.join(',')}`,
  );
  // A CDC is never asked for PLEO (it does not support it here, and stafd does not ask CDCs).
  assert.ok(cdc.t.logPageLsps.length > 0);
  assert.ok(cdc.t.logPageLsps.every((lsp) => (lsp & DiscoveryLsp.PLEO) === 0));

  // A DC whose Identify reports no type: 'none', as the kernel's sysfs dctype (and so nvme-stas) shows it.
  const plain = await setup({ dctype: 'none', entries: [ioEntry(1)] });
  plain.r.start();
  await once(plain.r, 'logPages');
  assert.equal(plain.r.dctype, 'none');
  assert.equal(plain.t.dimRecords.length, 0);
  // It does not report PLEO support (Supported Log Pages): not asked for it.
  assert.ok(plain.t.logPageLsps.length > 0);
  assert.ok(plain.t.logPageLsps.every((lsp) => (lsp & DiscoveryLsp.PLEO) === 0));
});

test('DH-HMAC-CHAP: the host key serves DCs without their own secret; a challenge replayed after a reconnect is refused', {
  timeout: 60_000,
}, async () => {
  const hostKey = formatDhchapSecret(
    Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 7 + 1) & 0xff)),
    1,
  );
  const t = new DiscoveryTarget({ entries: [ioEntry(1)], dhchap: { hostKey, misbehave: 'replay-seqnum' } });
  await t.start();
  targets.push(t);
  const tid = Tid.from(
    { transport: 'tcp', traddr: '127.0.0.1', trsvcid: String(t.port), subsysnqn: WELL_KNOWN_DISC_NQN },
    { defaultHostNqn: identity.hostNqn },
  );
  const r = new DiscoveryControllerRunner(tid, 'configured', undefined, {
    ...deps,
    identity: { ...identity, hostKey },
  });
  runners.push(r);
  logs.length = 0;
  r.start();
  await once(r, 'logPages');
  assert.equal(t.dhchapAuthenticated, 1, 'authenticated with the host key');
  // The DC drops the connection; on the reconnect it sends the same challenge sequence number again.
  const port = t.port;
  await t.stop();
  const back = new DiscoveryTarget({
    port,
    entries: [ioEntry(1)],
    dhchap: { hostKey, misbehave: 'replay-seqnum' },
  });
  await back.start();
  targets.push(back);
  while (!(r.lastError ?? '').includes('replayed')) await once(r, 'state');
  assert.equal(back.dhchapAuthenticated, 0);
  assert.match(r.lastError!, /authentication/i);
  assert.ok(!logs.some((l) => l.includes(hostKey.slice(10, 30))), 'the secret is never logged');
  await r.stop();
});
