// Unit tests of stafd's mDNS side that need no bus: the duplicate-address error is logged once, not per event.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { duplicateAddressReporter } from '../../src/daemons/stafd/zeroconf.js';

test('an address on several interfaces is logged once while it lasts, again after it went and came back', () => {
  const lines: string[] = [];
  const report = duplicateAddressReporter((level, message) => lines.push(`${level}: ${message}`));
  const a = { address: '192.168.1.10', ifname: 'eth0' };
  const b = { address: '192.168.1.10', ifname: 'eth1' };
  const c = { address: '192.168.1.10', ifname: 'eth2' };
  const other = { address: 'fe80::1%eth0', ifname: 'eth0' };

  report([a]);
  report([a, other]);
  assert.deepEqual(lines, [], 'no duplicate yet');

  report([a, other, b]);
  report([a, other, b]);
  report([b, a, other]);
  assert.deepEqual(lines, ['error: IP address 192.168.1.10 was found on multiple interfaces: eth0,eth1']);

  report([a, other, b, c]);
  assert.equal(lines.length, 2, 'a third interface changes the finding: logged again');
  assert.equal(lines[1], 'error: IP address 192.168.1.10 was found on multiple interfaces: eth0,eth1,eth2');

  report([a, other]);
  report([a, other, b]);
  assert.equal(lines.length, 3, 'gone, then back: logged again');
  assert.equal(lines[2], lines[0]);
});

test('each duplicated address is reported on its own', () => {
  const lines: string[] = [];
  const report = duplicateAddressReporter((_level, message) => lines.push(message));
  const v4 = [
    { address: '10.0.0.1', ifname: 'eth0' },
    { address: '10.0.0.1', ifname: 'eth1' },
  ];
  const v6 = [
    { address: 'fd00::1', ifname: 'eth0' },
    { address: 'fd00::1', ifname: 'eth1' },
  ];
  report(v4);
  report([...v4, ...v6]);
  report([...v6, ...v4]);
  assert.deepEqual(lines, [
    'IP address 10.0.0.1 was found on multiple interfaces: eth0,eth1',
    'IP address fd00::1 was found on multiple interfaces: eth0,eth1',
  ]);
});
