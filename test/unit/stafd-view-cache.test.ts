import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StafdView } from '../../src/core/stacd/plan.js';
import { StafdViewCache } from '../../src/daemons/stacd/stafd-view-cache.js';

const answer = (n: number): StafdView => ({
  answered: true,
  dcs: new Array(n).fill(undefined).map(() => ({}) as never),
});
const size = (v: StafdView) => (v.answered ? v.dcs.length : -1);

test('stafd view cache: one query until stafd announces a change; failures and old copies are not served', async () => {
  let clock = 0;
  let reply: () => Promise<StafdView> = async () => answer(1);
  const cache = new StafdViewCache(() => reply(), { maxAgeMs: 1000, now: () => clock });
  assert.equal(size(await cache.get()), 1);
  assert.equal(size(await cache.get()), 1);
  assert.equal(cache.queries, 1, 'passes in a row share one answer');

  // A change: the copy is dropped and stafd asked again at once, before any pass wants it.
  reply = async () => answer(2);
  cache.refresh();
  assert.equal(cache.queries, 2);
  assert.equal(size(await cache.get()), 2);
  assert.equal(cache.queries, 2);

  // Too old: asked again.
  clock += 1001;
  reply = async () => answer(3);
  assert.equal(size(await cache.get()), 3);
  assert.equal(cache.queries, 3);

  // No answer (stafd absent, a D-Bus error): reported, not kept.
  reply = async () => ({ answered: false });
  cache.refresh();
  assert.equal(size(await cache.get()), -1);
  reply = async () => {
    throw new Error('timeout');
  };
  assert.equal(size(await cache.get()), -1, 'a rejected query is no answer');
  reply = async () => answer(4);
  assert.equal(size(await cache.get()), 4, 'the next pass asks again');
  const queries = cache.queries;
  await cache.get();
  assert.equal(cache.queries, queries);
});

test('stafd view cache: a change during a query is not answered by that query', async () => {
  let release!: (v: StafdView) => void;
  let n = 0;
  const cache = new StafdViewCache(() => {
    n++;
    return n === 1 ? new Promise<StafdView>((r) => (release = r)) : Promise.resolve(answer(9));
  });
  const first = cache.get();
  cache.refresh(); // stafd signalled while the first query was under way
  release(answer(1));
  assert.equal(size(await first), 1, 'whoever waited on the first query gets its answer');
  assert.equal(size(await cache.get()), 9, 'later passes get the answer asked for after the change');
  assert.equal(n, 2);
});
