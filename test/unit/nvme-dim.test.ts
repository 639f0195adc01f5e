import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIM_EKTYPE_HOST, decodeDim, encodeDimRegistration } from '../../src/core/nvme/dim.js';
import { ProtocolError } from '../../src/core/nvme/pdu.js';

const hostId = Buffer.from('5e3e0dbe3c2d4f1a9f0e1a2b3c4d5e6f', 'hex');
const reg = {
  hostNqn: 'nqn.2014-08.org.nvmexpress:uuid:5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f',
  hostId,
  symname: 'rack4', // 5 bytes → padded to 8
  ename: 'host1',
  ever: 'Linux 6.1.0',
  trtype: 3,
  adrfam: 1,
};

test('DIM registration layout: header, extended entry, HOSTID and SYMNAME attributes', () => {
  const b = encodeDimRegistration(reg);
  assert.equal(b.length, 1024 + 1032 + (4 + 16) + (4 + 8));
  assert.equal(b.readUInt32LE(0), b.length); // TDL
  assert.equal(b.readBigUInt64LE(8), 1n); // NUMENT
  assert.equal(b.readUInt16LE(16), 2); // extended format
  assert.equal(b.readUInt16LE(18), 1); // host
  assert.equal(b.readUInt16LE(22), DIM_EKTYPE_HOST);
  assert.equal(b.subarray(24, 24 + reg.hostNqn.length).toString(), reg.hostNqn);
  assert.equal(b.subarray(280, 285).toString(), 'host1');
  assert.equal(b.subarray(536, 547).toString(), 'Linux 6.1.0');
  assert.equal(b[1024], 3);
  assert.equal(b[1025], 1);
  assert.deepEqual(b.subarray(1024 + 512, 1024 + 768), Buffer.alloc(256)); // TRADDR empty
  assert.equal(b.readUInt32LE(1024 + 1024), 1032 + 20 + 12); // TEL
  assert.equal(b.readUInt16LE(1024 + 1028), 2); // NUMEXAT
  assert.deepEqual(b.subarray(2056, 2060), Buffer.from('01001000', 'hex'));
  assert.deepEqual(b.subarray(2060, 2076), hostId);
  assert.deepEqual(b.subarray(2076, 2088), Buffer.from('020008007261636b34202020', 'hex'));
});

test('DIM decode round-trips; without a symname only HOSTID is sent', () => {
  const d = decodeDim(encodeDimRegistration(reg));
  assert.equal(d.eid, reg.hostNqn);
  assert.equal(d.ename, 'host1');
  assert.deepEqual(d.entries, [
    { trtype: 3, adrfam: 1, nqn: reg.hostNqn, traddr: '', hostId: new Uint8Array(hostId), symname: 'rack4' },
  ]);
  const plain = encodeDimRegistration({ ...reg, symname: undefined });
  assert.equal(plain.readUInt16LE(1024 + 1028), 1);
  assert.equal(decodeDim(plain).entries[0]!.symname, undefined);
});

test('DIM decode rejects inconsistent lengths', () => {
  const b = encodeDimRegistration(reg);
  assert.throws(() => decodeDim(b.subarray(0, 100)), ProtocolError);
  const tdl = Buffer.from(b);
  tdl.writeUInt32LE(b.length + 1, 0);
  assert.throws(() => decodeDim(tdl), /TDL/);
  const tel = Buffer.from(b);
  tel.writeUInt32LE(10, 1024 + 1024);
  assert.throws(() => decodeDim(tel), /TEL 10 invalid/);
  const exat = Buffer.from(b);
  exat.writeUInt16LE(5000, 2058);
  assert.throws(() => decodeDim(exat), /attribute length/);
  assert.throws(() => encodeDimRegistration({ ...reg, hostId: Buffer.alloc(3) }), RangeError);
});
