import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32, crc32c } from '../../src/core/nvme/crc32c.js';
import { type Pdu, PduType, ProtocolError } from '../../src/core/nvme/pdu.js';
import { PduParser } from '../../src/core/nvme/pdu-parser.js';
import { serializePdu } from '../../src/core/nvme/pdu-serializer.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const zeros = (n: number) => '00'.repeat(n);

function parseAll(bytes: Uint8Array, digests = { hdgst: false, ddgst: false }): Pdu[] {
  const p = new PduParser();
  p.setDigests(digests);
  return p.push(bytes);
}

test('CRC32C and CRC-32 known answers', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa);
  assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
  assert.equal(crc32c(Buffer.from('56789'), crc32c(Buffer.from('1234'))), 0xe3069283);
  // The standard CRC-32 (IEEE) of DHHC-1 secrets: the catalogue check value and zlib's results.
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  assert.equal(crc32(Buffer.alloc(0)), 0);
  assert.equal(crc32(Buffer.alloc(32)), 0x190a55ad);
});

test('ICReq: 128 bytes, PFV 0, HPDA, digest bits, MAXR2T', () => {
  const want = hex(`00 00 80 00 80000000  0000 00 03 00000000 ${zeros(112)}`);
  const pdu: Pdu = { type: 'icreq', pfv: 0, hpda: 0, hdgst: true, ddgst: true, maxr2t: 0 };
  assert.deepEqual(serializePdu(pdu), want);
  assert.deepEqual(parseAll(want), [pdu]);
});

test('ICResp as the Linux nvmet target sends it (MAXH2CDATA 4 MiB)', () => {
  const bytes = hex(`01 00 80 00 80000000  0000 00 00 00004000 ${zeros(112)}`);
  const [pdu] = parseAll(bytes);
  assert.deepEqual(pdu, { type: 'icresp', pfv: 0, cpda: 0, hdgst: false, ddgst: false, maxh2cdata: 4194304 });
  assert.deepEqual(serializePdu(pdu!), bytes);
});

test('CapsuleCmd with in-capsule data, no digests: PDO = HLEN', () => {
  const sqe = Buffer.alloc(64, 0x11);
  const data = Buffer.from('abcdefgh');
  const out = serializePdu({ type: 'capsule_cmd', sqe, data });
  assert.deepEqual(out.subarray(0, 8), hex('04 00 48 48 50000000'));
  assert.deepEqual(out.subarray(8, 72), sqe);
  assert.deepEqual(out.subarray(72), data);
  assert.deepEqual(parseAll(out), [
    { type: 'capsule_cmd', sqe: new Uint8Array(sqe), data: new Uint8Array(data) },
  ]);
});

test('CapsuleCmd with header and data digests and CPDA alignment', () => {
  const sqe = Buffer.alloc(64, 0x22);
  const data = Buffer.from('0123456789abcdef');
  const out = serializePdu({ type: 'capsule_cmd', sqe, data }, { hdgst: true, ddgst: true, pda: 31 });
  // HLEN 72 + HDGST 4 = 76, aligned to 128; data 16; DDGST 4 → PLEN 148.
  assert.deepEqual(out.subarray(0, 8), hex('04 03 48 80 94000000'));
  assert.equal(out.readUInt32LE(72), crc32c(out.subarray(0, 72)));
  assert.deepEqual(out.subarray(76, 128), Buffer.alloc(52));
  assert.deepEqual(out.subarray(128, 144), data);
  assert.equal(out.readUInt32LE(144), crc32c(data));
  const [pdu] = parseAll(out, { hdgst: true, ddgst: true });
  assert.equal(pdu!.type, 'capsule_cmd');
  assert.deepEqual((pdu as { data: Uint8Array }).data, new Uint8Array(data));
});

test('CapsuleResp carries the 16-byte CQE; no data, PDO 0', () => {
  const cqe = hex('01000000 00000000 0100 0000 0700 0000');
  const out = serializePdu({ type: 'capsule_resp', cqe });
  assert.deepEqual(out, hex(`05 00 18 00 18000000 ${cqe.toString('hex')}`));
  assert.deepEqual(parseAll(out), [{ type: 'capsule_resp', cqe: new Uint8Array(cqe) }]);
  const withHd = serializePdu({ type: 'capsule_resp', cqe }, { hdgst: true, ddgst: true, pda: 0 });
  assert.deepEqual(withHd.subarray(0, 8), hex('05 01 18 00 1c000000'));
});

test('C2HData: CCCID, DATAO, DATAL, LAST_PDU and SUCCESS flags', () => {
  const data = Buffer.alloc(20, 0xab);
  const out = serializePdu({ type: 'c2h_data', cccid: 7, datao: 4096, last: true, success: true, data });
  assert.deepEqual(out.subarray(0, 24), hex('07 0c 18 18 2c000000 0700 0000 00100000 14000000 00000000'));
  assert.deepEqual(parseAll(out), [
    { type: 'c2h_data', cccid: 7, datao: 4096, last: true, success: true, data: new Uint8Array(data) },
  ]);
});

test('H2CData, R2T and termination requests', () => {
  const h2c = serializePdu({
    type: 'h2c_data',
    cccid: 3,
    ttag: 9,
    datao: 0,
    last: true,
    data: Buffer.from('zz'),
  });
  assert.deepEqual(h2c.subarray(0, 8), hex('06 04 18 18 1a000000'));
  assert.deepEqual(parseAll(h2c)[0], {
    type: 'h2c_data',
    cccid: 3,
    ttag: 9,
    datao: 0,
    last: true,
    data: new Uint8Array(Buffer.from('zz')),
  });
  const r2t = serializePdu({ type: 'r2t', cccid: 3, ttag: 9, r2to: 0, r2tl: 8192 });
  assert.deepEqual(r2t, hex('09 00 18 00 18000000 0300 0900 00000000 00200000 00000000'));
  assert.deepEqual(parseAll(r2t)[0], { type: 'r2t', cccid: 3, ttag: 9, r2to: 0, r2tl: 8192 });
  const bad = Buffer.alloc(200, 0x5a);
  const term = serializePdu(
    { type: 'c2h_term', fes: 1, fei: 2, data: bad },
    { hdgst: true, ddgst: true, pda: 3 },
  );
  // Term requests never carry digests; their data (at most 152 bytes) follows the header.
  assert.deepEqual(term.subarray(0, 14), hex('03 00 18 00 b0000000 0100 02000000'));
  const [t] = parseAll(term, { hdgst: true, ddgst: true });
  assert.deepEqual(t, { type: 'c2h_term', fes: 1, fei: 2, data: new Uint8Array(bad.subarray(0, 152)) });
  assert.equal(
    parseAll(serializePdu({ type: 'h2c_term', fes: 2, fei: 0, data: new Uint8Array(0) }))[0]!.type,
    'h2c_term',
  );
});

test('any chunking yields the same PDUs; partial PDUs stay pending', () => {
  const stream = Buffer.concat([
    serializePdu({ type: 'capsule_resp', cqe: Buffer.alloc(16, 1) }),
    serializePdu({
      type: 'c2h_data',
      cccid: 1,
      datao: 0,
      last: false,
      success: false,
      data: Buffer.alloc(300, 2),
    }),
    serializePdu({
      type: 'c2h_data',
      cccid: 1,
      datao: 300,
      last: true,
      success: false,
      data: Buffer.alloc(5, 3),
    }),
  ]);
  const whole = parseAll(stream);
  assert.equal(whole.length, 3);
  for (const size of [1, 3, 7, 64, 1000]) {
    const p = new PduParser();
    const got: Pdu[] = [];
    for (let i = 0; i < stream.length; i += size) got.push(...p.push(stream.subarray(i, i + size)));
    assert.deepEqual(got, whole, `chunk size ${size}`);
    assert.equal(p.pendingBytes, 0);
  }
  const p = new PduParser();
  assert.deepEqual(
    p.push(stream.subarray(0, 30)),
    [serializePdu({ type: 'capsule_resp', cqe: Buffer.alloc(16, 1) })].map(() => whole[0]),
  );
  assert.equal(p.pendingBytes, 6);
});

function rejects(
  bytes: Uint8Array,
  re: RegExp,
  opts: ConstructorParameters<typeof PduParser>[0] = {},
  digests = { hdgst: false, ddgst: false },
) {
  const p = new PduParser(opts);
  p.setDigests(digests);
  assert.throws(
    () => p.push(bytes),
    (e: unknown) => e instanceof ProtocolError && re.test(e.message),
  );
  // A failed parser stays failed.
  assert.throws(() => p.push(new Uint8Array(0)), ProtocolError);
}

test('malformed PDUs are protocol errors', () => {
  rejects(hex('08 00 18 00 18000000'), /unknown PDU type 0x8/);
  rejects(hex('05 00 19 00 19000000'), /HLEN 25 \(want 24\)/);
  rejects(hex('05 00 18 00 10000000'), /PLEN 16 shorter than HLEN 24/);
  rejects(hex('07 00 18 18 00001000'), /exceeds the limit/, { maxPduLength: 4096 });
  rejects(serializePdu({ type: 'capsule_resp', cqe: Buffer.alloc(16) }), /unexpected PDU type 0x5/, {
    accept: new Set([PduType.C2HData]),
  });
  const cr = serializePdu(
    { type: 'capsule_resp', cqe: Buffer.alloc(16) },
    { hdgst: true, ddgst: false, pda: 0 },
  );
  cr[10] = 0xff;
  rejects(cr, /header digest mismatch/, {}, { hdgst: true, ddgst: false });
  rejects(
    serializePdu({ type: 'capsule_resp', cqe: Buffer.alloc(16) }),
    /header digest missing/,
    {},
    { hdgst: true, ddgst: false },
  );
  const dd = serializePdu(
    { type: 'c2h_data', cccid: 1, datao: 0, last: true, success: false, data: Buffer.alloc(8, 1) },
    { hdgst: false, ddgst: true, pda: 0 },
  );
  dd[25] = 9;
  rejects(dd, /data digest mismatch/, {}, { hdgst: false, ddgst: true });
  const noDd = serializePdu({
    type: 'c2h_data',
    cccid: 1,
    datao: 0,
    last: true,
    success: false,
    data: Buffer.alloc(8, 1),
  });
  rejects(noDd, /data digest missing/, {}, { hdgst: false, ddgst: true });
  const badPdo = serializePdu({
    type: 'c2h_data',
    cccid: 1,
    datao: 0,
    last: true,
    success: false,
    data: Buffer.alloc(8),
  });
  badPdo[3] = 10;
  rejects(badPdo, /PDO 10 outside 24..32/);
  const badLen = serializePdu({
    type: 'c2h_data',
    cccid: 1,
    datao: 0,
    last: true,
    success: false,
    data: Buffer.alloc(8),
  });
  badLen.writeUInt32LE(9, 16);
  rejects(badLen, /DATAL 9 but 8 data bytes/);
  const succ = serializePdu({
    type: 'c2h_data',
    cccid: 1,
    datao: 0,
    last: false,
    success: false,
    data: Buffer.alloc(8),
  });
  succ[1] = 0x08;
  rejects(succ, /SUCCESS flag without LAST_PDU/);
  rejects(hex(`01 01 80 00 80000000 ${zeros(120)}`), /digest flag on an ICReq/);
  rejects(hex(`01 00 80 00 84000000 ${zeros(124)}`), /carry no data/);
  rejects(hex(`05 00 18 00 1c000000 ${zeros(20)}`), /PDO 0/);
  rejects(hex(`03 00 18 00 ${'c8000000'} ${zeros(192)}`), /termination request data too long/);
  rejects(hex(`07 00 18 18 18000000 ${zeros(16)}`), /without data/);
});

test('ICResp MAXH2CDATA below 4096 or not a multiple of 4 is refused; 4096 is the smallest accepted', () => {
  const icresp = (maxh2cdata: number) =>
    serializePdu({ type: 'icresp', pfv: 0, cpda: 0, hdgst: false, ddgst: false, maxh2cdata });
  rejects(icresp(512), /^ICResp MAXH2CDATA 512 is below the minimum of 4096$/);
  rejects(icresp(0), /MAXH2CDATA 0 is below the minimum of 4096/);
  rejects(icresp(4095), /MAXH2CDATA 4095 is below the minimum/);
  rejects(icresp(8194), /^ICResp MAXH2CDATA 8194 is not a multiple of 4$/);
  const p = new PduParser();
  assert.throws(
    () => p.push(icresp(4092)),
    (e: unknown) => e instanceof ProtocolError && e.fei === 12,
  );
  assert.equal((parseAll(icresp(4096))[0] as { maxh2cdata: number }).maxh2cdata, 4096);
  assert.equal((parseAll(icresp(0xfffffffc))[0] as { maxh2cdata: number }).maxh2cdata, 0xfffffffc);
});
