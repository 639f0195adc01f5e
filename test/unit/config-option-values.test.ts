// Unit tests of the typed option accessors: each value is read as its schema type says, and only as that.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DiagnosticSink } from '../../src/core/config/diagnostics.js';
import { parseIni } from '../../src/core/config/ini.js';
import { DISCONNECT_SCOPES, DISCONNECT_TRTYPES, STACD_SCHEMA } from '../../src/core/config/schema.js';
import { readOptions } from '../../src/core/config/service-config.js';

const IOCCM = 'I/O controller connection management';

function read(text: string) {
  const sink = new DiagnosticSink('stacd.conf');
  return readOptions(parseIni(text, sink), STACD_SCHEMA, 'stacd', sink).values;
}

test('typed accessors return the converted values and defaults', () => {
  const v = read(
    `[Global]\ntron=true\nkato=12\nip-family=ipv6\n[${IOCCM}]\ndisconnect-trtypes=rdma+tcp\nconnect-attempts-on-ncc=5\n`,
  );
  assert.equal(v.bool('Global', 'tron'), true);
  assert.equal(v.bool('Global', 'udev-rule'), false, 'enabled-disabled default (disabled)');
  assert.equal(v.int('Global', 'kato'), 12);
  assert.equal(v.int(IOCCM, 'connect-attempts-on-ncc'), 5);
  assert.deepEqual(v.ipFamily('Global', 'ip-family'), { ipv4: false, ipv6: true });
  assert.equal(v.choice(IOCCM, 'disconnect-scope', DISCONNECT_SCOPES), 'only-stas-connections');
  assert.deepEqual(v.list(IOCCM, 'disconnect-trtypes', DISCONNECT_TRTYPES), ['rdma', 'tcp']);
});

test('asking for another type than the schema gives, or for an unknown option, throws', () => {
  const v = read('');
  assert.throws(
    () => v.bool('Global', 'kato'),
    /option \[Global\] kato: the schema gives it no bool\/enabled-disabled value/,
  );
  assert.throws(() => v.int('Global', 'tron'), /no int\/timespan value/);
  assert.throws(() => v.string('Global', 'ip-family'), /no string value/);
  assert.throws(() => v.bool('Global', 'no-such-option'), /no-such-option/);
});
