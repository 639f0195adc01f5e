/** Shared D-Bus plumbing: connecting to the bus, caller identity, and exporting an ObjectSpec with dbus-next. */
import dbus, { type DBusError, type Message, type MessageBus } from 'dbus-next/index.js';
import { type InterfaceSpec, introspectionXml, type ObjectSpec, signatureOf } from './idl.js';

export type { MessageBus } from 'dbus-next/index.js';

/** The seven transport-ID arguments of get_log_pages, controller_info and log_pages_changed, in IDL order. */
export type TidArgs = [
  transport: string,
  traddr: string,
  trsvcid: string,
  subsysnqn: string,
  host_traddr: string,
  host_iface: string,
  host_nqn: string,
];

/**
 * Who called: handed to every API method as its optional last argument. `uid` is the caller's Unix user
 * (org.freedesktop.DBus.GetConnectionUnixUser), `undefined` when the bus could not tell: treat that as
 * non-root, i.e. mask secrets unless `uid === 0`.
 */
export interface CallContext {
  readonly sender: string | undefined;
  readonly uid: number | undefined;
}

export type Awaitable<T> = T | Promise<T>;

export const DEFAULT_SYSTEM_BUS_ADDRESS = 'unix:path=/var/run/dbus/system_bus_socket';
export const ERROR_FAILED = 'org.freedesktop.DBus.Error.Failed';
export const ERROR_PROPERTY_READ_ONLY = 'org.freedesktop.DBus.Error.PropertyReadOnly';

const BUS_NAME = 'org.freedesktop.DBus';
const BUS_PATH = '/org/freedesktop/DBus';

export interface OpenBusOptions {
  /** Bus address; default $DBUS_SYSTEM_BUS_ADDRESS (read now), else the standard system bus socket. */
  address?: string;
  /** Give up connecting after this long (ms). Default 10 000. */
  timeoutMs?: number;
  /**
   * Errors of the connection once it is up (mostly: writing after the bus went away). Default: ignored
   * (an 'error' event without a listener would end the process); learn about a lost bus from `onClose`.
   */
  onError?: (err: Error) => void;
  /** The bus closed the connection (dbus-daemon stopped or restarted): pending calls will time out. */
  onClose?: () => void;
}

/** The address `openSystemBus` connects to without an explicit one: $DBUS_SYSTEM_BUS_ADDRESS or the default. */
export function systemBusAddress(env: NodeJS.ProcessEnv = process.env): string {
  const a = env['DBUS_SYSTEM_BUS_ADDRESS'];
  return a !== undefined && a !== '' ? a : DEFAULT_SYSTEM_BUS_ADDRESS;
}

/**
 * Connects to the system bus (or `address`) and resolves once the bus has answered Hello (`bus.name` set).
 * Rejects with a clear message if the socket is missing, refuses, or authentication fails.
 */
export function openSystemBus(opts: OpenBusOptions = {}): Promise<MessageBus> {
  const address = opts.address ?? systemBusAddress();
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    let bus: MessageBus;
    try {
      bus = dbus.sessionBus({ busAddress: address });
    } catch (e) {
      reject(new Error(`cannot connect to D-Bus at ${address}: ${errorText(e)}`));
      return;
    }
    const fail = (err: unknown) => {
      clearTimeout(timer);
      bus.removeListener('connect', ok);
      bus.removeListener('error', fail);
      bus.on('error', () => {}); // late errors of the abandoned connection
      try {
        bus.disconnect();
      } catch {
        // already closed
      }
      reject(new Error(`cannot connect to D-Bus at ${address}: ${errorText(err)}`));
    };
    const ok = () => {
      clearTimeout(timer);
      bus.removeListener('error', fail);
      bus.on('error', opts.onError ?? (() => {}));
      if (opts.onClose) onBusClose(bus, opts.onClose);
      resolve(bus);
    };
    const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    bus.once('connect', ok);
    bus.on('error', fail);
  });
}

// dbus-next does not tell when its socket closes: these two look at its (pinned, 0.10.2) internals.
interface StreamLike {
  writable?: boolean;
  destroyed?: boolean;
  once?: (ev: 'close', f: () => void) => void;
}

function streamOf(bus: MessageBus): StreamLike | undefined {
  return (bus as unknown as { _connection?: { stream?: StreamLike } })._connection?.stream;
}

/** False once the connection to the bus is closed (sending then fails; calls never get a reply). */
export function busIsOpen(bus: MessageBus): boolean {
  const s = streamOf(bus);
  return !s || (s.writable !== false && s.destroyed !== true);
}

const closeWatchers = new WeakMap<MessageBus, Set<() => void>>();

/** Calls `cb` once when the connection closes (at once if it already is); returns an unsubscribe. */
export function onBusClose(bus: MessageBus, cb: () => void): () => void {
  if (!busIsOpen(bus)) {
    queueMicrotask(cb);
    return () => {};
  }
  let set = closeWatchers.get(bus);
  if (!set) {
    const s = streamOf(bus);
    if (!s?.once) return () => {};
    const watchers = new Set<() => void>();
    set = watchers;
    closeWatchers.set(bus, watchers);
    // One listener per connection, however many calls are pending.
    s.once('close', () => {
      for (const f of [...watchers]) f();
      watchers.clear();
    });
  }
  const watchers = set;
  const once = () => {
    watchers.delete(once);
    cb();
  };
  watchers.add(once);
  return () => {
    watchers.delete(once);
  };
}

/** Calls a method of the bus driver (org.freedesktop.DBus). */
async function busDriverCall(bus: MessageBus, member: string, signature: string, body: unknown[]) {
  const reply = await bus.call(
    new dbus.Message({ destination: BUS_NAME, path: BUS_PATH, interface: BUS_NAME, member, signature, body }),
  );
  return reply.body;
}

/** The Unix uid of the connection `sender` (a unique name such as ":1.42"), or undefined if unknown. */
export async function callerUid(bus: MessageBus, sender: string | undefined): Promise<number | undefined> {
  if (!sender) return undefined;
  try {
    const [uid] = await busDriverCall(bus, 'GetConnectionUnixUser', 's', [sender]);
    return typeof uid === 'number' ? uid : undefined;
  } catch {
    return undefined;
  }
}

/** True only if the bus says `sender` runs as root: the daemon shows secrets to root callers only. */
export async function callerIsRoot(bus: MessageBus, sender: string | undefined): Promise<boolean> {
  return (await callerUid(bus, sender)) === 0;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Checks a value against the few signatures stas' interfaces use (s, b, a{ss}, aa{ss}). */
export function valueMatches(signature: string, v: unknown): boolean {
  switch (signature) {
    case 's':
      return typeof v === 'string';
    case 'b':
      return typeof v === 'boolean';
    case 'a{ss}':
      return (
        typeof v === 'object' &&
        v !== null &&
        !Array.isArray(v) &&
        Object.values(v as Record<string, unknown>).every((x) => typeof x === 'string')
      );
    case 'aa{ss}':
      return Array.isArray(v) && v.every((x) => valueMatches('a{ss}', x));
    default:
      return false;
  }
}

function isDBusError(e: unknown): e is DBusError {
  return e instanceof Error && e.name === 'DBusError' && typeof (e as DBusError).type === 'string';
}

/** The implementation behind an exported object, keyed by `interface.member` / `interface.property`. */
export interface ObjectImpl {
  methods: Record<string, (args: unknown[], ctx: CallContext) => Awaitable<unknown>>;
  properties: Record<string, { get(): unknown; set?(value: unknown): void }>;
}

export interface ExportOptions {
  /** Told about every failed API call (the caller gets a D-Bus error; the daemon keeps running). */
  onMethodError?: (member: string, err: unknown) => void;
}

/** An exported object that owns its well-known name. */
export interface ExportedObject {
  readonly spec: ObjectSpec;
  /** Emits a signal of the object; false if it could not be sent (bad arguments, connection closed). */
  emit(iface: string, signal: string, args: unknown[]): boolean;
  /** Releases the name and removes the object from the bus (the connection stays open). */
  close(): Promise<void>;
}

type MethodFn = (...args: unknown[]) => unknown;

const HARDENED = Symbol.for('stas.dbus.hardened-send');

/**
 * dbus-next sends a method's reply from a promise callback; once the connection is closed that send throws
 * (or emits 'error' with no listener) and the rejection would end the process. A reply nobody can receive
 * is simply dropped instead.
 */
function hardenSend(bus: MessageBus): void {
  const b = bus as MessageBus & { [HARDENED]?: boolean };
  if (b[HARDENED]) return;
  b[HARDENED] = true;
  const send = bus.send.bind(bus);
  bus.send = (msg: Message) => {
    try {
      send(msg);
    } catch {
      // connection closed: nobody to answer
    }
  };
}

/** Builds a dbus-next Interface subclass for one InterfaceSpec, its members forwarding to `call`/`impl`. */
function buildInterface(
  spec: InterfaceSpec,
  call: (member: string, args: unknown[]) => Promise<unknown>,
  impl: ObjectImpl,
  onError: (member: string, err: unknown) => void,
) {
  class Exported extends dbus.interface.Interface {}
  const proto = Exported.prototype as unknown as Record<string, unknown>;
  const properties: Record<string, { signature: string; access: 'read' | 'readwrite' }> = {};
  const methods: Record<string, { inSignature: string; outSignature: string }> = {};
  const signals: Record<string, { signature: string }> = {};
  for (const p of spec.properties) {
    const key = `${spec.name}.${p.name}`;
    const pimpl = impl.properties[key];
    if (!pimpl) throw new Error(`no implementation for property ${key}`);
    properties[p.name] = { signature: p.type, access: p.access };
    Object.defineProperty(proto, p.name, {
      get() {
        let v: unknown;
        try {
          v = pimpl.get();
        } catch (e) {
          onError(key, e);
          throw isDBusError(e) ? e : new dbus.DBusError(ERROR_FAILED, `${p.name}: ${errorText(e)}`);
        }
        if (!valueMatches(p.type, v)) {
          onError(key, new Error(`invalid value for signature ${p.type}`));
          throw new dbus.DBusError(ERROR_FAILED, `${p.name}: the daemon returned an invalid value`);
        }
        return v;
      },
      set(v: unknown) {
        if (p.access !== 'readwrite' || !pimpl.set) {
          throw new dbus.DBusError(ERROR_PROPERTY_READ_ONLY, `property ${p.name} is read-only`);
        }
        try {
          pimpl.set(v);
        } catch (e) {
          onError(key, e);
          throw isDBusError(e) ? e : new dbus.DBusError(ERROR_FAILED, `${p.name}: ${errorText(e)}`);
        }
      },
    });
  }
  for (const m of spec.methods) {
    methods[m.name] = { inSignature: signatureOf(m.in), outSignature: signatureOf(m.out) };
    proto[m.name] = ((...args: unknown[]) => call(m.name, args)) satisfies MethodFn;
  }
  for (const sig of spec.signals) {
    signals[sig.name] = { signature: signatureOf(sig.args) };
    // dbus-next emits what this returns: one value for a one-argument signal, else the array.
    proto[sig.name] = ((...args: unknown[]) => (sig.args.length === 1 ? args[0] : args)) satisfies MethodFn;
  }
  Exported.configureMembers({ properties, methods, signals });
  return new Exported(spec.name);
}

/**
 * Exports `spec` on `bus` backed by `impl`, then requests its well-known name (DO_NOT_QUEUE). Rejects, with
 * nothing left exported, if the name is taken ("another stafd owns org.nvmexpress.staf") or not allowed.
 * API exceptions become D-Bus errors (org.freedesktop.DBus.Error.Failed, "member: message").
 */
export async function exportObject(
  bus: MessageBus,
  spec: ObjectSpec,
  impl: ObjectImpl,
  opts: ExportOptions = {},
): Promise<ExportedObject> {
  const onError = (member: string, err: unknown) => {
    try {
      opts.onMethodError?.(member, err);
    } catch {
      // a failing logger must not take the service down
    }
  };
  // Unique names are never reused on a bus and a connection's uid never changes: a small cache is exact.
  const uids = new Map<string, number | undefined>();
  const uidOf = async (sender: string | undefined) => {
    if (!sender) return undefined;
    if (uids.has(sender)) return uids.get(sender);
    const uid = await callerUid(bus, sender);
    if (uids.size >= 256) uids.delete(uids.keys().next().value as string);
    uids.set(sender, uid);
    return uid;
  };

  // dbus-next hands a method only its arguments: the sender is taken from the message just before the
  // (synchronous) dispatch, by the method handler below.
  let currentSender: string | undefined;
  const instances = new Map<string, InstanceType<typeof dbus.interface.Interface>>();
  const readOnly = new Set<string>();
  for (const iface of spec.interfaces) {
    const call = (member: string, args: unknown[]) => {
      const sender = currentSender;
      const key = `${iface.name}.${member}`;
      const m = iface.methods.find((x) => x.name === member)!;
      const fn = impl.methods[key];
      return (async () => {
        if (!fn) throw new dbus.DBusError(ERROR_FAILED, `${member}: not implemented`);
        const ctx: CallContext = { sender, uid: await uidOf(sender) };
        let result: unknown;
        try {
          result = await fn(args, ctx);
        } catch (e) {
          onError(key, e);
          throw isDBusError(e) ? e : new dbus.DBusError(ERROR_FAILED, `${member}: ${errorText(e)}`);
        }
        const out = m.out[0];
        if (m.out.length === 0) return undefined;
        if (m.out.length !== 1 || !out || !valueMatches(out.type, result)) {
          onError(key, new Error(`invalid return value for signature ${signatureOf(m.out)}`));
          throw new dbus.DBusError(ERROR_FAILED, `${member}: the daemon returned an invalid value`);
        }
        return result;
      })();
    };
    instances.set(iface.name, buildInterface(iface, call, impl, onError));
    for (const p of iface.properties) if (p.access === 'read') readOnly.add(`${iface.name}\0${p.name}`);
  }

  const xml = introspectionXml(spec);
  const handler = (msg: Message): boolean => {
    if (msg.path !== spec.path) return false;
    currentSender = msg.sender;
    if (
      msg.interface === 'org.freedesktop.DBus.Introspectable' &&
      msg.member === 'Introspect' &&
      !msg.signature
    ) {
      bus.send(dbus.Message.newMethodReturn(msg, 's', [xml]));
      return true;
    }
    // dbus-next answers Set on a read-only property with an error and then sets it anyway: answer it here.
    if (
      msg.interface === 'org.freedesktop.DBus.Properties' &&
      msg.member === 'Set' &&
      msg.signature === 'ssv'
    ) {
      const [ifaceName, prop] = msg.body as [string, string];
      if (readOnly.has(`${ifaceName}\0${prop}`)) {
        bus.send(dbus.Message.newError(msg, ERROR_PROPERTY_READ_ONLY, `property ${prop} is read-only`));
        return true;
      }
    }
    return false;
  };

  const unexport = () => {
    bus.removeMethodHandler(handler);
    try {
      bus.unexport(spec.path);
    } catch {
      // nothing exported
    }
  };

  // The object is on the bus before the name is owned, so a client that sees the name finds the object.
  hardenSend(bus);
  bus.addMethodHandler(handler);
  for (const inst of instances.values()) bus.export(spec.path, inst);
  let reply: number;
  try {
    reply = await bus.requestName(spec.busName, dbus.NameFlag.DO_NOT_QUEUE);
  } catch (e) {
    unexport();
    throw new Error(`cannot own ${spec.busName} on the D-Bus system bus: ${errorText(e)}`);
  }
  if (reply !== dbus.RequestNameReply.PRIMARY_OWNER && reply !== dbus.RequestNameReply.ALREADY_OWNER) {
    unexport();
    throw new Error(`another ${spec.daemon} owns ${spec.busName}`);
  }

  let closed = false;
  return {
    spec,
    emit(ifaceName, signal, args) {
      const ispec = spec.interfaces.find((i) => i.name === ifaceName);
      const sspec = ispec?.signals.find((x) => x.name === signal);
      const inst = instances.get(ifaceName) as unknown as Record<string, MethodFn> | undefined;
      if (closed || !sspec || !inst || !busIsOpen(bus)) return false;
      if (args.length !== sspec.args.length || !sspec.args.every((a, i) => valueMatches(a.type, args[i]))) {
        return false;
      }
      try {
        inst[signal]!(...args);
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      unexport();
      // A connection that has already ended never answers: do not wait for it.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        bus.releaseName(spec.busName).catch(() => {}),
        new Promise((r) => {
          timer = setTimeout(r, 2000);
        }),
      ]);
      clearTimeout(timer);
    },
  };
}
