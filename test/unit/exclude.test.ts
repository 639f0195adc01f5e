import assert from 'node:assert/strict';
import { test } from 'node:test';
import { excludeEntryMatches, isExcluded } from '../../src/core/exclude.js';
import { Tid } from '../../src/core/tid.js';

const opts = { defaultHostNqn: 'nqn.host' };
const tid = Tid.from(
  {
    transport: 'tcp',
    traddr: 'fe80::2c6e:dee7:857:26bb',
    trsvcid: '8009',
    subsysnqn: 'nqn.sub',
    hostIface: 'enp0s8',
  },
  opts,
);

test('minimal match: any subset of fields excludes what it matches', () => {
  assert.ok(excludeEntryMatches({ 'host-iface': 'enp0s8' }, tid));
  assert.ok(excludeEntryMatches({ transport: 'tcp', traddr: 'fe80::2c6e:dee7:857:26bb' }, tid));
  assert.ok(excludeEntryMatches({ subsysnqn: 'nqn.sub' }, tid));
  assert.ok(excludeEntryMatches({ nqn: 'nqn.sub' }, tid));
  assert.ok(excludeEntryMatches({ trsvcid: '8009', 'host-nqn': 'nqn.host' }, tid));
  assert.ok(!excludeEntryMatches({ 'host-iface': 'enp0s9' }, tid));
  assert.ok(!excludeEntryMatches({ transport: 'tcp', traddr: 'fe80::1' }, tid));
  assert.ok(!excludeEntryMatches({ transport: 'rdma', 'host-iface': 'enp0s8' }, tid));
});

test('addresses match whatever their textual form', () => {
  assert.ok(excludeEntryMatches({ traddr: 'FE80:0::2C6E:DEE7:857:26BB' }, tid));
  const v4 = Tid.from({ transport: 'tcp', traddr: '10.0.0.1' }, opts);
  assert.ok(excludeEntryMatches({ traddr: '::ffff:10.0.0.1' }, v4));
});

test('an empty entry excludes nothing; unknown keys never match', () => {
  assert.ok(!excludeEntryMatches({}, tid));
  assert.ok(!excludeEntryMatches({ foo: 'bar' }, tid));
  assert.ok(!isExcluded(tid, [{}]));
  assert.ok(isExcluded(tid, [{}, { 'host-iface': 'enp0s8' }]));
  assert.ok(!isExcluded(tid, []));
});
