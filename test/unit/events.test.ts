import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventLog } from '../../src/core/events.js';

test('the history is bounded and keeps the newest events, oldest first', () => {
  const log = new EventLog(3);
  for (let i = 0; i < 5; i++)
    log.add(new Date(Date.UTC(2026, 10, 23, 10, 0, i)), { kind: 'connected', device: `nvme${i}` });
  assert.deepEqual(
    log.list().map((e) => [e.time, e.device]),
    [
      ['2026-11-23T10:00:02.000Z', 'nvme2'],
      ['2026-11-23T10:00:03.000Z', 'nvme3'],
      ['2026-11-23T10:00:04.000Z', 'nvme4'],
    ],
  );
  const copy = log.list();
  copy.pop();
  assert.equal(log.list().length, 3, 'list() is a copy');
});

test('at every fill level, before and after the ring wraps, the list is the newest events in order', () => {
  for (let n = 0; n <= 9; n++) {
    const log = new EventLog(4);
    for (let i = 0; i < n; i++) log.add(new Date(0), { kind: 'k', device: `nvme${i}` });
    const want = Array.from({ length: n }, (_, i) => `nvme${i}`).slice(-4);
    assert.deepEqual(
      log.list().map((e) => e.device),
      want,
      `after ${n} events`,
    );
  }
});
