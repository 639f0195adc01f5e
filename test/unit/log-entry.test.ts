import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyEntry, classifyLog, sameEntries } from '../../src/core/log-entry.js';
import { SubType, TrType } from '../../src/core/nvme/discovery-log.js';
import { discoveredIocs } from '../../src/core/stacd/plan.js';
import { Tid, WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { ioEntry } from '../support/discovery-target.js';

const opts = { defaultHostNqn: 'nqn.host' };
const dc = Tid.from(
  {
    transport: 'tcp',
    traddr: '10.0.0.1',
    trsvcid: '8009',
    subsysnqn: WELL_KNOWN_DISC_NQN,
    hostIface: 'eth0',
    hostNqn: 'nqn.other-host',
  },
  opts,
);
const referral = (over: Parameters<typeof ioEntry>[1] = {}) =>
  ioEntry(0, {
    subtype: SubType.referral,
    traddr: '10.0.0.2',
    trsvcid: '8009',
    subnqn: WELL_KNOWN_DISC_NQN,
    ...over,
  });

test('classify: I/O controllers and referrals with what they inherit, the DC itself, ignored entries', () => {
  const ioc = classifyEntry(dc, ioEntry(1), opts);
  assert.equal(ioc.kind, 'ioc');
  assert.deepEqual(ioc.kind === 'ioc' && [ioc.tid.hostIface, ioc.tid.hostNqn, ioc.tid.trsvcid], [
    'eth0',
    'nqn.other-host',
    '4420',
  ]);
  const ref = classifyEntry(dc, referral(), opts);
  assert.equal(ref.kind, 'referral');
  const rdma = classifyEntry(dc, referral({ trtype: TrType.rdma, trsvcid: '' }), opts);
  assert.deepEqual(rdma.kind === 'referral' && [rdma.tid.hostIface, rdma.tid.trsvcid], ['', '4420']);
  assert.equal(classifyEntry(dc, referral({ subtype: SubType.discovery }), opts).kind, 'self');
  for (const e of [
    referral({ traddr: '0.0.0.0' }),
    referral({ traddr: '' }),
    referral({ trtype: 77 }),
    referral({ subtype: 9 }),
  ])
    assert.equal(classifyEntry(dc, e, opts).kind, 'ignored');
});

test('classify: hostile or broken strings are refused, naming the field, with the value escaped', () => {
  const cases: [Parameters<typeof ioEntry>[1], string, RegExp][] = [
    [{ trsvcid: 'http' }, 'trsvcid', /"http" is not a port number/],
    [{ trsvcid: '70000' }, 'trsvcid', /not a port number/],
    [{ subnqn: 'nqn.2024-01.io:a,hostnqn=evil' }, 'subnqn', /contains/],
    [{ subnqn: 'nqn.2024-01.io:a=b' }, 'subnqn', /contains '='/],
    [{ subnqn: 'nqn.2024-01.io:\u001b[31mred' }, 'subnqn', /\\u001b/],
    [{ subnqn: `nqn.${'x'.repeat(252)}` }, 'subnqn', /256 bytes long \(max 223\)/],
    [{ subnqn: 'not-an-nqn' }, 'subnqn', /does not start with "nqn."/],
    [{ traddr: 'storage.example.com' }, 'traddr', /is not an IP address/],
    [{ traddr: '10.0.0.2,host_traddr=1.2.3.4' }, 'traddr', /contains/],
  ];
  for (const [over, field, reason] of cases) {
    for (const e of [referral(over), ioEntry(1, over)]) {
      const c = classifyEntry(dc, e, opts);
      assert.equal(c.kind, 'refused', JSON.stringify(over));
      if (c.kind !== 'refused') continue;
      assert.equal(c.field, field);
      assert.match(c.reason, reason);
      assert.match(c.reason, new RegExp(`^invalid value for ${field}:`));
      // Nothing unprintable in the reason (it goes to a log line as it is).
      assert.ok(![...c.reason].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f), c.reason);
    }
  }
});

test('classifyLog: kept entries, IOCs, referrals and refused entries by position; stacd uses the same', () => {
  const entries = [
    ioEntry(1),
    referral(),
    ioEntry(2, { subnqn: 'nqn.x,y' }),
    referral({ trsvcid: 'x' }),
    ioEntry(3, { traddr: '0.0.0.0' }),
    referral({ subtype: SubType.discovery, traddr: '10.0.0.1' }),
  ];
  const c = classifyLog(dc, entries, opts);
  assert.deepEqual(c.kept, [entries[0], entries[1], entries[5]]);
  assert.deepEqual(
    c.iocs.map((i) => i.tid.subsysnqn),
    ['nqn.2024-01.io.stas-test:subsys1'],
  );
  assert.deepEqual(
    c.referrals.map((t) => t.traddr),
    ['10.0.0.2'],
  );
  assert.deepEqual(
    c.refused.map((r) => [r.index, r.field]),
    [
      [2, 'subnqn'],
      [3, 'trsvcid'],
    ],
  );
  // stacd's view of the same log: the refused I/O entry is not wanted.
  const iocs = discoveredIocs({ answered: true, dcs: [{ dc, entries }] }, opts);
  assert.deepEqual(
    iocs.map((d) => d.tid.subsysnqn),
    ['nqn.2024-01.io.stas-test:subsys1'],
  );
});

test('sameEntries compares every field, TSAS included', () => {
  const a = [ioEntry(1), ioEntry(2)];
  assert.ok(sameEntries(a, [ioEntry(1), ioEntry(2)]));
  assert.ok(!sameEntries(a, [ioEntry(1)]));
  assert.ok(!sameEntries(a, [ioEntry(1), ioEntry(2, { eflags: 4 })]));
  const tsas = new Uint8Array(256);
  tsas[0] = 1;
  assert.ok(!sameEntries(a, [ioEntry(1), ioEntry(2, { tsas })]));
});
