import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { HostExclusionList } from '../../src/adapters/exclusion-list.js';
import { parseStacdConfig } from '../../src/core/config/service-config.js';
import { EXCLUDE_ALL, type ExcludeFields, isExcluded } from '../../src/core/exclude.js';
import { applicableExclusions, parseExclusionList } from '../../src/core/exclusion-list.js';
import { planIoControllers } from '../../src/core/stacd/plan.js';
import { HOST_EXCLUDED, planDiscoveryControllers } from '../../src/core/stafd/dc-plan.js';
import { Tid, WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { ioEntry } from '../support/discovery-target.js';

const HOSTID = '5b0d1ed8-0b64-4bc2-9a13-5d7bb0d0e0a1';
const opts = { defaultHostNqn: 'nqn.host' };
const tid = (over: Partial<Parameters<typeof Tid.from>[0]>) =>
  Tid.from(
    { transport: 'tcp', traddr: '192.0.2.10', trsvcid: '4420', subsysnqn: 'nqn.x:vol1', ...over },
    opts,
  );

const LIST = `# NVMe-oF exclusion list

[exclusions]
exclusion = transport=tcp;traddr=192.0.2.10;trsvcid=4420;nqn=nqn.x:vol1
exclusion = nqn=nqn.x:retired
exclusion = host-iface=eth3
exclusion = hostnqn=nqn.other-host;traddr=192.0.2.99
exclusion = traddr=2001:DB8:0:0::1
exclusion = hostid=${HOSTID.toUpperCase()};trsvcid=4421
exclusion = hostid=00000000-0000-0000-0000-000000000000;trsvcid=4422
exclusion = subsysnqn=nqn.x:typo
exclusion = transport
exclusion = traddr=
exclusion = ;
colour = blue

[future]
exclusion = nqn=nqn.x:vol1-in-another-section
`;

test('exclusion list: entries of the [exclusions] section, nvme connect key names, fail-safe problems', () => {
  const parsed = parseExclusionList(LIST, '/etc/nvme/exclusions.conf');
  assert.deepEqual(
    parsed.entries.map((e) => [e.where, e.fields, e.hostId]),
    [
      [
        'File:/etc/nvme/exclusions.conf:4',
        { transport: 'tcp', traddr: '192.0.2.10', trsvcid: '4420', nqn: 'nqn.x:vol1' },
        undefined,
      ],
      ['File:/etc/nvme/exclusions.conf:5', { nqn: 'nqn.x:retired' }, undefined],
      ['File:/etc/nvme/exclusions.conf:6', { 'host-iface': 'eth3' }, undefined],
      ['File:/etc/nvme/exclusions.conf:7', { 'host-nqn': 'nqn.other-host', traddr: '192.0.2.99' }, undefined],
      ['File:/etc/nvme/exclusions.conf:8', { traddr: '2001:DB8:0:0::1' }, undefined],
      ['File:/etc/nvme/exclusions.conf:9', { trsvcid: '4421' }, HOSTID.toUpperCase()],
      ['File:/etc/nvme/exclusions.conf:10', { trsvcid: '4422' }, '00000000-0000-0000-0000-000000000000'],
    ],
  );
  assert.deepEqual(parsed.problems, [
    'File:/etc/nvme/exclusions.conf:11 exclusion "subsysnqn=nqn.x:typo" never matches: unknown key "subsysnqn"',
    'File:/etc/nvme/exclusions.conf:12 exclusion "transport" never matches: "transport" is not key=value',
    'File:/etc/nvme/exclusions.conf:13 exclusion "traddr=" never matches: empty value of traddr',
    'File:/etc/nvme/exclusions.conf:14 exclusion ";" never matches: no field',
    'File:/etc/nvme/exclusions.conf:15 [exclusions]: unknown key "colour"; line ignored',
  ]);
});

test('exclusion list matching: minimal match, address-aware, host NQN and host ID', () => {
  const x = applicableExclusions(parseExclusionList(LIST, 'f').entries, HOSTID);
  assert.equal(x.length, 6, 'the entry for another host ID is dropped');
  assert.equal(isExcluded(tid({}), x), true);
  assert.equal(isExcluded(tid({ trsvcid: '4430' }), x), false, 'every field of the entry must match');
  assert.equal(
    isExcluded(tid({ traddr: '10.1.1.1', subsysnqn: 'nqn.x:retired', transport: 'rdma' }), x),
    true,
  );
  assert.equal(isExcluded(tid({ traddr: '10.1.1.1', hostIface: 'eth3' }), x), true);
  assert.equal(
    isExcluded(tid({ traddr: '10.1.1.1' }), x),
    false,
    'no host-iface: the eth3 entry does not match',
  );
  assert.equal(isExcluded(tid({ traddr: '192.0.2.99', hostNqn: 'nqn.other-host' }), x), true);
  assert.equal(isExcluded(tid({ traddr: '192.0.2.99' }), x), false, 'default host NQN is not nqn.other-host');
  assert.equal(isExcluded(tid({ traddr: '2001:db8::1' }), x), true, 'IPv6 compared as addresses');
  assert.equal(isExcluded(tid({ traddr: '10.1.1.1', trsvcid: '4421' }), x), true, 'this host ID');
  assert.equal(isExcluded(tid({ traddr: '10.1.1.1', trsvcid: '4422' }), x), false, 'another host ID');
  // An entry naming only this host's ID excludes everything this host would connect.
  const all = applicableExclusions(
    parseExclusionList(`[exclusions]\nexclusion=hostid=${HOSTID}\n`, 'f').entries,
    HOSTID,
  );
  assert.deepEqual(all, [EXCLUDE_ALL]);
  assert.equal(isExcluded(tid({ traddr: '10.9.9.9' }), all), true);
  // Fibre Channel addresses are case-insensitive.
  const fc = applicableExclusions(
    parseExclusionList('[exclusions]\nexclusion=traddr=nn-0x20000090FA942779:pn-0x10000090FA942779\n', 'f')
      .entries,
    HOSTID,
  );
  assert.equal(
    isExcluded(tid({ transport: 'fc', traddr: 'nn-0x20000090fa942779:pn-0x10000090fa942779' }), fc),
    true,
  );
});

test('planners: the host list keeps DCs and IOCs out, with its own reason', () => {
  const x: ExcludeFields[] = [{ nqn: 'nqn.x:vol2' }, { traddr: '10.0.0.7' }];
  const dcPlan = planDiscoveryControllers({
    configured: [],
    referrals: new Map(),
    discovered: [
      Tid.from({ transport: 'tcp', traddr: '10.0.0.7', subsysnqn: WELL_KNOWN_DISC_NQN }, opts),
      Tid.from({ transport: 'tcp', traddr: '10.0.0.8', subsysnqn: WELL_KNOWN_DISC_NQN }, opts),
    ],
    excludes: [],
    hostExclusions: x,
    ipFamily: { ipv4: true, ipv6: true },
  });
  assert.deepEqual(
    [...dcPlan.desired.values()].map((c) => c.tid.traddr),
    ['10.0.0.8'],
  );
  assert.deepEqual(
    dcPlan.dropped.map((d) => [d.tid.traddr, d.reason]),
    [['10.0.0.7', HOST_EXCLUDED]],
  );

  const dc = Tid.from({ transport: 'tcp', traddr: '10.0.0.8', subsysnqn: WELL_KNOWN_DISC_NQN }, opts);
  const plan = planIoControllers({
    config: parseStacdConfig('').config,
    tidOpts: opts,
    stafd: { answered: true, dcs: [{ dc, entries: [ioEntry(1), ioEntry(2, { subnqn: 'nqn.x:vol2' })] }] },
    kernel: [
      {
        device: 'nvme4',
        transport: 'tcp',
        traddr: '127.0.0.1',
        trsvcid: '4420',
        subsysnqn: 'nqn.x:vol2',
        hostNqn: 'nqn.host',
        hostId: '',
        hostTraddr: '',
        hostIface: '',
        srcAddr: '',
        cntrltype: 'io',
        dctype: 'none',
        state: 'live',
        hasNamespaces: true,
      },
    ],
    ifaces: new Map(),
    owners: new Map([['nvme4', 'stas']]),
    ours: new Set(),
    attempts: new Map(),
    hostExclusions: x,
  });
  assert.deepEqual(
    plan.items.map((i) => [i.action, i.tid.subsysnqn, i.reason]),
    [
      ['connect', 'nqn.2024-01.io.stas-test:subsys1', 'listed in a discovery log page'],
      ['disconnect', 'nqn.x:vol2', HOST_EXCLUDED],
    ],
  );
});

test('HostExclusionList: main file plus drop-ins in name order, fail-open, problems logged once, watch', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stas-excl-'));
  const logs: string[] = [];
  const list = new HostExclusionList((level, m) => logs.push(`${level}: ${m}`), dir);
  try {
    assert.deepEqual(await list.load(HOSTID), [], 'no files: nothing excluded');
    writeFileSync(
      join(dir, 'exclusions.conf'),
      '[exclusions]\nexclusion = nqn=nqn.x:a\nexclusion = bogus=1\n',
    );
    mkdirSync(join(dir, 'exclusions.conf.d'));
    writeFileSync(join(dir, 'exclusions.conf.d', 'b.conf'), '[exclusions]\nexclusion = nqn=nqn.x:b\n');
    writeFileSync(join(dir, 'exclusions.conf.d', 'a.conf'), '[exclusions]\nexclusion = nqn=nqn.x:c\n');
    writeFileSync(join(dir, 'exclusions.conf.d', 'notes.txt'), '[exclusions]\nexclusion = nqn=nqn.x:d\n');
    assert.deepEqual(await list.load(HOSTID), [{ nqn: 'nqn.x:a' }, { nqn: 'nqn.x:c' }, { nqn: 'nqn.x:b' }]);
    await list.load(HOSTID);
    assert.deepEqual(logs, [
      `warning: File:${dir}/exclusions.conf:3 exclusion "bogus=1" never matches: unknown key "bogus"`,
      'info: Host exclusion list: 3 entries',
    ]);

    // The watcher and its timer do not keep a process alive (the daemons have other handles): this test does.
    const keepAlive = setTimeout(() => {}, 10_000);
    let changes = 0;
    const changed = new Promise<void>((resolve) =>
      list.watch(() => {
        changes++;
        resolve();
      }, 20),
    );
    writeFileSync(join(dir, 'exclusions.conf.d', 'z.conf'), '[exclusions]\nexclusion = nqn=nqn.x:z\n');
    await changed;
    clearTimeout(keepAlive);
    assert.ok(changes >= 1);
    assert.deepEqual((await list.load(HOSTID)).at(-1), { nqn: 'nqn.x:z' });
  } finally {
    list.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
