import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkAddress,
  checkDhchapSecret,
  checkHostId,
  checkInteger,
  checkInterface,
  checkNqn,
  checkPlainValue,
  checkServiceId,
  checkTransport,
  OptionValueError,
} from '../../src/core/kernel-options.js';

const rejects = (fn: () => void, re: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof OptionValueError && re.test(e.message));

test('hostile values cannot inject kernel options', () => {
  rejects(() => checkAddress('traddr', 'tcp', '127.0.0.1,hostnqn=evil'), /contains ','/);
  rejects(() => checkNqn('nqn', 'nqn.2024-01.io:a\nhostnqn=evil'), /control, blank or non-ASCII/);
  rejects(() => checkNqn('nqn', 'nqn.2024-01.io:a,discovery'), /contains ','/);
  rejects(() => checkNqn('nqn', 'nqn.2024-01.io:a=b'), /contains '='/);
  rejects(() => checkPlainValue('host_iface', 'eth0\r'), /offset 4/);
  rejects(() => checkPlainValue('traddr', 'a\u0000b'), /offset 1/);
  rejects(() => checkPlainValue('traddr', 'caf\u00e9'), /non-ASCII/);
  rejects(() => checkPlainValue('traddr', ' 1.2.3.4'), /offset 0/);
  rejects(() => checkPlainValue('traddr', ''), /empty value/);
  checkPlainValue('traddr', 'fe80::1%eth0');
});

test('NQNs: nqn. prefix and at most 223 bytes', () => {
  checkNqn('nqn', 'nqn.2014-08.org.nvmexpress.discovery');
  checkNqn('nqn', `nqn.${'a'.repeat(219)}`);
  rejects(() => checkNqn('nqn', `nqn.${'a'.repeat(220)}`), /224 bytes long \(max 223\)/);
  rejects(() => checkNqn('hostnqn', 'iqn.2001-04.com.example'), /does not start with "nqn."/);
});

test('transports: fabrics only', () => {
  for (const t of ['tcp', 'rdma', 'fc', 'loop']) checkTransport('transport', t);
  rejects(() => checkTransport('transport', 'pcie'), /unsupported transport "pcie"/);
});

test('addresses: IP literals for tcp/rdma, nn/pn pairs for fc', () => {
  checkAddress('traddr', 'tcp', '192.168.0.1');
  checkAddress('traddr', 'rdma', '2001:db8::1');
  checkAddress('traddr', 'tcp', 'fe80::1%eth0');
  rejects(() => checkAddress('traddr', 'tcp', 'storage.example.com'), /not an IP address/);
  checkAddress('traddr', 'fc', 'nn-0x204600a098cbcac6:pn-0x204700a098cbcac6');
  rejects(() => checkAddress('traddr', 'fc', 'nn-0x2046:pn-0x2047'), /not an FC address/);
  checkAddress('traddr', 'loop', 'anything');
});

test('service ids: ports 1..65535 for IP transports', () => {
  checkServiceId('trsvcid', 'tcp', '4420');
  checkServiceId('trsvcid', 'tcp', '65535');
  for (const bad of ['0', '65536', '44a', '-1', '123456'])
    rejects(() => checkServiceId('trsvcid', 'tcp', bad), /not a port/);
  checkServiceId('trsvcid', 'fc', 'none');
});

test('interface names', () => {
  for (const ok of ['eth0', 'enp0s8', 'enx78e7d1ea46da', 'br-lan.100', 'lo'])
    checkInterface('host_iface', ok);
  for (const bad of ['a/b', '..', 'averyveryverylongname0'])
    rejects(() => checkInterface('host_iface', bad), /not a valid interface/);
});

test('host ids are UUIDs', () => {
  checkHostId('hostid', '5e3e0dbe-3c2d-4f1a-9f0e-1a2b3c4d5e6f');
  rejects(() => checkHostId('hostid', 'not-a-uuid'), /not a UUID/);
});

test('DH-HMAC-CHAP secrets: format checked, never echoed, "=" padding allowed', () => {
  const s48 = `DHHC-1:02:${'A'.repeat(70)}==:`;
  checkDhchapSecret('dhchap_secret', s48);
  checkDhchapSecret('dhchap_ctrl_secret', `DHHC-1:00:${'b'.repeat(48)}:`);
  const secret = 'DHHC-1:05:c2VjcmV0:';
  assert.throws(
    () => checkDhchapSecret('dhchap_secret', secret),
    (e: unknown) => e instanceof Error && !e.message.includes('c2VjcmV0') && /redacted/.test(e.message),
  );
  assert.throws(
    () => checkDhchapSecret('dhchap_secret', 'DHHC-1:00:abc,def:'),
    (e: unknown) => e instanceof Error && !e.message.includes('abc') && /redacted/.test(e.message),
  );
});

test('integers within bounds', () => {
  checkInteger('queue_size', 128, 16, 1024);
  rejects(() => checkInteger('queue_size', 8, 16, 1024), /8 is not an integer within 16..1024/);
  rejects(() => checkInteger('kato', 1.5, 0, 65535), /1.5/);
  rejects(() => checkInteger('kato', Number.NaN, 0, 65535), /NaN/);
});
