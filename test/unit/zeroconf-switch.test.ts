// Unit tests of stafd's zeroconf switch (src/daemons/stafd/zeroconf-switch.ts): the mDNS side is loaded on first
// use, and switches or a stop() that come while it loads neither start it twice nor start it after the stop.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { zeroconfSwitch } from '../../src/daemons/stafd/zeroconf-switch.js';

/** A switch whose load the test resolves or rejects, counting loads, starts, stops and offs. */
function harness() {
  const n = { loads: 0, starts: 0, stops: 0, offs: 0, running: 0 };
  const errors: string[] = [];
  let release: (() => void) | undefined;
  let fail: ((e: Error) => void) | undefined;
  const sw = zeroconfSwitch({
    load: () => {
      n.loads++;
      return new Promise((resolve, reject) => {
        release = () =>
          resolve(() => {
            n.starts++;
            n.running++;
            assert.equal(n.running, 1, 'never two instances at once');
            return {
              stop: () => {
                n.stops++;
                n.running--;
              },
            };
          });
        fail = reject;
      });
    },
    off: () => n.offs++,
    log: (_level, message) => errors.push(message),
  });
  return {
    sw,
    n,
    errors,
    release: () => release?.(),
    fail: (e: Error) => fail?.(e),
  };
}

test('zeroconf off: nothing is loaded', async () => {
  const h = harness();
  await h.sw.apply(false);
  await h.sw.apply(false);
  assert.deepEqual(h.n, { loads: 0, starts: 0, stops: 0, offs: 0, running: 0 });
  h.sw.stop();
  assert.equal(h.n.stops, 0);
});

test('on: loaded once, started once; off stops it and forgets the discovered DCs; on again starts it again', async () => {
  const h = harness();
  const first = h.sw.apply(true);
  assert.equal(h.sw.running, false, 'not before the load');
  h.release();
  await first;
  assert.equal(h.sw.running, true);
  await h.sw.apply(true);
  assert.deepEqual(h.n, { loads: 1, starts: 1, stops: 0, offs: 0, running: 1 });
  await h.sw.apply(false);
  assert.deepEqual(h.n, { loads: 1, starts: 1, stops: 1, offs: 1, running: 0 });
  await h.sw.apply(true);
  assert.deepEqual(h.n, { loads: 1, starts: 2, stops: 1, offs: 1, running: 1 }, 'no second load');
  h.sw.stop();
  h.sw.stop();
  assert.deepEqual(h.n, { loads: 1, starts: 2, stops: 2, offs: 1, running: 0 }, 'stop() does not clear');
  await h.sw.apply(true);
  assert.equal(h.n.starts, 2, 'nothing after stop()');
});

test('on → off → on while loading: one load, one start', async () => {
  const h = harness();
  const a = h.sw.apply(true);
  const b = h.sw.apply(false);
  const c = h.sw.apply(true);
  h.release();
  await Promise.all([a, b, c]);
  assert.deepEqual(h.n, { loads: 1, starts: 1, stops: 0, offs: 0, running: 1 });
});

test('on → off while loading: nothing starts', async () => {
  const h = harness();
  const a = h.sw.apply(true);
  const b = h.sw.apply(false);
  h.release();
  await Promise.all([a, b]);
  assert.deepEqual(h.n, { loads: 1, starts: 0, stops: 0, offs: 0, running: 0 });
  await h.sw.apply(true);
  assert.deepEqual(h.n, { loads: 1, starts: 1, stops: 0, offs: 0, running: 1 }, 'the loaded code is reused');
});

test('stop() while loading: nothing starts, then or later', async () => {
  const h = harness();
  const a = h.sw.apply(true);
  h.sw.stop();
  const b = h.sw.apply(true);
  h.release();
  await Promise.all([a, b]);
  await h.sw.apply(true);
  assert.deepEqual(h.n, { loads: 1, starts: 0, stops: 0, offs: 0, running: 0 });
  assert.equal(h.sw.running, false);
});

test('a failed load is logged, starts nothing, and is tried again on the next switch on', async () => {
  const h = harness();
  const a = h.sw.apply(true);
  h.fail(new Error('chunk missing'));
  await a;
  assert.equal(h.sw.running, false);
  assert.match(h.errors.join('\n'), /zeroconf: cannot load the mDNS browser: chunk missing/);
  const b = h.sw.apply(true);
  h.release();
  await b;
  assert.deepEqual(h.n, { loads: 2, starts: 1, stops: 0, offs: 0, running: 1 });
});
