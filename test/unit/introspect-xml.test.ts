// The in-house replacement of xml2js in the bundle (src/adapters/dbus/introspect-xml.ts) against xml2js itself:
// the same bytes for every document dbus-next builds of stafd's and stacd's objects, the same escaping.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import dbus, { type MessageBus } from 'dbus-next/index.js';
import { type ObjectSpec, STACD_OBJECT, STAFD_OBJECT } from '../../src/adapters/dbus/idl.js';
import { Builder, PARSE_REFUSED, Parser } from '../../src/adapters/dbus/introspect-xml.js';
import { exportObject, type ObjectImpl } from '../../src/adapters/dbus/service.js';

const require = createRequire(import.meta.url);
const xml2js = require('xml2js') as { Builder: new (o: object) => { buildObject(o: unknown): string } };
/** dbus-next's MessageBus class (the module behind dbus.sessionBus()), to build a bus on a fake connection. */
const MessageBusClass = require('dbus-next/lib/bus.js') as new (conn: EventEmitter) => MessageBus;

interface IntrospectingBus {
  _builder: { buildObject(o: unknown): string };
  _introspect(path: string): string;
}

const reference = (obj: unknown) => new xml2js.Builder({ headless: true }).buildObject(obj);
const ours = (obj: unknown) => new Builder({ headless: true }).buildObject(obj);

/** A dbus-next bus that sends nowhere (a connection that never answers), the name requests granted. */
function offlineBus(): MessageBus & IntrospectingBus {
  const conn = Object.assign(new EventEmitter(), { message() {} });
  const bus = new MessageBusClass(conn) as MessageBus & IntrospectingBus;
  Object.assign(bus, {
    requestName: async () => dbus.RequestNameReply.PRIMARY_OWNER,
    releaseName: async () => 0,
  });
  return bus;
}

/** An implementation of any object: every property reads as '' (never read here), every method returns ''. */
function anyImpl<O extends ObjectSpec>(): ObjectImpl<O> {
  const member = () => ({ get: () => '', set: () => {} });
  return new Proxy({}, { get: () => new Proxy({}, { get: member }) }) as ObjectImpl<O>;
}

/** dbus-next's Introspect reply for `path`, built by xml2js and by ours. */
function bothReplies(bus: IntrospectingBus, path: string): [string, string] {
  bus._builder = new xml2js.Builder({ headless: true });
  const theirs = bus._introspect(path);
  bus._builder = new Builder({ headless: true });
  return [bus._introspect(path), theirs];
}

test('the Introspect replies dbus-next builds of stafd and stacd are byte-identical to xml2js', async () => {
  const bus = offlineBus();
  const staf = await exportObject(bus, STAFD_OBJECT, anyImpl<typeof STAFD_OBJECT>());
  const stac = await exportObject(bus, STACD_OBJECT, anyImpl<typeof STACD_OBJECT>());
  // A dbus-next interface with every kind of member: methods (in/out, NoReply annotation), properties, signals.
  class Full extends dbus.interface.Interface {}
  Full.configureMembers({
    properties: { Count: { signature: 'u', access: 'read' }, Name: { signature: 's', access: 'readwrite' } },
    methods: {
      Echo: { inSignature: 'sa{sv}', outSignature: 's' },
      Fire: { inSignature: 'u', outSignature: '', noReply: true },
      Nothing: {},
    },
    signals: { Changed: { signature: 'as(ii)' }, Bare: { signature: '' } },
  });
  Object.assign(Full.prototype, { Echo: () => '', Fire: () => {}, Nothing: () => {}, Changed: () => [] });
  bus.export('/org/nvmexpress/test/full', new Full('org.nvmexpress.test.Full'));

  for (const path of [
    '/',
    '/org',
    '/org/nvmexpress',
    STAFD_OBJECT.path,
    STACD_OBJECT.path,
    '/org/nvmexpress/test',
    '/org/nvmexpress/test/full',
    '/nothing/here',
  ]) {
    const [mine, theirs] = bothReplies(bus, path);
    assert.equal(mine, theirs, path);
  }
  // The replies are the documents a reader expects (not two equally wrong strings).
  const [root] = bothReplies(bus, '/org/nvmexpress');
  assert.match(
    root,
    /^<!DOCTYPE node [^\n]*>\n<node>\n {2}<node name="staf"\/>\n {2}<node name="stac"\/>\n {2}<node name="test"\/>\n<\/node>$/,
  );
  const [staf1] = bothReplies(bus, STAFD_OBJECT.path);
  assert.match(
    staf1,
    /\n {2}<interface name="org\.nvmexpress\.staf">\n {4}<signal name="log_pages_changed">\n {6}<arg type="s"\/>/,
  );
  const [full] = bothReplies(bus, '/org/nvmexpress/test/full');
  assert.match(full, /<annotation name="org\.freedesktop\.DBus\.Method\.NoReply" value="true"\/>/);
  assert.match(full, /<method name="Nothing"\/>/);
  await staf.close();
  await stac.close();
});

test('escaping, text and shapes as xml2js writes them', () => {
  const cases: unknown[] = [
    { node: { $: { name: 'a&b<c>d"e\nf\tg\rh\'i' } } },
    { node: { $: { name: 'x' }, _: 'text & <more> \r here' } },
    { node: 'just text' },
    { node: '' },
    { node: {} },
    { node: { node: [] } },
    { node: { $: { n: 5, b: true } } },
    { node: { a: 'one', b: ['two', '', { $: { k: 'v' } }], c: 3, d: null, e: { f: { g: 'deep' } } } },
    { node: { $: { name: 'first' }, _: 'mixed', child: [{ $: { name: 'c' } }] } },
    { a: 1, b: 2 },
    { node: { interface: [{ $: { name: 'i' }, method: [{ $: { name: 'm' }, arg: [], annotation: [] }] }] } },
    { node: [{ a: 'x' }, { b: { $: { y: '1' } } }] },
    { node: { $: { name: 'caf\u00e9 \u{1F600}' }, _: '\u00fcber \u{1F600}' } },
  ];
  for (const c of cases) assert.equal(ours(c), reference(c), JSON.stringify(c));
  assert.equal(ours({ node: { $: { name: 'a&b<c>d"e\nf' } } }), '<node name="a&amp;b&lt;c>d&quot;e&#xA;f"/>');
  assert.equal(ours({ node: { _: 'a & b < c > d' } }), '<node>a &amp; b &lt; c &gt; d</node>');
});

test('what XML cannot carry is refused (as xml2js refuses it), not written', () => {
  for (const bad of ['\u0001', 'a\u0000b', '\uFFFF', '\uD800x']) {
    assert.throws(() => reference({ node: { $: { name: bad } } }));
    assert.throws(() => ours({ node: { $: { name: bad } } }), /cannot be written in XML 1\.0/);
    assert.throws(() => ours({ node: { _: bad } }), /cannot be written in XML 1\.0/);
  }
  assert.throws(() => ours({ 'no<name': {} }), /not an XML name/);
  assert.throws(() => ours({ node: { $: { name: undefined } } }), /attribute without a value/);
  assert.throws(() => new Builder({ headless: false }), /headless/);
});

test('the Parser refuses to parse, loudly', async () => {
  let got: unknown;
  new Parser().parseString('<node/>', (err, result) => {
    got = err;
    assert.equal(result, undefined);
  });
  assert.ok(got instanceof Error);
  assert.equal(got.message, PARSE_REFUSED);
  assert.match(PARSE_REFUSED, /stas does not parse introspection XML/);
  await assert.rejects(new Parser().parseStringPromise('<node/>'), { message: PARSE_REFUSED });
});
