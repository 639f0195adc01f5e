// Property tests: arbitrary bytes never crash the NVMe/TCP parsers and never make them read out of bounds
// (Node's Buffer throws RangeError on an out-of-bounds read; only ProtocolError is allowed out).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCqe, parseSqe } from '../../src/core/nvme/commands.js';
import { parseDiscoveryLogEntries, parseDiscoveryLogHeader } from '../../src/core/nvme/discovery-log.js';
import { parseIdentifyController } from '../../src/core/nvme/identify.js';
import { type Pdu, ProtocolError } from '../../src/core/nvme/pdu.js';
import { PduParser } from '../../src/core/nvme/pdu-parser.js';
import { serializePdu } from '../../src/core/nvme/pdu-serializer.js';
import { prng } from '../support/prng.js';

const SEED = Number(process.env['STAS_FUZZ_SEED'] ?? 20261123);
const ITERATIONS = Number(process.env['STAS_FUZZ_ITERATIONS'] ?? 20000);
const TIME_BUDGET_MS = 3000;

const seeds: Buffer[] = [
  serializePdu({ type: 'icresp', pfv: 0, cpda: 0, hdgst: false, ddgst: false, maxh2cdata: 4194304 }),
  serializePdu({ type: 'capsule_resp', cqe: Buffer.alloc(16, 3) }),
  serializePdu({
    type: 'c2h_data',
    cccid: 1,
    datao: 0,
    last: true,
    success: true,
    data: Buffer.alloc(64, 7),
  }),
  serializePdu(
    { type: 'c2h_data', cccid: 1, datao: 0, last: true, success: false, data: Buffer.alloc(40, 7) },
    { hdgst: true, ddgst: true, pda: 1 },
  ),
  serializePdu({ type: 'r2t', cccid: 2, ttag: 1, r2to: 0, r2tl: 10 }),
  serializePdu({ type: 'c2h_term', fes: 1, fei: 0, data: Buffer.alloc(24) }),
  serializePdu({ type: 'capsule_cmd', sqe: Buffer.alloc(64), data: Buffer.alloc(32) }),
];

function checkPdu(p: Pdu): void {
  // Every PDU handed out is self-consistent.
  if ('data' in p) assert.ok(p.data.length <= 16 * 1024 * 1024);
  if (p.type === 'capsule_cmd') assert.equal(p.sqe.length, 64);
  if (p.type === 'capsule_resp') {
    assert.equal(p.cqe.length, 16);
    parseCqe(p.cqe);
  }
}

function feed(parser: PduParser, bytes: Uint8Array, random: () => number): void {
  let i = 0;
  while (i < bytes.length) {
    const n = 1 + Math.floor(random() * 300);
    let pdus: Pdu[];
    try {
      pdus = parser.push(bytes.subarray(i, i + n));
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      return;
    }
    pdus.forEach(checkPdu);
    i += n;
  }
}

test(`PDU parser survives random and mutated input (seed ${SEED})`, () => {
  const random = prng(SEED);
  const start = Date.now();
  let n = 0;
  for (; n < ITERATIONS && Date.now() - start < TIME_BUDGET_MS; n++) {
    const parser = new PduParser({ maxPduLength: 1 << 20 });
    parser.setDigests({ hdgst: random() < 0.3, ddgst: random() < 0.3 });
    let bytes: Buffer;
    if (random() < 0.3) {
      bytes = Buffer.alloc(Math.floor(random() * 600));
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
    } else {
      bytes = Buffer.concat(
        Array.from(
          { length: 1 + Math.floor(random() * 4) },
          () => seeds[Math.floor(random() * seeds.length)]!,
        ),
      );
      const flips = 1 + Math.floor(random() * 6);
      for (let k = 0; k < flips; k++) {
        const pos = Math.floor(random() * bytes.length);
        // Bias mutations to header fields (type, flags, hlen, pdo, plen, datal).
        const at = random() < 0.7 ? Math.min(pos % 24, bytes.length - 1) : pos;
        bytes[at] = Math.floor(random() * 256);
      }
      if (random() < 0.2) bytes = bytes.subarray(0, Math.floor(random() * bytes.length));
    }
    feed(parser, bytes, random);
  }
  assert.ok(n > 100, `only ${n} iterations ran`);
});

test('fixed-layout decoders reject short buffers with ProtocolError only', () => {
  const random = prng(SEED + 1);
  for (let n = 0; n < 2000; n++) {
    const len = Math.floor(random() * 5000);
    const b = Buffer.alloc(len);
    for (let i = 0; i < len; i++) b[i] = Math.floor(random() * 256);
    for (const fn of [
      () => parseDiscoveryLogHeader(b),
      () => parseDiscoveryLogEntries(b, Math.floor(random() * 6)),
      () => parseIdentifyController(b),
    ]) {
      try {
        fn();
      } catch (e) {
        assert.ok(e instanceof ProtocolError, String(e));
      }
    }
  }
  assert.throws(() => parseSqe(new Uint8Array(63)), RangeError);
  assert.throws(() => parseCqe(new Uint8Array(15)), RangeError);
});
