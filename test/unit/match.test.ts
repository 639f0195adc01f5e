import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  isDiscoveryController,
  isIoController,
  type KernelController,
  kernelControllerFromSysfs,
  parseSysfsAddress,
} from '../../src/core/kernel-controller.js';
import { controllerMatchesTid, type InterfaceMap, interfaceOf } from '../../src/core/match.js';
import { Tid, type TidInput, WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';

const HOST = 'nqn.2014-08.org.nvmexpress:uuid:host';
const ifaces: InterfaceMap = new Map([
  ['lo', { ipv4: ['127.0.0.1'], ipv6: ['::1'] }],
  ['eth0', { ipv4: ['10.0.0.2', '10.0.0.3'], ipv6: ['fe80::2'] }],
  ['eth1', { ipv4: ['192.168.1.2'], ipv6: [] }],
]);

function ctrl(over: Partial<KernelController>): KernelController {
  return {
    device: 'nvme0',
    transport: 'tcp',
    traddr: '10.0.0.1',
    trsvcid: '4420',
    subsysnqn: 'nqn.sub',
    hostNqn: HOST,
    hostId: '',
    hostTraddr: '',
    hostIface: '',
    srcAddr: '',
    cntrltype: 'io',
    dctype: 'none',
    state: 'live',
    hasNamespaces: true,
    ...over,
  };
}
const tid = (over: Partial<TidInput>) =>
  Tid.from(
    { transport: 'tcp', traddr: '10.0.0.1', trsvcid: '4420', subsysnqn: 'nqn.sub', ...over },
    { defaultHostNqn: HOST },
  );

test('sysfs address parsing, including src_addr and "none" values', () => {
  assert.deepEqual(parseSysfsAddress('traddr=127.0.0.1,trsvcid=4420,src_addr=127.0.0.1\n'), {
    traddr: '127.0.0.1',
    trsvcid: '4420',
    src_addr: '127.0.0.1',
  });
  assert.deepEqual(parseSysfsAddress('traddr=nn-0x1:pn-0x2,host_traddr=nn-0x3:pn-0x4'), {
    traddr: 'nn-0x1:pn-0x2',
    host_traddr: 'nn-0x3:pn-0x4',
  });
  assert.deepEqual(parseSysfsAddress('traddr=1.2.3.4,host_iface=none,junk'), {
    traddr: '1.2.3.4',
    host_iface: '',
  });
  const c = kernelControllerFromSysfs(
    'nvme3',
    {
      transport: 'tcp\n',
      address: 'traddr=127.0.0.1,trsvcid=4420,host_iface=lo,src_addr=127.0.0.1',
      subsysnqn: 'nqn.sub\n',
      hostnqn: HOST,
      hostid: 'id',
      cntrltype: 'io',
      dctype: 'none',
      state: 'live',
    },
    true,
  );
  assert.equal(c.device, 'nvme3');
  assert.equal(c.transport, 'tcp');
  assert.equal(c.subsysnqn, 'nqn.sub');
  assert.equal(c.hostIface, 'lo');
  assert.equal(c.srcAddr, '127.0.0.1');
  assert.equal(c.dctype, '');
  assert.equal(kernelControllerFromSysfs('nvme1', {}, false).transport, '');
});

test('classification: cntrltype when the kernel has it, namespaces and NQN otherwise', () => {
  assert.ok(isDiscoveryController(ctrl({ cntrltype: 'discovery', hasNamespaces: false })));
  assert.ok(!isIoController(ctrl({ cntrltype: 'discovery', hasNamespaces: false })));
  // An I/O controller without namespaces is still an I/O controller when cntrltype says so.
  assert.ok(isIoController(ctrl({ cntrltype: 'io', hasNamespaces: false })));
  assert.ok(!isDiscoveryController(ctrl({ cntrltype: 'io', hasNamespaces: false })));
  // Old kernels (no cntrltype).
  assert.ok(
    isDiscoveryController(ctrl({ cntrltype: '', subsysnqn: WELL_KNOWN_DISC_NQN, hasNamespaces: false })),
  );
  assert.ok(isDiscoveryController(ctrl({ cntrltype: '', hasNamespaces: false })));
  assert.ok(isIoController(ctrl({ cntrltype: '', hasNamespaces: true })));
  assert.ok(!isIoController(ctrl({ cntrltype: '', hasNamespaces: false })));
});

test('interfaceOf finds the owner of an address', () => {
  assert.equal(interfaceOf(ifaces, '10.0.0.3'), 'eth0');
  assert.equal(interfaceOf(ifaces, '::ffff:192.168.1.2'), 'eth1');
  assert.equal(interfaceOf(ifaces, 'FE80::2'), 'eth0');
  assert.equal(interfaceOf(ifaces, '8.8.8.8'), '');
});

test('mandatory fields: transport, trsvcid, host NQN, subsystem NQN, address', () => {
  const c = ctrl({});
  assert.ok(controllerMatchesTid(tid({}), c, ifaces));
  assert.ok(!controllerMatchesTid(tid({ transport: 'rdma' }), c, ifaces));
  assert.ok(!controllerMatchesTid(tid({ trsvcid: '4421' }), c, ifaces));
  assert.ok(!controllerMatchesTid(tid({ hostNqn: 'nqn.other' }), c, ifaces));
  assert.ok(!controllerMatchesTid(tid({ subsysnqn: 'nqn.other' }), c, ifaces));
  assert.ok(!controllerMatchesTid(tid({ traddr: '10.0.0.9' }), c, ifaces));
  // Addresses compare as IPs.
  assert.ok(controllerMatchesTid(tid({ traddr: '::ffff:10.0.0.1' }), c, ifaces));
  assert.ok(controllerMatchesTid(tid({ traddr: '2001:DB8::1' }), ctrl({ traddr: '2001:db8:0::1' }), ifaces));
});

test('a well-known discovery NQN candidate adopts a DC with a unique NQN (TP8013)', () => {
  const dc = ctrl({ subsysnqn: 'nqn.unique-dc', trsvcid: '8009', cntrltype: 'discovery' });
  assert.ok(controllerMatchesTid(tid({ subsysnqn: WELL_KNOWN_DISC_NQN, trsvcid: '8009' }), dc, ifaces));
  assert.ok(!controllerMatchesTid(tid({ subsysnqn: 'nqn.other-dc', trsvcid: '8009' }), dc, ifaces));
});

test('tcp with src_addr (kernel >= 6.1): host-traddr and host-iface follow the real source address', () => {
  const c = ctrl({ srcAddr: '10.0.0.3' });
  assert.ok(controllerMatchesTid(tid({}), c, ifaces));
  assert.ok(controllerMatchesTid(tid({ hostTraddr: '10.0.0.3' }), c, ifaces));
  assert.ok(!controllerMatchesTid(tid({ hostTraddr: '10.0.0.2' }), c, ifaces));
  assert.ok(controllerMatchesTid(tid({ hostIface: 'eth0' }), c, ifaces));
  assert.ok(!controllerMatchesTid(tid({ hostIface: 'eth1' }), c, ifaces));
  assert.ok(controllerMatchesTid(tid({ hostIface: 'eth0', hostTraddr: '10.0.0.3' }), c, ifaces));
  assert.ok(!controllerMatchesTid(tid({ hostIface: 'eth1', hostTraddr: '10.0.0.3' }), c, ifaces));
});

test('tcp on legacy kernels (no src_addr): inference from host_traddr / host_iface', () => {
  // A. nothing known about the existing connection: assume a match.
  assert.ok(controllerMatchesTid(tid({ hostIface: 'eth1', hostTraddr: '192.168.1.2' }), ctrl({}), ifaces));
  // B. existing host_traddr only.
  const b = ctrl({ hostTraddr: '10.0.0.2' });
  assert.ok(controllerMatchesTid(tid({ hostTraddr: '10.0.0.2' }), b, ifaces));
  assert.ok(!controllerMatchesTid(tid({ hostTraddr: '10.0.0.3' }), b, ifaces));
  assert.ok(controllerMatchesTid(tid({ hostIface: 'eth0' }), b, ifaces));
  assert.ok(!controllerMatchesTid(tid({ hostIface: 'eth1' }), b, ifaces));
  // C. existing host_iface only: host-traddr must be the interface's primary address of that family.
  const c = ctrl({ hostIface: 'eth0' });
  assert.ok(controllerMatchesTid(tid({ hostIface: 'eth0' }), c, ifaces));
  assert.ok(!controllerMatchesTid(tid({ hostIface: 'eth1' }), c, ifaces));
  assert.ok(controllerMatchesTid(tid({ hostTraddr: '10.0.0.2' }), c, ifaces));
  assert.ok(!controllerMatchesTid(tid({ hostTraddr: '10.0.0.3' }), c, ifaces));
  assert.ok(!controllerMatchesTid(tid({ hostTraddr: '10.0.0.2' }), ctrl({ hostIface: 'eth9' }), ifaces));
  // D. both known.
  const d = ctrl({ hostIface: 'eth0', hostTraddr: '10.0.0.3' });
  assert.ok(controllerMatchesTid(tid({ hostIface: 'eth0', hostTraddr: '10.0.0.3' }), d, ifaces));
  assert.ok(!controllerMatchesTid(tid({ hostIface: 'eth1' }), d, ifaces));
  assert.ok(!controllerMatchesTid(tid({ hostTraddr: '10.0.0.2' }), d, ifaces));
});

test('fc compares host-traddr case-insensitively; rdma compares it as an IP when named', () => {
  const fcTid = Tid.from(
    { transport: 'fc', traddr: 'nn-0xAA:pn-0xBB', subsysnqn: 'nqn.sub', hostTraddr: 'nn-0xCC:pn-0xDD' },
    { defaultHostNqn: HOST },
  );
  const fc = ctrl({ transport: 'fc', trsvcid: '', traddr: 'nn-0xaa:pn-0xbb', hostTraddr: 'nn-0xcc:pn-0xdd' });
  assert.ok(controllerMatchesTid(fcTid, fc, ifaces));
  assert.ok(!controllerMatchesTid(fcTid, { ...fc, hostTraddr: 'nn-0xee:pn-0xff' }, ifaces));
  const rd = ctrl({ transport: 'rdma', hostTraddr: '10.0.0.2' });
  assert.ok(controllerMatchesTid(tid({ transport: 'rdma' }), rd, ifaces));
  assert.ok(controllerMatchesTid(tid({ transport: 'rdma', hostTraddr: '::ffff:10.0.0.2' }), rd, ifaces));
  assert.ok(!controllerMatchesTid(tid({ transport: 'rdma', hostTraddr: '10.0.0.3' }), rd, ifaces));
  const loopTid = Tid.from({ transport: 'loop', traddr: '', subsysnqn: 'nqn.sub' }, { defaultHostNqn: HOST });
  assert.ok(controllerMatchesTid(loopTid, ctrl({ transport: 'loop', traddr: '', trsvcid: '' }), ifaces));
});
