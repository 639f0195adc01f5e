import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { buildConnectOptions } from '../../src/core/connect-options.js';
import { dlpeFromDict, dlpeToDict, logPagesRecord, parseAllLogPages } from '../../src/core/dlpe-dict.js';
import { checkAddress, checkServiceId, OptionValueError } from '../../src/core/kernel-options.js';
import { inheritedFromDc } from '../../src/core/log-entry.js';
import { protocolToTransport } from '../../src/core/mdns.js';
import { type DiscoveryLogEntry, SubType } from '../../src/core/nvme/discovery-log.js';
import { dcHostFor } from '../../src/core/stafd/kernel-dc.js';
import { Tid } from '../../src/core/tid.js';
import {
  ADRFAM_NAMES,
  AdrFam,
  addressCodes,
  addressProblem,
  DISCONNECT_TRTYPES,
  defaultServiceId,
  isIpTransport,
  isTransport,
  TRANSPORT_NAMES,
  TRANSPORTS,
  TRTYPE_NAMES,
  TrType,
  takesHostIface,
  takesKernelOption,
  transportInfo,
  transportOfMdnsProtocol,
  transportOfTrtype,
} from '../../src/core/transport.js';

const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000001';
const opts = { defaultHostNqn: HOSTNQN };

test('the table lists tcp, rdma, fc, loop with their NVMe TRTYPE codes; name ↔ code round-trips', () => {
  assert.deepEqual(TRANSPORT_NAMES, ['tcp', 'rdma', 'fc', 'loop']);
  assert.deepEqual(TrType, { tcp: 3, rdma: 1, fc: 2, loop: 254 });
  for (const t of TRANSPORT_NAMES) {
    assert.equal(transportOfTrtype(TrType[t]), t);
    assert.equal(TRTYPE_NAMES[TrType[t]], t);
    assert.equal(transportInfo(t), TRANSPORTS[t]);
  }
  assert.equal(transportOfTrtype(0), undefined);
  assert.equal(TRTYPE_NAMES[0], 'unspecified');
  assert.equal(transportOfTrtype(99), undefined);
  const codes = TRANSPORT_NAMES.map((t) => TrType[t]);
  assert.equal(new Set(codes).size, codes.length, 'each code names one transport');
});

test('only the table names are transports (no prototype keys, no case or blank variants)', () => {
  for (const t of TRANSPORT_NAMES) assert.ok(isTransport(t));
  for (const t of ['pcie', 'TCP', '', 'tcp ', 'toString', 'constructor', '__proto__']) {
    assert.ok(!isTransport(t), t);
    assert.equal(transportInfo(t), undefined, t);
    assert.equal(defaultServiceId(t), '', t);
  }
});

test('ADRFAM names round-trip through the entry dictionary; loop and unknown codes are shown as numbers', () => {
  for (const [code, name] of Object.entries(ADRFAM_NAMES)) {
    const e = entry({ adrfam: Number(code) });
    assert.equal(dlpeToDict(e)['adrfam'], name);
    assert.equal(dlpeFromDict(dlpeToDict(e))?.adrfam, Number(code));
  }
  assert.equal(dlpeToDict(entry({ adrfam: AdrFam.loop }))['adrfam'], '254');
  assert.equal(dlpeFromDict(dlpeToDict(entry({ adrfam: AdrFam.loop })))?.adrfam, AdrFam.loop);
});

test('tcp: IP address, ports 4420 (I/O) and 8009 (discovery, the default), host-iface, digests, userspace host', () => {
  assert.equal(TRANSPORTS.tcp.ports.io, '4420');
  assert.equal(TRANSPORTS.tcp.ports.discovery, '8009');
  assert.equal(defaultServiceId('tcp'), '8009');
  assert.ok(isIpTransport('tcp'));
  assert.ok(takesHostIface('tcp'));
  assert.equal(Tid.from({ transport: 'tcp', traddr: 'FE80::1' }, opts).traddr, 'fe80::1');
  assert.equal(Tid.from({ transport: 'tcp', traddr: '10.0.0.1' }, opts).trsvcid, '8009');
  assert.throws(() => checkAddress('traddr', 'tcp', 'host.example'), OptionValueError);
  assert.throws(() => checkServiceId('trsvcid', 'tcp', '65536'), OptionValueError);
  const s = buildConnectOptions({
    ...req('tcp'),
    hostIface: 'eth0',
    hdrDigest: true,
    dataDigest: true,
    ctrlLossTmo: 5,
  });
  for (const o of [
    'traddr=10.0.0.1',
    'trsvcid=4420',
    'host_iface=eth0',
    'hdr_digest',
    'data_digest',
    'ctrl_loss_tmo=5',
  ])
    assert.ok(s.split(',').includes(o), `${o} in ${s}`);
  assert.equal(dcHostFor('tcp', false), 'userspace');
  assert.equal(dcHostFor('tcp', true), 'kernel');
  assert.ok(DISCONNECT_TRTYPES.includes('tcp'));
});

test('rdma: IP address, port 4420, no host-iface nor digests, always a kernel DC, announced as roce/iwarp/rdma', () => {
  assert.equal(defaultServiceId('rdma'), '4420');
  assert.equal(Tid.from({ transport: 'rdma', traddr: '10.0.0.1' }, opts).trsvcid, '4420');
  assert.ok(isIpTransport('rdma'));
  assert.ok(!takesHostIface('rdma'));
  assert.throws(() => buildConnectOptions({ ...req('rdma'), hostIface: 'eth0' }), /host_iface/);
  const s = buildConnectOptions({ ...req('rdma'), hdrDigest: true, ctrlLossTmo: 5 });
  assert.ok(s.includes('trsvcid=4420') && s.includes('ctrl_loss_tmo=5'), s);
  assert.ok(!s.includes('hdr_digest'), s);
  assert.equal(dcHostFor('rdma', false), 'kernel');
  for (const p of ['roce', 'iwarp', 'rdma', ' RoCE ']) assert.equal(transportOfMdnsProtocol(p), 'rdma');
  assert.equal(protocolToTransport('tcp'), 'tcp');
  assert.ok(DISCONNECT_TRTYPES.includes('rdma'));
});

test('fc: WWN pair address, no service ID, no host-iface, never announced by mDNS', () => {
  const wwn = 'nn-0x1000000000000001:pn-0x2000000000000001';
  assert.equal(TRANSPORTS.fc.address, 'fc');
  assert.ok(!isIpTransport('fc'));
  checkAddress('traddr', 'fc', wwn);
  assert.throws(() => checkAddress('traddr', 'fc', '10.0.0.1'), /FC address/);
  assert.equal(Tid.from({ transport: 'fc', traddr: wwn, trsvcid: '4420' }, opts).trsvcid, '');
  const s = buildConnectOptions({ ...req('fc'), traddr: wwn, trsvcid: '4420' });
  assert.ok(s.includes(`traddr=${wwn}`) && !s.includes('trsvcid'), s);
  assert.equal(transportOfMdnsProtocol('fc'), null);
  assert.equal(addressProblem({ transport: 'fc', traddr: wwn }, { ipv4: false, ipv6: false }), undefined);
  assert.deepEqual(addressCodes('fc', wwn), { trtype: TrType.fc, adrfam: AdrFam.fc });
  assert.ok(DISCONNECT_TRTYPES.includes('fc'));
});

test('loop: no address given to the kernel, no service ID, no ctrl_loss_tmo, not audited by disconnect-trtypes', () => {
  assert.equal(TRANSPORTS.loop.address, 'none');
  assert.ok(!takesKernelOption('loop', 'traddr'));
  const s = buildConnectOptions({ ...req('loop'), traddr: 'whatever', trsvcid: '1', ctrlLossTmo: 5 });
  assert.ok(!s.includes('traddr') && !s.includes('trsvcid') && !s.includes('ctrl_loss_tmo'), s);
  assert.equal(Tid.from({ transport: 'loop', traddr: 'x', trsvcid: '4420' }, opts).trsvcid, '');
  assert.ok(!(DISCONNECT_TRTYPES as readonly string[]).includes('loop'));
  assert.deepEqual(addressCodes('loop', ''), { trtype: TrType.loop, adrfam: AdrFam.loop });
});

test('addressProblem: unknown transport; IP transports need an IP literal of an enabled family', () => {
  const both = { ipv4: true, ipv6: true };
  assert.equal(addressProblem({ transport: 'pcie', traddr: 'x' }, both), 'Invalid transport pcie');
  assert.equal(addressProblem({ transport: 'rdma', traddr: 'name' }, both), 'IP address is not valid');
  assert.equal(
    addressProblem({ transport: 'tcp', traddr: '10.0.0.1' }, { ipv4: false, ipv6: true }),
    'ignored because IPv4 is disabled',
  );
  assert.equal(
    addressProblem({ transport: 'tcp', traddr: '::1' }, { ipv4: true, ipv6: false }),
    'ignored because IPv6 is disabled',
  );
  assert.deepEqual(addressCodes('tcp', '::1'), { trtype: TrType.tcp, adrfam: AdrFam.ipv6 });
  assert.deepEqual(addressCodes('rdma', '10.0.0.1'), { trtype: TrType.rdma, adrfam: AdrFam.ipv4 });
});

test('a listed controller inherits the DC host NQN always, host-traddr/host-iface only on the DC transport', () => {
  const dc = Tid.from(
    { transport: 'tcp', traddr: '10.0.0.1', hostTraddr: '10.0.0.9', hostIface: 'eth0', hostNqn: 'nqn.h' },
    opts,
  );
  assert.deepEqual(inheritedFromDc(dc, 'tcp'), {
    hostTraddr: '10.0.0.9',
    hostIface: 'eth0',
    hostNqn: 'nqn.h',
  });
  assert.deepEqual(inheritedFromDc(dc, 'rdma'), { hostTraddr: '', hostIface: '', hostNqn: 'nqn.h' });
});

test('one entry dictionary codec: every field survives entry → dict → entry (stafd → D-Bus → stacd)', () => {
  const tls = new Uint8Array([1]);
  const cases: DiscoveryLogEntry[] = [
    entry({}),
    entry({ treq: 4, eflags: 0x6, tsas: tls, portid: 65535, cntlid: 0xfffe, asqsz: 128 }),
    entry({ trtype: TrType.rdma, adrfam: AdrFam.ipv6, traddr: 'fe80::1', tsas: Uint8Array.of(1, 2, 1) }),
    entry({
      trtype: TrType.fc,
      adrfam: AdrFam.fc,
      traddr: 'nn-0x1:pn-0x2',
      trsvcid: '',
      subtype: SubType.referral,
    }),
    entry({ trtype: 0, subtype: 9, treq: 6 }),
  ];
  for (const e of cases) assert.deepEqual(dlpeFromDict(dlpeToDict(e)), e, JSON.stringify(dlpeToDict(e)));
  // The other way round: stafd's text is read back to the same text.
  for (const e of cases) {
    const d = dlpeToDict(e);
    assert.deepEqual(dlpeToDict(dlpeFromDict(d)!), d);
  }
  assert.equal(dlpeFromDict({ ...dlpeToDict(entry({})), trtype: 'pcie?' }), undefined);
  assert.equal(dlpeFromDict({ ...dlpeToDict(entry({})), subtype: 'toString' }), undefined);
});

test('get_all_log_pages records round-trip: the DC dictionary and its entries come back typed', () => {
  const dc = Tid.from({ transport: 'tcp', traddr: '10.0.0.1', hostIface: 'eth0' }, opts);
  const entries = [entry({}), entry({ subtype: SubType.referral, traddr: '10.0.0.5' })];
  const json = JSON.stringify([
    logPagesRecord({ ...dc.idDict(), device: 'nvme0' }, entries),
    { 'discovery-controller': 'junk' },
  ]);
  const back = parseAllLogPages(json, opts);
  assert.ok(back);
  assert.equal(back.length, 1);
  assert.equal(back[0]!.dc.key(), dc.key());
  assert.deepEqual(back[0]!.entries, entries);
  assert.equal(parseAllLogPages('{', opts), undefined);
  assert.equal(parseAllLogPages('{}', opts), undefined);
});

test('the stafctl bash completion offers exactly the table transports for -t', () => {
  const text = readFileSync(new URL('../../../etc/bash-completion/stafctl', import.meta.url), 'utf8');
  const m = /-t \| --transport\)\s*\n\s*mapfile -t COMPREPLY < <\(compgen -W '([^']*)'/.exec(text);
  assert.ok(m, 'the -t completion is found');
  assert.deepEqual(m[1]!.split(' '), [...TRANSPORT_NAMES]);
});

function entry(over: Partial<DiscoveryLogEntry>): DiscoveryLogEntry {
  return {
    trtype: TrType.tcp,
    adrfam: AdrFam.ipv4,
    subtype: SubType.nvme,
    treq: 0,
    portid: 1,
    cntlid: 2,
    asqsz: 32,
    eflags: 0,
    trsvcid: '4420',
    subnqn: 'nqn.io',
    traddr: '10.0.0.2',
    tsas: new Uint8Array(0),
    ...over,
  };
}

function req(transport: string) {
  return {
    transport,
    traddr: '10.0.0.1',
    trsvcid: '4420',
    nqn: 'nqn.io',
    hostNqn: HOSTNQN,
    hostId: '00000000-0000-0000-0000-000000000001',
  };
}
