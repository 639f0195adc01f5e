import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exclusionOf, HOST_EXCLUDED, refusalOf } from '../../src/core/refusal.js';
import { Tid } from '../../src/core/tid.js';

const opts = { defaultHostNqn: 'nqn.host' };
const tid = (traddr: string, transport = 'tcp') => Tid.from({ transport, traddr, subsysnqn: 'nqn.s' }, opts);
const rules = {
  excludes: [{ traddr: '10.0.0.1' }],
  hostExclusions: [{ traddr: '10.0.0.2' }],
  ipFamily: { ipv4: true, ipv6: false },
};

test('refusalOf: exclude= first, then the host exclusion list, then the transport and address', () => {
  assert.equal(refusalOf(tid('10.0.0.1'), rules), 'excluded');
  assert.equal(refusalOf(tid('10.0.0.2'), rules), HOST_EXCLUDED);
  assert.equal(refusalOf(tid('fe80::1'), rules), 'ignored because IPv6 is disabled');
  assert.equal(refusalOf(tid('10.0.0.3', 'pcie'), rules), 'Invalid transport pcie');
  assert.equal(refusalOf(tid('10.0.0.3'), rules), undefined);
  // An excluded address is reported as excluded even when its family is disabled as well.
  assert.equal(refusalOf(tid('fe80::1'), { ...rules, excludes: [{ traddr: 'fe80::1' }] }), 'excluded');
});

test('exclusionOf: the exclusions alone (an existing controller is never refused for its address)', () => {
  assert.equal(exclusionOf(tid('10.0.0.1'), rules), 'excluded');
  assert.equal(exclusionOf(tid('10.0.0.2'), rules), HOST_EXCLUDED);
  assert.equal(exclusionOf(tid('fe80::1'), rules), undefined);
  assert.equal(exclusionOf(tid('10.0.0.2'), { ...rules, hostExclusions: undefined }), undefined);
});
