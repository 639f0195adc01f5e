import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type NbftResult, nbftDict, parseNbft } from '../../src/core/nbft.js';
import { buildNbft, fixChecksum, type NbftSpec } from '../support/nbft-builder.js';

const HOST_ID = '44454c4c-3400-1036-8038-b2c04f313233';
const HOST_NQN = 'nqn.1988-11.com.dell:PowerEdge.R760.1234567';
const SUB_NQN = 'nqn.1988-11.com.dell:powerstore:00:2a64abf1c5b81F6C4549';
const DISC_NQN = 'nqn.2014-08.org.nvmexpress.discovery';

/** A table like the ones firmware writes: one HFI, one discovery controller, two namespaces. */
const BOOT: NbftSpec = {
  host: { nqn: HOST_NQN, id: HOST_ID, idConfigured: true, nqnConfigured: true },
  hfi: [
    {
      index: 1,
      mac: 'b0:26:28:e8:7c:0e',
      pciSbdf: 0x4000,
      ipOrigin: 82,
      ipaddr: '100.71.245.232',
      prefix: 24,
      gateway: '100.71.245.254',
      routeMetric: 500,
      primaryDns: '100.64.0.5',
      secondaryDns: '100.64.0.6',
      dhcpServer: '100.71.245.254',
      dhcpOverride: true,
      defaultRoute: true,
    },
  ],
  discovery: [{ index: 1, hfiIndex: 1, uri: 'nvme+tcp://100.71.103.50:8009/', nqn: DISC_NQN }],
  ssns: [
    {
      index: 1,
      traddr: '100.71.103.48',
      trsvcid: '4420',
      nqn: SUB_NQN,
      primaryHfi: 1,
      secondaryHfis: [1],
      nsid: 148,
      nidType: 2,
      nid: Buffer.from('c82404ed9c15f53b8ccf0968002e0fca', 'hex'),
      ext: { cntlid: 5, asqsz: 32 },
    },
    {
      index: 2,
      traddr: '100.71.103.49',
      trsvcid: '4420',
      nqn: SUB_NQN,
      primaryHfi: 1,
      secondaryHfis: [1],
      nsid: 148,
      nidType: 2,
      nid: Buffer.from('c82404ed9c15f53b8ccf0968002e0fca', 'hex'),
      ext: { cntlid: 4166, asqsz: 32 },
    },
  ],
};

/** What nvme-stas' test-nbft.py expects for its Dell fixture, which BOOT reproduces. */
const BOOT_DICT = {
  discovery: [{ hfi_index: 0, nqn: DISC_NQN, uri: 'nvme+tcp://100.71.103.50:8009/' }],
  hfi: [
    {
      dhcp_override: true,
      dhcp_server_ipaddr: '100.71.245.254',
      gateway_ipaddr: '100.71.245.254',
      ip_origin: 82,
      ipaddr: '100.71.245.232',
      mac_addr: 'b0:26:28:e8:7c:0e',
      pcidev: '0:40:0.0',
      primary_dns_ipaddr: '100.64.0.5',
      route_metric: 500,
      secondary_dns_ipaddr: '100.64.0.6',
      subnet_mask_prefix: 24,
      this_hfi_is_default_route: true,
      trtype: 'tcp',
      vlan: 0,
    },
  ],
  host: {
    host_id_configured: true,
    host_nqn_configured: true,
    id: HOST_ID,
    nqn: HOST_NQN,
    primary_admin_host_flag: 'not indicated',
  },
  subsystem: [5, 4166].map((cntlid, i) => ({
    asqsz: 0,
    controller_id: cntlid,
    data_digest_required: false,
    hfi_indexes: [0],
    nid: 'c82404ed9c15f53b8ccf0968002e0fca',
    nid_type: 'nguid',
    nsid: 148,
    pdu_header_digest_required: false,
    subsys_nqn: SUB_NQN,
    subsys_port_id: 0,
    traddr: `100.71.103.${48 + i}`,
    trsvcid: '4420',
    trtype: 'tcp',
  })),
};

function ok(r: NbftResult) {
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r;
}

function error(r: NbftResult): string {
  assert.equal(r.ok, false, 'expected an error value');
  return r.ok ? '' : r.error;
}

/** Patches bytes of a built table and restores a valid checksum (to reach the checks after it). */
function patched(table: Buffer, patch: (b: Buffer) => void): Buffer {
  const b = Buffer.from(table);
  patch(b);
  return fixChecksum(b);
}

test('a boot table decodes to the dictionary nvme-stas expects (host, hfi, discovery, subsystem)', () => {
  const r = ok(parseNbft(buildNbft(BOOT)));
  assert.deepEqual(r.table, BOOT_DICT);
  assert.deepEqual(r.warnings, []);
  assert.deepEqual(nbftDict(r), BOOT_DICT);
});

test('round trip of every field: IPv6, host name, flags, nid types, security, extended info, digests', () => {
  const spec: NbftSpec = {
    host: {
      nqn: 'nqn.2014-08.org.nvmexpress:uuid:1',
      id: '00112233-4455-6677-8899-aabbccddeeff',
      primary: 2,
    },
    hfi: [
      {
        index: 2,
        mac: '02:00:00:AA:bb:01',
        vlan: 100,
        ipaddr: 'fe80::1:2',
        prefix: 64,
        gateway: '2001:db8::1',
        primaryDns: '2001:db8:0:0:1::53',
        hostName: 'boot-host',
        pciSbdf: (1 << 16) | (0x3b << 8) | (0x1f << 3) | 7,
      },
      { index: 1, mac: '02:00:00:00:00:01', ipaddr: '10.0.0.2', prefix: 8, dhcpServer: '10.0.0.1' },
    ],
    security: [{ index: 1 }],
    discovery: [
      { index: 2, hfiIndex: 2, secIndex: 1, uri: 'nvme+tcp://[2001:db8::5]:8009/' },
      { index: 1, hfiIndex: 1, uri: 'nvme+tcp://10.0.0.5/', nqn: 'nqn.2024-01.io.example:cdc' },
    ],
    ssns: [
      {
        index: 1,
        traddr: '2001:db8::7',
        trsvcid: '4420',
        nqn: 'nqn.2024-01.io.example:boot',
        primaryHfi: 2,
        secondaryHfis: [2, 1, 1, 0, 9],
        nsid: 7,
        nidType: 3,
        nid: Buffer.from('00112233445566778899aabbccddeeff', 'hex'),
        hdgst: true,
        ddgst: true,
        portId: 3,
        security: 1,
        ext: { cntlid: 12, asqsz: 64, adminAsqsz: true, rootPath: 'nvme+tcp://10.0.0.7:4420/' },
      },
      {
        index: 2,
        traddr: '10.0.0.8',
        trsvcid: '4421',
        nqn: 'nqn.2024-01.io.example:data',
        primaryHfi: 1,
        nidType: 1,
        nid: Buffer.from('0102030405060708', 'hex'),
      },
    ],
  };
  const r = ok(parseNbft(buildNbft(spec)));
  assert.deepEqual(r.table.host, {
    nqn: 'nqn.2014-08.org.nvmexpress:uuid:1',
    id: '00112233-4455-6677-8899-aabbccddeeff',
    host_id_configured: false,
    host_nqn_configured: false,
    primary_admin_host_flag: 'selected',
  });
  // Listed by descriptor index: HFI 1 first, HFI 2 second.
  assert.deepEqual(
    r.table.hfi.map((h) => h.mac_addr),
    ['02:00:00:00:00:01', '02:00:00:aa:bb:01'],
  );
  assert.deepEqual(r.table.hfi[1], {
    trtype: 'tcp',
    pcidev: '1:3b:1f.7',
    mac_addr: '02:00:00:aa:bb:01',
    vlan: 100,
    ip_origin: 0,
    ipaddr: 'fe80::1:2',
    subnet_mask_prefix: 64,
    gateway_ipaddr: '2001:db8::1',
    route_metric: 0,
    primary_dns_ipaddr: '2001:db8::1:0:0:53',
    secondary_dns_ipaddr: '::',
    dhcp_server_ipaddr: '',
    host_name: 'boot-host',
    this_hfi_is_default_route: false,
    dhcp_override: false,
  });
  assert.equal(r.table.hfi[0]!.dhcp_server_ipaddr, '', 'no DHCP override: no DHCP server');
  assert.deepEqual(r.table.discovery, [
    { hfi_index: 0, uri: 'nvme+tcp://10.0.0.5/', nqn: 'nqn.2024-01.io.example:cdc' },
    { hfi_index: 1, security_index: 1, uri: 'nvme+tcp://[2001:db8::5]:8009/' },
  ]);
  assert.deepEqual(r.table.subsystem, [
    {
      trtype: 'tcp',
      traddr: '2001:db8::7',
      trsvcid: '4420',
      subsys_nqn: 'nqn.2024-01.io.example:boot',
      nsid: 7,
      nid_type: 'uuid',
      nid: '00112233-4455-6677-8899-aabbccddeeff',
      controller_id: 12,
      asqsz: 64,
      pdu_header_digest_required: true,
      data_digest_required: true,
      subsys_port_id: 3,
      dhcp_root_path_string: 'nvme+tcp://10.0.0.7:4420/',
      hfi_indexes: [1, 0],
    },
    {
      trtype: 'tcp',
      traddr: '10.0.0.8',
      trsvcid: '4421',
      subsys_nqn: 'nqn.2024-01.io.example:data',
      nsid: 1,
      nid_type: 'eui64',
      nid: '0102030405060708',
      controller_id: 0,
      asqsz: 0,
      pdu_header_digest_required: false,
      data_digest_required: false,
      subsys_port_id: 0,
      hfi_indexes: [0],
    },
  ]);
  assert.deepEqual(r.warnings, ['SSNS 1: secondary HFI 9 not found']);
});

test('the primary administrative host flag values', () => {
  const names = [0, 1, 2, 3].map(
    (primary) =>
      ok(parseNbft(buildNbft({ ...BOOT, host: { ...BOOT.host, primary } }))).table.host
        .primary_admin_host_flag,
  );
  assert.deepEqual(names, ['not indicated', 'unselected', 'selected', 'reserved']);
});

test('tables that cannot be trusted as a whole are error values ({} for nvme-stas)', () => {
  const good = buildNbft(BOOT);
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty', Buffer.alloc(0), /0 bytes long/],
    ['header only', good.subarray(0, 100), /100 bytes long/],
    ['garbage', Buffer.alloc(256, Buffer.from([0xca, 0xfe, 0xba, 0xbe])), /signature/],
    ['another ACPI table', patched(good, (b) => b.write('APIC', 0)), /signature "APIC"/],
    ['bad checksum', patched(good, () => {}).fill(0x55, 9, 10), /checksum/],
    ['truncated', good.subarray(0, good.length - 1), /exceeds the \d+ bytes available/],
    ['length too short', patched(good, (b) => b.writeUInt32LE(100, 4)), /header length 100/],
    ['major revision 2', patched(good, (b) => (b[8] = 2)), /major revision 2/],
    ['heap past the end', patched(good, (b) => b.writeUInt32LE(good.length, 40)), /heap/],
    ['control not valid', buildNbft({ ...BOOT, controlValid: false }), /control descriptor not valid/],
    ['control id', patched(good, (b) => (b[64] = 9)), /control descriptor: structure id 9/],
    ['host offset', patched(good, (b) => b.writeUInt32LE(good.length - 8, 72)), /host descriptor at/],
    ['host id', patched(good, (b) => (b[128] = 3)), /host descriptor: structure id 3/],
    [
      'host not valid',
      buildNbft({ ...BOOT, host: { ...BOOT.host, valid: false } }),
      /host descriptor not valid/,
    ],
    ['no host NQN', buildNbft({ ...BOOT, host: { id: HOST_ID } }), /no host NQN/],
    ['HFI list past the end', patched(good, (b) => (b[64 + 23] = 200)), /HFI descriptor list .* outside/],
    ['HFI descriptors too short', patched(good, (b) => b.writeUInt16LE(16, 64 + 20)), /16 bytes long/],
  ];
  for (const [name, bytes, re] of cases) {
    const r = parseNbft(bytes);
    assert.match(error(r), re, name);
    assert.deepEqual(nbftDict(r), {}, name);
  }
});

test('every truncation of a table is an error value', () => {
  const good = buildNbft(BOOT);
  for (let n = 0; n < good.length; n++) assert.equal(parseNbft(good.subarray(0, n)).ok, false, `${n} bytes`);
  assert.ok(parseNbft(good).ok);
});

test('bytes after the declared length are never used, even when references point there', () => {
  const good = buildNbft(BOOT);
  const trailing = Buffer.concat([good, Buffer.from('nvme+tcp://6.6.6.6:8009/\0', 'latin1')]);
  assert.deepEqual(ok(parseNbft(trailing)).table, BOOT_DICT, 'trailing bytes are ignored');
  // Point the discovery URI reference (discovery list at control+40; URI ref at descriptor+6) past the length.
  const discAt = good.readUInt32LE(64 + 40);
  const evil = patched(trailing, (b) => {
    b.writeUInt32LE(good.length, discAt + 6);
    b.writeUInt16LE(24, discAt + 10);
  });
  const r = ok(parseNbft(evil));
  assert.deepEqual(r.table.discovery, []);
  assert.match(r.warnings.join('\n'), /discovery descriptor at offset \d+ skipped: .*outside the heap/);
  // A heap object starting before the heap (inside a descriptor) is refused too.
  const before = ok(parseNbft(patched(good, (b) => b.writeUInt32LE(64, discAt + 6))));
  assert.deepEqual(before.table.discovery, []);
});

test('a bad descriptor is skipped with a warning; the rest of the table is used', () => {
  const warnOf = (spec: NbftSpec) => ok(parseNbft(buildNbft(spec)));
  const hfi0 = BOOT.hfi![0]!;

  // Not valid: a reserved slot, skipped without a warning.
  const invalidHfi = warnOf({ ...BOOT, hfi: [{ ...hfi0, valid: false }], ssns: [] });
  assert.deepEqual(invalidHfi.table.hfi, []);
  assert.deepEqual(invalidHfi.table.discovery, [{ uri: BOOT_DICT.discovery[0]!.uri, nqn: DISC_NQN }]);
  assert.deepEqual(invalidHfi.warnings, ['discovery descriptor 1: HFI 1 not found']);

  const cases: [string, NbftSpec, RegExp][] = [
    ['HFI transport', { ...BOOT, hfi: [{ ...hfi0, trtype: 1 }] }, /HFI 1: unsupported transport type 1/],
    ['no transport info', { ...BOOT, hfi: [{ ...hfi0, noInfo: true }] }, /HFI 1: no transport info/],
    ['short transport info', { ...BOOT, hfi: [{ ...hfi0, infoLength: 64 }] }, /transport info is 64 bytes/],
    ['transport info id', { ...BOOT, hfi: [{ ...hfi0, infoId: 8 }] }, /structure id 8/],
    ['transport info version', { ...BOOT, hfi: [{ ...hfi0, infoVersion: 2 }] }, /version 2/],
    ['transport info not valid', { ...BOOT, hfi: [{ ...hfi0, infoValid: false }] }, /not valid/],
  ];
  for (const [name, spec, re] of cases) {
    const r = warnOf(spec);
    assert.deepEqual(r.table.hfi, [], name);
    assert.match(r.warnings.join('\n'), re, name);
    // The namespaces named that HFI: they go too; the discovery entry stays without its HFI.
    assert.deepEqual(r.table.subsystem, [], name);
    assert.equal(r.table.discovery.length, 1, name);
    assert.equal(r.table.discovery[0]!.hfi_index, undefined, name);
  }

  const noUri = warnOf({ ...BOOT, discovery: [{ index: 1, hfiIndex: 1, nqn: DISC_NQN }] });
  assert.deepEqual(noUri.table.discovery, []);
  assert.match(noUri.warnings.join(), /discovery descriptor 1: no URI/);
  const badId = warnOf({ ...BOOT, discovery: [{ index: 1, hfiIndex: 1, uri: 'x', id: 7 }] });
  assert.match(badId.warnings.join(), /discovery descriptor: structure id 7/);
  const unknownSec = warnOf({ ...BOOT, discovery: [{ index: 1, hfiIndex: 1, uri: 'x', secIndex: 4 }] });
  assert.deepEqual(unknownSec.table.discovery, [{ hfi_index: 0, uri: 'x' }]);
  assert.match(unknownSec.warnings.join(), /security descriptor 4 not found/);

  const ssns0 = BOOT.ssns![0]!;
  const ssnsCases: [string, NbftSpec, RegExp][] = [
    ['SSNS transport', { ...BOOT, ssns: [{ ...ssns0, trtype: 2 }] }, /SSNS 1: unsupported transport type 2/],
    [
      'primary HFI',
      { ...BOOT, ssns: [{ ...ssns0, primaryHfi: 3 }] },
      /SSNS 1 skipped: primary HFI 3 not found/,
    ],
  ];
  for (const [name, spec, re] of ssnsCases) {
    const r = warnOf(spec);
    assert.deepEqual(r.table.subsystem, [], name);
    assert.match(r.warnings.join('\n'), re, name);
  }
  // Unusable extended info: the namespace keeps its defaults.
  for (const ext of [
    { cntlid: 9, valid: false },
    { cntlid: 9, ssnsIndex: 5 },
  ]) {
    const r = warnOf({ ...BOOT, ssns: [{ ...ssns0, ext }] });
    assert.equal(r.table.subsystem[0]!.controller_id, 0);
  }
  const unknownSsnsSec = warnOf({ ...BOOT, ssns: [{ ...ssns0, security: 2 }] });
  assert.equal(unknownSsnsSec.table.subsystem.length, 1);
  assert.match(unknownSsnsSec.warnings.join(), /SSNS 1: security descriptor 2 not found/);
  const invalidSsns = warnOf({
    ...BOOT,
    ssns: [{ ...ssns0, valid: false }],
    security: [{ index: 1, valid: false }],
  });
  assert.deepEqual([invalidSsns.table.subsystem, invalidSsns.warnings], [[], []]);
});

test('longer descriptors than revision 1.0 are stepped over by their declared length', () => {
  const r = ok(
    parseNbft(
      buildNbft({
        ...BOOT,
        hfiLength: 48,
        discoveryLength: 40,
        discovery: [
          { index: 1, hfiIndex: 1, uri: 'nvme+tcp://10.0.0.1:8009/' },
          { index: 2, hfiIndex: 1, uri: 'nvme+tcp://10.0.0.2:8009/' },
        ],
      }),
    ),
  );
  assert.deepEqual(
    r.table.discovery.map((d) => d.uri),
    ['nvme+tcp://10.0.0.1:8009/', 'nvme+tcp://10.0.0.2:8009/'],
  );
  const newer = ok(parseNbft(buildNbft({ ...BOOT, minor: 3 })));
  assert.match(newer.warnings.join(), /minor revision 3/);
});

test('fuzz: mutated tables never throw and decode to well-formed values (seeded, 4000 cases)', () => {
  let seed = 0x2545f491;
  const rand = (n: number) => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const bases = [
    buildNbft(BOOT),
    buildNbft({
      ...BOOT,
      security: [{ index: 1 }],
      discovery: [{ index: 1, hfiIndex: 1, uri: 'u', secIndex: 1 }],
    }),
  ];
  let decoded = 0;
  for (let i = 0; i < 4000; i++) {
    const b = Buffer.from(bases[i % bases.length]!);
    const flips = 1 + rand(8);
    for (let k = 0; k < flips; k++) {
      const at = rand(b.length);
      // Mostly small offsets (header, control, descriptors) where the structure lives.
      b[rand(3) === 0 ? at : rand(Math.min(b.length, 480))] = rand(256);
    }
    const input = rand(4) === 0 ? b.subarray(0, rand(b.length + 1)) : rand(5) === 0 ? b : fixChecksum(b);
    let r: NbftResult;
    assert.doesNotThrow(() => {
      r = parseNbft(input);
    });
    r = parseNbft(input);
    if (!r.ok) {
      assert.equal(typeof r.error, 'string');
      assert.ok(!r.error.startsWith('internal error'), r.error);
      continue;
    }
    decoded++;
    // Well-formed: JSON round trip is lossless (no undefined values, NaN, or non-plain objects) and every
    // cross-reference points into hfi.
    assert.deepEqual(JSON.parse(JSON.stringify(r.table)), r.table);
    for (const d of r.table.discovery) {
      assert.equal(typeof d.uri, 'string');
      if (d.hfi_index !== undefined) assert.ok(d.hfi_index < r.table.hfi.length);
    }
    for (const s of r.table.subsystem) for (const h of s.hfi_indexes) assert.ok(h < r.table.hfi.length);
  }
  assert.ok(decoded > 100, `${decoded} mutated tables still decode (the fuzzing reaches the descriptors)`);
});
