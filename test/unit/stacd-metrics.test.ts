// stacd's metrics from a real StacdService against an in-memory kernel: IOC states from the plan, the connect,
// failure and disconnect counters, and the pass histogram with durations from an injected clock.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ownershipRegistry } from '../../src/adapters/kernel/registry.js';
import { parseStacdConfig } from '../../src/core/config/service-config.js';
import type { StafdView } from '../../src/core/stacd/plan.js';
import { Tid, WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { StacdMetrics } from '../../src/daemons/stacd/metrics.js';
import { StacdService } from '../../src/daemons/stacd/service.js';
import { ioEntry } from '../support/discovery-target.js';
import { fakeKernel } from '../support/kernel-records.js';
import { until } from '../support/until.js';

const identity = { hostNqn: 'nqn.host', hostId: '5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f' };
const dc = Tid.from(
  { transport: 'tcp', traddr: '127.0.0.1', trsvcid: '8009', subsysnqn: WELL_KNOWN_DISC_NQN },
  { defaultHostNqn: identity.hostNqn },
);
const NQN = (i: number) => `nqn.2024-01.io.stas-test:subsys${i}`;

/** Lines of the exposition that start with `prefix` (without the HELP/TYPE lines). */
const samples = (text: string, prefix: string) => text.split('\n').filter((l) => l.startsWith(prefix));

function setup(conf: string, view: () => StafdView) {
  let hold: Promise<void> | undefined;
  let now = 1000; // the injected monotonic clock, ms
  let connectsStarted = 0;
  const k = fakeKernel(async () => {
    connectsStarted++;
    await hold;
    now += 1000; // each connect "takes" 1 s
  });
  const refuse = k.refuse;
  const dir = mkdtempSync(join(tmpdir(), 'stacd-metrics-'));
  let service: StacdService | undefined;
  const metrics = new StacdMetrics(() => service!);
  service = new StacdService({
    config: parseStacdConfig(conf).config,
    identity,
    stafd: async () => {
      now += 250; // asking stafd "takes" 250 ms
      return view();
    },
    kernel: Object.assign(k.port, ownershipRegistry(join(dir, 'registry'))),
    ifaces: () => new Map([['lo', { ipv4: ['127.0.0.1'], ipv6: [] }]]),
    log: () => {},
    minPassIntervalMs: 60_000,
    retry: { fastMs: 60_000, slowMs: 60_000 },
    monotonicMs: () => now,
    onPass: (s) => metrics.observePass(s),
  });
  return {
    s: service,
    metrics,
    refuse,
    connectsStarted: () => connectsStarted,
    holdConnects: () => {
      let release!: () => void;
      hold = new Promise<void>((r) => {
        release = r;
      });
      return () => {
        hold = undefined;
        release();
      };
    },
  };
}

test('stacd metrics: IOC states, connects, failures, disconnects, passes, scans and pass durations', async () => {
  let entries = [ioEntry(1), ioEntry(2), ioEntry(3), ioEntry(4)];
  const { s, metrics, refuse, holdConnects, connectsStarted } = setup(
    `[Controllers]\nexclude = subsysnqn=${NQN(4)}\n`,
    () => ({ answered: true, dcs: [{ dc, entries }] }),
  );
  const expose = () => metrics.registry.expose();
  // Before any pass: every state at 0, counters at 0, an empty histogram.
  assert.deepEqual(samples(expose(), 'stas_ioc{'), [
    'stas_ioc{state="connected"} 0',
    'stas_ioc{state="connecting"} 0',
    'stas_ioc{state="failed"} 0',
    'stas_ioc{state="skipped"} 0',
    'stas_ioc{state="excluded"} 0',
  ]);
  assert.match(expose(), /^stas_reconcile_duration_seconds_count 0$/m);

  // Pass 1: subsys3 is refused by the target, subsys4 excluded; the connects are held to see them in flight.
  refuse.add(NQN(3));
  const release = holdConnects();
  const pass = s.reconcile();
  await until('the three connects in flight', () => connectsStarted() === 3);
  assert.deepEqual(s.iocStates(), { connected: 0, connecting: 3, failed: 0, skipped: 0, excluded: 1 });
  release();
  await pass;
  let text = expose();
  assert.deepEqual(samples(text, 'stas_ioc{'), [
    'stas_ioc{state="connected"} 2',
    'stas_ioc{state="connecting"} 0',
    'stas_ioc{state="failed"} 1',
    'stas_ioc{state="skipped"} 0',
    'stas_ioc{state="excluded"} 1',
  ]);
  assert.match(text, /^stas_connects_total 2$/m);
  assert.match(text, /^stas_connect_failures_total 1$/m);
  assert.match(text, /^stas_disconnects_total 0$/m);
  assert.match(text, /^stas_reconcile_passes_total 1$/m);
  assert.match(text, /^stas_sysfs_scans_total 1$/m);
  // On the injected clock: 250 ms asking stafd + 3 × 1 s of connects = 3.25 s.
  assert.deepEqual(samples(text, 'stas_reconcile_duration_seconds_'), [
    ...[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5].map(
      (b) => `stas_reconcile_duration_seconds_bucket{le="${Number.isInteger(b) ? `${b}.0` : b}"} 0`,
    ),
    'stas_reconcile_duration_seconds_bucket{le="5.0"} 1',
    'stas_reconcile_duration_seconds_bucket{le="10.0"} 1',
    'stas_reconcile_duration_seconds_bucket{le="30.0"} 1',
    'stas_reconcile_duration_seconds_bucket{le="60.0"} 1',
    'stas_reconcile_duration_seconds_bucket{le="+Inf"} 1',
    'stas_reconcile_duration_seconds_count 1',
    'stas_reconcile_duration_seconds_sum 3.25',
  ]);

  // Pass 2: the target accepts subsys3, subsys2 leaves the log (disconnected); a plan asked for scans too.
  refuse.clear();
  entries = [ioEntry(1), ioEntry(3), ioEntry(4)];
  await s.reconcile();
  await s.dryRun();
  text = expose();
  assert.deepEqual(samples(text, 'stas_ioc{state="connected"}'), ['stas_ioc{state="connected"} 2']);
  assert.deepEqual(samples(text, 'stas_ioc{state="failed"}'), ['stas_ioc{state="failed"} 0']);
  assert.match(text, /^stas_connects_total 3$/m);
  assert.match(text, /^stas_connect_failures_total 1$/m);
  assert.match(text, /^stas_disconnects_total 1$/m);
  assert.match(text, /^stas_reconcile_passes_total 2$/m);
  assert.match(text, /^stas_sysfs_scans_total 3$/m);
  assert.match(text, /^stas_reconcile_duration_seconds_count 2$/m);
  // Pass 2 took 250 ms + one 1 s connect = 1.25 s: in the 2.5 s bucket, not the 1 s one.
  assert.match(text, /^stas_reconcile_duration_seconds_bucket\{le="1\.0"\} 0$/m);
  assert.match(text, /^stas_reconcile_duration_seconds_bucket\{le="2\.5"\} 1$/m);
  assert.match(text, /^stas_reconcile_duration_seconds_sum 4\.5$/m);

  // Pass 3: nothing to do; kept controllers count as connected.
  await s.reconcile();
  assert.deepEqual(s.iocStates(), { connected: 2, connecting: 0, failed: 0, skipped: 0, excluded: 1 });
  text = expose();
  assert.match(text, /^stas_reconcile_duration_seconds_bucket\{le="0\.25"\} 1$/m, 'a 250 ms pass');
  assert.match(text, /^stas_reconcile_duration_seconds_bucket\{le="2\.5"\} 2$/m);
  assert.match(text, /^stas_reconcile_duration_seconds_count 3$/m);
  assert.match(text, /^stas_reconcile_duration_seconds_sum 4\.75$/m);
  assert.match(text, /# EOF\n$/);
  await s.stop();
});
