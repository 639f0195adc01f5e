import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineSplitter, SaslClient } from '../../src/core/dbus/auth.js';
import { DBusWireError } from '../../src/core/dbus/errors.js';

const GUID = '0123456789abcdef0123456789abcdef';
const hex = (s: string) => Buffer.from(s, 'latin1').toString('hex');

test('EXTERNAL: AUTH with the hex of the decimal uid, OK → BEGIN', () => {
  const c = new SaslClient({ uid: 1000 });
  assert.equal(c.start(), '\0AUTH EXTERNAL 31303030\r\n');
  assert.deepEqual(c.receive(`OK ${GUID}`), { kind: 'ok', guid: GUID, data: 'BEGIN\r\n' });
  assert.equal(c.receive(`OK ${GUID}`).kind, 'fail', 'nothing after the end');
  assert.equal(new SaslClient({ uid: 0 }).start(), '\0AUTH EXTERNAL 30\r\n');
});

test('REJECTED → the next mechanism the server lists; cookie flow with the SHA-1 answer', () => {
  const c = new SaslClient({ uid: 1000 });
  c.start();
  assert.deepEqual(c.receive('REJECTED DBUS_COOKIE_SHA1 ANONYMOUS'), {
    kind: 'send',
    data: 'AUTH DBUS_COOKIE_SHA1 31303030\r\n',
  });
  assert.deepEqual(c.receive(`DATA ${hex('org_freedesktop_general 1 abcdef0123')}`), {
    kind: 'cookie',
    context: 'org_freedesktop_general',
    id: '1',
    serverChallenge: 'abcdef0123',
  });
  assert.throws(() => c.cookieAnswer('c0ffee', 'not-a-sha1'), DBusWireError);
  // sha1("abcdef0123:c0ffee:cookievalue")
  const sha1 = 'a3960b9fca10db38b6dfe3e359848bc1258bbcb8';
  assert.equal(c.cookieAnswer('c0ffee', sha1), `DATA ${hex(`c0ffee ${sha1}`)}\r\n`);
  assert.throws(() => c.cookieAnswer('c0ffee', sha1), DBusWireError, 'once');
  assert.deepEqual(c.receive(`OK ${GUID}`), { kind: 'ok', guid: GUID, data: 'BEGIN\r\n' });
});

test('the server order does not matter; mechanisms already tried or not ours are skipped', () => {
  const c = new SaslClient({ uid: 5, mechanisms: ['EXTERNAL', 'ANONYMOUS'] });
  c.start();
  assert.deepEqual(c.receive('REJECTED KERBEROS_V4 ANONYMOUS EXTERNAL DBUS_COOKIE_SHA1'), {
    kind: 'send',
    data: `AUTH ANONYMOUS ${hex('stas')}\r\n`,
  });
  const r = c.receive('REJECTED EXTERNAL ANONYMOUS');
  assert.equal(r.kind, 'fail');
});

test('all rejected → fail', () => {
  const c = new SaslClient({ uid: 1000, mechanisms: ['EXTERNAL'] });
  c.start();
  const r = c.receive('REJECTED EXTERNAL');
  assert.equal(r.kind, 'fail');
  assert.match((r as { reason: string }).reason, /rejected/);
  const d = new SaslClient({ uid: 1000 });
  d.start();
  assert.equal(d.receive('REJECTED').kind, 'fail');
});

test('ERROR or an unexpected DATA → CANCEL, then REJECTED moves on', () => {
  const c = new SaslClient({ uid: 1 });
  c.start();
  assert.deepEqual(c.receive('ERROR "what"'), { kind: 'send', data: 'CANCEL\r\n' });
  assert.deepEqual(c.receive('REJECTED EXTERNAL ANONYMOUS'), {
    kind: 'send',
    data: `AUTH ANONYMOUS ${hex('stas')}\r\n`,
  });
  assert.deepEqual(c.receive('DATA'), { kind: 'send', data: 'CANCEL\r\n' });
  assert.equal(c.receive(`OK ${GUID}`).kind, 'fail', 'only REJECTED after CANCEL');
});

test('bad cookie challenges are cancelled; the adapter can cancel a cookie it cannot read', () => {
  for (const data of [
    'zz',
    hex('../etc 1 abc'),
    hex('ctx x abc'),
    hex('ctx 1'),
    hex('a.b 1 abc'),
    hex('c 1 a b'),
  ]) {
    const c = new SaslClient({ uid: 1, mechanisms: ['DBUS_COOKIE_SHA1', 'EXTERNAL'] });
    assert.equal(c.start(), '\0AUTH DBUS_COOKIE_SHA1 31\r\n');
    assert.deepEqual(c.receive(`DATA ${data}`), { kind: 'send', data: 'CANCEL\r\n' }, data);
    assert.deepEqual(c.receive('REJECTED EXTERNAL'), { kind: 'send', data: 'AUTH EXTERNAL 31\r\n' });
  }
  const c = new SaslClient({ uid: 1, mechanisms: ['DBUS_COOKIE_SHA1'] });
  c.start();
  assert.equal(c.receive(`DATA ${hex('ctx 7 abc')}`).kind, 'cookie');
  assert.equal(c.cancelCookie(), 'CANCEL\r\n');
  assert.equal(c.receive('REJECTED DBUS_COOKIE_SHA1').kind, 'fail');
  const d = new SaslClient({ uid: 1, mechanisms: ['DBUS_COOKIE_SHA1'] });
  d.start();
  d.receive(`DATA ${hex('ctx 7 abc')}`);
  assert.equal(d.receive(`OK ${GUID}`).kind, 'fail', 'a line before the cookie answer');
});

test('bad input: junk lines, a bad GUID, misuse', () => {
  const c = new SaslClient({ uid: 1 });
  c.start();
  assert.equal(c.receive('HELLO').kind, 'fail');
  const d = new SaslClient({ uid: 1 });
  d.start();
  assert.equal(d.receive('OK nothex').kind, 'fail');
  assert.throws(() => d.start(), DBusWireError);
  assert.equal(new SaslClient({ uid: 1 }).receive(`OK ${GUID}`).kind, 'fail');
  assert.throws(() => new SaslClient({ uid: -1 }), DBusWireError);
  assert.throws(() => new SaslClient({ uid: 1, mechanisms: [] }), DBusWireError);
  assert.throws(() => new SaslClient({ uid: 1, mechanisms: ['PLAIN'] }), DBusWireError);
});

test('LineSplitter: CRLF lines across chunks, bounded length', () => {
  const s = new LineSplitter();
  assert.deepEqual(s.push(Buffer.from('OK 12')), { lines: [], rest: Buffer.from('OK 12') });
  assert.deepEqual(s.push(Buffer.from('34\r')).lines, []);
  assert.deepEqual(s.push(Buffer.from('\nREJECTED A\r\nDA')), {
    lines: ['OK 1234', 'REJECTED A'],
    rest: Buffer.from('DA'),
  });
  assert.deepEqual(s.push(Buffer.from('TA\r\n')), { lines: ['DATA'], rest: Buffer.alloc(0) });
  assert.deepEqual(new LineSplitter().push(Buffer.from('\r\n\r\n')).lines, ['', '']);
  const long = new LineSplitter();
  long.push(Buffer.alloc(16384, 0x41));
  assert.throws(() => long.push(Buffer.from('AA')), DBusWireError);
  assert.throws(() => new LineSplitter().push(Buffer.from('A'.repeat(16385) + '\r\n')), DBusWireError);
  assert.deepEqual(new LineSplitter().push(Buffer.from('A'.repeat(16384) + '\r\n')).lines.length, 1);
});
