import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanString, isFabricTransport, Tid, WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';

const HOSTNQN = 'nqn.2014-08.org.nvmexpress:uuid:11111111-2222-3333-4444-555555555555';
const opts = { defaultHostNqn: HOSTNQN };

test('trsvcid defaults: 8009 for tcp, 4420 for rdma, always empty for fc and loop', () => {
  assert.equal(Tid.from({ transport: 'tcp', traddr: '10.0.0.1' }, opts).trsvcid, '8009');
  assert.equal(Tid.from({ transport: 'tcp', traddr: '10.0.0.1', trsvcid: '4420' }, opts).trsvcid, '4420');
  assert.equal(Tid.from({ transport: 'rdma', traddr: '10.0.0.1' }, opts).trsvcid, '4420');
  assert.equal(Tid.from({ transport: 'rdma', traddr: '10.0.0.1', trsvcid: '' }, opts).trsvcid, '4420');
  assert.equal(Tid.from({ transport: 'fc', traddr: 'nn-0x1:pn-0x2', trsvcid: '99' }, opts).trsvcid, '');
  assert.equal(Tid.from({ transport: 'loop', traddr: '' }, opts).trsvcid, '');
});

test('host NQN defaults to the system one; per-entry host-nqn wins', () => {
  assert.equal(Tid.from({ transport: 'tcp', traddr: '1.2.3.4' }, opts).hostNqn, HOSTNQN);
  assert.equal(Tid.from({ transport: 'tcp', traddr: '1.2.3.4', hostNqn: 'nqn.x' }, opts).hostNqn, 'nqn.x');
});

test('ignore-iface drops the interface from the identity', () => {
  const a = Tid.from(
    { transport: 'tcp', traddr: '1.2.3.4', hostIface: 'eth0' },
    { ...opts, ignoreIface: true },
  );
  const b = Tid.from(
    { transport: 'tcp', traddr: '1.2.3.4', hostIface: 'eth1' },
    { ...opts, ignoreIface: true },
  );
  assert.equal(a.hostIface, '');
  assert.equal(a.key(), b.key());
  const c = Tid.from({ transport: 'tcp', traddr: '1.2.3.4', hostIface: 'eth1' }, opts);
  assert.equal(c.hostIface, 'eth1');
  assert.notEqual(a.key(), c.key());
  assert.equal(Tid.from({ ...a, hostIface: 'eth1' }, opts).key(), c.key());
});

test('strings from log pages are trimmed of blanks and NUL padding; IP literals canonicalised', () => {
  const t = Tid.from(
    {
      transport: 'tcp ',
      traddr: ' 2001:DB8:0:0::1\0\0\0',
      trsvcid: '4420      ',
      subsysnqn: 'nqn.2024-01.io:sub1   \0',
      hostTraddr: '::FFFF:10.0.0.1',
    },
    opts,
  );
  assert.equal(t.transport, 'tcp');
  assert.equal(t.traddr, '2001:db8::1');
  assert.equal(t.trsvcid, '4420');
  assert.equal(t.subsysnqn, 'nqn.2024-01.io:sub1');
  assert.equal(t.hostTraddr, '::ffff:10.0.0.1');
  assert.equal(cleanString(undefined), '');
  assert.equal(cleanString('\t a b \x7f'), 'a b');
  // Host names and FC addresses are left as written (resolution happens elsewhere).
  assert.equal(Tid.from({ transport: 'tcp', traddr: 'localhost' }, opts).traddr, 'localhost');
  assert.equal(Tid.from({ transport: 'fc', traddr: 'nn-0xAB:pn-0xCD' }, opts).traddr, 'nn-0xAB:pn-0xCD');
});

test('equality covers exactly the seven identity fields', () => {
  const base = {
    transport: 'tcp',
    traddr: '10.0.0.1',
    trsvcid: '4420',
    subsysnqn: 'nqn.a',
    hostTraddr: '',
    hostIface: '',
  };
  const a = Tid.from(base, opts);
  assert.equal(a.key(), Tid.from({ ...base, traddr: '10.0.0.1 ' }, opts).key());
  const variants = [
    { transport: 'rdma' },
    { traddr: '10.0.0.2' },
    { trsvcid: '4421' },
    { subsysnqn: 'nqn.b' },
    { hostTraddr: '10.0.0.9' },
    { hostIface: 'eth0' },
    { hostNqn: 'nqn.other' },
  ];
  for (const v of variants)
    assert.notEqual(a.key(), Tid.from({ ...base, ...v }, opts).key(), JSON.stringify(v));
});

test('printable form omits empty optional parts and the host NQN', () => {
  assert.equal(Tid.from({ transport: 'tcp', traddr: '10.0.0.1' }, opts).toString(), '(tcp, 10.0.0.1, 8009)');
  assert.equal(
    Tid.from(
      {
        transport: 'tcp',
        traddr: '10.0.0.1',
        trsvcid: '4420',
        subsysnqn: 'nqn.s',
        hostIface: 'eth0',
        hostTraddr: '10.0.0.2',
      },
      opts,
    ).toString(),
    '(tcp, 10.0.0.1, 4420, nqn.s, eth0, 10.0.0.2)',
  );
});

test('id dictionary has nvme-stas keys and order', () => {
  const d = Tid.from(
    { transport: 'tcp', traddr: '10.0.0.1', subsysnqn: 'nqn.s', hostIface: 'eth0' },
    opts,
  ).idDict();
  assert.deepEqual(Object.keys(d), [
    'traddr',
    'trsvcid',
    'transport',
    'subsysnqn',
    'host-iface',
    'host-traddr',
    'host-nqn',
  ]);
  assert.deepEqual(d, {
    traddr: '10.0.0.1',
    trsvcid: '8009',
    transport: 'tcp',
    subsysnqn: 'nqn.s',
    'host-iface': 'eth0',
    'host-traddr': '',
    'host-nqn': HOSTNQN,
  });
});

test('fabric transports are whitelisted', () => {
  for (const t of ['tcp', 'rdma', 'fc', 'loop']) assert.ok(isFabricTransport(t));
  for (const t of ['pcie', 'TCP', '', 'tcp ']) assert.ok(!isFabricTransport(t));
});

test('D-Bus argument form: fromArgs applies the defaults; args() is its inverse', () => {
  const t = Tid.fromArgs(['tcp', 'FE80::1', '', 'nqn.s', '', 'eth0', ''], opts);
  assert.deepEqual(t.args(), ['tcp', 'fe80::1', '8009', 'nqn.s', '', 'eth0', HOSTNQN]);
  assert.equal(Tid.fromArgs(t.args(), opts).key(), t.key());
});

test('controller dictionary form: fromIdDict is the inverse of idDict; without transport or traddr, none', () => {
  const t = Tid.from(
    {
      transport: 'tcp',
      traddr: '10.0.0.1',
      subsysnqn: WELL_KNOWN_DISC_NQN,
      hostIface: 'eth0',
      hostTraddr: '10.0.0.2',
    },
    opts,
  );
  assert.equal(Tid.fromIdDict(t.idDict(), opts)?.key(), t.key());
  // Extra keys (stafd's device, state…) are ignored; a value that is not a string counts as empty.
  const d = { ...t.idDict(), device: 'nvme1', 'host-iface': 7 };
  assert.deepEqual(Tid.fromIdDict(d, opts)?.args(), [...t.args().slice(0, 5), '', HOSTNQN]);
  assert.equal(Tid.fromIdDict({ ...t.idDict(), transport: '' }, opts), undefined);
  assert.equal(Tid.fromIdDict({ ...t.idDict(), traddr: 5 }, opts), undefined);
  assert.equal(Tid.fromIdDict({}, opts), undefined);
});
