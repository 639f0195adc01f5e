// Integration tests of DBusConnection (src/adapters/dbus/connection.ts): a private dbus-daemon, dbus-next as the
// peer (wire interop), and fake servers for the handshake's failure paths.
import assert from 'node:assert/strict';
import type { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import dbus, { type MessageBus } from 'dbus-next/index.js';
import { DBusConnection } from '../../src/adapters/dbus/connection.js';
import {
  DBusError,
  encodeMessage,
  type Message,
  MessageFlag,
  MessageParser,
  MessageType,
  message,
  methodReturn,
  signal,
  Variant,
} from '../../src/core/dbus/message.js';
import { type DbusDaemon, haveDbusDaemon, startDbusDaemon } from '../support/dbus-daemon.js';

const NO_DAEMON = !haveDbusDaemon() && 'no /usr/bin/dbus-daemon';
const BUS = {
  destination: 'org.freedesktop.DBus',
  path: '/org/freedesktop/DBus',
  interface: 'org.freedesktop.DBus',
};
const NO_REPLY = 'org.freedesktop.DBus.Error.NoReply';

function call(init: Partial<Message>): Message {
  return message({ type: MessageType.METHOD_CALL, ...init });
}

/** The next 'message' of `em` that `pred` accepts. */
function nextMessage<M>(em: EventEmitter, pred: (m: M) => boolean): Promise<M> {
  return new Promise((resolve) => {
    const f = (m: M) => {
      if (!pred(m)) return;
      em.off('message', f);
      resolve(m);
    };
    em.on('message', f);
  });
}

async function peerBus(address: string): Promise<MessageBus> {
  const bus = dbus.sessionBus({ busAddress: address });
  await new Promise<void>((resolve, reject) => {
    bus.once('connect', () => resolve());
    bus.once('error', reject);
  });
  return bus;
}

function promiseOf<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('DBusConnection on a private bus', { skip: NO_DAEMON }, () => {
  let daemon: DbusDaemon;
  const conns: DBusConnection[] = [];
  const peers: MessageBus[] = [];
  const open = async () => {
    const c = await DBusConnection.connect(daemon.address);
    conns.push(c);
    return c;
  };
  const peer = async () => {
    const p = await peerBus(daemon.address);
    peers.push(p);
    return p;
  };
  before(async () => {
    daemon = await startDbusDaemon();
  });
  after(async () => {
    for (const c of conns) c.close();
    for (const p of peers) p.disconnect();
    await daemon?.stop();
  });

  test('connects with a unique name; close is idempotent and calls onClose once', async () => {
    const c = await DBusConnection.connect(daemon.address);
    assert.match(c.name, /^:\d+\.\d+$/);
    assert.equal(c.open, true);
    let closes = 0;
    let events = 0;
    const unsubscribed = c.onClose(() => assert.fail('unsubscribed callback called'));
    c.onClose(() => closes++);
    c.on('close', () => events++);
    unsubscribed();
    c.close();
    c.close();
    assert.equal(c.open, false);
    assert.equal(closes, 1);
    assert.equal(events, 1);
    assert.throws(() => c.send(signal('/a', 'org.test.A', 'B')), /closed/);
    await assert.rejects(
      c.call(call({ ...BUS, member: 'ListNames' })),
      (e: DBusError) => e.type === NO_REPLY,
    );
    // Already closed: the callback runs in a microtask.
    let late = false;
    c.onClose(() => {
      late = true;
    });
    assert.equal(late, false);
    await Promise.resolve();
    assert.equal(late, true);
  });

  test('mechanisms: only those asked for are tried; an unknown one is refused before connecting', async () => {
    await assert.rejects(
      DBusConnection.connect(daemon.address, { mechanisms: ['ANONYMOUS'] }),
      /authentication with unix:path=.* failed: authentication rejected \(server offers: EXTERNAL\)/,
    );
    await assert.rejects(
      DBusConnection.connect(daemon.address, { mechanisms: ['KERBEROS_V4' as 'ANONYMOUS'] }),
      /unsupported authentication mechanism "KERBEROS_V4"/,
    );
    const c = await open();
    assert.equal(c.open, true);
  });

  test('calls the bus driver: ListNames, and GetNameOwner failing with a DBusError', async () => {
    const c = await open();
    const names = await c.call(call({ ...BUS, member: 'ListNames' }));
    assert.equal(names.type, MessageType.METHOD_RETURN);
    assert.equal(names.signature, 'as');
    assert.ok((names.body[0] as string[]).includes(c.name));
    assert.ok((names.body[0] as string[]).includes('org.freedesktop.DBus'));
    const owner = await c.call(
      call({ ...BUS, member: 'GetNameOwner', signature: 's', body: ['org.freedesktop.DBus'] }),
    );
    assert.deepEqual(owner.body, ['org.freedesktop.DBus']);
    await assert.rejects(
      c.call(call({ ...BUS, member: 'GetNameOwner', signature: 's', body: ['org.test.Nobody'] })),
      (e: unknown) => {
        assert.ok(e instanceof DBusError);
        assert.equal(e.type, 'org.freedesktop.DBus.Error.NameHasNoOwner');
        assert.match(e.text, /org\.test\.Nobody/);
        assert.equal(e.reply?.type, MessageType.ERROR);
        return true;
      },
    );
  });

  test('requestName and releaseName resolve with the bus driver codes', async () => {
    const a = await open();
    const b = await open();
    assert.equal(await a.requestName('org.test.Name', 4), 1); // PRIMARY_OWNER
    assert.equal(await a.requestName('org.test.Name', 4), 4); // ALREADY_OWNER
    assert.equal(await b.requestName('org.test.Name', 4), 3); // EXISTS (DO_NOT_QUEUE)
    assert.equal(await b.requestName('org.test.Name', 0), 2); // IN_QUEUE
    assert.equal(await b.releaseName('org.test.Other'), 2); // NON_EXISTENT
    assert.equal(await b.releaseName('org.test.Name'), 1); // RELEASED (from the queue)
    assert.equal(await b.releaseName('org.test.Name'), 3); // NOT_OWNER
    assert.equal(await a.releaseName('org.test.Name'), 1);
    await assert.rejects(
      a.requestName(':1.1', 0),
      (e: DBusError) => e.type === 'org.freedesktop.DBus.Error.InvalidArgs',
    );
  });

  test('answers a dbus-next caller from a method handler: a{sv}, aa{ss}, ay, t both ways', async () => {
    const c = await open();
    const p = await peer();
    let got: unknown[] | undefined;
    c.addMethodHandler((m) => {
      if (m.interface !== 'org.test.Echo') return false;
      if (m.member === 'Echo') {
        got = m.body;
        c.send(methodReturn(m, m.signature, m.body));
      } else {
        c.send(
          methodReturn(m, 'a{sv}aa{ss}ayt', [
            { s: new Variant('s', 'text'), u: new Variant('u', 7), as: new Variant('as', ['x', 'y']) },
            [{ a: '1' }, {}, { b: '2', c: '3' }],
            Buffer.from([0, 1, 254, 255]),
            2n ** 64n - 1n,
          ]),
        );
      }
      return true;
    });
    const body = [
      { s: new dbus.Variant('s', 'text'), b: new dbus.Variant('b', true) },
      [{ k: 'v' }, { k2: 'v2', k3: '' }],
      Buffer.from([1, 2, 3]),
      2n ** 63n + 5n,
    ];
    const reply = await p.call(
      new dbus.Message({
        destination: c.name,
        path: '/org/test',
        interface: 'org.test.Echo',
        member: 'Echo',
        signature: 'a{sv}aa{ss}ayt',
        body,
      }),
    );
    // What our codec decoded…
    assert.ok(got);
    const [dict, list, bytes, big] = got as [Record<string, Variant>, unknown, Buffer, bigint];
    assert.deepEqual(Object.keys(dict), ['s', 'b']);
    assert.equal(dict['s']?.signature, 's');
    assert.equal(dict['s']?.value, 'text');
    assert.equal(dict['b']?.signature, 'b');
    assert.equal(dict['b']?.value, true);
    assert.deepEqual(list, [{ k: 'v' }, { k2: 'v2', k3: '' }]);
    assert.deepEqual([...bytes], [1, 2, 3]);
    assert.equal(big, 2n ** 63n + 5n);
    // …and what dbus-next decoded of our encoding of it.
    assert.equal(reply.signature, 'a{sv}aa{ss}ayt');
    const [d2, l2, b2, t2] = reply.body as [
      Record<string, { signature: string; value: unknown }>,
      unknown,
      Buffer,
      unknown,
    ];
    assert.deepEqual(
      Object.entries(d2).map(([k, v]) => [k, v.signature, v.value]),
      [
        ['s', 's', 'text'],
        ['b', 'b', true],
      ],
    );
    assert.deepEqual(l2, [{ k: 'v' }, { k2: 'v2', k3: '' }]);
    assert.deepEqual([...b2], [1, 2, 3]);
    assert.equal(t2, 2n ** 63n + 5n);

    const made = await p.call(
      new dbus.Message({
        destination: c.name,
        path: '/org/test',
        interface: 'org.test.Echo',
        member: 'Make',
      }),
    );
    const [d3, l3, b3, t3] = made.body as [
      Record<string, { signature: string; value: unknown }>,
      unknown,
      Buffer,
      unknown,
    ];
    assert.deepEqual(
      Object.entries(d3).map(([k, v]) => [k, v.signature, v.value]),
      [
        ['s', 's', 'text'],
        ['u', 'u', 7],
        ['as', 'as', ['x', 'y']],
      ],
    );
    assert.deepEqual(l3, [{ a: '1' }, {}, { b: '2', c: '3' }]);
    assert.deepEqual([...b3], [0, 1, 254, 255]);
    assert.equal(t3, 2n ** 64n - 1n);
  });

  test('calls a service dbus-next exports; its errors arrive as DBusError', async () => {
    const c = await open();
    const p = await peer();
    class Calc extends dbus.interface.Interface {
      Add(a: number, b: number): number {
        return a + b;
      }
      Fail(): void {
        throw new dbus.DBusError('org.test.Error.Nope', 'nope, said the service');
      }
    }
    Calc.configureMembers({ methods: { Add: { inSignature: 'ii', outSignature: 'i' }, Fail: {} } });
    p.export('/org/test/Calc', new Calc('org.test.Calc'));
    const target = { destination: p.name!, path: '/org/test/Calc', interface: 'org.test.Calc' };
    const sum = await c.call(call({ ...target, member: 'Add', signature: 'ii', body: [40, -2] }));
    assert.equal(sum.signature, 'i');
    assert.deepEqual(sum.body, [38]);
    assert.equal(sum.sender, p.name);
    await assert.rejects(c.call(call({ ...target, member: 'Fail' })), (e: unknown) => {
      assert.ok(e instanceof DBusError);
      assert.equal(e.type, 'org.test.Error.Nope');
      assert.equal(e.text, 'nope, said the service');
      return true;
    });
  });

  test('signals both ways, seen through "message"', async () => {
    const c = await open();
    const p = await peer();
    await p.call(
      new dbus.Message({
        ...BUS,
        member: 'AddMatch',
        signature: 's',
        body: ["type='signal',interface='org.test.Sig'"],
      }),
    );
    await c.call(
      call({ ...BUS, member: 'AddMatch', signature: 's', body: ["type='signal',interface='org.test.Sig'"] }),
    );

    const atPeer = nextMessage<{ member?: string; sender?: string; body: unknown[] }>(
      p,
      (m) => m.member === 'Tick',
    );
    c.send(signal('/org/test', 'org.test.Sig', 'Tick', 'sua{sv}', ['a', 1, { v: new Variant('x', -3n) }]));
    const tick = await atPeer;
    assert.equal(tick.sender, c.name);
    assert.equal(tick.body[0], 'a');
    assert.equal(tick.body[1], 1);
    const v = (tick.body[2] as Record<string, { signature: string; value: unknown }>)['v'];
    assert.equal(v?.signature, 'x');
    assert.equal(v?.value, -3n);

    const atUs = nextMessage<Message>(c, (m) => m.member === 'Tock');
    p.send(dbus.Message.newSignal('/org/test', 'org.test.Sig', 'Tock', 'as', [['x', 'y']]));
    const tock = await atUs;
    assert.equal(tock.type, MessageType.SIGNAL);
    assert.equal(tock.sender, p.name);
    assert.equal(tock.path, '/org/test');
    assert.deepEqual(tock.body, [['x', 'y']]);
  });

  test('unhandled calls: Peer Ping and GetMachineId answered, others UnknownMethod; handlers in order', async () => {
    const c = await open();
    const p = await peer();
    const to = (m: { interface: string; member: string; signature?: string; body?: unknown[] }) =>
      p.call(new dbus.Message({ destination: c.name, path: '/any', ...m }));
    const ping = await to({ interface: 'org.freedesktop.DBus.Peer', member: 'Ping' });
    assert.equal(ping.type, dbus.MessageType.METHOD_RETURN);
    assert.deepEqual(ping.body, []);
    const id = await to({ interface: 'org.freedesktop.DBus.Peer', member: 'GetMachineId' });
    let want = '';
    for (const f of ['/var/lib/dbus/machine-id', '/etc/machine-id']) {
      try {
        want = readFileSync(f, 'latin1').trim();
        if (want) break;
      } catch {}
    }
    assert.deepEqual(id.body, [want]);
    await assert.rejects(
      to({ interface: 'org.test.X', member: 'Nope', signature: 's', body: ['a'] }),
      (e: DBusError) => {
        assert.equal(e.type, 'org.freedesktop.DBus.Error.UnknownMethod');
        assert.match(e.text, /'Nope'/);
        assert.match(e.text, /'org\.test\.X'/);
        assert.match(e.text, /'s'/);
        return true;
      },
    );
    // Ping with arguments is not Ping.
    await assert.rejects(
      to({ interface: 'org.freedesktop.DBus.Peer', member: 'Ping', signature: 's', body: ['x'] }),
      (e: DBusError) => e.type === 'org.freedesktop.DBus.Error.UnknownMethod',
    );

    // Handlers run in order until one returns true; a removed one is not consulted; one that throws gets Failed.
    const order: string[] = [];
    const first = (m: Message) => {
      order.push('first');
      return m.member === 'First';
    };
    const second = (m: Message) => {
      order.push('second');
      if (m.member === 'Throw') throw new Error('handler bug');
      if (m.member === 'Ping') {
        c.send(methodReturn(m, 's', ['mine']));
        return true;
      }
      return false;
    };
    const removed = () => assert.fail('removed handler called');
    c.addMethodHandler(removed);
    c.addMethodHandler(first);
    c.addMethodHandler(second);
    c.removeMethodHandler(removed);
    const own = await to({ interface: 'org.freedesktop.DBus.Peer', member: 'Ping' });
    assert.deepEqual(own.body, ['mine']);
    assert.deepEqual(order, ['first', 'second']);
    let errors = 0;
    c.on('error', () => errors++);
    await assert.rejects(to({ interface: 'org.test.X', member: 'Throw' }), (e: DBusError) => {
      assert.equal(e.type, 'org.freedesktop.DBus.Error.Failed');
      assert.match(e.text, /handler bug/);
      return true;
    });
    assert.equal(errors, 1);
  });

  test('no reply to an unknown method called with NO_REPLY_EXPECTED', async () => {
    const c = await open();
    const caller = await open();
    const seen: Message[] = [];
    caller.on('message', (m: Message) => seen.push(m));
    const quiet = call({
      destination: c.name,
      path: '/x',
      interface: 'org.test.X',
      member: 'Nope',
      flags: MessageFlag.NO_REPLY_EXPECTED,
    });
    const s1 = caller.send(quiet);
    assert.equal(quiet.serial, s1);
    // Messages between two connections keep their order: once the Ping's reply is in, an error would be too.
    await caller.call(
      call({ destination: c.name, path: '/x', interface: 'org.freedesktop.DBus.Peer', member: 'Ping' }),
    );
    assert.deepEqual(
      seen.filter((m) => m.replySerial === s1),
      [],
    );
  });

  test('serials increase; a message the codec refuses throws and writes nothing', async () => {
    const c = await open();
    const a = c.send(signal('/a', 'org.test.A', 'B'));
    const b = c.send(signal('/a', 'org.test.A', 'B'));
    assert.equal(b, a + 1);
    assert.throws(() => c.send(signal('/a', 'org.test.A', 'B', 's', [42])));
    assert.throws(() => c.send(signal('not a path', 'org.test.A', 'B')));
    // The connection is intact: the bus would have dropped it after a malformed message.
    const ping = await c.call(call({ ...BUS, interface: 'org.freedesktop.DBus.Peer', member: 'Ping' }));
    assert.equal(ping.type, MessageType.METHOD_RETURN);
    assert.equal(c.open, true);
    await assert.rejects(c.call(signal('/a', 'org.test.A', 'B')), /method call/);
  });

  test('a call nobody answers rejects with NoReply at its timeout; a late reply is ignored', async () => {
    const c = await open();
    const server = await open();
    let held: Message | undefined;
    server.addMethodHandler((m) => {
      if (m.member !== 'Hold') return false;
      held = m;
      return true;
    });
    const t0 = Date.now();
    await assert.rejects(
      c.call(call({ destination: server.name, path: '/x', interface: 'org.test.X', member: 'Hold' }), {
        timeoutMs: 200,
      }),
      (e: unknown) => {
        assert.ok(e instanceof DBusError);
        assert.equal(e.type, NO_REPLY);
        assert.match(e.text, /org\.test\.X\.Hold/);
        return true;
      },
    );
    assert.ok(Date.now() - t0 >= 190);
    assert.ok(held);
    const late = nextMessage<Message>(c, (m) => m.replySerial === held?.serial);
    server.send(methodReturn(held, 's', ['too late']));
    const m = await late;
    assert.deepEqual(m.body, ['too late']);
    assert.equal(c.open, true);
  });
});

describe('bus loss', { skip: NO_DAEMON }, () => {
  test('pending calls reject with NoReply and onClose fires when dbus-daemon stops; no error needed', async () => {
    const daemon = await startDbusDaemon();
    try {
      const c = await DBusConnection.connect(daemon.address);
      const server = await DBusConnection.connect(daemon.address);
      const held = promiseOf<void>();
      server.addMethodHandler(() => {
        held.resolve();
        return true;
      });
      const closed = promiseOf<void>();
      c.onClose(() => closed.resolve());
      const closeEvent = promiseOf<Error | undefined>();
      c.once('close', (e?: Error) => closeEvent.resolve(e));
      const pending = c
        .call(call({ destination: server.name, path: '/x', interface: 'org.test.X', member: 'Hold' }))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      await held.promise;
      await daemon.stop();
      const err = await pending;
      assert.ok(err instanceof DBusError);
      assert.equal(err.type, NO_REPLY);
      assert.match(err.text, /closed/);
      await closed.promise;
      assert.equal(await closeEvent.promise, undefined);
      assert.equal(c.open, false);
      assert.throws(() => c.send(signal('/a', 'org.test.A', 'B')), /closed/);
      await assert.rejects(
        c.call(call({ ...BUS, member: 'ListNames' })),
        (e: DBusError) => e.type === NO_REPLY && /closed/.test(e.text),
      );
      const serverClosed = promiseOf<void>();
      server.onClose(() => serverClosed.resolve());
      await serverClosed.promise;
    } finally {
      await daemon.stop();
    }
  });
});

/** A fake D-Bus server on a unix socket in a temp dir: `onLine` gets each SASL line (the NUL byte dropped). */
interface Fake {
  address: string;
  server: Server;
  /** Resolves when the server side of the first connection closes. */
  closed: Promise<void>;
  stop(): Promise<void>;
}

async function fakeServer(
  onLine: (line: string, sock: Socket) => void,
  onBegin?: (sock: Socket, rest: Buffer) => void,
): Promise<Fake> {
  const dir = mkdtempSync(join(tmpdir(), 'stas-fake-dbus-'));
  const path = join(dir, 'bus');
  const closed = promiseOf<void>();
  const sockets = new Set<Socket>();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => {});
    sock.on('close', () => {
      sockets.delete(sock);
      closed.resolve();
    });
    let buf = '';
    let begun = false;
    sock.on('data', (d: Buffer) => {
      if (begun) return;
      buf += d.toString('latin1');
      if (buf.startsWith('\0')) buf = buf.slice(1);
      for (let nl = buf.indexOf('\r\n'); nl >= 0 && !begun; nl = buf.indexOf('\r\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        if (line === 'BEGIN') {
          begun = true;
          onBegin?.(sock, Buffer.from(buf, 'latin1'));
        } else onLine(line, sock);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    address: `unix:path=${path}`,
    server,
    closed: closed.promise,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const GUID = '0123456789abcdef0123456789abcdef';

/** Accepts any AUTH, then answers Hello with ":1.1" and hands the socket to `then`. */
function helloServer(then: (sock: Socket) => void): Promise<Fake> {
  return fakeServer(
    (line, sock) => {
      if (line.startsWith('AUTH')) sock.write(`OK ${GUID}\r\n`);
      else sock.write('ERROR\r\n');
    },
    (sock, rest) => {
      const parser = new MessageParser();
      const data = (d: Buffer) => {
        for (const m of parser.push(d)) {
          if (m.member === 'Hello') {
            sock.write(encodeMessage(methodReturn(m, 's', [':1.1']), 1));
            then(sock);
          }
        }
      };
      sock.on('data', data);
      data(rest);
    },
  );
}

describe('connect failures', () => {
  test('a missing socket, a refused port, a bad address: clear errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stas-no-dbus-'));
    try {
      await assert.rejects(DBusConnection.connect(`unix:path=${dir}/nothing`), /socket missing.*ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const s = createServer();
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const port = (s.address() as { port: number }).port;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    await assert.rejects(DBusConnection.connect(`tcp:host=127.0.0.1,port=${port}`), /connection refused/);
    await assert.rejects(DBusConnection.connect('x11:display=0'), /bad D-Bus address.*"x11" not supported/);
    await assert.rejects(DBusConnection.connect(''), /bad D-Bus address/);
    await assert.rejects(DBusConnection.connect('unix:path=/a%zz'), /bad percent-escape/);
  });

  test('a server that rejects every mechanism: authentication error, socket closed', async () => {
    const lines: string[] = [];
    const fake = await fakeServer((line, sock) => {
      lines.push(line);
      sock.write(line.startsWith('AUTH') ? 'REJECTED EXTERNAL\r\n' : 'ERROR\r\n');
    });
    try {
      await assert.rejects(DBusConnection.connect(fake.address), /authentication.*failed/);
      await fake.closed;
      assert.match(lines[0] ?? '', /^AUTH EXTERNAL [0-9a-f]+$/);
    } finally {
      await fake.stop();
    }
  });

  test('a server that never answers: timeout, socket closed', async () => {
    const fake = await fakeServer(() => {});
    try {
      await assert.rejects(
        DBusConnection.connect(fake.address, { timeoutMs: 200 }),
        /no answer within 200 ms/,
      );
      await fake.closed;
    } finally {
      await fake.stop();
    }
  });

  test('garbage after BEGIN: connect rejects, socket closed', async () => {
    const fake = await fakeServer(
      (line, sock) => sock.write(line.startsWith('AUTH') ? `OK ${GUID}\r\n` : 'ERROR\r\n'),
      (sock) => sock.write(Buffer.from('this is no D-Bus message at all, not even its header')),
    );
    try {
      await assert.rejects(
        DBusConnection.connect(fake.address),
        /closed during Hello: malformed D-Bus message/,
      );
      await fake.closed;
    } finally {
      await fake.stop();
    }
  });

  test('garbage after connect: "error" and "close" with the error; unheard, no crash', async () => {
    for (const listen of [true, false]) {
      const sockets: Socket[] = [];
      const fake = await helloServer((sock) => sockets.push(sock));
      try {
        const c = await DBusConnection.connect(fake.address);
        assert.equal(c.name, ':1.1');
        const errors: Error[] = [];
        if (listen) c.on('error', (e: Error) => errors.push(e));
        const closed = promiseOf<Error | undefined>();
        c.once('close', (e?: Error) => closed.resolve(e));
        const onClose = promiseOf<void>();
        c.onClose(() => onClose.resolve());
        sockets[0]?.write(Buffer.alloc(64, 0x42));
        const e = await closed.promise;
        await onClose.promise;
        assert.match(e?.message ?? '', /malformed D-Bus message/);
        assert.deepEqual(
          errors.map((x) => x.message),
          listen ? [e?.message] : [],
        );
        assert.equal(c.open, false);
        await fake.closed;
      } finally {
        await fake.stop();
      }
    }
  });

  test('several addresses: the first that opens is used', async () => {
    const fake = await helloServer(() => {});
    try {
      const c = await DBusConnection.connect(`unix:path=/nonexistent/stas/bus;${fake.address}`);
      assert.equal(c.name, ':1.1');
      c.close();
      await assert.rejects(
        DBusConnection.connect('unix:path=/nonexistent/a;unix:path=/nonexistent/b'),
        /\/nonexistent\/a: socket missing.*\/nonexistent\/b: socket missing/,
      );
    } finally {
      await fake.stop();
    }
  });
});

describe('other transports and mechanisms', { skip: NO_DAEMON }, () => {
  test('unix:abstract (EXTERNAL)', async (t) => {
    let d: DbusDaemon;
    try {
      d = await startDbusDaemon({ listen: `unix:abstract=stas-test-${process.pid}`, auth: ['EXTERNAL'] });
    } catch (e) {
      t.skip(`dbus-daemon cannot listen on an abstract socket here: ${(e as Error).message}`);
      return;
    }
    try {
      assert.match(d.address, /^unix:abstract=/);
      let c: DBusConnection;
      try {
        c = await DBusConnection.connect(d.address);
      } catch (e) {
        // Node 20's node:net pads an abstract name with NULs to the whole of sun_path when it connects.
        if (!/connection refused.*abstract names/.test((e as Error).message)) throw e;
        t.skip(
          `node:net of Node ${process.version} cannot reach dbus-daemon's abstract socket: ${(e as Error).message}`,
        );
        return;
      }
      assert.match(c.name, /^:\d+\.\d+$/);
      const r = await c.call(call({ ...BUS, member: 'GetId' }));
      assert.match(r.body[0] as string, /^[0-9a-f]{32}$/);
      c.close();
    } finally {
      await d.stop();
    }
  });

  test('tcp (EXTERNAL refused there, ANONYMOUS next)', async (t) => {
    let d: DbusDaemon;
    try {
      d = await startDbusDaemon({
        listen: 'tcp:host=127.0.0.1,port=0',
        auth: ['ANONYMOUS'],
        allowAnonymous: true,
      });
    } catch (e) {
      t.skip(`dbus-daemon cannot listen on TCP here: ${(e as Error).message}`);
      return;
    }
    try {
      assert.match(d.address, /^tcp:host=127\.0\.0\.1,port=\d+/);
      const c = await DBusConnection.connect(d.address);
      assert.match(c.name, /^:\d+\.\d+$/);
      const names = await c.call(call({ ...BUS, member: 'ListNames' }));
      assert.ok((names.body[0] as string[]).includes(c.name));
      c.close();
    } finally {
      await d.stop();
    }
  });

  test('DBUS_COOKIE_SHA1 with the keyring in $HOME/.dbus-keyrings', async (t) => {
    const home = mkdtempSync(join(tmpdir(), 'stas-dbus-home-'));
    const saved = process.env['HOME'];
    let d: DbusDaemon | undefined;
    try {
      try {
        d = await startDbusDaemon({
          listen: `unix:path=${home}/bus`,
          auth: ['DBUS_COOKIE_SHA1'],
          env: { HOME: home },
        });
      } catch (e) {
        t.skip(`dbus-daemon with DBUS_COOKIE_SHA1 did not start: ${(e as Error).message}`);
        return;
      }
      process.env['HOME'] = home;
      const c = await DBusConnection.connect(d.address);
      assert.match(c.name, /^:\d+\.\d+$/);
      c.close();
      // Without the keyring: a clear error.
      rmSync(join(home, '.dbus-keyrings'), { recursive: true, force: true });
      process.env['HOME'] = join(home, 'elsewhere');
      await assert.rejects(DBusConnection.connect(d.address), /DBUS_COOKIE_SHA1: .*ENOENT/);
    } finally {
      if (saved === undefined) delete process.env['HOME'];
      else process.env['HOME'] = saved;
      await d?.stop();
      rmSync(home, { recursive: true, force: true });
    }
  });
});
