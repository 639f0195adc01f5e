import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeDiscoveryLog } from '../../src/core/nvme/discovery-log.js';
import {
  DiscoveryLogChangingError,
  DiscoveryLogNumrecError,
  DiscoveryLogTooLargeError,
  discoveryLogOptions,
  type LogPageRead,
  readDiscoveryLog,
  readDiscoveryLogOf,
} from '../../src/core/nvme/discovery-log-read.js';
import { ProtocolError } from '../../src/core/nvme/pdu.js';
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

/** A controller whose header says `numrec` entries while its log holds `real`; `short` transfers stop at its end. */
function lyingLog(numrec: number, real: number, short: boolean, genctr = () => 1n) {
  const reads: LogPageRead[] = [];
  const get = async (r: LogPageRead) => {
    reads.push(r);
    const p = page(genctr(), real);
    p.writeBigUInt64LE(BigInt(numrec), 8);
    const end = Math.min(p.length, r.offset + r.length);
    if (short) return new Uint8Array(p.subarray(Math.min(r.offset, end), end));
    const out = Buffer.alloc(r.length);
    p.copy(out, 0, Math.min(r.offset, p.length), end);
    return out;
  };
  return { get, reads };
}

const says = (numrec: number, returned: number) => (e: unknown) =>
  e instanceof DiscoveryLogNumrecError &&
  e instanceof ProtocolError &&
  e.numrec === BigInt(numrec) &&
  e.returned === returned &&
  e.message === `discovery log header says ${numrec} entries but the controller returned ${returned}`;

test('NUMREC larger than a short transfer is a protocol error; the remaining chunks are not read', async () => {
  const { get, reads } = lyingLog(60000, 2, true);
  await assert.rejects(readDiscoveryLog(get, { maxTransferBytes: 128 * 1024 }), says(60000, 2));
  // Header, the first chunk (128 entries asked, 2 came), the header again (unchanged): not 469 chunks.
  assert.deepEqual(
    reads.map((r) => [r.offset, r.length, r.rae]),
    [
      [0, 1024, true],
      [1024, 128 * 1024, true],
      [0, 1024, false],
    ],
  );
});

test('NUMREC larger than the log, zero-filled past its end (kernel passthrough), is a protocol error', async () => {
  const { get, reads } = lyingLog(60000, 2, false);
  await assert.rejects(readDiscoveryLog(get, { maxTransferBytes: 128 * 1024 }), says(60000, 2));
  assert.equal(reads.length, 3);
});

test('the lie shows in a later chunk: entries up to it are counted, the reads stop there', async () => {
  const { get, reads } = lyingLog(100, 7, false);
  await assert.rejects(readDiscoveryLog(get, { maxTransferBytes: 4096 }), says(100, 7));
  // Chunks of 4 entries: 0-3 whole, 4-7 holds 3, then the confirming header read.
  assert.deepEqual(
    reads.map((r) => r.offset),
    [0, 1024, 5120, 0],
  );
  const shortReads = lyingLog(100, 7, true);
  await assert.rejects(readDiscoveryLog(shortReads.get, { maxTransferBytes: 4096 }), says(100, 7));
  assert.equal(shortReads.reads.length, 4);
});

test('an all-zero record inside the log counts as missing; a transfer cut mid-entry keeps whole entries only', async () => {
  const p = page(1n, 3);
  p.fill(0, 1024 + 1024, 1024 + 2048); // entry 1 zeroed
  const { get } = fakeLog([p]);
  await assert.rejects(readDiscoveryLog(get), says(3, 1));
  const cut = async (r: LogPageRead) => {
    const q = page(1n, 3);
    return new Uint8Array(q.subarray(r.offset, Math.min(r.offset + r.length, q.length - 512)));
  };
  await assert.rejects(readDiscoveryLog(cut), says(3, 2));
});

test('a log that shrank while it was read is a change, read again, not a lie', async () => {
  // 5 entries, then (from the first entries read on) 2 entries and a new GENCTR, zero-filled past the end.
  const { get } = fakeLog([page(1n, 5), page(2n, 2)], (reads) => (reads.length >= 2 ? 1 : 0));
  const log = await readDiscoveryLog(get);
  assert.equal(log.genctr, 2n);
  assert.equal(log.entries.length, 2);
  assert.equal(log.attempts, 2);
});

test('no Get Log Page asks for more than the MDTS bound, even when the caller asks for larger transfers', async () => {
  const { get, reads } = fakeLog([page(1n, 40)]);
  // MDTS 2: 16 KiB per transfer.
  const log = await readDiscoveryLogOf((_lid, r) => get(r), 2, { maxTransferBytes: 1 << 20 });
  assert.equal(log.entries.length, 40);
  assert.ok(
    reads.every((r) => r.length <= 16 * 1024),
    reads.map((r) => r.length).join(),
  );
  assert.equal(reads.length, 2 + Math.ceil(40 / 16));
  // A smaller bound from the caller is kept.
  const small = fakeLog([page(1n, 40)]);
  await readDiscoveryLogOf((_lid, r) => small.get(r), 2, { maxTransferBytes: 8192 });
  assert.ok(small.reads.every((r) => r.length <= 8192));
});

test('a Supported Log Pages transfer that stops short reads as no options', async () => {
  assert.equal(await discoveryLogOptions(async () => new Uint8Array(64)), 0);
  const full = Buffer.alloc(1024);
  full.writeUInt32LE(0x00020001, 0x70 * 4);
  assert.equal(await discoveryLogOptions(async () => full), 2);
});
