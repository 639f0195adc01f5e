// stafd's bounds against hostile or broken discovery controllers: the pure plan (controllers, referral depth,
// referrals per controller), the DC runner's read pacing and backoff (mocked clock), and the service (bound
// warnings, events and metric hooks; the cache bound) over an in-memory fabric.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseStafdConfig } from '../../src/core/config/service-config.js';
import { SubType } from '../../src/core/nvme/discovery-log.js';
import { DiscoveryLogChangingError } from '../../src/core/nvme/discovery-log-read.js';
import { DEFAULT_DC_BOUNDS, planDiscoveryControllers } from '../../src/core/stafd/dc-plan.js';
import { Tid, WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { backoffMs, DiscoveryControllerRunner } from '../../src/daemons/stafd/discovery-controller.js';
import { StafdService } from '../../src/daemons/stafd/service.js';
import { ioEntry } from '../support/discovery-target.js';
import { FakeFabric, LOG_CHANGE_AEN } from '../support/fake-dc.js';
import { TEST_IDENTITY } from '../support/stafd-service.js';
import { until } from '../support/until.js';

const opts = { defaultHostNqn: TEST_IDENTITY.hostNqn };
const dc = (traddr: string, trsvcid = '8009') =>
  Tid.from({ transport: 'tcp', traddr, trsvcid, subsysnqn: WELL_KNOWN_DISC_NQN }, opts);
const both = { ipv4: true, ipv6: true };
const addr = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const referralTo = (traddr: string, trsvcid = '8009') =>
  ioEntry(0, { subtype: SubType.referral, traddr, trsvcid, subnqn: WELL_KNOWN_DISC_NQN });

// ---- the plan ---------------------------------------------------------------------------------------------------

test('plan: referrals per controller are capped, one hit naming the referring DC', () => {
  const root = dc('10.0.0.1');
  const refs = Array.from({ length: 1000 }, (_, i) => dc(addr(1000 + i)));
  const plan = planDiscoveryControllers({
    configured: [{ tid: root }],
    referrals: new Map([[root.key(), refs]]),
    discovered: [],
    excludes: [],
    ipFamily: both,
  });
  assert.equal(plan.desired.size, 1 + DEFAULT_DC_BOUNDS.maxReferralsPerController);
  assert.deepEqual(
    plan.hits.map((h) => [h.bound, h.by?.key(), h.refused]),
    [['max-referrals-per-controller', root.key(), 1000 - DEFAULT_DC_BOUNDS.maxReferralsPerController]],
  );
});

test('plan: a referral chain stops at the depth bound; cycles and unreachable referrers are not followed', () => {
  const chain = Array.from({ length: 20 }, (_, i) => dc(addr(i + 1)));
  const referrals = new Map(chain.slice(0, -1).map((t, i) => [t.key(), [chain[i + 1]!]]));
  // A cycle between two DCs no configured or mDNS DC leads to.
  const [x, y] = [dc('10.9.9.1'), dc('10.9.9.2')];
  referrals.set(x.key(), [y]);
  referrals.set(y.key(), [x]);
  const plan = planDiscoveryControllers({
    configured: [{ tid: chain[0]! }],
    referrals,
    discovered: [],
    excludes: [],
    ipFamily: both,
    bounds: { ...DEFAULT_DC_BOUNDS, maxReferralDepth: 3 },
  });
  assert.deepEqual(
    [...plan.desired.values()].map((c) => c.tid.traddr),
    chain.slice(0, 4).map((t) => t.traddr),
  );
  assert.deepEqual(
    plan.hits.map((h) => [h.bound, h.by?.traddr, h.refused]),
    [['max-referral-depth', chain[3]!.traddr, 1]],
  );
});

test('plan: the controller bound keeps configured DCs first, then running ones, then new ones', () => {
  const configured = [dc('10.0.0.1'), dc('10.0.0.2')];
  const running = [dc('10.0.1.1'), dc('10.0.1.2')];
  const fresh = Array.from({ length: 10 }, (_, i) => dc(addr(0x20000 + i)));
  const plan = planDiscoveryControllers({
    configured: configured.map((tid) => ({ tid })),
    // The first configured DC refers to the new ones first, then to the running ones.
    referrals: new Map([[configured[0]!.key(), [...fresh, ...running]]]),
    current: new Set([...configured, ...running].map((t) => t.key())),
    discovered: [dc('10.0.3.1')],
    excludes: [],
    ipFamily: both,
    bounds: { ...DEFAULT_DC_BOUNDS, maxDiscoveryControllers: 6 },
  });
  assert.deepEqual(
    [...plan.desired.values()].map((c) => [c.tid.traddr, c.origin]),
    [
      ['10.0.0.1', 'configured'],
      ['10.0.0.2', 'configured'],
      ['10.0.1.1', 'referral'],
      ['10.0.1.2', 'referral'],
      [fresh[0]!.traddr, 'referral'],
      [fresh[1]!.traddr, 'referral'],
    ],
  );
  assert.deepEqual(
    plan.hits.map((h) => [h.bound, h.by?.traddr, h.origin, h.refused]),
    [
      ['max-discovery-controllers', '10.0.0.1', 'referral', 8],
      ['max-discovery-controllers', undefined, 'discovered', 1],
    ],
  );
});

// ---- the runner -------------------------------------------------------------------------------------------------

const flush = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

function runner(fabric: FakeFabric, address: string, logs: string[], admit?: (n: number) => boolean) {
  const [traddr, trsvcid] = address.split(':') as [string, string];
  return new DiscoveryControllerRunner(dc(traddr, trsvcid), 'configured', undefined, {
    connect: fabric.connect,
    identity: TEST_IDENTITY,
    kato: 0,
    hdrDigest: false,
    dataDigest: false,
    pleo: false,
    timing: { fastRetryMs: 100, slowRetryMs: 1600, dimRetryMs: 100, logRetryMs: 100, minReadIntervalMs: 250 },
    log: (level, m) => logs.push(`${level}: ${m}`),
    ...(admit ? { admitLog: (_r, n) => admit(n) } : {}),
  });
}

test('backoff doubles from the first delay up to the cap', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 100].map((n) => backoffMs(n, 3000, 60000)),
    [3000, 6000, 12000, 24000, 48000, 60000, 60000],
  );
});

test('runner: change notices are coalesced (one read in flight, one pending, 250 ms apart)', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  const fabric = new FakeFabric();
  let entries = [ioEntry(1)];
  fabric.set('10.0.0.1', '8009', () => entries);
  const logs: string[] = [];
  const r = runner(fabric, '10.0.0.1:8009', logs);
  const announced: number[] = [];
  r.on('logPages', (p) => announced.push(p.length));
  r.start();
  t.mock.timers.tick(0);
  await flush();
  const s = fabric.sessions[0]!;
  assert.equal(s.reads, 1, 'first read at connect');
  assert.deepEqual(announced, [1], 'the first read is announced');

  // A storm of 1,000 notices while a read is in flight: one more read, after the minimum interval.
  s.hold = true;
  s.emit('aen', LOG_CHANGE_AEN);
  t.mock.timers.tick(250);
  await flush();
  assert.equal(s.reads, 2);
  for (let i = 0; i < 1000; i++) s.emit('aen', LOG_CHANGE_AEN);
  await flush();
  assert.equal(s.reads, 2, 'nothing more while a read is in flight');
  s.hold = false;
  s.releaseReads();
  await flush();
  assert.equal(s.reads, 2, 'the pending read waits for the interval');
  t.mock.timers.tick(250);
  await flush();
  assert.equal(s.reads, 3, 'the 1,000 notices cost one read');
  assert.equal(s.maxInFlight, 1);
  assert.deepEqual(announced, [1], 'unchanged logs are not announced');

  // A real change is announced once.
  entries = [ioEntry(1), ioEntry(2)];
  t.mock.timers.tick(250);
  s.emit('aen', LOG_CHANGE_AEN);
  await flush();
  assert.equal(s.reads, 4, 'a notice after a quiet interval is read at once');
  assert.deepEqual(announced, [1, 2]);
  await r.stop();
});

test('runner: a log that never stabilises backs off exponentially and says so once', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  const fabric = new FakeFabric();
  fabric.set('10.0.0.1', '8009', () => new DiscoveryLogChangingError(6));
  const logs: string[] = [];
  const r = runner(fabric, '10.0.0.1:8009', logs);
  r.start();
  t.mock.timers.tick(0);
  await flush();
  const s = fabric.sessions[0]!;
  // Ten simulated seconds of notices every 10 ms.
  for (let ms = 0; ms < 10_000; ms += 10) {
    s.emit('aen', LOG_CHANGE_AEN);
    t.mock.timers.tick(10);
    await flush();
  }
  // Reads at 0, then 100, 200, 400, 800, 1600, 1600… ms after each failure: 0, .1, .3, .7, 1.5, 3.1, 4.7, 6.3, 7.9, 9.5 s.
  assert.equal(s.reads, 10);
  assert.equal(logs.filter((l) => /^(warning|error):.*kept changing/.test(l)).length, 1);
  await r.stop();
});

test('runner: a DC that drops every session after connecting backs off like a failing connect', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  const fabric = new FakeFabric();
  fabric.set('10.0.0.1', '8009', () => [ioEntry(1)]);
  const r = runner(fabric, '10.0.0.1:8009', []);
  const delays: (number | undefined)[] = [];
  r.on('state', (st) => {
    if (st === 'waiting') delays.push(r.retryIntervalMsValue);
  });
  r.start();
  t.mock.timers.tick(0);
  await flush();
  for (let i = 0; i < 6; i++) {
    fabric.sessions.at(-1)!.drop(new Error('connection reset by the controller'));
    t.mock.timers.tick(delays.at(-1)!);
    await flush();
  }
  assert.deepEqual(delays, [100, 200, 400, 800, 1600, 1600]);
  assert.equal(fabric.connects, 7);
  await r.stop();
});

test('runner: refused entries are left out of the cache with one warning per read naming the field', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  const fabric = new FakeFabric();
  let bad = 'nqn.2024-01.io:\u001b[2Jx';
  fabric.set('10.0.0.1', '8009', () => [
    ioEntry(1),
    referralTo('10.0.0.2', 'http'),
    ioEntry(3, { subnqn: bad }),
  ]);
  const logs: string[] = [];
  const r = runner(fabric, '10.0.0.1:8009', logs);
  r.start();
  t.mock.timers.tick(0);
  await flush();
  assert.deepEqual(
    r.logPages.map((e) => e.subnqn),
    ['nqn.2024-01.io.stas-test:subsys1'],
  );
  assert.deepEqual(r.referrals, []);
  const warnings = logs.filter((l) => l.startsWith('warning:'));
  assert.equal(warnings.length, 1);
  assert.match(
    warnings[0]!,
    /2 log page entries refused \(trsvcid, subnqn\): entry 1: invalid value for trsvcid: .*entry 2: invalid value for subnqn/,
  );
  assert.ok(!warnings[0]!.includes('\u001b'));
  // The same refusals again: not repeated at warning level; a new one is.
  fabric.sessions[0]!.emit('aen', LOG_CHANGE_AEN);
  await flush();
  assert.equal(logs.filter((l) => l.startsWith('warning:')).length, 1);
  bad = 'nqn.2024-01.io:a,b';
  t.mock.timers.tick(250);
  fabric.sessions[0]!.emit('aen', LOG_CHANGE_AEN);
  await flush();
  assert.equal(logs.filter((l) => l.startsWith('warning:')).length, 2);
  await r.stop();
});

test('runner: a log the cache bound refuses is not cached nor announced; the previous one stays', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  const fabric = new FakeFabric();
  let entries = [ioEntry(1)];
  fabric.set('10.0.0.1', '8009', () => entries);
  const r = runner(fabric, '10.0.0.1:8009', [], (n) => n <= 2);
  const announced: number[] = [];
  r.on('logPages', (p) => announced.push(p.length));
  r.start();
  t.mock.timers.tick(0);
  await flush();
  entries = [ioEntry(1), ioEntry(2), ioEntry(3)];
  t.mock.timers.tick(250);
  fabric.sessions[0]!.emit('aen', LOG_CHANGE_AEN);
  await flush();
  assert.equal(fabric.sessions[0]!.reads, 2);
  assert.deepEqual(announced, [1]);
  assert.equal(r.logPages.length, 1);
  await r.stop();
});

// ---- the service ------------------------------------------------------------------------------------------------

function service(fabric: FakeFabric, conf: string) {
  const logs: string[] = [];
  const hits: string[] = [];
  const s = new StafdService({
    config: parseStafdConfig(conf, 'stafd.conf').config,
    confFile: 'stafd.conf',
    identity: TEST_IDENTITY,
    connect: fabric.connect,
    log: (level, m) => logs.push(`${level}: ${m}`),
    signals: { logPagesChanged: () => {}, dcRemoved: () => {} },
    minPassIntervalMs: 5,
    timing: { fastRetryMs: 50, slowRetryMs: 100, dimRetryMs: 50, logRetryMs: 50, minReadIntervalMs: 0 },
    onBoundHit: (b) => hits.push(b),
  });
  return { s, logs, hits };
}

/** Settled: every DC connected and read, and no pass pending. */
const settled = (s: StafdService) =>
  s.snapshot().every((d) => d.state === 'connected') &&
  JSON.parse(s.processInfo())['config soak timer'].endsWith('[off]');

test('service: cross-referral amplification stays within the controller bound, one warning per cause', async () => {
  // 1,000 DCs, each referring to all of them (the configured one included).
  const fabric = new FakeFabric();
  const all = Array.from({ length: 1000 }, (_, i) => addr(0x10000 + i));
  const log = all.map((a) => referralTo(a));
  for (const a of all) fabric.set(a, '8009', () => log);
  const { s, logs, hits } = service(
    fabric,
    `[Discovery controller connection management]\nmax-discovery-controllers=20\nmax-referrals-per-controller=100\n[Controllers]\ncontroller=transport=tcp;traddr=${all[0]}\n`,
  );
  s.start();
  await until('20 DCs running', () => s.snapshot().length === 20 && settled(s));
  assert.ok(fabric.open <= 20, `${fabric.open} sessions open`);
  assert.ok(fabric.connects <= 20, `${fabric.connects} connects`);
  const warnings = logs.filter((l) => l.startsWith('warning:') && l.includes('max-discovery-controllers'));
  assert.ok(warnings.length >= 1 && warnings.length <= 20, `${warnings.length} warnings`);
  for (const w of warnings)
    assert.match(
      w,
      /referral\(s\) of \(tcp, 10\.1\.\d+\.\d+, 8009, .*\) not followed: max-discovery-controllers \(20\) reached/,
    );
  // The per-controller bound bites too (1,000 referrals, 100 taken): one warning per referring DC at most.
  const perDc = logs.filter((l) => l.includes('max-referrals-per-controller (100)'));
  assert.ok(perDc.length >= 1 && perDc.length <= 20);
  assert.equal(hits.filter((h) => h === 'max-discovery-controllers').length, warnings.length);
  const events = JSON.parse(s.eventsJson()) as { kind: string; detail: string }[];
  assert.equal(events.filter((e) => e.kind === 'bound').length, warnings.length + perDc.length);
  // A log re-read with the same referrals changes nothing and says nothing new.
  const before = logs.length;
  s.reload(
    parseStafdConfig(
      `[Discovery controller connection management]\nmax-discovery-controllers=20\nmax-referrals-per-controller=100\n[Controllers]\ncontroller=transport=tcp;traddr=${all[0]}\n`,
      'stafd.conf',
    ).config,
  );
  await until('re-read', () => fabric.reads >= 40);
  await s.reconcile();
  assert.equal(logs.slice(before).filter((l) => l.startsWith('warning:')).length, 0);
  assert.equal(s.snapshot().length, 20);
  await s.stop();
});

test('service: a referral chain grows no deeper than max-referral-depth', async () => {
  const fabric = new FakeFabric();
  // DC i refers to DC i+1, without end.
  for (let i = 0; i < 200; i++) fabric.set(addr(i + 1), '8009', () => [referralTo(addr(i + 2))]);
  const { s, logs, hits } = service(
    fabric,
    `[Discovery controller connection management]\nmax-referral-depth=5\n[Controllers]\ncontroller=transport=tcp;traddr=${addr(1)}\n`,
  );
  s.start();
  await until('the chain is 6 deep', () => s.snapshot().length === 6 && settled(s));
  await s.reconcile();
  assert.equal(s.snapshot().length, 6);
  assert.equal(fabric.connects, 6);
  assert.deepEqual(hits, ['max-referral-depth']);
  assert.equal(logs.filter((l) => l.includes('max-referral-depth (5) reached')).length, 1);
  assert.match(
    logs.find((l) => l.includes('max-referral-depth'))!,
    new RegExp(`referral\\(s\\) of \\(tcp, ${addr(6).replace(/\./g, '\\.')}, 8009`),
  );
  await s.stop();
});

test('service: max-cached-log-entries keeps the total bounded; the DC over it is named once', async () => {
  const fabric = new FakeFabric();
  const big = Array.from({ length: 600 }, (_, i) => ioEntry(i));
  fabric.set('10.0.0.1', '8009', () => big);
  fabric.set('10.0.0.2', '8009', () => big);
  const { s, logs, hits } = service(
    fabric,
    '[Discovery controller connection management]\nmax-cached-log-entries=1000\n[Controllers]\ncontroller=transport=tcp;traddr=10.0.0.1\ncontroller=transport=tcp;traddr=10.0.0.2\n',
  );
  s.start();
  await until('both read', () => fabric.reads >= 2 && settled(s));
  const pages = s.snapshot().map((d) => d.pages);
  assert.deepEqual(pages.sort(), [0, 600]);
  assert.deepEqual(hits, ['max-cached-log-entries']);
  assert.equal(logs.filter((l) => l.includes('max-cached-log-entries (1000) reached')).length, 1);
  await s.stop();
});
