// The Introspect reply of a parent node (/, /org, /org/nvmexpress: what busctl tree walks) against the one
// dbus-next wrote with xml2js (both devDependencies here): the same bytes, so nothing changes for a reader.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import dbus, { type MessageBus } from 'dbus-next/index.js';
import { childNodesXml, STACD_OBJECT, STAFD_OBJECT } from '../../src/adapters/dbus/idl.js';

const require = createRequire(import.meta.url);
/** dbus-next's MessageBus class, to build a bus on a connection that sends nowhere. */
const MessageBusClass = require('dbus-next/lib/bus.js') as new (
  conn: EventEmitter,
) => MessageBus & {
  _introspect(path: string): string;
};

test('parent nodes introspect as the same bytes dbus-next wrote', () => {
  const bus = new MessageBusClass(Object.assign(new EventEmitter(), { message() {} }));
  const paths = [STAFD_OBJECT.path, STACD_OBJECT.path, '/org/nvmexpress/test/full', '/other/deep/x'];
  class Empty extends dbus.interface.Interface {}
  for (const p of paths) bus.export(p, new Empty('org.nvmexpress.test.Empty'));
  for (const path of [
    '/',
    '/org',
    '/org/nvmexpress',
    '/org/nvmexpress/test',
    '/other',
    '/other/deep',
    '/nothing/here',
  ]) {
    assert.equal(childNodesXml(path, paths), bus._introspect(path), path);
  }
  // The documents a reader expects (not two equally wrong strings).
  assert.match(
    childNodesXml('/org/nvmexpress', paths),
    /^<!DOCTYPE node [^\n]*>\n<node>\n {2}<node name="staf"\/>\n {2}<node name="stac"\/>\n {2}<node name="test"\/>\n<\/node>$/,
  );
  assert.match(childNodesXml('/nothing', paths), /\n<node\/>$/);
  // Each child once, in the order the objects were exported.
  assert.match(
    childNodesXml('/', [...paths, '/org/x']),
    /<node name="org"\/>\n {2}<node name="other"\/>\n<\/node>$/,
  );
});
