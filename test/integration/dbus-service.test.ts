// Integration tests of the stafd/stacd D-Bus adapters on a private dbus-daemon: methods, IDL, signals, policy.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import dbus, { type MessageBus } from 'dbus-next/index.js';
import { stacClient, stafClient, watchName } from '../../src/adapters/dbus/clients.js';
import {
  eventsInterface,
  idlXml,
  interfaceXml,
  type ObjectSpec,
  STACD_DBUS_NAME,
  STACD_OBJECT,
  STACD_PLAN_INTERFACE,
  STAFD_DBUS_NAME,
  STAFD_OBJECT,
  type StacdObject,
  type StafdObject,
  signatureOf,
} from '../../src/adapters/dbus/idl.js';
import {
  type Awaitable,
  type DBusConnection,
  type ExportOptions,
  exportObject,
  type ObjectImpl,
  openSystemBus,
  type TidArgs,
} from '../../src/adapters/dbus/service.js';
import { DBusError, signal } from '../../src/core/dbus/message.js';
import { type DbusDaemon, haveDbusDaemon, startDbusDaemon } from '../support/dbus-daemon.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..', '..');
const POLICY_DIR = join(ROOT, 'etc', 'dbus-1', 'system.d');
const NOBODY = 65534;
const MY_UID = process.getuid?.();
const IS_ROOT = MY_UID === 0;

// nvme-stas' staslib/stafd.idl and stacd.idl with the bus names substituted: the compatibility surface.
const NVME_STAS_STAFD_IDL = `<node>
    <interface name="org.nvmexpress.staf.debug">
        <property name="tron" type="b" access="readwrite"/>
        <property name="log_level" type="s" access="read"/>
        <method name="process_info">
            <arg direction="out" type="s" name="info_json"/>
        </method>
        <method name="controller_info">
            <arg direction="in" type="s" name="transport"/>
            <arg direction="in" type="s" name="traddr"/>
            <arg direction="in" type="s" name="trsvcid"/>
            <arg direction="in" type="s" name="subsysnqn"/>
            <arg direction="in" type="s" name="host_traddr"/>
            <arg direction="in" type="s" name="host_iface"/>
            <arg direction="in" type="s" name="host_nqn"/>
            <arg direction="out" type="s" name="info_json"/>
        </method>
    </interface>

    <interface name="org.nvmexpress.staf">
        <method name="list_controllers">
            <arg direction="in" type="b" name="detailed"/>
            <arg direction="out" type="aa{ss}" name="controller_list"/>
        </method>
        <method name="get_log_pages">
            <arg direction="in" type="s" name="transport"/>
            <arg direction="in" type="s" name="traddr"/>
            <arg direction="in" type="s" name="trsvcid"/>
            <arg direction="in" type="s" name="subsysnqn"/>
            <arg direction="in" type="s" name="host_traddr"/>
            <arg direction="in" type="s" name="host_iface"/>
            <arg direction="in" type="s" name="host_nqn"/>
            <arg direction="out" type="aa{ss}" name="log_pages"/>
        </method>
        <method name="get_all_log_pages">
            <arg direction="in" type="b" name="detailed"/>
            <arg direction="out" type="s" name="log_pages_json"/>
        </method>
        <signal name="log_pages_changed">
          <arg direction="out" type="s" name="transport"/>
          <arg direction="out" type="s" name="traddr"/>
          <arg direction="out" type="s" name="trsvcid"/>
          <arg direction="out" type="s" name="subsysnqn"/>
          <arg direction="out" type="s" name="host_traddr"/>
          <arg direction="out" type="s" name="host_iface"/>
          <arg direction="out" type="s" name="host_nqn"/>
          <arg direction="out" type="s" name="device"/>
        </signal>
        <signal name="dc_removed"></signal>
    </interface>
</node>
`;

const NVME_STAS_STACD_IDL = `<node>
    <interface name="org.nvmexpress.stac.debug">
        <property name="tron" type="b" access="readwrite"/>
        <property name="log_level" type="s" access="read"/>
        <method name="process_info">
            <arg direction="out" type="s" name="info_json"/>
        </method>
        <method name="controller_info">
            <arg direction="in" type="s" name="transport"/>
            <arg direction="in" type="s" name="traddr"/>
            <arg direction="in" type="s" name="trsvcid"/>
            <arg direction="in" type="s" name="subsysnqn"/>
            <arg direction="in" type="s" name="host_traddr"/>
            <arg direction="in" type="s" name="host_iface"/>
            <arg direction="in" type="s" name="host_nqn"/>
            <arg direction="out" type="s" name="info_json"/>
        </method>
    </interface>

    <interface name="org.nvmexpress.stac">
        <method name="list_controllers">
            <arg direction="in" type="b" name="detailed"/>
            <arg direction="out" type="aa{ss}" name="controller_list"/>
        </method>
    </interface>
</node>
`;

const TID: TidArgs = [
  'tcp',
  '192.168.1.10',
  '8009',
  'nqn.2014-08.org.nvmexpress.discovery',
  '',
  'eth0',
  'nqn.host',
];

interface Call {
  name: string;
  args: unknown[];
}

/** What the test doubles implement: one function per member of stafd's IDL (recorded by these names). */
interface FakeStafApi {
  listControllers(detailed: boolean): Awaitable<Record<string, string>[]>;
  getLogPages(...tid: TidArgs): Awaitable<Record<string, string>[]>;
  getAllLogPages(detailed: boolean): Awaitable<string>;
  processInfo(): Awaitable<string>;
  controllerInfo(...tid: TidArgs): Awaitable<string>;
  getTron(): boolean;
  setTron(on: boolean): void;
  logLevel(): string;
  events(): Awaitable<string>;
}

interface FakeStacApi extends Omit<FakeStafApi, 'getLogPages' | 'getAllLogPages'> {
  plan(): Awaitable<string>;
}

/** The double's debug and events interfaces (the same members for stafd and stacd). */
function commonImpl(api: FakeStacApi | FakeStafApi) {
  return {
    debug: {
      process_info: () => api.processInfo(),
      controller_info: (...tid: TidArgs) => api.controllerInfo(...tid),
      tron: { get: () => api.getTron(), set: (on: boolean) => api.setTron(on) },
      log_level: { get: () => api.logLevel() },
    },
    events: { events: () => api.events() },
  };
}

/** Exports a stafd double with the generic exporter (the compiler checks the map against the IDL). */
async function exportStaf(bus: DBusConnection, api: FakeStafApi, opts?: ExportOptions) {
  const { debug, events } = commonImpl(api);
  const impl: ObjectImpl<StafdObject> = {
    'org.nvmexpress.staf.debug': debug,
    'org.nvmexpress.staf': {
      list_controllers: (detailed) => api.listControllers(detailed),
      get_log_pages: (...tid) => api.getLogPages(...tid),
      get_all_log_pages: (detailed) => api.getAllLogPages(detailed),
    },
    'org.nvmexpress.staf.events': events,
  };
  const obj = await exportObject(bus, STAFD_OBJECT, impl, opts);
  return {
    logPagesChanged: (tid: TidArgs, device: string) =>
      obj.emit(STAFD_DBUS_NAME, 'log_pages_changed', [...tid, device]),
    dcRemoved: () => obj.emit(STAFD_DBUS_NAME, 'dc_removed', []),
    close: () => obj.close(),
  };
}

async function exportStac(bus: DBusConnection, api: FakeStacApi, opts?: ExportOptions) {
  const { debug, events } = commonImpl(api);
  const impl: ObjectImpl<StacdObject> = {
    'org.nvmexpress.stac.debug': debug,
    'org.nvmexpress.stac': { list_controllers: (detailed) => api.listControllers(detailed) },
    'org.nvmexpress.stac.plan': { plan: () => api.plan() },
    'org.nvmexpress.stac.events': events,
  };
  return exportObject(bus, STACD_OBJECT, impl, opts);
}

/** A stafd double that records every call and misbehaves on request. */
function fakeStaf() {
  const calls: Call[] = [];
  const state = {
    tron: false,
    failProcessInfo: false,
    invalidList: false,
    hang: false,
    failTronGet: false,
  };
  const rec = (name: string, args: unknown[]) => {
    calls.push({ name, args });
  };
  const api: FakeStafApi = {
    listControllers(detailed): Record<string, string>[] {
      rec('listControllers', [detailed]);
      if (state.invalidList) return [{ transport: 42 as unknown as string }];
      return [
        {
          transport: 'tcp',
          traddr: '192.168.1.10',
          'dhchap-secret': '<redacted>',
        },
        { transport: 'tcp', traddr: '192.168.1.11', detailed: String(detailed) },
      ];
    },
    getLogPages(...args) {
      rec('getLogPages', args);
      return [{ trtype: 'tcp', subnqn: 'nqn.io-1' }];
    },
    async getAllLogPages(detailed) {
      rec('getAllLogPages', [detailed]);
      if (state.hang) return new Promise<string>(() => {});
      if (detailed) throw new Error('async failure');
      return JSON.stringify([{ 'discovery-controller': {}, 'log-pages': [] }]);
    },
    processInfo() {
      rec('processInfo', []);
      if (state.failProcessInfo) throw new Error('boom');
      return JSON.stringify({ tron: state.tron, 'log-level': state.tron ? 'DEBUG' : 'INFO' });
    },
    async controllerInfo(...args) {
      rec('controllerInfo', args);
      if (args[1] === 'unknown')
        throw new DBusError('org.nvmexpress.staf.Error.NoSuchController', 'no such DC');
      return '{"connect attempts": "0"}';
    },
    getTron() {
      if (state.failTronGet) throw new Error('tron is broken');
      return state.tron;
    },
    setTron(on) {
      rec('setTron', [on]);
      state.tron = on;
    },
    logLevel: () => (state.tron ? 'DEBUG' : 'INFO'),
    events: () =>
      '[{"time":"2026-11-23T10:00:00.000Z","kind":"connected","controller":"(tcp, 127.0.0.1, 4420)","device":"nvme0"}]',
  };
  return { api, calls, state };
}

function fakeStac() {
  const calls: Call[] = [];
  let tron = true;
  const api: FakeStacApi = {
    listControllers: (detailed) => {
      calls.push({ name: 'listControllers', args: [detailed] });
      return [{ transport: 'tcp', traddr: '10.0.0.1', subsysnqn: 'nqn.io-1' }];
    },
    processInfo: () => '{"tron": true}',
    controllerInfo: (...args) => {
      calls.push({ name: 'controllerInfo', args });
      return '{}';
    },
    getTron: () => tron,
    setTron: (on) => {
      tron = on;
    },
    logLevel: () => (tron ? 'DEBUG' : 'INFO'),
    events: () =>
      '[{"time":"2026-11-23T10:00:00.000Z","kind":"connected","controller":"(tcp, 127.0.0.1, 4420)","device":"nvme0"}]',
    plan: () => JSON.stringify({ connect: [], disconnect: [] }),
  };
  return { api, calls };
}

async function rawCall(
  bus: MessageBus,
  dest: string,
  path: string,
  iface: string,
  member: string,
  signature = '',
  body: unknown[] = [],
) {
  return bus.call(new dbus.Message({ destination: dest, path, interface: iface, member, signature, body }));
}

/** A dbus-next connection to `address`: a client that shares no code with stas'. */
async function dbusNextBus(address: string): Promise<MessageBus> {
  const bus = dbus.sessionBus({ busAddress: address });
  await new Promise<void>((resolve, reject) => {
    bus.once('connect', () => resolve());
    bus.once('error', reject);
  });
  return bus;
}

function findTool(name: string): string | undefined {
  for (const dir of ['/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // next
    }
  }
  return undefined;
}

const BUSCTL = findTool('busctl');
const SETPRIV = findTool('setpriv');

async function busctl(address: string, args: string[], asUid?: number): Promise<string> {
  if (!BUSCTL) throw new Error('busctl not found: install the Debian package systemd');
  const argv = ['--no-pager', `--address=${address}`, ...args];
  const r =
    asUid === undefined
      ? await run(BUSCTL, argv)
      : await run(SETPRIV!, [`--reuid=${asUid}`, `--regid=${asUid}`, '--clear-groups', BUSCTL, ...argv]);
  return r.stdout;
}

/** Resolves with the first value `subscribe` hands over, or rejects after `ms`. */
function nextEvent<T>(ms = 3000): { promise: Promise<T>; push: (v: T) => void } {
  let push!: (v: T) => void;
  const promise = new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no event within ${ms} ms`)), ms);
    push = (v) => {
      clearTimeout(t);
      resolve(v);
    };
  });
  return { promise, push };
}

// ---- a tiny reader of introspection XML (the restricted shape D-Bus uses) ----

type Members = Record<string, string[]>;

/** Every interface → sorted member descriptions ("method name(in s transport, out s info_json)" …). */
function membersOfXml(xml: string): Members {
  const out: Members = {};
  const attrs = (tag: string) =>
    Object.fromEntries([...tag.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
  for (const im of xml.matchAll(/<interface name="([^"]+)">([\s\S]*?)<\/interface>/g)) {
    const list: string[] = [];
    const body = im[2]!;
    for (const p of body.matchAll(/<property ([^>]*?)\/>/g)) {
      const a = attrs(p[1]!);
      list.push(`property ${a['name']} ${a['type']} ${a['access']}`);
    }
    for (const m of body.matchAll(/<(method|signal) name="([^"]+)"(?:\/>|>([\s\S]*?)<\/\1>)/g)) {
      const args = [...(m[3] ?? '').matchAll(/<arg ([^>]*?)\/>/g)].map((x) => {
        const a = attrs(x[1]!);
        return `${m[1] === 'signal' ? 'out' : (a['direction'] ?? 'in')} ${a['type']} ${a['name'] ?? ''}`.trim();
      });
      list.push(`${m[1]} ${m[2]}(${args.join(', ')})`);
    }
    out[im[1]!] = list.sort();
  }
  return out;
}

/** The same description built from the data (ObjectSpec), independent of the XML writer. */
function membersOfSpec(spec: ObjectSpec): Members {
  const out: Members = {};
  for (const i of spec.interfaces) {
    out[i.name] = [
      ...i.properties.map((p) => `property ${p.name} ${p.type} ${p.access}`),
      ...i.methods.map(
        (m) =>
          `method ${m.name}(${[...m.in.map((a) => `in ${a.type} ${a.name}`), ...m.out.map((a) => `out ${a.type} ${a.name}`)].join(', ')})`,
      ),
      ...i.signals.map((s) => `signal ${s.name}(${s.args.map((a) => `out ${a.type} ${a.name}`).join(', ')})`),
    ].sort();
  }
  return out;
}

/** busctl introspect rows of the object's own interfaces: "iface .member kind signature result flags". */
function busctlRows(text: string, ifaces: string[]): string[] {
  const rows: string[] = [];
  let current = '';
  for (const line of text.split('\n').slice(1)) {
    const m = /^(\S+)\s+(interface|method|signal|property)\s+(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    if (m[2] === 'interface') {
      current = m[1]!;
      continue;
    }
    if (!ifaces.includes(current)) continue;
    const flags = m[5]!.split(/\s+/).includes('writable') ? 'writable' : '';
    rows.push(`${current} ${m[1]} ${m[2]} ${m[3]} ${m[2] === 'property' ? '' : m[4]} ${flags}`.trim());
  }
  return rows.sort();
}

function expectedBusctlRows(spec: ObjectSpec): string[] {
  const rows: string[] = [];
  for (const i of spec.interfaces) {
    for (const m of i.methods) {
      rows.push(`${i.name} .${m.name} method ${signatureOf(m.in) || '-'} ${signatureOf(m.out) || '-'}`);
    }
    for (const s of i.signals) rows.push(`${i.name} .${s.name} signal ${signatureOf(s.args) || '-'} -`);
    for (const p of i.properties) {
      rows.push(
        `${i.name} .${p.name} property ${p.type}  ${p.access === 'readwrite' ? 'writable' : ''}`.trim(),
      );
    }
  }
  return rows.sort();
}

describe('IDL', () => {
  test('stafd: nvme-stas stafd.idl byte for byte (but for trailing blank lines), plus the separate .events interface', () => {
    const events = `\n\n${interfaceXml(eventsInterface(STAFD_DBUS_NAME))}`;
    const xml = idlXml(STAFD_OBJECT);
    assert.ok(xml.includes(events));
    assert.equal(xml.replace(events, ''), NVME_STAS_STAFD_IDL);
    assert.deepEqual(membersOfXml(xml)['org.nvmexpress.staf.events'], ['method events(out s events_json)']);
  });

  test('stacd: nvme-stas stacd.idl byte for byte, plus the separate .plan and .events interfaces', () => {
    const plan = `\n\n${interfaceXml(STACD_PLAN_INTERFACE)}`;
    const events = `\n\n${interfaceXml(eventsInterface(STACD_DBUS_NAME))}`;
    const xml = idlXml(STACD_OBJECT);
    assert.ok(xml.includes(plan) && xml.includes(events));
    assert.equal(xml.replace(plan, '').replace(events, ''), NVME_STAS_STACD_IDL);
    assert.deepEqual(membersOfXml(xml)['org.nvmexpress.stac.plan'], ['method plan(out s plan_json)']);
  });

  test('the data description and the XML writer agree', () => {
    assert.deepEqual(membersOfXml(idlXml(STAFD_OBJECT)), membersOfSpec(STAFD_OBJECT));
    assert.deepEqual(membersOfXml(idlXml(STACD_OBJECT)), membersOfSpec(STACD_OBJECT));
    const { 'org.nvmexpress.staf.events': _events, ...nvmeStas } = membersOfSpec(STAFD_OBJECT);
    assert.deepEqual(membersOfXml(NVME_STAS_STAFD_IDL), nvmeStas);
  });
});

describe('D-Bus services on a private bus', { skip: !haveDbusDaemon() && 'no /usr/bin/dbus-daemon' }, () => {
  let daemon: DbusDaemon;
  let sbus: DBusConnection; // the daemons' connection
  let cbus: DBusConnection; // the clients' connection
  let nbus: MessageBus; // an independent client: dbus-next, for the calls written out by hand
  const staf = fakeStaf();
  const stac = fakeStac();
  const methodErrors: string[] = [];
  let stafSvc: Awaited<ReturnType<typeof exportStaf>>;

  before(async () => {
    daemon = await startDbusDaemon({ dirMode: 0o755 });
    sbus = await openSystemBus({ address: daemon.address });
    cbus = await openSystemBus({ address: daemon.address });
    nbus = await dbusNextBus(daemon.address);
    stafSvc = await exportStaf(sbus, staf.api, {
      onMethodError: (member, err) => methodErrors.push(`${member}: ${(err as Error).message}`),
    });
    await exportStac(sbus, stac.api);
  });

  after(async () => {
    sbus?.close();
    cbus?.close();
    nbus?.disconnect();
    await daemon?.stop();
  });

  test('(a) every stafd method through the typed client', async () => {
    const c = stafClient(cbus);
    staf.calls.length = 0;
    const list = await c.listControllers(true);
    assert.equal(list.length, 2);
    assert.equal(list[0]!['dhchap-secret'], '<redacted>');
    assert.equal(list[1]!['detailed'], 'true');
    assert.deepEqual(await c.getLogPages(...TID), [{ trtype: 'tcp', subnqn: 'nqn.io-1' }]);
    assert.deepEqual(JSON.parse(await c.getAllLogPages(false)), [
      { 'discovery-controller': {}, 'log-pages': [] },
    ]);
    assert.deepEqual(JSON.parse(await c.processInfo()), { tron: false, 'log-level': 'INFO' });
    assert.equal(await c.controllerInfo(...TID), '{"connect attempts": "0"}');
    assert.equal(await c.getTron(), false);
    assert.equal(await c.logLevel(), 'INFO');
    await c.setTron(true);
    assert.equal(await c.getTron(), true);
    assert.equal(await c.logLevel(), 'DEBUG');
    await c.setTron(false);

    const byName = Object.fromEntries(staf.calls.map((x) => [x.name, x]));
    assert.deepEqual(byName['getLogPages']!.args, TID);
    assert.deepEqual(byName['controllerInfo']!.args, TID);
    assert.deepEqual(byName['listControllers']!.args, [true]);
  });

  test('(a) reply signatures are the IDL ones', async () => {
    const dest = 'org.nvmexpress.staf';
    const path = '/org/nvmexpress/staf';
    const sigs: [string, string, string, unknown[], string][] = [
      ['org.nvmexpress.staf', 'list_controllers', 'b', [false], 'aa{ss}'],
      ['org.nvmexpress.staf', 'get_log_pages', 'sssssss', TID, 'aa{ss}'],
      ['org.nvmexpress.staf', 'get_all_log_pages', 'b', [false], 's'],
      ['org.nvmexpress.staf.debug', 'process_info', '', [], 's'],
      ['org.nvmexpress.staf.debug', 'controller_info', 'sssssss', TID, 's'],
    ];
    for (const [iface, member, sig, body, out] of sigs) {
      const reply = await rawCall(nbus, dest, path, iface, member, sig, body);
      assert.equal(reply.signature, out, member);
    }
    // A wrong signature is no such method.
    await assert.rejects(rawCall(nbus, dest, path, 'org.nvmexpress.staf', 'list_controllers', 's', ['x']), {
      type: 'org.freedesktop.DBus.Error.UnknownMethod',
    });
  });

  test('(a) every stacd method through the typed client', async () => {
    const c = stacClient(cbus);
    assert.deepEqual(await c.listControllers(false), [
      { transport: 'tcp', traddr: '10.0.0.1', subsysnqn: 'nqn.io-1' },
    ]);
    assert.deepEqual(stac.calls.at(-1)?.args, [false]);
    assert.equal(await c.processInfo(), '{"tron": true}');
    assert.equal(await c.controllerInfo(...TID), '{}');
    assert.deepEqual(stac.calls.at(-1)?.args, TID);
    assert.equal(await c.getTron(), true);
    assert.equal(await c.logLevel(), 'DEBUG');
    await c.setTron(false);
    assert.equal(await c.logLevel(), 'INFO');
    assert.deepEqual(JSON.parse(await c.plan()), { connect: [], disconnect: [] });
  });

  test('(b) busctl introspect lists exactly the IDL members, signatures and property access', async () => {
    for (const spec of [STAFD_OBJECT, STACD_OBJECT]) {
      const text = await busctl(daemon.address, ['introspect', spec.busName, spec.path]);
      const ifaces = spec.interfaces.map((i) => i.name);
      assert.deepEqual(busctlRows(text, ifaces), expectedBusctlRows(spec), spec.busName);
      for (const std of [
        'org.freedesktop.DBus.Introspectable',
        'org.freedesktop.DBus.Peer',
        'org.freedesktop.DBus.Properties',
      ]) {
        assert.match(text, new RegExp(`^${std.replace(/\./g, '\\.')}\\s+interface`, 'm'));
      }
    }
  });

  test('(c) the exported introspection XML carries the IDL interfaces verbatim, member for member', async () => {
    for (const [spec, golden] of [
      [STAFD_OBJECT, NVME_STAS_STAFD_IDL],
      [STACD_OBJECT, NVME_STAS_STACD_IDL],
    ] as const) {
      const reply = await rawCall(
        nbus,
        spec.busName,
        spec.path,
        'org.freedesktop.DBus.Introspectable',
        'Introspect',
      );
      const xml = reply.body[0] as string;
      for (const i of spec.interfaces) assert.ok(xml.includes(interfaceXml(i)), i.name);
      const exported = membersOfXml(xml);
      const idl = membersOfXml(golden);
      for (const [name, members] of Object.entries(idl)) assert.deepEqual(exported[name], members, name);
      assert.deepEqual(
        Object.keys(exported).sort(),
        [
          ...spec.interfaces.map((i) => i.name),
          'org.freedesktop.DBus.Introspectable',
          'org.freedesktop.DBus.Peer',
          'org.freedesktop.DBus.Properties',
        ].sort(),
      );
    }
    // Peer works too.
    await rawCall(nbus, 'org.nvmexpress.staf', '/org/nvmexpress/staf', 'org.freedesktop.DBus.Peer', 'Ping');
  });

  test('(d) log_pages_changed and dc_removed reach a subscribed client; spoofed ones do not', async () => {
    const c = stafClient(cbus);
    const lpc = nextEvent<[TidArgs, string]>();
    const dcr = nextEvent<true>();
    const s1 = await c.onLogPagesChanged((tid, device) => lpc.push([tid, device]));
    const s2 = await c.onDcRemoved(() => dcr.push(true));
    // Another connection sends a look-alike signal: the match rule and the owner check drop it.
    const spoofer = await openSystemBus({ address: daemon.address });
    const spoofed: string[] = [];
    const s3 = await c.onDcRemoved(() => spoofed.push('dc_removed'));
    spoofer.send(signal('/org/nvmexpress/staf', 'org.nvmexpress.staf', 'dc_removed'));
    assert.equal(stafSvc.logPagesChanged(TID, 'nvme3'), true);
    assert.equal(stafSvc.dcRemoved(), true);
    assert.deepEqual(await lpc.promise, [TID, 'nvme3']);
    assert.equal(await dcr.promise, true);
    await rawCall(nbus, 'org.nvmexpress.staf', '/org/nvmexpress/staf', 'org.freedesktop.DBus.Peer', 'Ping');
    assert.deepEqual(spoofed, ['dc_removed']); // only the real one
    await Promise.all([s1.close(), s2.close(), s3.close()]);
    spoofer.close();
    // Bad arguments are refused without throwing.
    assert.equal(stafSvc.logPagesChanged(['tcp'] as unknown as TidArgs, 'nvme3'), false);
  });

  test('(e) tron set through org.freedesktop.DBus.Properties.Set reaches the API; log_level is read-only', async () => {
    const dest = 'org.nvmexpress.staf';
    const path = '/org/nvmexpress/staf';
    const P = 'org.freedesktop.DBus.Properties';
    staf.calls.length = 0;
    await rawCall(nbus, dest, path, P, 'Set', 'ssv', [
      'org.nvmexpress.staf.debug',
      'tron',
      new dbus.Variant('b', true),
    ]);
    assert.deepEqual(staf.calls, [{ name: 'setTron', args: [true] }]);
    assert.equal(staf.state.tron, true);
    const all = await rawCall(nbus, dest, path, P, 'GetAll', 's', ['org.nvmexpress.staf.debug']);
    const props = all.body[0] as Record<string, { value: unknown }>;
    assert.deepEqual(Object.fromEntries(Object.entries(props).map(([k, v]) => [k, v.value])), {
      tron: true,
      log_level: 'DEBUG',
    });
    await assert.rejects(
      rawCall(nbus, dest, path, P, 'Set', 'ssv', [
        'org.nvmexpress.staf.debug',
        'log_level',
        new dbus.Variant('s', 'x'),
      ]),
      { type: 'org.freedesktop.DBus.Error.PropertyReadOnly' },
    );
    await assert.rejects(
      rawCall(nbus, dest, path, P, 'Set', 'ssv', [
        'org.nvmexpress.staf.debug',
        'tron',
        new dbus.Variant('s', 'on'),
      ]),
      { type: 'org.freedesktop.DBus.Error.InvalidArgs' },
    );
    assert.equal(staf.state.tron, true);
    await stafClient(cbus).setTron(false);
    assert.equal(staf.state.tron, false);
  });

  test('(f) a second exporter cannot take the name, and leaves nothing behind', async () => {
    const bus2 = await openSystemBus({ address: daemon.address });
    try {
      await assert.rejects(exportStaf(bus2, fakeStaf().api), {
        message: 'another stafd owns org.nvmexpress.staf',
      });
      await assert.rejects(exportStac(bus2, fakeStac().api), {
        message: 'another stacd owns org.nvmexpress.stac',
      });
      await assert.rejects(
        rawCall(nbus, bus2.name!, '/org/nvmexpress/staf', 'org.nvmexpress.staf', 'list_controllers', 'b', [
          false,
        ]),
        { type: 'org.freedesktop.DBus.Error.UnknownMethod' },
      );
      assert.equal((await stafClient(cbus).listControllers(false)).length, 2); // the first one still serves
    } finally {
      bus2.close();
    }
  });

  test('(h) API exceptions become D-Bus errors and the service keeps working', async () => {
    const c = stafClient(cbus);
    methodErrors.length = 0;
    staf.state.failProcessInfo = true;
    await assert.rejects(c.processInfo(), (e: DBusError) => {
      assert.equal(e.type, 'org.freedesktop.DBus.Error.Failed');
      assert.equal(e.message, 'process_info: boom');
      return true;
    });
    staf.state.failProcessInfo = false;
    assert.ok(JSON.parse(await c.processInfo()));
    await assert.rejects(c.getAllLogPages(true), {
      type: 'org.freedesktop.DBus.Error.Failed',
      message: 'get_all_log_pages: async failure',
    });
    await assert.rejects(c.controllerInfo('tcp', 'unknown', '', '', '', '', ''), {
      type: 'org.nvmexpress.staf.Error.NoSuchController',
      message: 'no such DC',
    });
    staf.state.invalidList = true;
    await assert.rejects(c.listControllers(false), {
      type: 'org.freedesktop.DBus.Error.Failed',
      message: 'list_controllers: the daemon returned an invalid value',
    });
    staf.state.invalidList = false;
    staf.state.failTronGet = true;
    await assert.rejects(c.getTron(), {
      type: 'org.freedesktop.DBus.Error.Failed',
      message: 'tron: tron is broken',
    });
    staf.state.failTronGet = false;
    assert.equal((await c.listControllers(false)).length, 2);
    assert.deepEqual(methodErrors, [
      'org.nvmexpress.staf.debug.process_info: boom',
      'org.nvmexpress.staf.get_all_log_pages: async failure',
      'org.nvmexpress.staf.debug.controller_info: no such DC',
      'org.nvmexpress.staf.list_controllers: invalid return value for signature aa{ss}',
      'org.nvmexpress.staf.debug.tron: tron is broken',
    ]);
  });

  test('client calls time out when the daemon does not answer', async () => {
    staf.state.hang = true;
    try {
      await assert.rejects(stafClient(cbus, { timeoutMs: 200 }).getAllLogPages(false), {
        type: 'org.freedesktop.DBus.Error.NoReply',
      });
    } finally {
      staf.state.hang = false;
    }
  });

  test('a non-root caller gets the same answer as root (nothing depends on who calls)', async (t) => {
    if (!IS_ROOT || !SETPRIV || !BUSCTL) {
      t.skip('needs root, setpriv and busctl to run a client as nobody');
      return;
    }
    const out = await busctl(
      daemon.address,
      [
        'call',
        'org.nvmexpress.staf',
        '/org/nvmexpress/staf',
        'org.nvmexpress.staf',
        'list_controllers',
        'b',
        'false',
      ],
      NOBODY,
    );
    assert.match(out, /"dhchap-secret" "<redacted>"/);
    assert.deepEqual(staf.calls.filter((x) => x.name === 'listControllers').at(-1)?.args, [false]);
  });

  test('DBUS_SYSTEM_BUS_ADDRESS is honoured by openSystemBus()', async () => {
    const saved = process.env['DBUS_SYSTEM_BUS_ADDRESS'];
    process.env['DBUS_SYSTEM_BUS_ADDRESS'] = daemon.address;
    try {
      const b = await openSystemBus();
      assert.equal((await stacClient(b).listControllers(false)).length, 1);
      b.close();
    } finally {
      if (saved === undefined) delete process.env['DBUS_SYSTEM_BUS_ADDRESS'];
      else process.env['DBUS_SYSTEM_BUS_ADDRESS'] = saved;
    }
  });

  test('openSystemBus fails clearly without a bus', async () => {
    await assert.rejects(openSystemBus({ address: `unix:path=${daemon.dir}/nothing-here` }), {
      // The address once, then why.
      message: `cannot connect to D-Bus at unix:path=${daemon.dir}/nothing-here: socket missing (connect ENOENT ${daemon.dir}/nothing-here)`,
    });
  });
});

describe('watchName', { skip: !haveDbusDaemon() && 'no /usr/bin/dbus-daemon' }, () => {
  test('(g) sees stafd appear, go away, and come back under a new connection', async () => {
    const daemon = await startDbusDaemon();
    const buses: DBusConnection[] = [];
    try {
      const watcher = await openSystemBus({ address: daemon.address });
      buses.push(watcher);
      const seen: (string | null)[] = [];
      let wake: (() => void) | undefined;
      const next = async (n: number) => {
        while (seen.length < n) {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            new Promise<void>((r) => {
              wake = r;
            }),
            new Promise<void>((_, reject) => {
              timer = setTimeout(() => reject(new Error(`saw only ${JSON.stringify(seen)}`)), 3000);
            }),
          ]).finally(() => clearTimeout(timer));
        }
      };
      const w = await watchName(watcher, 'org.nvmexpress.staf', (o) => {
        seen.push(o);
        wake?.();
      });
      assert.deepEqual(seen, [null]);

      const b1 = await openSystemBus({ address: daemon.address });
      buses.push(b1);
      const svc = await exportStaf(b1, fakeStaf().api);
      await next(2);
      assert.equal(seen[1], b1.name);
      assert.equal(w.owner, b1.name);

      await svc.close(); // releases the name
      await next(3);
      assert.equal(seen[2], null);

      const b2 = await openSystemBus({ address: daemon.address });
      buses.push(b2);
      await exportStaf(b2, fakeStaf().api);
      await next(4);
      assert.equal(seen[3], b2.name);
      b2.close(); // a crash: the bus drops the name with the connection
      await next(5);
      assert.deepEqual(seen, [null, b1.name, null, b2.name, null]);
      await w.close();
    } finally {
      for (const b of buses) b.close();
      await daemon.stop();
    }
  });
});

describe('bus loss', { skip: !haveDbusDaemon() && 'no /usr/bin/dbus-daemon' }, () => {
  test('the service survives dbus-daemon going away mid-call; pending client calls fail at once', async () => {
    const daemon = await startDbusDaemon();
    let closed = 0;
    const sbus = await openSystemBus({ address: daemon.address, onClose: () => closed++ });
    const cbus = await openSystemBus({ address: daemon.address });
    try {
      const fake = fakeStaf();
      let release: ((v: Record<string, string>[]) => void) | undefined;
      fake.api.listControllers = () =>
        new Promise((resolve) => {
          release = resolve;
        });
      const svc = await exportStaf(sbus, fake.api);
      // The outcome is taken at once: the rejection may come while dbus-daemon is being stopped.
      const pending = stafClient(cbus)
        .listControllers(false)
        .then(
          () => undefined,
          (e: DBusError) => e,
        );
      while (!release) await new Promise((r) => setTimeout(r, 5));
      await daemon.stop();
      const err = await pending;
      assert.equal(err?.type, 'org.freedesktop.DBus.Error.NoReply');
      assert.equal(err?.message, 'stafd list_controllers: the D-Bus connection is closed');
      while (closed === 0) await new Promise((r) => setTimeout(r, 5));
      release([]); // the reply cannot be sent: dropped, no crash
      // The reply is attempted on the next turns of the event loop (no I/O: the connection is gone).
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
      assert.equal(svc.dcRemoved(), false);
      await svc.close();
      await assert.rejects(stafClient(cbus).processInfo(), /closed/);
    } finally {
      sbus.close();
      cbus.close();
      await daemon.stop();
    }
  });
});

describe('D-Bus policy files', { skip: !haveDbusDaemon() && 'no /usr/bin/dbus-daemon' }, () => {
  test('(i) both files load; only root owns the names and calls methods; anyone may introspect', async (t) => {
    if (!IS_ROOT || !SETPRIV) {
      t.skip(
        'needs root (to own the names under the policy) and setpriv (util-linux) to run busctl as nobody',
      );
      return;
    }
    const daemon = await startDbusDaemon({
      policy: 'system',
      include: [join(POLICY_DIR, 'org.nvmexpress.staf.conf'), join(POLICY_DIR, 'org.nvmexpress.stac.conf')],
      dirMode: 0o755,
    });
    const sbus = await openSystemBus({ address: daemon.address });
    try {
      // root (this process) owns both names and may call everything.
      await exportStaf(sbus, fakeStaf().api);
      await exportStac(sbus, fakeStac().api);
      assert.equal((await stafClient(sbus).listControllers(false)).length, 2);
      const asNobody = async (args: string[]) => {
        try {
          return `ok: ${await busctl(daemon.address, args, NOBODY)}`;
        } catch (e) {
          return `error: ${(e as { stderr?: string }).stderr?.trim()}`;
        }
      };
      for (const [name, path] of [
        ['org.nvmexpress.staf', '/org/nvmexpress/staf'],
        ['org.nvmexpress.stac', '/org/nvmexpress/stac'],
      ] as const) {
        const call = (...a: string[]) => asNobody(['call', name, path, ...a]);
        assert.match(await call('org.freedesktop.DBus.Introspectable', 'Introspect'), /^ok: s "<!DOCTYPE/);
        assert.match(await call('org.freedesktop.DBus.Peer', 'Ping'), /^ok/);
        assert.match(await call(name, 'list_controllers', 'b', 'false'), /Access denied/);
        assert.match(await call(`${name}.debug`, 'process_info'), /Access denied/);
        assert.match(
          await call('org.freedesktop.DBus.Properties', 'Get', 'ss', `${name}.debug`, 'tron'),
          /Access denied/,
        );
        assert.match(
          await call('org.freedesktop.DBus.Properties', 'Set', 'ssv', `${name}.debug`, 'tron', 'b', 'true'),
          /Access denied/,
        );
        const own = (n: string) =>
          asNobody([
            'call',
            'org.freedesktop.DBus',
            '/org/freedesktop/DBus',
            'org.freedesktop.DBus',
            'RequestName',
            'su',
            n,
            '4',
          ]);
        assert.match(await own(name), /Access denied/);
        assert.match(await own(`${name}.other`), /Access denied/);
      }
      assert.equal(await stafClient(sbus).getTron(), false); // nobody's Set never arrived
    } finally {
      sbus.close();
      await daemon.stop();
    }
  });

  test('a malformed policy file stops dbus-daemon (so the load above proves well-formedness)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stas-policy-'));
    try {
      const bad = join(dir, 'bad.conf');
      writeFileSync(bad, '<busconfig><policy user="root"><allow own="x"></policy></busconfig>\n');
      await assert.rejects(startDbusDaemon({ policy: 'system', include: [bad] }), /dbus-daemon exited/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('every call is answered, redacted and printable', {
  skip: !haveDbusDaemon() && 'no /usr/bin/dbus-daemon',
}, () => {
  const SECRET = 'DHHC-1:00:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0:';
  const BODY = 'c2VjcmV0c2VjcmV0';
  let daemon: DbusDaemon;
  let sbus: DBusConnection;
  let cbus: DBusConnection;
  let svc: Awaited<ReturnType<typeof exportStaf>>;
  const fake = fakeStaf();
  const errors: { member: string; err: unknown }[] = [];
  const behave: {
    processInfo?: () => unknown;
    listControllers?: () => unknown;
    logLevel?: () => unknown;
    controllerInfo?: () => unknown;
  } = {};

  before(async () => {
    daemon = await startDbusDaemon();
    sbus = await openSystemBus({ address: daemon.address });
    cbus = await openSystemBus({ address: daemon.address });
    const api: FakeStafApi = {
      ...fake.api,
      processInfo: () => (behave.processInfo ? behave.processInfo() : '{}') as string,
      listControllers: () =>
        (behave.listControllers ? behave.listControllers() : []) as Record<string, string>[],
      logLevel: () => (behave.logLevel ? behave.logLevel() : 'INFO') as string,
      controllerInfo: async () => (behave.controllerInfo ? behave.controllerInfo() : '{}') as string,
    };
    svc = await exportStaf(sbus, api, {
      onMethodError: (member, err) => errors.push({ member, err }),
    });
  });

  after(async () => {
    sbus?.close();
    cbus?.close();
    await daemon?.stop();
  });

  /** The D-Bus error of `call`: it must fail with an answer (within 10 s, not a NoReply). */
  async function errorOf(call: Promise<unknown>): Promise<DBusError> {
    const e = await call.then(
      (v) => assert.fail(`expected an error reply, got ${JSON.stringify(v)}`),
      (err: DBusError) => err,
    );
    assert.notEqual(e.type, 'org.freedesktop.DBus.Error.NoReply', e.message);
    return e;
  }

  test('an exception carrying a secret and an escape sequence: the caller and the log get neither', async () => {
    const c = stafClient(cbus, { timeoutMs: 10_000 });
    errors.length = 0;
    behave.processInfo = () => {
      throw new Error(`cannot read \x1b[2J${SECRET} dhchap-secret=hunter2hunter2\nnext`);
    };
    const e = await errorOf(c.processInfo());
    assert.equal(e.type, 'org.freedesktop.DBus.Error.Failed');
    assert.equal(
      e.message,
      'process_info: cannot read \\x1b[2JDHHC-1:<redacted> dhchap-secret=<redacted>\\nnext',
    );
    // A DBusError keeps its name; its text is made safe too (thrown from an async implementation).
    behave.controllerInfo = () => {
      throw new DBusError('org.nvmexpress.staf.Error.NoSuchController', `no DC \u009b ${SECRET}`);
    };
    const e2 = await errorOf(c.controllerInfo(...TID));
    assert.equal(e2.type, 'org.nvmexpress.staf.Error.NoSuchController');
    assert.equal(e2.message, 'no DC \\u009b DHHC-1:<redacted>');
    for (const x of [e, e2]) {
      assert.ok(!x.message.includes(BODY) && !x.message.includes('hunter2'), x.message);
      assert.doesNotMatch(x.message, /\p{Cc}/u);
    }
    // Even an exception that throws when looked at gets an answer.
    behave.processInfo = () => {
      throw Object.defineProperty(new Error('x'), 'name', {
        get() {
          throw new Error('no look');
        },
      });
    };
    assert.equal((await errorOf(c.processInfo())).message, 'process_info: failed');
    // Logged once each (the logger makes the text safe).
    assert.deepEqual(
      errors.map((x) => x.member),
      [
        'org.nvmexpress.staf.debug.process_info',
        'org.nvmexpress.staf.debug.controller_info',
        'org.nvmexpress.staf.debug.process_info',
      ],
    );
    delete behave.processInfo;
    delete behave.controllerInfo;
  });

  test('results the marshaller refuses (NUL in a string) get an error reply, never silence', async () => {
    const c = stafClient(cbus, { timeoutMs: 10_000 });
    errors.length = 0;
    behave.processInfo = () => '{"hostnqn": "nqn.a\0b"}';
    assert.equal((await errorOf(c.processInfo())).type, 'org.freedesktop.DBus.Error.Failed');
    // The case of the review: a host NQN with a NUL in list_controllers (in a value, then in a key).
    behave.listControllers = () => [{ transport: 'tcp', 'host-nqn': 'nqn.host\0' }];
    const e = await errorOf(c.listControllers(false));
    assert.equal(e.type, 'org.freedesktop.DBus.Error.Failed');
    assert.equal(e.message, 'list_controllers: the daemon could not send its reply');
    behave.listControllers = () => [{ 'host\0nqn': 'x' }];
    assert.equal((await errorOf(c.listControllers(true))).type, 'org.freedesktop.DBus.Error.Failed');
    // A property value: answered with an error as well.
    behave.logLevel = () => 'IN\0FO';
    assert.equal((await errorOf(c.logLevel())).type, 'org.freedesktop.DBus.Error.Failed');
    assert.deepEqual(
      errors.map((x) => [x.member, (x.err as Error).message]),
      [
        ['org.nvmexpress.staf.debug.process_info', "the reply could not be sent: 's' string contains NUL"],
        ['org.nvmexpress.staf.list_controllers', "the reply could not be sent: 's' string contains NUL"],
        ['org.nvmexpress.staf.list_controllers', "the reply could not be sent: 's' string contains NUL"],
        // A property's reply is reported under the property's name.
        ['org.nvmexpress.staf.debug.log_level', "the reply could not be sent: 's' string contains NUL"],
      ],
    );
    delete behave.processInfo;
    delete behave.listControllers;
    delete behave.logLevel;
    // The service goes on.
    assert.equal(await c.processInfo(), '{}');
    assert.deepEqual(await c.listControllers(false), []);
    assert.equal(await c.logLevel(), 'INFO');
    // A signal that could not be marshalled is reported as not sent.
    assert.equal(svc.logPagesChanged(TID, 'nvme\0'), false);
  });
});
