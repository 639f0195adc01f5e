import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseStafdConfig } from '../../src/core/config/service-config.js';
import { SubType } from '../../src/core/nvme/discovery-log.js';
import { Tid, WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { StafdService, type StafdServiceOptions, type TidArgs } from '../../src/daemons/stafd/service.js';
import { DiscoveryTarget, ioEntry } from '../support/discovery-target.js';
import { flush, ManualClock } from '../support/manual-clock.js';
import { passesSettled, TEST_IDENTITY, testStafdOptions } from '../support/stafd-service.js';
import { until } from '../support/until.js';

const identity = TEST_IDENTITY;
const targets: DiscoveryTarget[] = [];
const services: StafdService[] = [];
after(async () => {
  for (const s of services) await s.stop();
  for (const t of targets) await t.stop();
});

async function target(entries = [ioEntry(1)]) {
  const t = new DiscoveryTarget({ entries });
  await t.start();
  targets.push(t);
  return t;
}

function service(confText: string, lkcPath?: string, extra: Partial<StafdServiceOptions> = {}) {
  const signals = { changed: [] as TidArgs[], removed: 0 };
  const s = new StafdService({
    ...testStafdOptions(confText),
    signals: { logPagesChanged: (tid) => signals.changed.push(tid), dcRemoved: () => signals.removed++ },
    lkcPath,
    ...extra,
  });
  services.push(s);
  return { s, signals };
}

const ctl = (port: number) => `controller = transport=tcp;traddr=127.0.0.1;trsvcid=${port}`;

test('configured DCs are connected, their logs served, referrals followed and dropped', async () => {
  const c = await target();
  const a = await target([
    ioEntry(1),
    ioEntry(2),
    ioEntry(9, { subtype: SubType.referral, trsvcid: String(c.port), subnqn: WELL_KNOWN_DISC_NQN }),
  ]);
  const { s, signals } = service(`[Global]\nkato=0\n[Controllers]\n${ctl(a.port)}\n`);
  s.start();
  await until('both DCs read', () => s.snapshot().filter((d) => d.pages > 0).length === 2);
  assert.deepEqual(
    s.snapshot().map((d) => [d.tid.trsvcid, d.origin]),
    [
      [String(a.port), 'configured'],
      [String(c.port), 'referral'],
    ],
  );
  const all = JSON.parse(s.getAllLogPages(false)) as {
    'discovery-controller': Record<string, string>;
    'log-pages': Record<string, string>[];
  }[];
  assert.equal(all[0]!['discovery-controller']['trsvcid'], String(a.port));
  assert.equal(all[0]!['log-pages'].length, 3);
  assert.equal(all[0]!['log-pages'][0]!['subnqn'], 'nqn.2024-01.io.stas-test:subsys1');
  const tidA: TidArgs = ['tcp', '127.0.0.1', String(a.port), WELL_KNOWN_DISC_NQN, '', '', identity.hostNqn];
  assert.equal(s.getLogPages(...tidA).length, 3);
  assert.equal(JSON.parse(s.controllerInfo(...tidA)).origin, 'configured');
  assert.deepEqual(s.getLogPages('tcp', '127.0.0.1', '1', WELL_KNOWN_DISC_NQN, '', '', identity.hostNqn), []);
  assert.ok(signals.changed.some((t) => t[2] === String(a.port)));
  // The referral disappears from A's log: the referred DC goes, dc_removed is signalled.
  a.setEntries([ioEntry(1)]);
  await until('referral dropped and signalled', () => s.snapshot().length === 1 && signals.removed === 1);
  assert.ok(s.listControllers(true)[0]!['connected'] === 'True');
});

test('reload: an added controller connects, a removed one and an excluded one go at once', async () => {
  const a = await target();
  const b = await target();
  const { s, signals } = service(`[Controllers]\n${ctl(a.port)}\n`);
  s.start();
  await until('A read', () => s.snapshot()[0]?.pages === 1);
  s.reload(parseStafdConfig(`[Controllers]\n${ctl(a.port)}\n${ctl(b.port)}\n`).config);
  await until('B added', () => s.snapshot().length === 2 && s.snapshot()[1]!.pages === 1);
  s.reload(parseStafdConfig(`[Controllers]\n${ctl(b.port)}\nexclude = trsvcid=${b.port}\n`).config);
  await until('both gone and signalled', () => s.snapshot().length === 0 && signals.removed >= 1);
});

test('restart: the last-known config restores DCs with their cached logs before any connection', async () => {
  const a = await target([ioEntry(1), ioEntry(2)]);
  const lkc = join(mkdtempSync(join(tmpdir(), 'stafd-lkc-')), 'run', 'last-known-config.json');
  const port = a.port;
  const first = service(`[Controllers]\n${ctl(port)}\n`, lkc);
  first.s.start();
  await until('read', () => first.s.snapshot()[0]?.pages === 2);
  await first.s.stop();
  await a.stop(); // the DC is unreachable while stafd restarts
  let attempts = 0;
  const opts = testStafdOptions('');
  const second = service(`[Controllers]\n${ctl(port)}\n`, lkc, {
    connect: (o) => {
      attempts++;
      return opts.connect(o);
    },
  });
  second.s.start();
  const restored = JSON.parse(second.s.getAllLogPages(false));
  assert.equal(restored.length, 1);
  assert.equal(restored[0]['log-pages'].length, 2, 'cached log served at once');
  // Kept through failed connects: the third attempt starts only after the first two have failed.
  await until('three connect attempts', () => attempts >= 3);
  assert.equal(
    JSON.parse(second.s.getAllLogPages(false))[0]['log-pages'].length,
    2,
    'and kept while unreachable',
  );
});

test('mDNS: discovered DCs connect; gone and unreachable ones are purged after the persistence span', async () => {
  const d = await target();
  // The persistence span runs on a manual clock: it expires when the test moves time.
  const clock = new ManualClock();
  clock.t = Date.now();
  const { s } = service(
    '[Discovery controller connection management]\nzeroconf-connections-persistence = 0.3\n',
    undefined,
    { wallClock: clock },
  );
  const tid = Tid.from(
    { transport: 'tcp', traddr: '127.0.0.1', trsvcid: String(d.port), subsysnqn: WELL_KNOWN_DISC_NQN },
    { defaultHostNqn: identity.hostNqn },
  );
  s.start();
  s.setDiscovered([tid]);
  await until('discovered DC read', () => s.snapshot()[0]?.pages === 1);
  assert.equal(s.snapshot()[0]!.origin, 'discovered');
  // Goodbye from mDNS while still connected: kept, however long it stays connected (no span starts).
  let passes = s.changePasses;
  s.setDiscovered([]);
  await passesSettled(s, passes);
  assert.equal(clock.armed, 0, 'no persistence span for a connected DC');
  await clock.advance(10_000);
  passes = s.changePasses;
  s.setDiscovered([]); // a pass well after the span would have ended
  await passesSettled(s, passes);
  assert.equal(s.snapshot().length, 1);
  // Now unreachable as well: the span starts; kept until it ends, purged once it has.
  await d.stop();
  await until('the persistence span armed', () => clock.armed === 1);
  await clock.advance(299);
  passes = s.changePasses;
  s.setDiscovered([]);
  await passesSettled(s, passes);
  assert.equal(s.snapshot().length, 1, 'kept within the span');
  await clock.advance(1);
  await until('purged', () => s.snapshot().length === 0);
});

test('DC reconciliation is edge-triggered: a change starts a pass at once, changes during a pass make one trailing pass, a storm is bounded', async () => {
  const clock = new ManualClock();
  clock.t = 50_000;
  let reads = 0;
  let held: Promise<void> | undefined;
  const s = new StafdService({
    ...testStafdOptions(''),
    signals: { logPagesChanged: () => {}, dcRemoved: () => {} },
    minPassIntervalMs: 250,
    schedulerClock: clock,
    // Read once at the start of every pass: counts passes, and holds one while the test wants.
    hostExclusions: async () => {
      reads++;
      await held;
      return [];
    },
  });
  services.push(s);
  const soakTimer = () => JSON.parse(s.processInfo())['config soak timer'] as string;
  /** No pass running: idle, or a due pass waiting for its timer. */
  const settle = async () => {
    while (soakTimer() !== '0.25s [off]' && clock.armed === 0) await new Promise((r) => setImmediate(r));
  };
  const step = async (ms: number) => {
    await settle();
    await clock.advance(ms);
    await settle();
  };

  s.start();
  await settle(); // the manual clock has not moved: no timer started it
  assert.equal(s.changePasses, 1, 'start: a pass at once');
  assert.equal(reads, 1);
  await step(5000);
  // One change when idle: at once.
  s.setDiscovered([]);
  await settle();
  assert.equal(reads, 2, 'a change while idle: a pass at once');

  // Twenty changes while a pass runs: one trailing pass.
  await step(1000);
  let release!: () => void;
  held = new Promise<void>((r) => {
    release = r;
  });
  s.reload(parseStafdConfig('', 'stafd.conf').config);
  await flush();
  for (let i = 0; i < 20; i++) s.setDiscovered([]);
  assert.equal(reads, 3);
  held = undefined;
  release();
  await step(1000);
  assert.equal(reads, 4, 'exactly one trailing pass for 20 changes');
  await step(10_000);
  assert.equal(reads, 4);

  // A storm: a change every 4 ms for 5 s.
  const before = reads;
  for (let t = 0; t < 5000; t += 4) {
    s.setDiscovered([]);
    await step(4);
  }
  await step(1000);
  const passes = reads - before;
  assert.ok(passes <= 5000 / 250 + 1, `${passes} passes for 1,250 changes in 5 s`);
  assert.equal(s.changePasses, reads);
  await s.stop();
});
