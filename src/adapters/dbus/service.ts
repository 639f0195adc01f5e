/**
 * Shared D-Bus plumbing: connecting to the bus, calling a method (the one bus-call helper), and exporting an
 * ObjectSpec (its methods, properties, signals and introspection), its implementation typed by the IDL.
 */
import {
  DBusError,
  errorReply,
  type Message,
  type MessageInit,
  message,
  methodReturn,
  signal,
  Variant,
} from '../../core/dbus/message.js';
import { errorText } from '../../core/log.js';
import { safeText } from '../../core/log-text.js';
import { DBusConnection } from './connection.js';
import {
  type ArgValues,
  childNodesXml,
  type InterfaceName,
  type InterfaceOf,
  type InterfaceSpec,
  introspectionXml,
  type MethodSpec,
  type ObjectImpl,
  type ObjectSpec,
  type SignalOf,
  signatureOf,
  type TID_ARGS,
} from './idl.js';

export type { DBusConnection } from './connection.js';
export type { Awaitable, ObjectImpl } from './idl.js';

/** The seven transport-ID arguments of get_log_pages, controller_info and log_pages_changed, in IDL order. */
export type TidArgs = ArgValues<typeof TID_ARGS>;

export const DEFAULT_SYSTEM_BUS_ADDRESS = 'unix:path=/var/run/dbus/system_bus_socket';
export const ERROR_FAILED = 'org.freedesktop.DBus.Error.Failed';
export const ERROR_PROPERTY_READ_ONLY = 'org.freedesktop.DBus.Error.PropertyReadOnly';
const ERROR_INVALID_ARGS = 'org.freedesktop.DBus.Error.InvalidArgs';
const ERROR_NO_REPLY = 'org.freedesktop.DBus.Error.NoReply';

const BUS_NAME = 'org.freedesktop.DBus';
const BUS_PATH = '/org/freedesktop/DBus';
const INTROSPECTABLE = 'org.freedesktop.DBus.Introspectable';
const PROPERTIES = 'org.freedesktop.DBus.Properties';

export interface OpenBusOptions {
  /** Bus address; default $DBUS_SYSTEM_BUS_ADDRESS (read now), else the standard system bus socket. */
  address?: string;
  /** Give up connecting after this long (ms). Default 10 000. */
  timeoutMs?: number;
  /**
   * Errors of the connection once it is up (a malformed message from the bus…). Default: ignored; learn about
   * a lost bus from `onClose`.
   */
  onError?: (err: Error) => void;
  /** The bus closed the connection (dbus-daemon stopped or restarted): pending calls fail at once. */
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
export async function openSystemBus(opts: OpenBusOptions = {}): Promise<DBusConnection> {
  const address = opts.address ?? systemBusAddress();
  let bus: DBusConnection;
  try {
    bus = await DBusConnection.connect(address, { timeoutMs: opts.timeoutMs ?? 10_000 });
  } catch (e) {
    throw new Error(`cannot connect to D-Bus at ${address}: ${errorText(e)}`);
  }
  bus.on('error', opts.onError ?? (() => {}));
  if (opts.onClose) bus.onClose(opts.onClose);
  return bus;
}

export interface BusCallOptions {
  /** Reply timeout (ms). Default 25 000 (as GDBus and libdbus). */
  timeoutMs?: number;
  /** What the timeout error names; default the member. */
  what?: string;
  /** The error to reject with after `timeoutMs`; default a NoReply DBusError "what: no reply within N ms". */
  timeoutError?: () => Error;
}

/** True for a whole Message (what `message()` returns), false for a MessageInit that still needs its defaults. */
function isMessage(m: Message | MessageInit): m is Message {
  return (
    typeof m.type === 'number' &&
    typeof m.flags === 'number' &&
    typeof m.signature === 'string' &&
    Array.isArray(m.body)
  );
}

/**
 * The one way stas calls a D-Bus method: sends `call` (a Message, or what makes one) and resolves with the
 * reply. Rejects with the error reply (DBusError, `.type`), or with a NoReply DBusError after the timeout or as
 * soon as the connection closes. A Message passed in gets its serial.
 */
export async function busCall(
  bus: DBusConnection,
  call: Message | MessageInit,
  opts: BusCallOptions = {},
): Promise<Message> {
  const msg = isMessage(call) ? call : message(call);
  const ms = opts.timeoutMs ?? 25_000;
  const what = opts.what ?? msg.member ?? 'call';
  try {
    return await bus.call(msg, { timeoutMs: ms });
  } catch (e) {
    // An error reply from the bus or the peer carries its message; anything else is the local end's.
    if (e instanceof DBusError && e.reply) throw e;
    if (!bus.open) throw new DBusError(ERROR_NO_REPLY, `${what}: the D-Bus connection is closed`);
    if (e instanceof DBusError && e.type === ERROR_NO_REPLY) {
      throw opts.timeoutError
        ? opts.timeoutError()
        : new DBusError(ERROR_NO_REPLY, `${what}: no reply within ${ms} ms`);
    }
    throw e;
  }
}

/** Calls a method of the bus driver (org.freedesktop.DBus) with busCall. */
export function busDriverCall(
  bus: DBusConnection,
  member: string,
  signature: string,
  body: unknown[],
  opts: BusCallOptions = {},
): Promise<Message> {
  return busCall(
    bus,
    { destination: BUS_NAME, path: BUS_PATH, interface: BUS_NAME, member, signature, body },
    opts,
  );
}

/** An error's text as a D-Bus caller may see it: secrets redacted, control characters escaped (never a NUL). */
function callerText(e: unknown): string {
  return safeText(isDBusError(e) ? String(e.text ?? e.message) : errorText(e));
}

/** True when a string anywhere in `v` holds a NUL, which D-Bus strings cannot carry. */
function hasNul(v: unknown): boolean {
  if (typeof v === 'string') return v.includes('\0');
  if (Array.isArray(v)) return v.some(hasNul);
  if (typeof v === 'object' && v !== null)
    return Object.entries(v as Record<string, unknown>).some(([k, x]) => k.includes('\0') || hasNul(x));
  return false;
}

/**
 * The error reply a caller gets for `e`: a DBusError keeps its name (if it is a valid one), anything else is
 * org.freedesktop.DBus.Error.Failed "member: message"; the text is always redacted and printable.
 */
function errorReplyFor(call: Message, member: string, e: unknown): Message {
  try {
    if (isDBusError(e)) {
      try {
        return errorReply(call, e.type, callerText(e));
      } catch {
        // not a valid error name
      }
    }
    return errorReply(call, ERROR_FAILED, `${member}: ${callerText(e)}`);
  } catch {
    // an exception that cannot even be looked at (a throwing getter…)
    return errorReply(call, ERROR_FAILED, `${member}: failed`);
  }
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

/** ObjectImpl<O> as exportObject looks at it at run time: interface name → member name → function or property. */
type AnyImpl = Record<string, Record<string, unknown>>;
type AnyProperty = { get(): unknown; set?(value: unknown): void };
type AnyMethod = (...args: unknown[]) => unknown;

export interface ExportOptions {
  /** Told about every failed API call (the caller gets a D-Bus error; the daemon keeps running). */
  onMethodError?: (member: string, err: unknown) => void;
}

/** The arguments of signal `S` of interface `I` of `O`, as the IDL types them. */
export type SignalArgs<
  O extends ObjectSpec,
  I extends InterfaceName<O>,
  S extends InterfaceOf<O, I>['signals'][number]['name'],
> = ArgValues<SignalOf<InterfaceOf<O, I>, S>['args']>;

/** An exported object that owns its well-known name. */
export interface ExportedObject<O extends ObjectSpec = ObjectSpec> {
  readonly spec: O;
  /** Emits a signal of the object; false if it could not be sent (bad arguments, connection closed). */
  emit<I extends InterfaceName<O>, S extends InterfaceOf<O, I>['signals'][number]['name']>(
    iface: I,
    signal: S,
    args: SignalArgs<O, I, S>,
  ): boolean;
  /** Releases the name and removes the object from the bus (the connection stays open). */
  close(): Promise<void>;
}

/** The objects a connection exports, by path: each answers the calls to its path. */
type ObjectTable = Map<string, (msg: Message) => boolean>;
const exported = new WeakMap<DBusConnection, ObjectTable>();

/** The objects exported on `bus`, with the one method handler that dispatches to them (installed once). */
function objectTable(bus: DBusConnection): ObjectTable {
  let table = exported.get(bus);
  if (table) return table;
  const objects: ObjectTable = new Map();
  table = objects;
  exported.set(bus, objects);
  bus.addMethodHandler((msg) => {
    if (msg.path === undefined) return false;
    const handle = objects.get(msg.path);
    if (handle) return handle(msg);
    // A parent of exported objects (/, /org, /org/nvmexpress) introspects as the list of its children, so that
    // busctl tree / d-feet find the objects.
    if (msg.interface === INTROSPECTABLE && msg.member === 'Introspect' && msg.signature === '') {
      bus.send(methodReturn(msg, 's', [childNodesXml(msg.path, objects.keys())]));
      return true;
    }
    return false;
  });
  return objects;
}

/**
 * Exports `spec` on `bus` backed by `impl`, then requests its well-known name (DO_NOT_QUEUE). Rejects, with
 * nothing left exported, if the name is taken ("another stafd owns org.nvmexpress.staf") or not allowed.
 * `impl` has every method and property of the IDL (the compiler checks names, arguments and results; the
 * replies are checked again at run time). API exceptions become D-Bus errors
 * (org.freedesktop.DBus.Error.Failed, "member: message"). Every caller gets the same answers: the daemons
 * never send secrets over D-Bus, to anyone.
 */
export async function exportObject<O extends ObjectSpec>(
  bus: DBusConnection,
  spec: O,
  objectImpl: ObjectImpl<O>,
  opts: ExportOptions = {},
): Promise<ExportedObject<O>> {
  const impl = objectImpl as unknown as AnyImpl;
  const onError = (member: string, err: unknown) => {
    try {
      opts.onMethodError?.(member, err);
    } catch {
      // a failing logger must not take the service down
    }
  };
  const interfaces = new Map<string, InterfaceSpec>();
  /** Property implementations by `interface\0property`. */
  const propImpls = new Map<string, AnyProperty>();
  const methods = new Map<string, { iface: InterfaceSpec; method: MethodSpec; inSignature: string }>();
  for (const iface of spec.interfaces) {
    interfaces.set(iface.name, iface);
    for (const p of iface.properties) {
      const pimpl = impl[iface.name]?.[p.name] as AnyProperty | undefined;
      if (typeof pimpl?.get !== 'function')
        throw new Error(`no implementation for property ${iface.name}.${p.name}`);
      propImpls.set(`${iface.name}\0${p.name}`, pimpl);
    }
    for (const method of iface.methods)
      methods.set(`${iface.name}\0${method.name}`, { iface, method, inSignature: signatureOf(method.in) });
  }

  /**
   * Sends the reply `build` makes; a reply the marshaller refuses (a string with a NUL…) is reported and answered
   * with an error, so that the caller never waits for an answer that will not come. Nothing is sent once the
   * connection is closed.
   */
  const reply = (call: Message, key: string, member: string, build: () => Message): void => {
    try {
      bus.send(build());
      return;
    } catch (e) {
      if (!bus.open) return;
      onError(key, new Error(`the reply could not be sent: ${errorText(e)}`));
    }
    try {
      bus.send(errorReply(call, ERROR_FAILED, `${member}: the daemon could not send its reply`));
    } catch {
      // nothing more to try
    }
  };

  /** The reply body of a call: the implementation's result, checked against the IDL. Throws (unsafe text) on failure. */
  const invoke = async (msg: Message, iface: InterfaceSpec, m: MethodSpec): Promise<unknown[]> => {
    const key = `${iface.name}.${m.name}`;
    const fn = impl[iface.name]?.[m.name];
    if (typeof fn !== 'function') throw new DBusError(ERROR_FAILED, `${m.name}: not implemented`);
    let result: unknown;
    try {
      result = await (fn as AnyMethod)(...msg.body);
    } catch (e) {
      onError(key, e);
      throw e;
    }
    const out = m.out[0];
    if (m.out.length === 0) return [];
    if (m.out.length !== 1 || !out || !valueMatches(out.type, result)) {
      onError(key, new Error(`invalid return value for signature ${signatureOf(m.out)}`));
      throw new DBusError(ERROR_FAILED, `${m.name}: the daemon returned an invalid value`);
    }
    return [result];
  };

  /** Answers one call, always: with the result, else with a D-Bus error (redacted, printable). */
  const answer = async (msg: Message, iface: InterfaceSpec, m: MethodSpec): Promise<void> => {
    let built: () => Message;
    try {
      const body = await invoke(msg, iface, m);
      built = () => methodReturn(msg, signatureOf(m.out), body);
    } catch (e) {
      built = () => errorReplyFor(msg, m.name, e);
    }
    reply(msg, `${iface.name}.${m.name}`, m.name, built);
  };

  /** A property's value, checked against the IDL; throws the DBusError the caller gets. */
  const readProperty = (iface: InterfaceSpec, p: InterfaceSpec['properties'][number]): unknown => {
    const key = `${iface.name}.${p.name}`;
    let v: unknown;
    try {
      v = propImpls.get(`${iface.name}\0${p.name}`)?.get();
    } catch (e) {
      onError(key, e);
      throw e;
    }
    if (!valueMatches(p.type, v)) {
      onError(key, new Error(`invalid value for signature ${p.type}`));
      throw new DBusError(ERROR_FAILED, `${p.name}: the daemon returned an invalid value`);
    }
    return v;
  };

  /** org.freedesktop.DBus.Properties: Get, GetAll, Set (as dbus-next answered them, read-only enforced). */
  const properties = (msg: Message): boolean => {
    const [ifaceName, prop, value] = msg.body as [string, string?, Variant?];
    const iface = interfaces.get(ifaceName);
    const fail = (name: string, text: string) =>
      reply(msg, `${PROPERTIES}.${msg.member}`, msg.member ?? '', () => errorReply(msg, name, text));
    if (msg.member === 'GetAll' && msg.signature === 's') {
      const key = `${ifaceName}.GetAll`;
      try {
        const all: Record<string, Variant> = {};
        for (const p of iface?.properties ?? []) all[p.name] = new Variant(p.type, readProperty(iface!, p));
        reply(msg, key, 'GetAll', () => methodReturn(msg, 'a{sv}', [all]));
      } catch (e) {
        reply(msg, key, 'GetAll', () => errorReplyFor(msg, 'GetAll', e));
      }
      return true;
    }
    if (
      !(msg.member === 'Get' && msg.signature === 'ss') &&
      !(msg.member === 'Set' && msg.signature === 'ssv')
    )
      return false;
    if (!iface) {
      fail(ERROR_INVALID_ARGS, `No such interface: '${ifaceName}'`);
      return true;
    }
    const p = iface.properties.find((x) => x.name === prop);
    if (!p) {
      fail(ERROR_INVALID_ARGS, `No such property: '${prop}'`);
      return true;
    }
    const key = `${iface.name}.${p.name}`;
    if (msg.member === 'Get') {
      try {
        const v = readProperty(iface, p);
        reply(msg, key, p.name, () => methodReturn(msg, 'v', [new Variant(p.type, v)]));
      } catch (e) {
        reply(msg, key, p.name, () => errorReplyFor(msg, p.name, e));
      }
      return true;
    }
    const pimpl = propImpls.get(`${iface.name}\0${p.name}`);
    if (p.access !== 'readwrite' || !pimpl?.set) {
      fail(ERROR_PROPERTY_READ_ONLY, `property ${p.name} is read-only`);
    } else if (value?.signature !== p.type) {
      fail(
        ERROR_INVALID_ARGS,
        `Cannot set property '${p.name}' with signature '${value?.signature}' (expected '${p.type}')`,
      );
    } else {
      try {
        pimpl.set(value.value);
        reply(msg, key, p.name, () => methodReturn(msg));
      } catch (e) {
        onError(key, e);
        reply(msg, key, p.name, () => errorReplyFor(msg, p.name, e));
      }
    }
    return true;
  };

  const xml = introspectionXml(spec);
  const handle = (msg: Message): boolean => {
    if (msg.interface === INTROSPECTABLE && msg.member === 'Introspect' && msg.signature === '') {
      reply(msg, `${spec.busName} Introspect`, 'Introspect', () => methodReturn(msg, 's', [xml]));
      return true;
    }
    if (msg.interface === PROPERTIES) return properties(msg);
    const target = methods.get(`${msg.interface}\0${msg.member}`);
    if (target && msg.signature === target.inSignature) {
      void answer(msg, target.iface, target.method);
      return true;
    }
    return false;
  };

  // The object is on the bus before the name is owned, so a client that sees the name finds the object.
  const table = objectTable(bus);
  if (table.has(spec.path)) throw new Error(`an object is already exported at ${spec.path}`);
  table.set(spec.path, handle);
  const unexport = () => {
    if (table.get(spec.path) === handle) table.delete(spec.path);
  };
  let granted: number;
  try {
    granted = await bus.requestName(spec.busName, DO_NOT_QUEUE);
  } catch (e) {
    unexport();
    throw new Error(`cannot own ${spec.busName} on the D-Bus system bus: ${errorText(e)}`);
  }
  if (granted !== PRIMARY_OWNER && granted !== ALREADY_OWNER) {
    unexport();
    throw new Error(`another ${spec.daemon} owns ${spec.busName}`);
  }

  let closed = false;
  return {
    spec,
    emit(ifaceName, name, typedArgs) {
      // The compiler checked the arguments against the IDL; a caller with a cast may still pass anything.
      const args = typedArgs as unknown as unknown[];
      const sspec = interfaces.get(ifaceName)?.signals.find((x) => x.name === name);
      if (closed || !sspec || !bus.open) return false;
      if (
        args.length !== sspec.args.length ||
        !sspec.args.every((a, i) => valueMatches(a.type, args[i])) ||
        hasNul(args)
      ) {
        return false;
      }
      try {
        bus.send(signal(spec.path, ifaceName, name, signatureOf(sspec.args), args));
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

/** RequestName flag and replies (D-Bus specification). */
const DO_NOT_QUEUE = 4;
const PRIMARY_OWNER = 1;
const ALREADY_OWNER = 4;
