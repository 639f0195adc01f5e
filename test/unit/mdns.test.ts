// Unit tests of the pure mDNS part: TXT decoding, transport mapping, candidates and their validation, keys, duplicates.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AVAHI_PROTO_INET,
  AVAHI_PROTO_INET6,
  candidateFromService,
  decodeTxt,
  duplicateAddresses,
  duplicateAddressMessage,
  escapeText,
  formatTxt,
  protocolName,
  protocolToTransport,
  type ResolvedService,
  serviceKey,
  serviceLabel,
} from '../../src/core/mdns.js';
import { WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';

const bytes = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const txt = (...entries: string[]): Uint8Array[] => entries.map(bytes);

function service(over: Partial<ResolvedService> = {}): ResolvedService {
  return {
    interface: 2,
    protocol: AVAHI_PROTO_INET,
    name: 'SFSS',
    type: '_nvme-disc._tcp',
    domain: 'local',
    ifname: 'eth0',
    host: 'sfss.local',
    address: '192.168.1.20',
    port: 8009,
    txt: txt('p=tcp', 'nqn=nqn.1988-11.com.dell:SFSS:2:20220208134025e8'),
    ...over,
  };
}

test('decodeTxt: keys lower-cased, value after the first "=", empty values kept, later entries win', () => {
  const d = decodeTxt(txt('P=tcp', 'NqN=nqn.a', 'empty=', 'x=a=b', 'p=roce'));
  assert.deepEqual(
    [...d.entries],
    [
      ['p', 'roce'],
      ['nqn', 'nqn.a'],
      ['empty', ''],
      ['x', 'a=b'],
    ],
  );
  assert.deepEqual(d.dropped, []);
});

test('decodeTxt: entries without "=", with an empty key, or with a non-printable character are dropped', () => {
  const d = decodeTxt([
    ...txt('novalue', '=v', 'nqn=nqn.a\nhostnqn=x', 'p=t\x00cp', 'ok=1'),
    Uint8Array.of(0x80),
  ]);
  assert.deepEqual([...d.entries], [['ok', '1']]);
  assert.deepEqual(
    d.dropped.map((x) => x.key),
    [undefined, undefined, 'nqn', 'p', undefined],
  );
  assert.equal(d.dropped[2]!.text, '"nqn=nqn.a\\x0ahostnqn=x"');
});

test('decodeTxt: bytes are characters one to one; Python-printable Latin-1 is kept, NBSP and soft hyphen are not', () => {
  const d = decodeTxt([Uint8Array.of(0x6b, 0x3d, 0xe9), Uint8Array.of(0x6b, 0x32, 0x3d, 0xa0)]);
  assert.deepEqual([...d.entries], [['k', '\u00e9']]);
  assert.equal(d.dropped.length, 1);
  assert.equal(decodeTxt([Uint8Array.of(0x4b, 0x3d, 0xad)]).entries.size, 0);
  // Plain number arrays (what other D-Bus libraries hand out) work as well.
  assert.deepEqual([...decodeTxt([[0x70, 0x3d, 0x74, 0x63, 0x70]]).entries], [['p', 'tcp']]);
  assert.deepEqual([...decodeTxt([]).entries], []);
});

test('decodeTxt: a "__proto__" key is an ordinary entry', () => {
  const d = decodeTxt(txt('__proto__=x'));
  assert.equal(d.entries.get('__proto__'), 'x');
});

test('protocolToTransport follows nvme-stas: tcp; roce, iwarp, rdma → rdma; case and blanks ignored', () => {
  assert.equal(protocolToTransport('tcp'), 'tcp');
  assert.equal(protocolToTransport(' TCP '), 'tcp');
  assert.equal(protocolToTransport('roce'), 'rdma');
  assert.equal(protocolToTransport('iWARP'), 'rdma');
  assert.equal(protocolToTransport('rdma'), 'rdma');
  assert.equal(protocolToTransport('walmart'), null);
  assert.equal(protocolToTransport(''), null);
  assert.equal(protocolToTransport('fc'), null);
  assert.equal(protocolToTransport(undefined), null);
});

test('candidate: tcp with its own NQN, interface as host-iface, port as trsvcid', () => {
  const r = candidateFromService(service());
  assert.ok(r.ok);
  assert.deepEqual(r.candidate, {
    transport: 'tcp',
    traddr: '192.168.1.20',
    trsvcid: '8009',
    subsysnqn: 'nqn.1988-11.com.dell:SFSS:2:20220208134025e8',
    hostIface: 'eth0',
  });
  assert.equal(r.txt.get('p'), 'tcp');
});

test('candidate: rdma (p=roce) gets no host-iface; NQN is trimmed', () => {
  const r = candidateFromService(service({ type: '_nvme-disc._udp', txt: txt('p=RoCE', 'nqn= nqn.x.y ') }));
  assert.ok(r.ok);
  assert.equal(r.candidate.transport, 'rdma');
  assert.equal(r.candidate.hostIface, '');
  assert.equal(r.candidate.subsysnqn, 'nqn.x.y');
});

test('candidate: no, empty or unusable-for-the-kernel nqn → well-known discovery NQN', () => {
  for (const t of [txt('p=tcp'), txt('p=tcp', 'nqn='), txt('p=tcp', 'nqn=   ')]) {
    const r = candidateFromService(service({ txt: t }));
    assert.ok(r.ok);
    assert.equal(r.candidate.subsysnqn, WELL_KNOWN_DISC_NQN);
  }
  const r = candidateFromService(service(), { discoveryNqnSupported: false });
  assert.ok(r.ok);
  assert.equal(r.candidate.subsysnqn, WELL_KNOWN_DISC_NQN);
  // Without TP8013 support the TXT nqn is not used, so it cannot refuse the service either.
  const hostile = candidateFromService(service({ txt: txt('p=tcp', 'nqn=a,b') }), {
    discoveryNqnSupported: false,
  });
  assert.ok(hostile.ok);
});

test('candidate: missing or invalid p= is refused with nvme-stas error text', () => {
  for (const t of [txt('nqn=nqn.a'), txt('p=walmart', 'nqn=nqn.a'), txt('p=', 'nqn=nqn.a')]) {
    const r = candidateFromService(service({ txt: t }));
    assert.ok(!r.ok);
    assert.equal(r.level, 'error');
    assert.match(
      r.message,
      /^Received invalid\/undefined protocol in mDNS TXT field: address=192\.168\.1\.20, iface=eth0, TXT=\{/,
    );
  }
  const r = candidateFromService(service({ txt: txt('p=walmart') }));
  assert.ok(!r.ok);
  assert.ok(r.message.endsWith('TXT={"p": "walmart"}'));
});

test('candidate: a TXT nqn with ",", "=", a newline or a blank is refused with a warning, never passed on', () => {
  const cases = [
    'nqn=nqn.evil,hostnqn=nqn.x',
    'nqn=nqn.a=b',
    'nqn=nqn.evil\ntraddr=1.2.3.4',
    'NQN=nqn.evil\r',
    'nqn=nqn.has blank',
    'nqn=not-an-nqn',
    `nqn=nqn.${'x'.repeat(220)}`,
  ];
  for (const entry of cases) {
    const r = candidateFromService(service({ txt: txt('p=tcp', entry) }));
    assert.ok(!r.ok, entry);
    assert.equal(r.level, 'warning');
    assert.ok(!r.message.includes('\n') && !r.message.includes('\r'), r.message);
    assert.match(r.message, /^Ignoring mDNS service \(eth0, IPv4, SFSS\.local, _nvme-disc\._tcp\)/);
  }
});

test('candidate: hostile address, port or interface name is refused', () => {
  const bad: Partial<ResolvedService>[] = [
    { address: 'not-an-ip' },
    { address: '1.2.3.4,hostnqn=x' },
    { address: 'fe80::1%eth1' },
    { address: '' },
    { port: 0 },
    { port: 70000 },
    { ifname: 'eth0,x' },
    { ifname: '' },
    { ifname: 'a-very-long-interface-name' },
  ];
  for (const over of bad) {
    const r = candidateFromService(service(over));
    assert.ok(!r.ok, JSON.stringify(over));
    assert.equal(r.level, 'warning');
  }
});

test('candidate: IPv6 addresses; a link-local one gets its interface as zone, also for rdma', () => {
  const global = candidateFromService(service({ protocol: AVAHI_PROTO_INET6, address: '2001:db8::20' }));
  assert.ok(global.ok);
  assert.equal(global.candidate.traddr, '2001:db8::20');
  const ll = candidateFromService(
    service({ protocol: AVAHI_PROTO_INET6, address: 'fe80::2c6e:dee7:857:26bb' }),
  );
  assert.ok(ll.ok);
  assert.equal(ll.candidate.traddr, 'fe80::2c6e:dee7:857:26bb%eth0');
  assert.equal(ll.candidate.hostIface, 'eth0');
  const llRdma = candidateFromService(
    service({ protocol: AVAHI_PROTO_INET6, address: 'FEBF::1', txt: txt('p=iwarp'), ifname: 'ib0' }),
  );
  assert.ok(llRdma.ok);
  assert.equal(llRdma.candidate.traddr, 'FEBF::1%ib0');
  assert.equal(llRdma.candidate.hostIface, '');
  const notLl = candidateFromService(service({ address: 'fec0::1' }));
  assert.ok(notLl.ok);
  assert.equal(notLl.candidate.traddr, 'fec0::1');
});

test('service key: (interface, protocol, name, type, domain), unambiguous', () => {
  const id = { interface: 2, protocol: 0, name: 'a', type: '_nvme-disc._tcp', domain: 'local' };
  assert.equal(serviceKey(id), serviceKey({ ...id }));
  assert.notEqual(serviceKey(id), serviceKey({ ...id, interface: 3 }));
  assert.notEqual(serviceKey(id), serviceKey({ ...id, protocol: 1 }));
  assert.notEqual(serviceKey(id), serviceKey({ ...id, type: '_nvme-disc._udp' }));
  assert.notEqual(serviceKey(id), serviceKey({ ...id, domain: 'other' }));
  // Separators inside names cannot make two identities collide.
  assert.notEqual(
    serviceKey({ ...id, name: 'a","b', type: 'c' }),
    serviceKey({ ...id, name: 'a', type: 'b","c' }),
  );
});

test('labels and TXT dumps are single printable lines', () => {
  const id = {
    interface: 2,
    protocol: AVAHI_PROTO_INET6,
    name: 'DC\n1',
    type: '_nvme-disc._tcp',
    domain: 'local',
  };
  assert.equal(serviceLabel(id, 'eth0'), '(eth0, IPv6, DC\\x0a1.local, _nvme-disc._tcp)');
  assert.equal(protocolName(-1), 'unspecified');
  assert.equal(protocolName(7), 'unknown');
  assert.equal(escapeText('a\\b\u00e9\u2028'), 'a\\\\b\\xe9\\u{2028}');
  assert.equal(formatTxt(new Map([['p', 'tcp']])), '{"p": "tcp"}');
});

test('duplicate addresses: the same IP on several interfaces (as addresses, zones ignored)', () => {
  const d = duplicateAddresses([
    { address: '10.0.0.1', ifname: 'eth0' },
    { address: '10.0.0.1', ifname: 'eth0' },
    { address: '::ffff:10.0.0.1', ifname: 'eth1' },
    { address: 'FE80::1', ifname: 'eth0' },
    { address: 'fe80:0::1%eth1', ifname: 'eth1' },
    { address: '10.0.0.2', ifname: 'eth0' },
    { address: '2001:db8::1', ifname: 'eth0' },
    { address: '2001:db8::1', ifname: 'eth0' },
    { address: 'bogus', ifname: 'eth2' },
    { address: 'bogus', ifname: 'eth3' },
  ]);
  assert.deepEqual(d, [
    { address: '10.0.0.1', ifaces: ['eth0', 'eth1'] },
    { address: 'fe80::1', ifaces: ['eth0', 'eth1'] },
  ]);
  assert.equal(
    duplicateAddressMessage(d[0]!),
    'IP address 10.0.0.1 was found on multiple interfaces: eth0,eth1',
  );
  assert.deepEqual(duplicateAddresses([]), []);
});
