import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CONNECT_OPTIONS,
  findOption,
  findSection,
  STACD_SCHEMA,
  STAFD_SCHEMA,
  SYS_SCHEMA,
} from '../../src/core/config/schema.js';
import { convertValue } from '../../src/core/config/values.js';

const schemas = [STAFD_SCHEMA, STACD_SCHEMA, SYS_SCHEMA];

test('every default converts with its own checker, every option is documented', () => {
  for (const schema of schemas)
    for (const section of schema.sections) {
      assert.ok(section.doc.length > 0);
      for (const o of section.options) {
        assert.ok(o.doc.length > 10, `${section.name}/${o.key}`);
        if (o.default === null || o.type === 'controller' || o.type === 'exclude') continue;
        const c = convertValue({ ...o, type: o.type }, o.default);
        assert.ok(c.ok && c.value !== undefined, `${schema.file} [${section.name}] ${o.key}`);
      }
    }
});

test('option tables match the man pages', () => {
  const keys = (schema: typeof STAFD_SCHEMA, section: string) =>
    findSection(schema, section)!.options.map((o) => o.key);
  assert.deepEqual(keys(STAFD_SCHEMA, 'Global'), [
    'tron',
    'hdr-digest',
    'data-digest',
    'kato',
    'queue-size',
    'reconnect-delay',
    'ctrl-loss-tmo',
    'disable-sqflow',
    'ignore-iface',
    'ip-family',
    'pleo',
    'persistent-connections',
  ]);
  assert.deepEqual(keys(STACD_SCHEMA, 'I/O controller connection management'), [
    'disconnect-scope',
    'disconnect-trtypes',
    'connect-attempts-on-ncc',
  ]);
  assert.deepEqual(keys(SYS_SCHEMA, 'Host'), ['nqn', 'id', 'key', 'symname']);
  assert.equal(findOption(STAFD_SCHEMA, 'Global', 'kato')!.default, '30');
  assert.equal(findOption(STACD_SCHEMA, 'Global', 'kato')!.default, '120');
  assert.equal(findOption(STACD_SCHEMA, 'Global', 'udev-rule')!.default, 'disabled');
  assert.equal(
    findOption(STAFD_SCHEMA, 'Discovery controller connection management', 'persistent-connections')!.default,
    'true',
  );
  assert.equal(findOption(SYS_SCHEMA, 'Host', 'key')!.secret, true);
  assert.equal(findOption(STAFD_SCHEMA, 'Global', 'nr-io-queues'), undefined);
  assert.equal(findOption(STAFD_SCHEMA, 'Nope', 'x'), undefined);
  assert.ok(findOption(STACD_SCHEMA, 'Controllers', 'controller')!.multi);
});

test('[Global] connect options of both daemons are in CONNECT_OPTIONS with the same checker', () => {
  for (const schema of [STAFD_SCHEMA, STACD_SCHEMA]) {
    for (const { key, spec } of CONNECT_OPTIONS) {
      const o = findOption(schema, 'Global', key);
      if (!o) continue;
      assert.equal(o.type, spec.type, key);
      assert.deepEqual(o.range, spec.range, key);
    }
  }
});
