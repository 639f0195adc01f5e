// Integration tests of the Avahi browser against a real avahi-daemon (private bus, own network namespace); probe tests.
import assert from 'node:assert/strict';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import dbusNext from 'dbus-next/index.js';
import {
  AvahiBrowser,
  type AvahiBrowser as AvahiBrowserType,
  type MdnsService,
} from '../../src/adapters/avahi/browser.js';
import { type DBusConnection, openSystemBus } from '../../src/adapters/dbus/service.js';
import { nativeAvailable } from '../../src/adapters/native.js';
import { isReachable } from '../../src/adapters/tcp-probe.js';
import type { Message } from '../../src/core/dbus/message.js';
import type { LogLevel } from '../../src/core/log.js';
import { WELL_KNOWN_DISC_NQN } from '../../src/core/tid.js';
import { avahiSkipReason, publishService, startAvahiDaemon } from '../support/avahi.js';
import { haveDbusDaemon, startDbusDaemon } from '../support/dbus-daemon.js';
import { until } from '../support/until.js';

const skip = avahiSkipReason();
const WAIT_MS = 20_000;
const DC_NQN = 'nqn.2014-08.org.nvmexpress.discovery';

type Bus = DBusConnection;
type Events = {
  added: MdnsService;
  removed: string;
  available: undefined;
  unavailable: undefined;
};

/** Records every event of a browser, in order, and waits for the next matching one. */
class Recorder {
  readonly events: { name: keyof Events; arg: unknown }[] = [];
  readonly logs: { level: LogLevel; message: string }[] = [];
  private waiters: { name: keyof Events; pred: (a: unknown) => boolean; resolve: (a: unknown) => void }[] =
    [];

  attach(b: AvahiBrowserType): void {
    for (const name of ['added', 'removed', 'available', 'unavailable'] as const) {
      b.on(name, (arg?: unknown) => {
        this.events.push({ name, arg });
        this.waiters = this.waiters.filter((w) => {
          if (w.name !== name || !w.pred(arg)) return true;
          w.resolve(arg);
          return false;
        });
      });
    }
  }

  readonly log = (level: LogLevel, message: string): void => {
    this.logs.push({ level, message });
  };

  /** The next `name` event (after this call) satisfying pred. */
  next<K extends keyof Events>(name: K, pred: (a: Events[K]) => boolean = () => true): Promise<Events[K]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no '${name}' event within ${WAIT_MS} ms; events: ${this.describe()}`));
      }, WAIT_MS);
      this.waiters.push({
        name,
        pred: pred as (a: unknown) => boolean,
        resolve: (a) => {
          clearTimeout(timer);
          resolve(a as Events[K]);
        },
      });
    });
  }

  count(name: keyof Events): number {
    return this.events.filter((e) => e.name === name).length;
  }

  describe(): string {
    return this.events
      .map((e) => (e.name === 'added' ? `added(${(e.arg as MdnsService).label})` : e.name))
      .join(' ');
  }
}

/** A dbus-next connection: another client on the bus, sharing no code with stas'. */
async function connectDbusNext(address: string) {
  const bus = dbusNext.sessionBus({ busAddress: address });
  await new Promise<void>((resolve, reject) => {
    bus.once('connect', () => resolve());
    bus.once('error', reject);
  });
  return bus;
}

/**
 * Private bus + a connection + a browser with a recorder. `defer` registers a clean-up; they run in reverse order
 * after the test (the browser stops while the bus is still there).
 */
async function setup(t: TestContext) {
  const cleanups: (() => unknown)[] = [];
  t.after(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  const defer = (fn: () => unknown) => cleanups.push(fn);
  const dbus = await startDbusDaemon();
  defer(() => dbus.stop());
  const bus = await openSystemBus({ address: dbus.address });
  defer(() => bus.close());
  const rec = new Recorder();
  const browser = new AvahiBrowser({ log: rec.log, kickIntervalMs: 200 });
  rec.attach(browser);
  defer(() => browser.stop());
  return { dbus, bus, rec, browser, defer };
}

test('real avahi-daemon: a published DC is added with its candidate, removed when the publisher goes', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const { dbus, bus, rec, browser, defer } = await setup(t);
  const avahi = await startAvahiDaemon(dbus.address);
  defer(() => avahi.stop());

  const available = rec.next('available');
  await browser.start(bus);
  await available;
  assert.ok(browser.isAvailable);

  const added = rec.next('added', (s) => s.identity.name === 'stas test DC');
  const pub = publishService(dbus.address, 'stas test DC', '_nvme-disc._tcp', 8009, [
    'p=tcp',
    `nqn=${DC_NQN}`,
  ]);
  defer(() => pub.stop());
  const svc = await added;
  assert.deepEqual(svc.candidate, {
    transport: 'tcp',
    traddr: '127.0.0.1',
    trsvcid: '8009',
    subsysnqn: DC_NQN,
    hostIface: 'lo',
  });
  assert.equal(svc.identity.type, '_nvme-disc._tcp');
  assert.equal(svc.identity.domain, 'local');
  assert.equal(svc.ifname, 'lo');
  assert.equal(svc.host, 'stas-test.local');
  assert.equal(svc.txt.get('p'), 'tcp');
  assert.deepEqual(
    browser.services().map((s) => s.key),
    [svc.key],
  );

  // RoCE over the UDP service type: rdma, no host-iface.
  const roceAdded = rec.next('added', (s) => s.identity.name === 'stas roce DC');
  const roce = publishService(dbus.address, 'stas roce DC', '_nvme-disc._udp', 4420, ['p=roce']);
  defer(() => roce.stop());
  const roceSvc = await roceAdded;
  assert.equal(roceSvc.candidate.transport, 'rdma');
  assert.equal(roceSvc.candidate.hostIface, '');
  assert.equal(roceSvc.candidate.subsysnqn, WELL_KNOWN_DISC_NQN);
  assert.equal(roceSvc.identity.type, '_nvme-disc._udp');

  // Hostile or unusable announcements are never added.
  const hostile = [
    publishService(dbus.address, 'stas evil DC', '_nvme-disc._tcp', 8009, [
      'p=tcp',
      'nqn=nqn.evil,hostnqn=nqn.x',
    ]),
    publishService(dbus.address, 'stas walmart DC', '_nvme-disc._tcp', 8009, ['p=walmart']),
    publishService(dbus.address, 'stas no-p DC', '_nvme-disc._tcp', 8009, []),
  ];
  for (const h of hostile) defer(() => h.stop());
  await Promise.all(hostile.map((h) => h.established));
  await until('the three hostile announcements to be refused', () => {
    const text = rec.logs.map((l) => l.message).join('\n');
    return (
      text.includes('Ignoring mDNS service') && (text.match(/invalid\/undefined protocol/g)?.length ?? 0) >= 2
    );
  });
  const evil = rec.logs.find((l) => l.level !== 'debug' && l.message.includes('stas evil DC'));
  assert.equal(evil?.level, 'warning');
  assert.match(evil.message, /contains ','/);
  assert.equal(
    rec.logs.filter((l) => l.level === 'error' && /invalid\/undefined protocol/.test(l.message)).length,
    2,
  );
  assert.ok(
    !rec.events.some((e) => e.name === 'added' && /evil|walmart|no-p/.test((e.arg as MdnsService).label)),
  );
  assert.equal(browser.services().length, 2);

  // Another client on the bus cannot fake Avahi's signals: a forged ItemRemove/Found to us is ignored.
  const rogue = await connectDbusNext(dbus.address);
  defer(() => rogue.disconnect());
  const myName = bus.name!;
  for (let c = 1; c <= 8; c++) {
    for (let b = 1; b <= 2; b++) {
      const forged = new dbusNext.Message({
        type: 4,
        destination: myName,
        path: `/Client${c}/ServiceBrowser${b}`,
        interface: 'org.freedesktop.Avahi.ServiceBrowser',
        member: 'ItemRemove',
        signature: 'iisssu',
        body: [...(JSON.parse(svc.key) as unknown[]), 0],
      });
      rogue.send(forged);
    }
  }
  // The bus delivers one sender's messages in order and our connection handles them in order: once our connection has
  // answered a Ping sent after the forged signals, the browser has seen (and ignored) all of them.
  const ping = new dbusNext.Message({
    destination: myName,
    path: '/',
    interface: 'org.freedesktop.DBus.Peer',
    member: 'Ping',
  });
  await rogue.call(ping);
  assert.equal(rec.count('removed'), 0);

  // A second browser started once the services are in Avahi's cache sees them too (ItemNew right after the reply).
  const rec2 = new Recorder();
  const late = new AvahiBrowser({ log: rec2.log });
  rec2.attach(late);
  defer(() => late.stop());
  const lateAdded = rec2.next('added', (s) => s.key === svc.key);
  await late.start(bus);
  await lateAdded;

  // Publisher gone → removed (with the same key), for both browsers.
  const removed = rec.next('removed', (k) => k === svc.key);
  const lateRemoved = rec2.next('removed', (k) => k === svc.key);
  await pub.stop();
  assert.equal(await removed, svc.key);
  await lateRemoved;
  assert.deepEqual(
    browser.services().map((s) => s.identity.name),
    ['stas roce DC'],
  );
  await late.stop();
});

test('real avahi-daemon: services already cached are all found although their signals precede the replies', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const { dbus, bus, defer } = await setup(t);
  const avahi = await startAvahiDaemon(dbus.address);
  defer(() => avahi.stop());
  const names = ['A', 'B', 'C', 'D', 'E'].map((x) => `stas cached DC ${x}`);
  const pubs = names.map((n) => publishService(dbus.address, n, '_nvme-disc._tcp', 8009, ['p=tcp']));
  for (const p of pubs) defer(() => p.stop());
  await Promise.all(pubs.map((p) => p.established));
  // Avahi 0.8 answers from its cache right after ServiceBrowserNew/ServiceResolverNew: ItemNew and Found often
  // arrive in the same read as the reply (over half of the objects here), before the caller knows the path.
  let replayed = 0;
  for (let round = 0; round < 3; round++) {
    const rec = new Recorder();
    const b = new AvahiBrowser({
      log: (level, message) => {
        rec.log(level, message);
        if (message.includes('arrived before its reply')) replayed++;
      },
    });
    rec.attach(b);
    const all = Promise.all(names.map((n) => rec.next('added', (s) => s.identity.name === n)));
    await b.start(bus);
    await all;
    assert.equal(b.services().length, names.length);
    await b.stop();
  }
  t.diagnostic(`objects whose signals were replayed: ${replayed}`);
});

test('real avahi-daemon: the browser survives a daemon restart (services dropped, then found again)', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const { dbus, bus, rec, browser, defer } = await setup(t);
  let avahi = await startAvahiDaemon(dbus.address);
  defer(() => avahi.stop()); // the current one
  await browser.start(bus);
  const pub = publishService(dbus.address, 'stas test DC', '_nvme-disc._tcp', 8009, [
    'p=tcp',
    `nqn=${DC_NQN}`,
  ]);
  defer(() => pub.stop());
  const first = await rec.next('added');

  const removed = rec.next('removed');
  const unavailable = rec.next('unavailable');
  await avahi.stop();
  assert.equal(await removed, first.key);
  await unavailable;
  assert.ok(!browser.isAvailable);
  assert.deepEqual(browser.services(), []);
  assert.ok(rec.logs.some((l) => l.message === 'avahi-daemon not available, zeroconf not supported.'));
  // 'removed' for every service comes before 'unavailable'.
  const order = rec.events.map((e) => e.name);
  assert.ok(order.lastIndexOf('removed') < order.lastIndexOf('unavailable'));

  const available = rec.next('available');
  const again = rec.next('added');
  avahi = await startAvahiDaemon(dbus.address);
  await available;
  // avahi-publish exits with its daemon: publish again.
  const pub2 = publishService(dbus.address, 'stas test DC', '_nvme-disc._tcp', 8009, [
    'p=tcp',
    `nqn=${DC_NQN}`,
  ]);
  defer(() => pub2.stop());
  const svc = await again;
  assert.equal(svc.key, first.key);
  assert.deepEqual(svc.candidate, first.candidate);
  assert.equal(rec.count('available'), 2);
});

test('real avahi-daemon: a browser started before avahi-daemon exists picks it up later', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const { dbus, bus, rec, browser, defer } = await setup(t);
  // The browser's bus calls, seen through a wrapper: each kick is a GetVersionString to Avahi's name.
  const kicks: Promise<unknown>[] = [];
  const seen = {
    call: (m: Message, o?: { timeoutMs?: number }) => {
      const p = bus.call(m, o);
      if (m.member === 'GetVersionString') kicks.push(p.catch(() => undefined));
      return p;
    },
    on: bus.on.bind(bus),
    removeListener: bus.removeListener.bind(bus),
    get open() {
      return bus.open;
    },
  } as unknown as Bus;
  await browser.start(seen);
  assert.ok(!browser.isAvailable);
  // Several kicks (every 200 ms here) go unanswered: a kick after an answered one would not come.
  await until('three kicks', () => kicks.length >= 3);
  await Promise.all(kicks);
  assert.deepEqual(rec.events, []);
  assert.ok(rec.logs.some((l) => l.message === 'avahi-daemon not available, operating w/o mDNS discovery.'));

  const available = rec.next('available');
  const added = rec.next('added');
  const avahi = await startAvahiDaemon(dbus.address);
  defer(() => avahi.stop());
  await available;
  const pub = publishService(dbus.address, 'stas late DC', '_nvme-disc._tcp', 8009, ['P=TCP']);
  defer(() => pub.stop());
  const svc = await added;
  assert.equal(svc.identity.name, 'stas late DC');
  assert.equal(svc.candidate.subsysnqn, WELL_KNOWN_DISC_NQN);
  assert.ok(rec.logs.some((l) => l.message === 'avahi-daemon service available, zeroconf supported.'));
});

test('stop() frees everything; start() on a bus without Avahi and stop() emit nothing', {
  skip: haveDbusDaemon() ? false : 'dbus-daemon not installed (apt-get install dbus-daemon)',
  timeout: 60_000,
}, async (t) => {
  const { bus, rec, browser } = await setup(t);
  await browser.start(bus);
  await assert.rejects(browser.start(bus), /already started/);
  await browser.stop();
  await browser.stop();
  assert.deepEqual(rec.events, []);
});

/** A TCP server on 127.0.0.1 that counts connections. */
async function listen(t: TestContext): Promise<{ port: number; accepted: () => number }> {
  let n = 0;
  const server = net.createServer((s) => {
    n++;
    s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as net.AddressInfo).port, accepted: () => n };
}

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

for (const useNative of [true, false]) {
  const label = useNative ? 'native SO_BINDTODEVICE' : 'node:net with the interface address';
  test(`isReachable (${label}): open port reachable, closed port not, rdma without probe`, {
    skip: useNative && !nativeAvailable() ? 'native addon not built (npm ci)' : false,
  }, async (t) => {
    const { port, accepted } = await listen(t);
    const c = {
      transport: 'tcp',
      traddr: '127.0.0.1',
      trsvcid: String(port),
      subsysnqn: DC_NQN,
      hostIface: 'lo',
    } as const;
    assert.deepEqual(await isReachable(c, 5000, useNative), { reachable: true });
    assert.deepEqual(await isReachable({ ...c, hostIface: '' }, 5000, useNative), { reachable: true });
    await until('the server to accept both probes', () => accepted() >= 2);
    assert.equal(accepted(), 2);

    const refused = await isReachable({ ...c, trsvcid: String(await closedPort()) }, 5000, useNative);
    assert.equal(refused.reachable, false);
    assert.match(refused.error ?? '', /ECONNREFUSED/);

    const noIface = await isReachable({ ...c, hostIface: 'nosuchif0' }, 5000, useNative);
    assert.equal(noIface.reachable, false);

    assert.deepEqual(await isReachable({ ...c, transport: 'rdma', trsvcid: '1' }, 5000, useNative), {
      reachable: true,
    });
  });
}
