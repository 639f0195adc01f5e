import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SoakTimer } from '../../src/daemons/soak-timer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('soak timer: one run, `ms` after the latest call; a sooner deadline wins; cancel', async () => {
  const runs: number[] = [];
  const t0 = performance.now();
  const soak = new SoakTimer(() => runs.push(performance.now() - t0));
  assert.equal(soak.pending, false);
  // A burst: each call moves the deadline later; one run, not before 60 ms after the last call.
  let lastCall = 0;
  for (let i = 0; i < 5; i++) {
    lastCall = performance.now() - t0; // read before the call: the deadline is at least 60 ms after this
    soak.schedule(60);
    await sleep(20);
  }
  assert.equal(soak.pending, true);
  await sleep(150);
  assert.equal(runs.length, 1);
  assert.ok(runs[0]! >= lastCall + 60, `ran at ${runs[0]} ms, last call at ${lastCall} ms`);
  assert.equal(soak.pending, false);

  // A sooner deadline replaces a later one.
  soak.schedule(10_000);
  soak.schedule(0);
  await sleep(30);
  assert.equal(runs.length, 2);
  assert.equal(soak.pending, false);

  // Cancelled: never runs.
  soak.schedule(20);
  soak.cancel();
  assert.equal(soak.pending, false);
  await sleep(60);
  assert.equal(runs.length, 2);
});
