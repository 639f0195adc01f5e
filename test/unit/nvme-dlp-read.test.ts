import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeDiscoveryLog } from '../../src/core/nvme/discovery-log.js';
import {
  DiscoveryLogChangingError,
  DiscoveryLogTooLargeError,
  type LogPageRead,
  readDiscoveryLog,
} from '../../src/core/nvme/discovery-log-read.js';
import { ioEntry } from '../support/discovery-target.js';

const entry = (i: number) => ioEntry(i, { subnqn: `nqn.2024-01.io.test:subsys${i}` });

/** A fake controller log: serves byte ranges of the current page; `mutate` runs before each read. */
function fakeLog(pages: Buffer[], mutate?: (reads: LogPageRead[]) => number) {
  const reads: LogPageRead[] = [];
  let current = 0;
  const get = async (r: LogPageRead) => {
    reads.push(r);
    if (mutate) current = mutate(reads);
    const page = pages[current]!;
    const out = Buffer.alloc(r.length);
    page.copy(out, 0, r.offset, Math.min(page.length, r.offset + r.length));
    return out;
  };
  return { get, reads };
}

const page = (genctr: bigint, n: number) =>
  encodeDiscoveryLog(
    { genctr, numrec: BigInt(n), recfmt: 0 },
    Array.from({ length: n }, (_, i) => entry(i)),
  );

test('reads header, entries in chunks, header again; RAE held until the last read', async () => {
  const { get, reads } = fakeLog([page(9n, 5)]);
  const log = await readDiscoveryLog(get, { maxTransferBytes: 2048 });
  assert.equal(log.genctr, 9n);
  assert.equal(log.attempts, 1);
  assert.deepEqual(
    log.entries.map((e) => e.subnqn),
    [0, 1, 2, 3, 4].map((i) => `nqn.2024-01.io.test:subsys${i}`),
  );
  assert.deepEqual(
    reads.map((r) => [r.offset, r.length, r.rae]),
    [
      [0, 1024, true],
      [1024, 2048, true],
      [3072, 2048, true],
      [5120, 1024, true],
      [0, 1024, false],
    ],
  );
});

test('PLEO sets the LSP bit on every read', async () => {
  const { get, reads } = fakeLog([page(1n, 1)]);
  await readDiscoveryLog(get, { pleo: true });
  assert.ok(reads.every((r) => r.lsp === 0x2));
});

test('an empty log takes two header reads', async () => {
  const { get, reads } = fakeLog([page(3n, 0)]);
  const log = await readDiscoveryLog(get);
  assert.deepEqual(log.entries, []);
  assert.equal(reads.length, 2);
});

test('GENCTR moving during the read restarts it; the result is the consistent page', async () => {
  // Changes once, after the first entries read.
  const { get } = fakeLog([page(9n, 3), page(10n, 4)], (reads) => (reads.length >= 3 ? 1 : 0));
  const log = await readDiscoveryLog(get);
  assert.equal(log.genctr, 10n);
  assert.equal(log.entries.length, 4);
  assert.equal(log.attempts, 2);
});

test('a log that never settles fails after the bounded attempts', async () => {
  let g = 0n;
  const get = async (r: LogPageRead) => {
    g++;
    const p = page(g, 1);
    return p.subarray(r.offset, r.offset + r.length);
  };
  await assert.rejects(readDiscoveryLog(get, { maxAttempts: 3 }), DiscoveryLogChangingError);
});

test('oversized logs are refused before any entry is read', async () => {
  const { get, reads } = fakeLog([encodeDiscoveryLog({ genctr: 1n, numrec: 1000000n, recfmt: 0 }, [])]);
  await assert.rejects(readDiscoveryLog(get, { maxEntries: 10000 }), DiscoveryLogTooLargeError);
  assert.equal(reads.length, 1);
});
