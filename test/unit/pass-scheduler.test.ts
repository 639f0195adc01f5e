import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PassScheduler } from '../../src/daemons/pass-scheduler.js';
import { flush, ManualClock } from '../support/manual-clock.js';

/** A pass the test ends when it wants (`finish()`), recording when each started. */
function controlledPasses(clock: ManualClock) {
  const starts: number[] = [];
  let finish: (() => void) | undefined;
  const run = () =>
    new Promise<void>((r) => {
      starts.push(clock.now());
      finish = () => {
        finish = undefined;
        r();
      };
    });
  return {
    starts,
    run,
    finish: async () => {
      assert.ok(finish, 'a pass is running');
      finish();
      await flush();
    },
    get running() {
      return finish !== undefined;
    },
  };
}

test('one change while idle: the pass starts at once (no soak), and only one', async () => {
  const clock = new ManualClock();
  clock.t = 10_000;
  const p = controlledPasses(clock);
  const s = new PassScheduler(p.run, { minIntervalMs: 250, clock });
  assert.equal(s.busy, false);
  assert.equal(s.dueInMs(), undefined);
  s.request();
  await flush();
  assert.deepEqual(p.starts, [10_000], 'started at the time of the change, no timer involved');
  assert.equal(clock.armed, 0);
  assert.equal(s.dueInMs(), 0, 'running');
  await p.finish();
  assert.equal(s.busy, false);
  await clock.advance(10_000);
  assert.equal(p.starts.length, 1, 'no pass without a change');
});

test('N changes during a pass: exactly one trailing pass, started when the pass ends', async () => {
  const clock = new ManualClock();
  const p = controlledPasses(clock);
  const s = new PassScheduler(p.run, { minIntervalMs: 250, clock });
  s.request();
  await flush();
  await clock.advance(1000); // a long pass
  for (let i = 0; i < 50; i++) s.request();
  assert.equal(p.starts.length, 1);
  assert.equal(s.busy, true);
  await p.finish();
  assert.deepEqual(
    p.starts,
    [0, 1000],
    'one trailing pass, at once: the interval since the first start has passed',
  );
  await p.finish();
  await clock.advance(5000);
  assert.equal(p.starts.length, 2, 'the 50 changes cost one pass');
  assert.equal(s.requests, 51);
});

test('a change soon after a pass started waits for the minimum interval, still as one pass', async () => {
  const clock = new ManualClock();
  const p = controlledPasses(clock);
  const s = new PassScheduler(p.run, { minIntervalMs: 250, clock });
  s.request();
  await flush();
  await clock.advance(40);
  await p.finish(); // a short pass
  s.request();
  s.request();
  await flush();
  assert.equal(p.starts.length, 1);
  assert.equal(s.dueInMs(), 210);
  await clock.advance(209);
  assert.equal(p.starts.length, 1);
  await clock.advance(1);
  assert.deepEqual(p.starts, [0, 250]);
  // A trailing pass after a short pass also keeps the interval.
  s.request();
  await clock.advance(10);
  await p.finish();
  assert.equal(p.starts.length, 2);
  await clock.advance(240);
  assert.deepEqual(p.starts, [0, 250, 500]);
  await p.finish();
});

test('a storm of changes: passes bounded by elapsed / min-interval + 1, and the last change is covered', async () => {
  const clock = new ManualClock();
  const p = controlledPasses(clock);
  const s = new PassScheduler(p.run, { minIntervalMs: 250, clock });
  const elapsed = 10_000;
  let lastChange = 0;
  // A change every 3 ms for 10 s; each pass takes 30 ms.
  for (let t = 0; t < elapsed; t += 3) {
    s.request();
    lastChange = clock.now();
    await clock.advance(3);
    if (p.running && clock.now() - p.starts[p.starts.length - 1]! >= 30) await p.finish();
  }
  while (p.running || s.busy) {
    if (p.running) await p.finish();
    else await clock.advance(10);
  }
  const bound = Math.floor(elapsed / 250) + 1;
  assert.ok(p.starts.length <= bound, `${p.starts.length} passes, bound ${bound}`);
  assert.ok(p.starts.length >= bound - 2, `the storm is still served: ${p.starts.length} passes`);
  for (let i = 1; i < p.starts.length; i++) assert.ok(p.starts[i]! - p.starts[i - 1]! >= 250);
  assert.ok(p.starts[p.starts.length - 1]! >= lastChange, 'a pass started after the last change');
});

test('stop: no pass after it (a due one is dropped, a running one finishes); a throwing pass is reported', async () => {
  const clock = new ManualClock();
  const p = controlledPasses(clock);
  const s = new PassScheduler(p.run, { minIntervalMs: 250, clock });
  s.request();
  await flush();
  s.request(); // trailing
  s.stop();
  await p.finish();
  await clock.advance(1000);
  assert.equal(p.starts.length, 1);
  s.request();
  await clock.advance(1000);
  assert.equal(p.starts.length, 1);

  const errors: unknown[] = [];
  let n = 0;
  const t = new PassScheduler(
    async () => {
      n++;
      throw new Error('boom');
    },
    { minIntervalMs: 0, clock, onError: (e) => errors.push(e) },
  );
  t.request();
  await flush();
  t.request();
  await flush();
  assert.equal(n, 2, 'a failed pass does not stop the next one');
  assert.equal(errors.length, 2);
});
