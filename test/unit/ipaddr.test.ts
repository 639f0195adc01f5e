import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalIp, ipEqual, ipFamily, parseIp } from '../../src/core/ipaddr.js';

test('IPv4 literals parse and print as dotted quads', () => {
  assert.equal(canonicalIp('192.168.1.10'), '192.168.1.10');
  assert.equal(canonicalIp(' 10.0.0.1 '), '10.0.0.1');
  assert.equal(ipFamily('127.0.0.1'), 4);
  assert.deepEqual(Array.from(parseIp('1.2.3.4')!.bytes), [1, 2, 3, 4]);
});

test('non-literals are rejected', () => {
  for (const s of [
    '',
    'localhost',
    '1.2.3',
    '256.1.1.1',
    '1.2.3.4.5',
    'fe80::1::2',
    'gggg::1',
    '[1.2.3.4',
    'fe80::1%',
    '%eth0',
  ]) {
    assert.equal(parseIp(s), null, s);
    assert.equal(canonicalIp(s), null, s);
    assert.equal(ipFamily(s), null, s);
  }
});

test('IPv6 canonical text follows RFC 5952', () => {
  const cases: [string, string][] = [
    ['2001:DB8:0:0:0:0:370:7334', '2001:db8::370:7334'],
    ['2001:db8::370:7334', '2001:db8::370:7334'],
    ['FE80::0001', 'fe80::1'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['::', '::'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'], // longest run wins
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first run on a tie
    ['2001:db8:1:1:1:1:0:1', '2001:db8:1:1:1:1:0:1'], // a single zero group is not compressed
    ['1:0:0:0:0:0:0:0', '1::'],
    ['[fe80::2c6e:dee7:857:26bb]', 'fe80::2c6e:dee7:857:26bb'],
  ];
  for (const [input, want] of cases) assert.equal(canonicalIp(input), want, input);
});

test('IPv6 zones are kept; IPv4-mapped addresses print in mixed notation', () => {
  assert.equal(canonicalIp('FE80::1%eth0'), 'fe80::1%eth0');
  assert.equal(parseIp('fe80::1%enp0s8')!.zone, 'enp0s8');
  assert.equal(canonicalIp('::ffff:c000:0201'), '::ffff:192.0.2.1');
  assert.equal(canonicalIp('::FFFF:192.0.2.1'), '::ffff:192.0.2.1');
  assert.equal(canonicalIp('64:ff9b::192.0.2.33'), '64:ff9b::c000:221');
});

test('IPv4-mapped IPv6 counts as IPv6 for ip-family but equals its IPv4 form', () => {
  assert.equal(ipFamily('::ffff:10.0.0.1'), 6);
  assert.ok(ipEqual('::ffff:10.0.0.1', '10.0.0.1'));
  assert.ok(ipEqual('10.0.0.1', '::FFFF:a00:1'));
  assert.ok(ipEqual('FE80::1', 'fe80:0:0::1'));
  assert.ok(ipEqual('fe80::1%eth0', 'fe80::1'));
  assert.ok(!ipEqual('10.0.0.1', '10.0.0.2'));
  assert.ok(!ipEqual('::1', '127.0.0.1'));
  assert.ok(!ipEqual('x', 'x'));
});

test('canonicalIp answers the same from its memo, past the memo size, for good and bad input', () => {
  const inputs: string[] = [];
  for (let i = 0; i < 5000; i++) inputs.push(`0:0::${i.toString(16)}`, `10.0.${i >> 8}.${i & 255}`);
  inputs.push('', 'not-an-ip', 'FE80::1%eth0');
  const first = inputs.map((x) => canonicalIp(x));
  assert.deepEqual(
    inputs.map((x) => canonicalIp(x)),
    first,
  );
  assert.equal(first[0], '::');
  assert.equal(first[3], '10.0.0.1');
  assert.deepEqual(first.slice(-3), [null, null, 'fe80::1%eth0']);
});
