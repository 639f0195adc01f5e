import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AEC_DISCOVERY_LOG_CHANGE,
  asyncEventRequestCommand,
  buildCqe,
  connectCommand,
  connectData,
  describeStatus,
  dimCommand,
  getLogPageCommand,
  identifyCommand,
  isDiscoveryLogChange,
  keepAliveCommand,
  Property,
  parseAsyncEvent,
  parseCqe,
  parseSqe,
  propertyGetCommand,
  propertySetCommand,
  setFeaturesCommand,
} from '../../src/core/nvme/commands.js';
import {
  type DiscoveryLogEntry,
  encodeDiscoveryLog,
  parseDiscoveryLogEntries,
  parseDiscoveryLogHeader,
} from '../../src/core/nvme/discovery-log.js';
import { encodeIdentifyController, parseIdentifyController } from '../../src/core/nvme/identify.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const z = (n: number) => '00'.repeat(n);

test('Fabrics Connect SQE: opcode 0x7f, PSDT SGL, in-capsule SGL of 1024 bytes, SQSIZE, KATO ms', () => {
  const b = connectCommand(0x1234, { sqsize: 31, katoMs: 30000 });
  const want = hex(
    `7f 40 3412 01 ${z(19)}` + // opcode, flags, cid, fctype, reserved
      `0000000000000000 00040000 000000 01` + // SGL: address 0, length 1024, in-capsule data block (offset)
      `0000 0000 1f00 00 00 30750000 ${z(12)}`, // recfmt, qid, sqsize, cattr, rsvd, kato
  );
  assert.deepEqual(b, want);
  const f = parseSqe(b);
  assert.equal(f.opcode, 0x7f);
  assert.equal(f.cid, 0x1234);
  assert.equal(f.fctype, 1);
  assert.equal(f.sglLength, 1024);
  assert.equal(f.sglType, 0x01);
  assert.equal(f.cdw(12), 30000);
});

test('Connect data: host ID, dynamic controller ID, NQNs at 256 and 512', () => {
  const hostId = hex('5e3e0dbe3c2d4f1a9f0e1a2b3c4d5e6f');
  const d = connectData({ hostId, subsysnqn: 'nqn.2014-08.org.nvmexpress.discovery', hostnqn: 'nqn.host' });
  assert.equal(d.length, 1024);
  assert.deepEqual(d.subarray(0, 16), hostId);
  assert.equal(d.readUInt16LE(16), 0xffff);
  assert.equal(d.subarray(256, 256 + 36).toString(), 'nqn.2014-08.org.nvmexpress.discovery');
  assert.equal(d[256 + 36], 0);
  assert.equal(d.subarray(512, 520).toString(), 'nqn.host');
  assert.throws(() => connectData({ hostId: Buffer.alloc(4), subsysnqn: 'a', hostnqn: 'b' }), RangeError);
  assert.throws(() => connectData({ hostId, subsysnqn: 'x'.repeat(257), hostnqn: 'b' }), RangeError);
});

test('Property Get/Set: fctype, size attribute, offset, value', () => {
  assert.deepEqual(
    propertyGetCommand(1, Property.CAP, 8),
    hex(`7f 40 0100 04 ${z(35)} 01 000000 00000000 ${z(16)}`),
  );
  assert.deepEqual(propertyGetCommand(2, Property.CSTS, 4).subarray(40, 48), hex('00000000 1c000000'));
  const set = propertySetCommand(3, Property.CC, 0x460001);
  assert.deepEqual(set.subarray(0, 5), hex('7f 40 0300 00'));
  assert.deepEqual(set.subarray(40, 56), hex('00 000000 14000000 0100460000000000'));
});

test('Identify controller: transport SGL of 4096 bytes, CNS 1', () => {
  const b = identifyCommand(5);
  assert.deepEqual(b.subarray(0, 4), hex('06 40 0500'));
  assert.deepEqual(b.subarray(24, 40), hex('0000000000000000 00100000 000000 5a'));
  assert.equal(b.readUInt32LE(40), 1);
});

test('Get Log Page: LID, LSP, RAE, NUMDL/NUMDU split, 64-bit offset', () => {
  const b = getLogPageCommand(9, { lid: 0x70, lsp: 0x2, length: 4096, offset: 0x1_0000_0400, rae: true });
  assert.equal(b[0], 0x02);
  // NUMD = 1023 = 0x3ff: NUMDL in CDW10[31:16]; RAE bit 15; LSP bits 14:8; LID bits 7:0.
  assert.equal(b.readUInt32LE(40), (0x3ff << 16) | 0x8000 | (0x2 << 8) | 0x70);
  assert.equal(b.readUInt32LE(44), 0);
  assert.equal(b.readUInt32LE(48), 0x400);
  assert.equal(b.readUInt32LE(52), 1);
  assert.equal(b.readUInt32LE(32), 4096);
  const big = getLogPageCommand(1, { lid: 0x70, length: 4 * 0x20000 });
  assert.equal(big.readUInt32LE(40) >>> 16, 0xffff);
  assert.equal(big.readUInt32LE(44), 0x1);
  assert.throws(() => getLogPageCommand(1, { lid: 0x70, length: 6 }), RangeError);
  assert.throws(() => getLogPageCommand(1, { lid: 0x70, length: 8, offset: 2 }), RangeError);
});

test('Keep Alive, AER, Set Features (async event config), DIM', () => {
  assert.deepEqual(keepAliveCommand(4).subarray(0, 4), hex('18 40 0400'));
  assert.deepEqual(asyncEventRequestCommand(0xffff).subarray(0, 4), hex('0c 40 ffff'));
  const sf = setFeaturesCommand(6, 0x0b, AEC_DISCOVERY_LOG_CHANGE);
  assert.deepEqual(sf.subarray(40, 48), hex('0b000000 00000080'));
  const dim = dimCommand(7, 1, 2048);
  assert.deepEqual(dim.subarray(0, 4), hex('21 40 0700'));
  assert.equal(dim.readUInt32LE(32), 2048);
  assert.equal(dim[39], 0x01);
  assert.equal(dim.readUInt32LE(40), 1);
});

test('CQE: status fields decoded and encoded', () => {
  const c = parseCqe(hex('78563412 00000000 0500 0000 0900 0581'));
  // raw status 0x8105 >> 1 = 0x4082: SC 0x82, SCT 0, DNR.
  assert.equal(c.dw0, 0x12345678);
  assert.equal(c.sqhd, 5);
  assert.equal(c.cid, 9);
  assert.deepEqual(c.status, { sc: 0x82, sct: 0, crd: 0, more: false, dnr: true });
  assert.equal(c.ok, false);
  assert.equal(describeStatus(c.status), 'SCT 0x0 / SC 0x82 (DNR)');
  const round = parseCqe(
    buildCqe({ cid: 3, dw0: 1, status: { sc: 0x2, sct: 1, crd: 2, more: true, dnr: false } }),
  );
  assert.deepEqual(round.status, { sc: 0x2, sct: 1, crd: 2, more: true, dnr: false });
  assert.ok(parseCqe(buildCqe({ cid: 1 })).ok);
});

test('AEN DW0 0x70f002 is the discovery log change notice', () => {
  const e = parseAsyncEvent(0x70f002);
  assert.deepEqual(e, { type: 2, info: 0xf0, logPage: 0x70 });
  assert.ok(isDiscoveryLogChange(e));
  assert.ok(!isDiscoveryLogChange(parseAsyncEvent(0x040002)));
});

const entry = (over: Partial<DiscoveryLogEntry>): DiscoveryLogEntry => ({
  trtype: 3,
  adrfam: 1,
  subtype: 2,
  treq: 4,
  portid: 1,
  cntlid: 0xffff,
  asqsz: 32,
  eflags: 0,
  trsvcid: '4420',
  subnqn: 'nqn.2024-01.io.nvmeof-lab:subsys1',
  traddr: '127.0.0.1',
  tsas: new Uint8Array(256),
  ...over,
});

test('Discovery log page: header and entries round-trip; strings trimmed of padding', () => {
  const entries = [
    entry({ subtype: 3, subnqn: 'nqn.2014-08.org.nvmexpress.discovery', trsvcid: '8009', eflags: 0x6 }),
    entry({}),
  ];
  const buf = encodeDiscoveryLog({ genctr: 9n, numrec: 2n, recfmt: 0 }, entries);
  assert.equal(buf.length, 3 * 1024);
  assert.deepEqual(buf.subarray(1024 + 32, 1024 + 40), Buffer.from('8009    '));
  const h = parseDiscoveryLogHeader(buf);
  assert.deepEqual(h, { genctr: 9n, numrec: 2n, recfmt: 0 });
  assert.deepEqual(parseDiscoveryLogEntries(buf.subarray(1024), 2), entries);
  // Entry field offsets.
  const e = Buffer.from(buf.subarray(2048));
  assert.deepEqual(e.subarray(0, 12), hex('03 01 02 04 0100 ffff 2000 0000'));
  assert.equal(e.subarray(512, 521).toString(), '127.0.0.1');
  assert.equal(e[521], 0x20);
  // Trailing blanks and NULs are removed, also when a target pads with both.
  e.write('nqn.x   \0\0', 256, 'latin1');
  e.fill(0, 256 + 10, 512);
  assert.equal(parseDiscoveryLogEntries(e, 1)[0]!.subnqn, 'nqn.x');
});

test('Identify controller fields: CNTRLTYPE, DCTYPE, SUBNQN, MDTS, KAS, OAES', () => {
  const b = encodeIdentifyController({
    vid: 0x1b36,
    serial: 'LAB0001',
    model: 'Linux',
    firmware: '6.1.0',
    mdts: 5,
    cntlid: 7,
    oaes: 0x80000000,
    cntrltype: 2,
    kas: 100,
    subnqn: 'nqn.2014-08.org.nvmexpress.discovery',
    dctype: 2,
  });
  assert.equal(b[111], 2);
  assert.equal(b[1806], 2);
  assert.equal(b.readUInt16LE(320), 100);
  assert.deepEqual(parseIdentifyController(b), {
    vid: 0x1b36,
    serial: 'LAB0001',
    model: 'Linux',
    firmware: '6.1.0',
    mdts: 5,
    cntlid: 7,
    version: 0x10300,
    oaes: 0x80000000,
    cntrltype: 2,
    kas: 100,
    subnqn: 'nqn.2014-08.org.nvmexpress.discovery',
    dctype: 2,
  });
});
