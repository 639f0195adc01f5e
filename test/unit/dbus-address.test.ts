// D-Bus server addresses: the forms a client connects to, escapes, lists, and clear errors for the rest.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBusAddress, parseBusAddress } from '../../src/core/dbus/address.js';

test('unix:path, unix:abstract and tcp parse; other keys (guid) are ignored', () => {
  assert.deepEqual(parseBusAddress('unix:path=/run/dbus/system_bus_socket'), [
    { transport: 'unix', path: '/run/dbus/system_bus_socket' },
  ]);
  assert.deepEqual(parseBusAddress('unix:abstract=/tmp/dbus-AbC,guid=0123456789abcdef0123456789abcdef'), [
    { transport: 'abstract', name: '/tmp/dbus-AbC' },
  ]);
  assert.deepEqual(parseBusAddress('tcp:host=127.0.0.1,port=4711,family=ipv4'), [
    { transport: 'tcp', host: '127.0.0.1', port: 4711, family: 4 },
  ]);
  assert.deepEqual(parseBusAddress('tcp:host=::1,port=1,family=ipv6'), [
    { transport: 'tcp', host: '::1', port: 1, family: 6 },
  ]);
  assert.deepEqual(parseBusAddress('tcp:port=65535'), [{ transport: 'tcp', host: 'localhost', port: 65535 }]);
});

test('percent-escapes are decoded as UTF-8 bytes', () => {
  assert.deepEqual(parseBusAddress('unix:path=/tmp/a%20b%2cc%3Bd%3de'), [
    { transport: 'unix', path: '/tmp/a b,c;d=e' },
  ]);
  assert.deepEqual(parseBusAddress('unix:path=/tmp/%c3%a9t%C3%A9'), [
    { transport: 'unix', path: '/tmp/été' },
  ]);
  for (const bad of ['unix:path=/tmp/%', 'unix:path=/tmp/%2', 'unix:path=/tmp/%zz']) {
    assert.throws(() => parseBusAddress(bad), /bad percent-escape/, bad);
  }
});

test('several addresses keep their order; unsupported transports are skipped when another is usable', () => {
  assert.deepEqual(parseBusAddress('unix:path=/a;tcp:host=h,port=2;unix:abstract=x;'), [
    { transport: 'unix', path: '/a' },
    { transport: 'tcp', host: 'h', port: 2 },
    { transport: 'abstract', name: 'x' },
  ]);
  assert.deepEqual(parseBusAddress('autolaunch:;unix:path=/a'), [{ transport: 'unix', path: '/a' }]);
  assert.deepEqual(parseBusAddress('unix:tmpdir=/tmp;unix:path=/a'), [{ transport: 'unix', path: '/a' }]);
});

test('anything else is an error naming the problem', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    [';', /empty/],
    ['unix', /transport:key=value/],
    [':path=/a', /transport:key=value/],
    ['unix:path', /is not key=value/],
    ['unix:=x', /is not key=value/],
    ['unix:path=/a,path=/b', /repeated/],
    ['unix:path=', /empty path/],
    ['unix:abstract=', /empty abstract/],
    ['unix:path=/a,abstract=b', /both path and abstract/],
    ['unix:', /needs path= or abstract=/],
    ['unix:tmpdir=/tmp', /needs path= or abstract=/],
    ['tcp:host=h', /no port/],
    ['tcp:host=h,port=0', /bad port/],
    ['tcp:host=h,port=65536', /bad port/],
    ['tcp:host=h,port=12x', /bad port/],
    ['tcp:host=,port=1', /empty host/],
    ['tcp:host=h,port=1,family=ipx', /bad family/],
    ['nonce-tcp:host=h,port=1', /transport "nonce-tcp" not supported/],
    ['unixexec:path=/bin/true;launchd:env=X', /"unixexec" not supported.*"launchd" not supported/],
  ];
  for (const [text, re] of cases) {
    assert.throws(
      () => parseBusAddress(text),
      (e: Error) => /^bad D-Bus address/.test(e.message) && re.test(e.message),
      text,
    );
  }
  // A syntax error anywhere spoils the whole list, even after a usable entry.
  assert.throws(() => parseBusAddress('unix:path=/a;tcp:port=x'), /bad port/);
});

test('formatBusAddress gives an address that parses back to the same', () => {
  for (const text of [
    'unix:path=/tmp/a%20b%2cc%3bd%3d%c3%a9',
    'unix:abstract=x/y',
    'tcp:host=::1,port=7,family=ipv6',
  ]) {
    const [a] = parseBusAddress(text);
    assert.ok(a);
    assert.deepEqual(parseBusAddress(formatBusAddress(a)), [a], text);
  }
  assert.equal(formatBusAddress({ transport: 'unix', path: '/a b' }), 'unix:path=/a%20b');
});
