import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadNbftDiscoveryControllers, readNbftFiles, readNetLinks } from '../../src/adapters/nbft.js';
import { type NbftTable, parseNbft } from '../../src/core/nbft.js';
import {
  interfaceForMac,
  type NetLink,
  nbftDiscoveryControllers,
  parseNbftUri,
} from '../../src/core/stafd/nbft-dcs.js';
import { WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { buildNbft, type NbftSpec } from '../support/nbft-builder.js';

const HOST_NQN = 'nqn.1988-11.com.dell:PowerEdge.R760.1234567';
const MAC = 'b0:26:28:e8:7c:0e';

function table(over: Partial<NbftTable> = {}, configured = true): NbftTable {
  return {
    host: {
      nqn: HOST_NQN,
      id: '44454c4c-3400-1036-8038-b2c04f313233',
      host_id_configured: true,
      host_nqn_configured: configured,
      primary_admin_host_flag: 'not indicated',
    },
    hfi: [
      {
        trtype: 'tcp',
        pcidev: '0:40:0.0',
        mac_addr: MAC,
        vlan: 0,
        ip_origin: 82,
        ipaddr: '100.71.245.232',
        subnet_mask_prefix: 24,
        gateway_ipaddr: '100.71.245.254',
        route_metric: 500,
        primary_dns_ipaddr: '100.64.0.5',
        secondary_dns_ipaddr: '100.64.0.6',
        dhcp_server_ipaddr: '100.71.245.254',
        this_hfi_is_default_route: true,
        dhcp_override: true,
      },
    ],
    discovery: [{ hfi_index: 0, nqn: WELL_KNOWN_DISC_NQN, uri: 'nvme+tcp://100.71.103.50:8009/' }],
    subsystem: [],
    ...over,
  };
}

const links: NetLink[] = [
  { name: 'lo', address: '00:00:00:00:00:00', type: 772 },
  { name: 'eth1', address: 'B0:26:28:E8:7C:0E', type: 1 },
  { name: 'eth1.100', address: 'b0:26:28:e8:7c:0e', type: 1 },
  { name: 'tun0', address: '', type: 65534 },
  { name: 'ib0', address: MAC, type: 32 },
];

test('URIs: transport, host (IPv6 brackets removed) and port', () => {
  assert.deepEqual(parseNbftUri('nvme+tcp://100.71.103.50:8009/'), {
    transport: 'tcp',
    host: '100.71.103.50',
    port: '8009',
  });
  assert.deepEqual(parseNbftUri('NVME+TCP://[fe80::1]:4420'), {
    transport: 'tcp',
    host: 'fe80::1',
    port: '4420',
  });
  assert.deepEqual(parseNbftUri('nvme+tcp://[2001:db8::5]/'), {
    transport: 'tcp',
    host: '2001:db8::5',
    port: undefined,
  });
  assert.deepEqual(parseNbftUri('nvme+tcp://10.0.0.1:/ignored/path'), {
    transport: 'tcp',
    host: '10.0.0.1',
    port: undefined,
  });
  assert.deepEqual(parseNbftUri('nvme+rdma://10.0.0.1'), {
    transport: 'rdma',
    host: '10.0.0.1',
    port: undefined,
  });
  for (const [uri, why] of [
    ['http://10.0.0.1/', /not an nvme/],
    ['nvme://10.0.0.1/', /not an nvme/],
    ['nvme+tcp:10.0.0.1', /not an nvme/],
    ['nvme+tcp://user@10.0.0.1/', /user information/],
    ['nvme+tcp://[::1/', /unterminated/],
    ['nvme+tcp://[::1]x:80/', /unexpected "x:80"/],
    ['nvme+tcp://:8009/', /no host/],
  ] as const)
    assert.match(parseNbftUri(uri) as string, why, uri);
});

test('HFI MAC → interface: Ethernet and loopback links only, any case, first by name', () => {
  assert.equal(
    interfaceForMac(MAC, links),
    'eth1',
    'eth1 sorts before its VLAN eth1.100; ib0 is not Ethernet',
  );
  assert.equal(interfaceForMac('B0:26:28:E8:7C:0E', links), 'eth1');
  assert.equal(interfaceForMac('00:00:00:00:00:00', links), 'lo');
  assert.equal(interfaceForMac('02:00:00:00:00:09', links), undefined);
  assert.equal(interfaceForMac('', links), undefined, 'tun0 has no address and is not Ethernet');
  assert.equal(interfaceForMac('b0:26:28:e8:7c', links), undefined);
});

test("discovery entries become configured DCs like nvme-stas' (test-nbft_conf), with the HFI's interface", () => {
  const r = nbftDiscoveryControllers([{ path: '/t/NBFT', table: table() }], []);
  assert.deepEqual(r, {
    dcs: [
      {
        source: '/t/NBFT discovery entry 1',
        tid: {
          transport: 'tcp',
          traddr: '100.71.103.50',
          trsvcid: '8009',
          subsysnqn: WELL_KNOWN_DISC_NQN,
          hostNqn: HOST_NQN,
        },
      },
    ],
    warnings: [],
  });
  const withIface = nbftDiscoveryControllers([{ path: '/t/NBFT', table: table() }], links);
  assert.equal(withIface.dcs[0]!.tid.hostIface, 'eth1');
  // Host NQN only when the table says it was configured by an administrator.
  const notConfigured = nbftDiscoveryControllers([{ path: '/t/NBFT', table: table({}, false) }], links);
  assert.equal(notConfigured.dcs[0]!.tid.hostNqn, undefined);
});

test('missing port → 8009 (not the string None); missing NQN → the well-known discovery NQN; IPv6', () => {
  const r = nbftDiscoveryControllers(
    [
      {
        path: '/t/NBFT',
        table: table({
          discovery: [
            { uri: 'nvme+tcp://10.0.0.9/' },
            { uri: 'nvme+tcp://[FE80::1]:8010/', nqn: 'nqn.2024-01.io.example:cdc', hfi_index: 7 },
          ],
        }),
      },
    ],
    links,
  );
  assert.deepEqual(
    r.dcs.map((d) => d.tid),
    [
      {
        transport: 'tcp',
        traddr: '10.0.0.9',
        trsvcid: '8009',
        subsysnqn: WELL_KNOWN_DISC_NQN,
        hostNqn: HOST_NQN,
      },
      {
        transport: 'tcp',
        traddr: 'FE80::1',
        trsvcid: '8010',
        subsysnqn: 'nqn.2024-01.io.example:cdc',
        hostNqn: HOST_NQN,
      },
    ],
  );
  assert.deepEqual(r.warnings, []);
});

test('hostile or unusable strings from the table are dropped with a warning', () => {
  const bad = [
    'nvme+tcp://1.2.3.4,hostnqn=evil:8009/',
    'nvme+tcp://dc.example.com:8009/',
    'nvme+tcp://10.0.0.1:0/',
    'nvme+tcp://10.0.0.1:70000/',
    'nvme+tcp://10.0.0.1:80a/',
    'nvme+rdma://10.0.0.1:4420/',
    'nvme+tcp://10.0.0.1\n:8009/',
    'garbage',
  ];
  const r = nbftDiscoveryControllers(
    [
      {
        path: '/t/NBFT',
        table: table({
          discovery: [
            ...bad.map((uri) => ({ uri, hfi_index: 0 })),
            { uri: 'nvme+tcp://10.0.0.1:8009/', nqn: 'evil,hostnqn=x' },
            { uri: 'nvme+tcp://10.0.0.2:8009/', nqn: `nqn.${'x'.repeat(230)}` },
            { uri: 'nvme+tcp://10.0.0.3:8009/', nqn: 'nqn.ok:é' },
          ],
        }),
      },
    ],
    links,
  );
  assert.deepEqual(r.dcs, []);
  assert.equal(r.warnings.length, bad.length + 3);
  for (const [i, w] of r.warnings.entries())
    assert.match(w, new RegExp(`^/t/NBFT discovery entry ${i + 1} ignored: `), w);
  assert.match(r.warnings[0]!, /traddr.*contains ','/);
  assert.match(r.warnings[1]!, /not an IP address/);
  assert.match(r.warnings[5]!, /transport "rdma" is not tcp/);
});

test('an unusable host NQN or interface name is left out with a warning; the DC stays', () => {
  const t = table();
  t.host.nqn = 'nqn.bad,transport=rdma';
  const r = nbftDiscoveryControllers(
    [{ path: '/t/NBFT', table: t }],
    [{ name: 'bad!name', address: MAC, type: 1 }],
  );
  assert.equal(r.dcs.length, 1);
  assert.equal(r.dcs[0]!.tid.hostNqn, undefined);
  assert.equal(r.dcs[0]!.tid.hostIface, undefined);
  assert.match(r.warnings[0]!, /^\/t\/NBFT: host NQN ignored: .*contains ','/);
  assert.match(r.warnings[1]!, /discovery entry 1: host-iface ignored: .*not a valid interface name/);
});

function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

const SPEC: NbftSpec = {
  host: { nqn: HOST_NQN, id: '44454c4c-3400-1036-8038-b2c04f313233', nqnConfigured: true },
  hfi: [{ index: 1, mac: '00:00:00:00:00:00', ipaddr: '127.0.0.1', prefix: 8 }],
  discovery: [
    { index: 1, hfiIndex: 1, uri: 'nvme+tcp://127.0.0.1:8009/' },
    { index: 2, hfiIndex: 1, uri: 'nvme+tcp://127.0.0.1,x=y:8009/' },
  ],
};

test('adapter: reads every NBFT* of the directory once, logs the locations and every problem', async () => {
  const dir = tempDir('stas-nbft-');
  writeFileSync(join(dir, 'NBFT'), buildNbft(SPEC));
  writeFileSync(join(dir, 'NBFT1'), Buffer.alloc(256, 0xca));
  writeFileSync(join(dir, 'APIC'), buildNbft(SPEC)); // not an NBFT* name: never read
  mkdirSync(join(dir, 'NBFT2'));
  const net = tempDir('stas-net-');
  for (const [name, address, type] of [
    ['lo', '00:00:00:00:00:00', '772'],
    ['eth0', '52:54:00:12:34:56', '1'],
  ]) {
    mkdirSync(join(net, name!));
    writeFileSync(join(net, name!, 'address'), `${address}\n`);
    writeFileSync(join(net, name!, 'type'), `${type}\n`);
  }
  writeFileSync(join(net, 'bonding_masters'), 'bond0\n'); // a file, not an interface
  assert.deepEqual(readNetLinks(net), [
    { name: 'eth0', address: '52:54:00:12:34:56', type: 1 },
    { name: 'lo', address: '00:00:00:00:00:00', type: 772 },
  ]);
  assert.deepEqual(
    (await readNbftFiles(dir)).map((f) => [f.path, f.result.ok]),
    [
      [join(dir, 'NBFT'), true],
      [join(dir, 'NBFT1'), false],
      [join(dir, 'NBFT2'), false],
    ],
  );

  const logs: [string, string][] = [];
  const dcs = await loadNbftDiscoveryControllers({ dir, netDir: net, log: (l, m) => logs.push([l, m]) });
  assert.deepEqual(dcs, [
    {
      source: `${join(dir, 'NBFT')} discovery entry 1`,
      tid: {
        transport: 'tcp',
        traddr: '127.0.0.1',
        trsvcid: '8009',
        subsysnqn: WELL_KNOWN_DISC_NQN,
        hostNqn: HOST_NQN,
        hostIface: 'lo',
      },
    },
  ]);
  assert.deepEqual(logs[0], [
    'info',
    `NBFT location(s): ['${join(dir, 'NBFT')}', '${join(dir, 'NBFT1')}', '${join(dir, 'NBFT2')}']`,
  ]);
  const text = logs.map(([l, m]) => `${l} ${m}`).join('\n');
  assert.match(text, /warning .*NBFT1: not a usable NBFT: signature/);
  assert.match(text, /warning .*NBFT2: not a usable NBFT: not a regular file/);
  assert.match(text, /warning .*NBFT discovery entry 2 ignored: invalid value for traddr/);
  assert.match(text, /info .*NBFT discovery entry 1: discovery controller 127\.0\.0\.1:8009 on lo/);
});

test('adapter: no table directory or no NBFT → nothing read, nothing logged', async () => {
  const logs: string[] = [];
  const log = (_l: string, m: string) => logs.push(m);
  assert.deepEqual(await loadNbftDiscoveryControllers({ dir: '/nonexistent/tables', log }), []);
  const empty = tempDir('stas-nbft-none-');
  writeFileSync(join(empty, 'DSDT'), 'x');
  assert.deepEqual(await loadNbftDiscoveryControllers({ dir: empty, netDir: '/nonexistent/net', log }), []);
  assert.deepEqual(logs, []);
  assert.deepEqual(readNetLinks('/nonexistent/net'), []);
  // A table read whole from a file equals the same bytes parsed directly.
  writeFileSync(join(empty, 'NBFT'), buildNbft(SPEC));
  const [f] = await readNbftFiles(empty);
  assert.deepEqual(f!.result, parseNbft(buildNbft(SPEC)));
});
