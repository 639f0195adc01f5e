/**
 * A D-Bus connection on a socket (node:net): address, SASL handshake, Hello, serials, replies routed to pending
 * calls, method calls to handlers (Peer Ping/GetMachineId and an UnknownMethod error when none takes them), and
 * close. The wire format is src/core/dbus (pure); this file only moves bytes and keeps the state.
 */
import { EventEmitter } from 'node:events';
import { readFileSync, statSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { type BusAddress, formatBusAddress, parseBusAddress } from '../../core/dbus/address.js';
import { type AuthMechanism, MAX_AUTH_LINE, SaslClient } from '../../core/dbus/auth.js';
import {
  DBusError,
  encodeMessage,
  errorReply,
  type Message,
  MessageFlag,
  MessageParser,
  MessageType,
  message,
  methodReturn,
} from '../../core/dbus/message.js';
import { nodeCrypto } from '../../core/node-crypto.js';

export { parseBusAddress };

const BUS = {
  destination: 'org.freedesktop.DBus',
  path: '/org/freedesktop/DBus',
  interface: 'org.freedesktop.DBus',
};
const PEER = 'org.freedesktop.DBus.Peer';
const NO_REPLY = 'org.freedesktop.DBus.Error.NoReply';
const UNKNOWN_METHOD = 'org.freedesktop.DBus.Error.UnknownMethod';
const FAILED = 'org.freedesktop.DBus.Error.Failed';
const MACHINE_ID_FILES = ['/var/lib/dbus/machine-id', '/etc/machine-id'];

export interface ConnectOptions {
  /** Bound on opening, authenticating and Hello together; default 10 000 ms. */
  timeoutMs?: number;
  /** SASL mechanisms to try, in order; default EXTERNAL, DBUS_COOKIE_SHA1, ANONYMOUS. */
  mechanisms?: readonly AuthMechanism[];
}

export interface CallOptions {
  /** Default 25 000 ms, after which the call rejects with org.freedesktop.DBus.Error.NoReply. */
  timeoutMs?: number;
}

/** A method-call handler: returns true if it took the call (and replies, or not, itself). */
export type MethodHandler = (msg: Message) => boolean;

interface Pending {
  resolve(m: Message): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

type State = 'auth' | 'hello' | 'open' | 'closed';

/** Why connecting to `target` failed (without the address, which the caller names). */
function socketError(target: BusAddress, e: NodeJS.ErrnoException): string {
  const text = e.message.replace(/\0/g, '@');
  switch (e.code) {
    case 'ENOENT':
      return `socket missing (${text})`;
    case 'ECONNREFUSED':
      // Node 20's node:net connects to an abstract name padded with NULs to the full sun_path: only listeners
      // bound the same way (Node's own) answer, not dbus-daemon's exact-length names.
      return target.transport === 'abstract'
        ? `connection refused (${text}; node:net may not reach abstract names bound by dbus-daemon)`
        : `connection refused (${text})`;
    case 'EACCES':
      return `permission denied (${text})`;
    default:
      return text;
  }
}

/** The cookie `id` of keyring `context` (~/.dbus-keyrings/<context>), refusing a directory others could write. */
function readCookie(context: string, id: string): string {
  if (!/^[\x21-\x7e]+$/.test(context) || /[/\\.]/.test(context))
    throw new Error(`bad keyring context "${context}"`);
  const dir = join(homedir(), '.dbus-keyrings');
  const st = statSync(dir);
  if (st.mode & 0o022) throw new Error(`${dir} is writable by others`);
  if (st.uid !== process.getuid?.()) throw new Error(`${dir} is not owned by this user`);
  for (const line of readFileSync(join(dir, context), 'latin1').split('\n')) {
    const [cid, , cookie] = line.trim().split(' ');
    if (cid === id && cookie) return cookie;
  }
  throw new Error(`cookie ${id} not in keyring ${context}`);
}

function describe(m: Message): string {
  return `${m.interface ?? '(none)'}.${m.member ?? '?'} on ${m.path ?? '?'}`;
}

export class DBusConnection extends EventEmitter {
  /**
   * Connects to `address` (entries separated by ';' tried in order until a socket opens), authenticates and says
   * Hello. Rejects with an Error naming the cause, leaving nothing open.
   */
  static connect(address: string, opts: ConnectOptions = {}): Promise<DBusConnection> {
    return new Promise((resolve, reject) => {
      let targets: BusAddress[];
      let sasl: SaslClient;
      try {
        targets = parseBusAddress(address);
        const uid = process.getuid?.() ?? 0;
        sasl = new SaslClient(opts.mechanisms ? { uid, mechanisms: opts.mechanisms } : { uid });
      } catch (e) {
        reject(e);
        return;
      }
      const ms = opts.timeoutMs ?? 10_000;
      let socket: Socket | undefined;
      let conn: DBusConnection | undefined;
      let settled = false;
      const failures: [where: string, why: string][] = [];
      const finish = (e?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (e === undefined && conn) {
          resolve(conn);
          return;
        }
        if (conn) conn.#shutdown(undefined, false);
        else socket?.destroy();
        reject(e);
      };
      const timer = setTimeout(
        () => finish(new Error(`D-Bus connection to ${address}: no answer within ${ms} ms`)),
        ms,
      );
      const attempt = (i: number) => {
        const target = targets[i];
        if (settled) return;
        if (!target) {
          // One address: its failure (the caller names the address); several: each with its address.
          const why = failures.map(([where, text]) => (targets.length === 1 ? text : `${where}: ${text}`));
          finish(new Error(why.join('; ')));
          return;
        }
        const s = createConnection(
          target.transport === 'unix'
            ? { path: target.path }
            : target.transport === 'abstract'
              ? { path: `\0${target.name}` }
              : { host: target.host, port: target.port, ...(target.family ? { family: target.family } : {}) },
        );
        socket = s;
        const onError = (e: NodeJS.ErrnoException) => {
          failures.push([formatBusAddress(target), socketError(target, e)]);
          s.destroy();
          attempt(i + 1);
        };
        s.once('error', onError);
        s.once('connect', () => {
          s.off('error', onError);
          if (settled) s.destroy();
          else conn = new DBusConnection(s, sasl, ms, formatBusAddress(target), finish);
        });
      };
      attempt(0);
    });
  }

  #name = '';
  #state: State = 'auth';
  #serial = 0;
  readonly #socket: Socket;
  readonly #where: string;
  readonly #pending = new Map<number, Pending>();
  readonly #handlers: MethodHandler[] = [];
  readonly #closeCallbacks = new Set<() => void>();
  readonly #parser = new MessageParser();
  #sasl: SaslClient | undefined;
  #authBuf: Buffer = Buffer.alloc(0);
  /** Why a mechanism was given up on the client side (a cookie not read), for the final error. */
  #authNote = '';
  #ready: ((e?: Error) => void) | undefined;
  readonly #helloMs: number;

  private constructor(
    socket: Socket,
    sasl: SaslClient,
    helloMs: number,
    where: string,
    ready: (e?: Error) => void,
  ) {
    super();
    this.#socket = socket;
    this.#where = where;
    this.#ready = ready;
    this.#helloMs = helloMs;
    this.#sasl = sasl;
    socket.setNoDelay?.(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (e) => this.#shutdown(e, false));
    socket.on('close', () => this.#shutdown(undefined, false));
    socket.write(sasl.start());
  }

  /** The unique name the bus gave this connection (":1.42"). */
  get name(): string {
    return this.#name;
  }

  /** True from the Hello reply until the connection closes. */
  get open(): boolean {
    return this.#state === 'open';
  }

  /**
   * Sends `msg` with the next serial (also set on `msg`) and returns that serial. Throws if the connection is
   * closed or the message cannot be encoded (nothing written then).
   */
  send(msg: Message): number {
    if (
      this.#state === 'closed' ||
      this.#state === 'auth' ||
      this.#socket.destroyed ||
      !this.#socket.writable
    ) {
      throw new Error('D-Bus connection is closed');
    }
    const serial = this.#serial === 0xffff_ffff ? 1 : this.#serial + 1;
    const bytes = encodeMessage(msg, serial);
    this.#serial = serial;
    msg.serial = serial;
    this.#socket.write(bytes);
    return serial;
  }

  /**
   * Sends a method call and resolves with its METHOD_RETURN. Rejects with a DBusError: the ERROR reply's, or
   * org.freedesktop.DBus.Error.NoReply after `timeoutMs` or when the connection closes.
   */
  call(msg: Message, opts: CallOptions = {}): Promise<Message> {
    return new Promise((resolve, reject) => {
      if (msg.type !== MessageType.METHOD_CALL || msg.flags & MessageFlag.NO_REPLY_EXPECTED) {
        throw new Error('call() takes a method call expecting a reply (use send() otherwise)');
      }
      if (this.#state === 'closed') {
        reject(new DBusError(NO_REPLY, `${describe(msg)}: the D-Bus connection is closed`));
        return;
      }
      const serial = this.send(msg);
      const ms = opts.timeoutMs ?? 25_000;
      const timer = setTimeout(() => {
        this.#pending.delete(serial);
        reject(new DBusError(NO_REPLY, `${describe(msg)}: no reply within ${ms} ms`));
      }, ms);
      this.#pending.set(serial, { resolve, reject, timer });
    });
  }

  /** Adds a method-call handler, consulted in the order added. */
  addMethodHandler(fn: MethodHandler): void {
    this.#handlers.push(fn);
  }

  removeMethodHandler(fn: MethodHandler): void {
    const i = this.#handlers.indexOf(fn);
    if (i >= 0) this.#handlers.splice(i, 1);
  }

  /** RequestName of the bus driver; resolves with its reply code (1 primary owner … 4 already owner). */
  async requestName(name: string, flags = 0): Promise<number> {
    const reply = await this.call(
      message({ ...BUS, member: 'RequestName', signature: 'su', body: [name, flags] }),
    );
    return reply.body[0] as number;
  }

  /** ReleaseName of the bus driver; resolves with its reply code (1 released, 2 non-existent, 3 not owner). */
  async releaseName(name: string): Promise<number> {
    const reply = await this.call(message({ ...BUS, member: 'ReleaseName', signature: 's', body: [name] }));
    return reply.body[0] as number;
  }

  /** Calls `cb` once when the connection closes (in a microtask if it is closed already); returns an unsubscribe. */
  onClose(cb: () => void): () => void {
    if (this.#state === 'closed') {
      queueMicrotask(cb);
      return () => {};
    }
    const once = () => cb();
    this.#closeCallbacks.add(once);
    return () => this.#closeCallbacks.delete(once);
  }

  /** Closes the connection (what was written is still flushed); idempotent. */
  close(): void {
    this.#shutdown(undefined, true);
  }

  /** Emits 'error' only if someone listens: a daemon must not die because the bus went away. */
  #report(e: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', e);
  }

  /** The one way to the closed state. `graceful` ends the socket after flushing, else destroys it. */
  #shutdown(err: Error | undefined, graceful: boolean): void {
    if (this.#state === 'closed') return;
    const was = this.#state;
    this.#state = 'closed';
    this.#sasl = undefined;
    if (graceful && !this.#socket.destroyed) {
      const s = this.#socket;
      const t = setTimeout(() => s.destroy(), 1000);
      t.unref();
      s.end(() => {
        clearTimeout(t);
        s.destroy();
      });
    } else {
      this.#socket.destroy();
    }
    for (const [serial, p] of this.#pending) {
      clearTimeout(p.timer);
      this.#pending.delete(serial);
      p.reject(new DBusError(NO_REPLY, `the D-Bus connection closed${err ? `: ${err.message}` : ''}`));
    }
    const ready = this.#ready;
    this.#ready = undefined;
    if (ready && was !== 'open') {
      ready(
        new Error(
          `D-Bus connection to ${this.#where} closed during ${was === 'auth' ? 'authentication' : 'Hello'}${
            err ? `: ${err.message}` : ''
          }`,
        ),
      );
      return;
    }
    if (err) this.#report(err);
    this.emit('close', err);
    const cbs = [...this.#closeCallbacks];
    this.#closeCallbacks.clear();
    for (const cb of cbs) {
      try {
        cb();
      } catch (e) {
        this.#report(e as Error);
      }
    }
  }

  #onData(chunk: Buffer): void {
    if (this.#state === 'closed') return;
    if (this.#state === 'auth') {
      this.#authBuf = this.#authBuf.length ? Buffer.concat([this.#authBuf, chunk]) : chunk;
      this.#authLines();
      return;
    }
    this.#messages(chunk);
  }

  #authLines(): void {
    for (;;) {
      if (this.#state !== 'auth' || !this.#sasl) return;
      const end = this.#authBuf.indexOf('\r\n');
      if (end < 0) {
        if (this.#authBuf.length > MAX_AUTH_LINE + 1) this.#authFailed('the server sent an over-long line');
        return;
      }
      const line = this.#authBuf.subarray(0, end).toString('latin1');
      this.#authBuf = this.#authBuf.subarray(end + 2);
      let step: ReturnType<SaslClient['receive']>;
      try {
        step = this.#sasl.receive(line);
      } catch (e) {
        this.#authFailed((e as Error).message);
        return;
      }
      switch (step.kind) {
        case 'send':
          this.#socket.write(step.data);
          break;
        case 'cookie':
          try {
            const cookie = readCookie(step.context, step.id);
            const crypto = nodeCrypto();
            const challenge = crypto.randomBytes(16).toString('hex');
            const hash = crypto
              .createHash('sha1')
              .update(`${step.serverChallenge}:${challenge}:${cookie}`)
              .digest('hex');
            this.#socket.write(this.#sasl.cookieAnswer(challenge, hash));
          } catch (e) {
            // The server answers REJECTED, and the next mechanism is tried.
            this.#authNote = ` (DBUS_COOKIE_SHA1: ${(e as Error).message})`;
            this.#socket.write(this.#sasl.cancelCookie());
          }
          break;
        case 'ok': {
          this.#socket.write(step.data);
          this.#state = 'hello';
          this.#sasl = undefined;
          const rest = this.#authBuf;
          this.#authBuf = Buffer.alloc(0);
          this.#hello();
          if (rest.length) this.#messages(rest);
          return;
        }
        case 'fail':
          this.#authFailed(step.reason);
          return;
      }
    }
  }

  #authFailed(reason: string): void {
    const ready = this.#ready;
    this.#ready = undefined;
    this.#shutdown(undefined, false);
    ready?.(new Error(`D-Bus authentication with ${this.#where} failed: ${reason}${this.#authNote}`));
  }

  #hello(): void {
    this.call(message({ ...BUS, member: 'Hello' }), { timeoutMs: this.#helloMs }).then(
      (reply) => {
        const name = reply.body[0];
        const ready = this.#ready;
        this.#ready = undefined;
        if (typeof name !== 'string' || name === '') {
          this.#shutdown(undefined, false);
          ready?.(new Error(`D-Bus Hello to ${this.#where}: no unique name in the reply`));
          return;
        }
        this.#name = name;
        if (this.#state === 'hello') this.#state = 'open';
        ready?.();
      },
      (e: Error) => {
        const ready = this.#ready;
        this.#ready = undefined;
        this.#shutdown(undefined, false);
        ready?.(new Error(`D-Bus Hello to ${this.#where} failed: ${e.message}`));
      },
    );
  }

  #messages(chunk: Buffer): void {
    let msgs: Message[];
    try {
      msgs = this.#parser.push(chunk);
    } catch (e) {
      this.#shutdown(
        new Error(`malformed D-Bus message from ${this.#where}: ${(e as Error).message}`),
        false,
      );
      return;
    }
    for (const m of msgs) {
      if (this.#state === 'closed') return;
      this.#dispatch(m);
    }
  }

  #dispatch(m: Message): void {
    if (m.type === MessageType.METHOD_RETURN || m.type === MessageType.ERROR) {
      const p = m.replySerial === undefined ? undefined : this.#pending.get(m.replySerial);
      if (p && m.replySerial !== undefined) {
        this.#pending.delete(m.replySerial);
        clearTimeout(p.timer);
        if (m.type === MessageType.ERROR)
          p.reject(new DBusError(m.errorName ?? FAILED, String(m.body[0] ?? ''), m));
        else p.resolve(m);
      }
    } else if (m.type === MessageType.METHOD_CALL) {
      this.#answer(m);
    }
    try {
      this.emit('message', m);
    } catch (e) {
      this.#report(e as Error);
    }
  }

  #reply(call: Message, r: () => Message): void {
    if (call.flags & MessageFlag.NO_REPLY_EXPECTED || this.#state === 'closed') return;
    try {
      this.send(r());
    } catch (e) {
      this.#report(e as Error);
    }
  }

  #answer(m: Message): void {
    try {
      for (const fn of [...this.#handlers]) if (fn(m)) return;
    } catch (e) {
      this.#report(e as Error);
      this.#reply(m, () => errorReply(m, FAILED, `${describe(m)}: ${(e as Error).message}`));
      return;
    }
    if (m.interface === PEER && m.member === 'Ping' && m.signature === '') {
      this.#reply(m, () => methodReturn(m));
    } else if (m.interface === PEER && m.member === 'GetMachineId' && m.signature === '') {
      let id: string | undefined;
      for (const f of MACHINE_ID_FILES) {
        try {
          id = readFileSync(f, 'latin1').trim();
          if (id) break;
        } catch {}
      }
      this.#reply(m, () =>
        id ? methodReturn(m, 's', [id]) : errorReply(m, FAILED, 'no machine id (/etc/machine-id missing)'),
      );
    } else {
      this.#reply(m, () =>
        errorReply(
          m,
          UNKNOWN_METHOD,
          `Method '${m.member}' on interface '${m.interface ?? '(none)'}' with signature '${m.signature}' does not exist`,
        ),
      );
    }
  }
}
