import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AEN_DISCOVERY_LOG_CHANGE, nvmeEvent, nvmeEventOf, parseUevent } from '../../src/core/uevent.js';

const dgram = (head: string, props: Record<string, string>) =>
  Buffer.from(
    `${head}\0${Object.entries(props)
      .map(([k, v]) => `${k}=${v}\0`)
      .join('')}`,
  );

test('parses kernel uevent datagrams', () => {
  const u = parseUevent(
    dgram('add@/devices/virtual/nvme-fabrics/ctl/nvme3', {
      ACTION: 'add',
      DEVPATH: '/devices/virtual/nvme-fabrics/ctl/nvme3',
      SUBSYSTEM: 'nvme',
      DEVNAME: 'nvme3',
      NVME_TRTYPE: 'tcp',
      SEQNUM: '1234',
    }),
  );
  assert.deepEqual(u?.action, 'add');
  assert.equal(u?.devpath, '/devices/virtual/nvme-fabrics/ctl/nvme3');
  assert.equal(u?.props['NVME_TRTYPE'], 'tcp');
  // Header only: action and path still known.
  assert.deepEqual(parseUevent(Buffer.from('remove@/devices/x\0')), {
    action: 'remove',
    devpath: '/devices/x',
    props: {},
  });
  for (const bad of ['', '\0\0', 'libudev\0xxxx', 'no-at-sign\0A=B', '@/x\0'])
    assert.equal(parseUevent(Buffer.from(bad)), null, JSON.stringify(bad));
});

test('classifies nvme controller events: add, remove, AEN, NVME_EVENT, other changes', () => {
  const base = { SUBSYSTEM: 'nvme', DEVNAME: 'nvme3', DEVPATH: '/devices/virtual/nvme-fabrics/ctl/nvme3' };
  const ev = (action: string, extra: Record<string, string> = {}) =>
    nvmeEvent(parseUevent(dgram(`${action}@${base.DEVPATH}`, { ACTION: action, ...base, ...extra }))!);
  assert.deepEqual(ev('add'), { kind: 'add', device: 'nvme3' });
  assert.deepEqual(ev('remove'), { kind: 'remove', device: 'nvme3' });
  assert.deepEqual(ev('change', { NVME_AEN: '0x70f002' }), {
    kind: 'aen',
    device: 'nvme3',
    aen: AEN_DISCOVERY_LOG_CHANGE,
  });
  assert.deepEqual(ev('change', { NVME_EVENT: 'rediscover' }), {
    kind: 'event',
    device: 'nvme3',
    event: 'rediscover',
  });
  assert.deepEqual(ev('change', { NVME_EVENT: 'connected' }), {
    kind: 'event',
    device: 'nvme3',
    event: 'connected',
  });
  assert.deepEqual(ev('change', { NVME_AEN: 'garbage' }), { kind: 'change', device: 'nvme3' });
  assert.equal(ev('bind'), null);
  // Not a controller: subsystems, namespaces, other classes.
  assert.equal(
    nvmeEvent(
      parseUevent(
        dgram('add@/devices/virtual/nvme-subsystem/nvme-subsys0', {
          ACTION: 'add',
          SUBSYSTEM: 'nvme-subsystem',
        }),
      )!,
    ),
    null,
  );
  assert.equal(
    nvmeEvent(
      parseUevent(dgram('add@/devices/x/nvme0n1', { ACTION: 'add', SUBSYSTEM: 'nvme', DEVNAME: 'nvme0n1' }))!,
    ),
    null,
  );
  assert.equal(
    nvmeEvent(parseUevent(dgram('change@/devices/virtual/net/lo', { ACTION: 'change', SUBSYSTEM: 'net' }))!),
    null,
  );
  // DEVNAME missing: taken from the path.
  assert.deepEqual(
    nvmeEvent(
      parseUevent(
        dgram('remove@/devices/virtual/nvme-fabrics/ctl/nvme7', { ACTION: 'remove', SUBSYSTEM: 'nvme' }),
      )!,
    ),
    { kind: 'remove', device: 'nvme7' },
  );
});

test('nvmeEventOf: classifies raw datagrams, skipping other subsystems without decoding them', () => {
  const path = '/devices/virtual/nvme-fabrics/ctl/nvme3';
  const props = {
    ACTION: 'change',
    DEVPATH: path,
    SUBSYSTEM: 'nvme',
    DEVNAME: 'nvme3',
    NVME_AEN: '0x70f002',
  };
  assert.deepEqual(nvmeEventOf(dgram(`change@${path}`, props)), {
    kind: 'aen',
    device: 'nvme3',
    aen: AEN_DISCOVERY_LOG_CHANGE,
  });
  // Same answer as parse + classify, also with SUBSYSTEM last and no final NUL.
  const last = Buffer.from(`add@${path}\0ACTION=add\0DEVNAME=nvme3\0SUBSYSTEM=nvme`);
  assert.deepEqual(nvmeEventOf(last), { kind: 'add', device: 'nvme3' });
  // A value that merely starts with nvme, or the name in another property, is not the nvme subsystem.
  for (const other of [
    dgram('add@/devices/virtual/nvme-subsystem/nvme-subsys0', { ACTION: 'add', SUBSYSTEM: 'nvme-subsystem' }),
    dgram(`add@${path}`, { ACTION: 'add', SUBSYSTEM: 'block', DEVNAME: 'nvme3', X: 'SUBSYSTEM=nvme' }),
    dgram('change@/devices/virtual/net/lo', { ACTION: 'change', SUBSYSTEM: 'net' }),
    Buffer.alloc(0),
  ])
    assert.equal(nvmeEventOf(other), null);
  // A view into a larger buffer (as the addon may pass) is read within its bounds only.
  const big = Buffer.concat([
    Buffer.from('junk\0SUBSYSTEM=nvme\0'),
    dgram('change@/x', { SUBSYSTEM: 'net' }),
  ]);
  assert.equal(nvmeEventOf(big.subarray(20)), null);
});

test('nvmeEventOf agrees with parseUevent + nvmeEvent', () => {
  const path = '/devices/virtual/nvme-fabrics/ctl/nvme12';
  const cases = [
    dgram(`add@${path}`, {
      ACTION: 'add',
      DEVPATH: path,
      SUBSYSTEM: 'nvme',
      DEVNAME: 'nvme12',
      NVME_TRTYPE: 'tcp',
    }),
    dgram(`remove@${path}`, { ACTION: 'remove', SUBSYSTEM: 'nvme' }),
    dgram(`change@${path}`, {
      ACTION: 'change',
      SUBSYSTEM: 'nvme',
      DEVNAME: 'nvme12',
      NVME_EVENT: 'connected',
    }),
    dgram(`change@${path}`, { ACTION: 'change', SUBSYSTEM: 'nvme', DEVNAME: 'nvme12', NVME_AEN: '0x70f002' }),
    dgram(`change@${path}`, { ACTION: 'change', SUBSYSTEM: 'nvme', DEVNAME: 'nvme12', NVME_AEN: 'zz' }),
    dgram(`change@${path}`, { ACTION: 'change', SUBSYSTEM: 'nvme', DEVNAME: '/dev/nvme12' }),
    dgram('add@/devices/x/nvme0n1', { ACTION: 'add', SUBSYSTEM: 'nvme', DEVNAME: 'nvme0n1' }),
    dgram(`bind@${path}`, { ACTION: 'bind', SUBSYSTEM: 'nvme' }),
    dgram('libudev', { SUBSYSTEM: 'nvme', ACTION: 'add', DEVNAME: 'nvme1' }),
    dgram('@/x', { SUBSYSTEM: 'nvme', ACTION: 'add', DEVNAME: 'nvme1' }),
    dgram(`add@${path}`, { SUBSYSTEM: 'nvme' }),
  ];
  for (const d of cases) {
    const u = parseUevent(d);
    assert.deepEqual(nvmeEventOf(d), u && nvmeEvent(u), d.toString('latin1'));
  }
  assert.deepEqual(nvmeEventOf(new Uint8Array(cases[0]!)), { kind: 'add', device: 'nvme12' });
});
