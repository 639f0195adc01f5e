import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ControllerEntry } from '../../src/core/config/controller-line.js';
import { hasUsableAddress } from '../../src/core/log-entry.js';
import { AdrFam, SubType, TrType } from '../../src/core/nvme/discovery-log.js';
import {
  type CurrentDc,
  diffDiscoveryControllers,
  planDiscoveryControllers,
} from '../../src/core/stafd/dc-plan.js';
import { dlpeToDict, referralTids } from '../../src/core/stafd/dlpe.js';
import { Tid, WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { ioEntry } from '../support/discovery-target.js';

const opts = { defaultHostNqn: 'nqn.host' };
const dc = (traddr: string, over: Partial<Parameters<typeof Tid.from>[0]> = {}) =>
  Tid.from({ transport: 'tcp', traddr, subsysnqn: WELL_KNOWN_DISC_NQN, ...over }, opts);
const entry = (traddr: string): ControllerEntry => ({ line: 1, transport: 'tcp', traddr, overrides: {} });
const both = { ipv4: true, ipv6: true };

test('DLPE dictionaries: every value a string, names as nvme-stas shows them', () => {
  const tcp = ioEntry(1, { eflags: 4, treq: 4 });
  assert.deepEqual(dlpeToDict(tcp), {
    trtype: 'tcp',
    adrfam: 'ipv4',
    traddr: '127.0.0.1',
    trsvcid: '4420',
    subnqn: 'nqn.2024-01.io.stas-test:subsys1',
    subtype: 'nvme',
    treq: 'disable sqflow',
    portid: '1',
    cntlid: '65535',
    asqsz: '32',
    eflags: '4',
    tsas: "{'sectype': 'none'}",
  });
  const odd = dlpeToDict(ioEntry(2, { trtype: 99, adrfam: 77, subtype: 9, treq: 8 }));
  assert.deepEqual(
    [odd.trtype, odd.adrfam, odd.subtype, odd.treq, odd.tsas],
    ['99', '77', '9', '8', undefined],
  );
  assert.equal(
    dlpeToDict(ioEntry(3, { trtype: TrType.rdma, adrfam: AdrFam.ipv6 })).tsas,
    "{'qptype': '0', 'prtype': '0', 'cms': '0'}",
  );
  assert.equal(dlpeToDict(ioEntry(4, { subtype: SubType.referral })).subtype, 'referral');
  for (const a of ['', ' ', '0.0.0.0', '::'])
    assert.equal(hasUsableAddress(ioEntry(5, { traddr: a })), false, a);
  assert.ok(hasUsableAddress(ioEntry(6)));
});

test('referral entries become DC TIDs inheriting the referring DC binding and host NQN', () => {
  const parent = dc('10.0.0.1', { hostIface: 'eth0', hostTraddr: '10.0.0.9', hostNqn: 'nqn.other-host' });
  const entries = [
    ioEntry(1),
    ioEntry(2, {
      subtype: SubType.referral,
      traddr: '10.0.0.2',
      trsvcid: '8009',
      subnqn: WELL_KNOWN_DISC_NQN,
    }),
    ioEntry(3, { subtype: SubType.discovery, traddr: '10.0.0.1', trsvcid: '8009' }),
    ioEntry(4, { subtype: SubType.referral, traddr: '0.0.0.0' }),
    ioEntry(5, { subtype: SubType.referral, trtype: TrType.rdma, traddr: '10.0.0.5', trsvcid: '' }),
    ioEntry(6, { subtype: SubType.referral, trtype: 77, traddr: '10.0.0.6' }),
  ];
  const refs = referralTids(parent, entries, opts);
  assert.deepEqual(
    refs.map((t) => [t.transport, t.traddr, t.trsvcid, t.hostIface, t.hostTraddr, t.hostNqn]),
    [
      ['tcp', '10.0.0.2', '8009', 'eth0', '10.0.0.9', 'nqn.other-host'],
      ['rdma', '10.0.0.5', '4420', '', '', 'nqn.other-host'],
    ],
  );
});

test('plan: configured, referral and discovered DCs, origin precedence, exclusions, address checks', () => {
  const plan = planDiscoveryControllers({
    configured: [
      { tid: dc('10.0.0.1'), entry: entry('10.0.0.1') },
      { tid: dc('fe80::1', { hostIface: 'eth1' }), entry: entry('fe80::1') },
      { tid: dc('storage.example.com'), entry: entry('storage.example.com') },
    ],
    referrals: new Map([[dc('10.0.0.1').key(), [dc('10.0.0.1'), dc('10.0.0.2')]]]),
    discovered: [dc('10.0.0.2'), dc('10.0.0.3'), dc('10.0.0.4', { hostIface: 'eth2' })],
    excludes: [{ 'host-iface': 'eth2' }],
    ipFamily: { ipv4: true, ipv6: false },
  });
  assert.deepEqual(
    [...plan.desired.values()].map((c) => [c.tid.traddr, c.origin]),
    [
      ['10.0.0.1', 'configured'],
      ['10.0.0.2', 'referral'],
      ['10.0.0.3', 'discovered'],
    ],
  );
  assert.equal(plan.desired.get(dc('10.0.0.1').key())!.entry!.traddr, '10.0.0.1');
  assert.deepEqual(
    plan.dropped.map((d) => [d.tid.traddr, d.reason]),
    [
      ['fe80::1', 'ignored because IPv6 is disabled'],
      ['storage.example.com', 'IP address is not valid'],
      ['10.0.0.4', 'excluded'],
    ],
  );
  const fc = Tid.from({ transport: 'fc', traddr: 'nn-0x1:pn-0x2', subsysnqn: WELL_KNOWN_DISC_NQN }, opts);
  const bad = Tid.from({ transport: 'pcie', traddr: '0000:01:00.0' }, opts);
  const p2 = planDiscoveryControllers({
    configured: [
      { tid: fc, entry: entry('x') },
      { tid: bad, entry: entry('y') },
    ],
    referrals: new Map(),
    discovered: [],
    excludes: [],
    ipFamily: both,
  });
  assert.deepEqual([...p2.desired.keys()], [fc.key()], 'fc DCs are kept (nvme-stas dropped them)');
  assert.equal(p2.dropped[0]!.reason, 'Invalid transport pcie');
});

test('diff: add new, remove unwanted; mDNS DCs survive an Avahi outage until they expire', () => {
  const plan = planDiscoveryControllers({
    configured: [{ tid: dc('10.0.0.1'), entry: entry('10.0.0.1') }],
    referrals: new Map([[dc('10.0.0.1').key(), [dc('10.0.0.5')]]]),
    discovered: [],
    excludes: [{ traddr: '10.0.0.9' }],
    ipFamily: both,
  });
  const current = new Map<string, CurrentDc>([
    [dc('10.0.0.5').key(), { origin: 'configured', expired: false }], // now only a referral
    [dc('10.0.0.2').key(), { origin: 'configured', expired: false }], // removed from the config
    [dc('10.0.0.3').key(), { origin: 'discovered', expired: false }], // mDNS gone, still within persistence
    [dc('10.0.0.4').key(), { origin: 'discovered', expired: true }], // mDNS gone and expired
    [dc('10.0.0.6').key(), { origin: 'referral', expired: false }], // no longer referred to
  ]);
  const diff = diffDiscoveryControllers(current, plan);
  assert.deepEqual(
    diff.add.map((c) => c.tid.traddr),
    ['10.0.0.1'],
  );
  assert.deepEqual(diff.origin, [{ key: dc('10.0.0.5').key(), origin: 'referral' }]);
  assert.deepEqual(
    diff.remove.map((r) => [r.key.split('\u0000')[1], r.reason]),
    [
      ['10.0.0.2', 'no longer configured'],
      ['10.0.0.4', 'not responding and no longer announced (zeroconf-connections-persistence)'],
      ['10.0.0.6', 'no longer referred to'],
    ],
  );
  // An excluded mDNS DC goes at once, expired or not.
  const excl = planDiscoveryControllers({
    configured: [],
    referrals: new Map(),
    discovered: [dc('10.0.0.9')],
    excludes: [{ traddr: '10.0.0.9' }],
    ipFamily: both,
  });
  const d2 = diffDiscoveryControllers(
    new Map([[dc('10.0.0.9').key(), { origin: 'discovered' as const, expired: false }]]),
    excl,
  );
  assert.deepEqual(
    d2.remove.map((r) => r.reason),
    ['excluded'],
  );
});
