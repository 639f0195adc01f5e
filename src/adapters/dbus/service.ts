/**
 * Shared D-Bus plumbing: connecting to the bus, calling a method (the one bus-call helper), and exporting an
 * ObjectSpec with dbus-next, its implementation typed by the IDL.
 */
import dbus, { type DBusError, type Message, type MessageBus, type MessageInit } from 'dbus-next/index.js';
import { errorText } from '../../core/log.js';
import { safeText } from '../../core/log-text.js';
import {
  type ArgValues,
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

export type { MessageBus } from 'dbus-next/index.js';
export type { Awaitable, ObjectImpl } from './idl.js';

/** The seven transport-ID arguments of get_log_pages, controller_info and log_pages_changed, in IDL order. */
export type TidArgs = ArgValues<typeof TID_ARGS>;

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
function streamOf(bus: MessageBus) {
  return bus._connection?.stream;
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

export interface BusCallOptions {
  /** Reply timeout (ms); dbus-next itself has none. Default 25 000 (as GDBus and libdbus). */
  timeoutMs?: number;
  /** What the timeout error names; default the member. */
  what?: string;
  /** The error to reject with after `timeoutMs`; default a NoReply DBusError "what: no reply within N ms". */
  timeoutError?: () => Error;
}

/**
 * The one way stas calls a D-Bus method: sends `call` (a Message, or what makes one) and resolves with the
 * reply. Rejects with the error reply (dbus-next's DBusError, `.type`), or with a NoReply DBusError after the
 * timeout or as soon as the connection closes (dbus-next would wait for ever).
 */
export function busCall(
  bus: MessageBus,
  call: Message | MessageInit,
  opts: BusCallOptions = {},
): Promise<Message> {
  const msg = call instanceof dbus.Message ? call : new dbus.Message(call);
  const ms = opts.timeoutMs ?? 25_000;
  const what = opts.what ?? msg.member ?? 'call';
  let timer: NodeJS.Timeout | undefined;
  let unsubscribe = () => {};
  const t = new Promise<never>((_, reject) => {
    const noReply = (why: string) =>
      reject(new dbus.DBusError('org.freedesktop.DBus.Error.NoReply', `${what}: ${why}`));
    timer = setTimeout(
      () => (opts.timeoutError ? reject(opts.timeoutError()) : noReply(`no reply within ${ms} ms`)),
      ms,
    );
    unsubscribe = onBusClose(bus, () => noReply('the D-Bus connection is closed'));
  });
  return Promise.race([bus.call(msg), t]).finally(() => {
    clearTimeout(timer);
    unsubscribe();
  });
}

/** Calls a method of the bus driver (org.freedesktop.DBus) with busCall. */
export function busDriverCall(
  bus: MessageBus,
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

/** Name and text of an error reply. */
function errorParts(e: DBusError): [string, string] {
  return [e.type, e.text];
}

/**
 * The D-Bus error a caller gets for `e`: a DBusError keeps its name, anything else is
 * org.freedesktop.DBus.Error.Failed "member: message"; the text is always redacted and printable.
 */
function dbusErrorFor(member: string, e: unknown): DBusError {
  if (isDBusError(e)) {
    try {
      return new dbus.DBusError(e.type, callerText(e));
    } catch {
      // not a valid error name
    }
  }
  return new dbus.DBusError(ERROR_FAILED, `${member}: ${callerText(e)}`);
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

const HARDENED = Symbol.for('stas.dbus.hardened-send');

interface HardenedBus {
  /** The connection's own send: throws when the connection is closed or the marshaller refuses the message. */
  rawSend: (msg: Message) => void;
  /** Told (the first one only: logged once) when a reply dbus-next built could not be sent. */
  reporters: Set<(err: Error) => void>;
}

const METHOD_RETURN = 2;

/** A message that answers call `replySerial` of `destination` (what Message.newError needs of the call). */
function callOf(reply: Message): Message {
  return { serial: reply.replySerial, sender: reply.destination } as unknown as Message;
}

/**
 * dbus-next sends a method's reply from a promise callback; once the connection is closed that send throws
 * (or emits 'error' with no listener) and the rejection would end the process. A reply nobody can receive
 * is simply dropped instead. A reply the marshaller refuses while the connection is up (a property value with a
 * NUL…) is replaced by an error reply, so that the caller never waits for an answer that will not come.
 */
function hardenSend(bus: MessageBus): HardenedBus {
  const b = bus as MessageBus & { [HARDENED]?: HardenedBus };
  const done = b[HARDENED];
  if (done) return done;
  const send = bus.send.bind(bus);
  const hardened: HardenedBus = { rawSend: send, reporters: new Set() };
  b[HARDENED] = hardened;
  bus.send = (msg: Message) => {
    try {
      send(msg);
    } catch (e) {
      if (!busIsOpen(bus) || msg.type !== METHOD_RETURN || msg.replySerial === undefined) return;
      const [report] = hardened.reporters;
      report?.(new Error(`a reply could not be sent: ${errorText(e)}`));
      try {
        send(dbus.Message.newError(callOf(msg), ERROR_FAILED, 'the daemon could not send its reply'));
      } catch {
        // nothing more to try
      }
    }
  };
  return hardened;
}

/**
 * Builds a dbus-next Interface subclass for one InterfaceSpec: its properties (backed by `impl`) and signals.
 * Method calls never reach it: exportObject answers them itself.
 */
function buildInterface(spec: InterfaceSpec, impl: AnyImpl, onError: (member: string, err: unknown) => void) {
  class Exported extends dbus.interface.Interface {}
  const proto = Exported.prototype as unknown as Record<string, unknown>;
  const properties: Record<string, { signature: string; access: 'read' | 'readwrite' }> = {};
  const signals: Record<string, { signature: string }> = {};
  for (const p of spec.properties) {
    const key = `${spec.name}.${p.name}`;
    const pimpl = impl[spec.name]?.[p.name] as AnyProperty | undefined;
    if (typeof pimpl?.get !== 'function') throw new Error(`no implementation for property ${key}`);
    properties[p.name] = { signature: p.type, access: p.access };
    Object.defineProperty(proto, p.name, {
      get() {
        let v: unknown;
        try {
          v = pimpl.get();
        } catch (e) {
          onError(key, e);
          throw dbusErrorFor(p.name, e);
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
          throw dbusErrorFor(p.name, e);
        }
      },
    });
  }
  for (const sig of spec.signals) {
    signals[sig.name] = { signature: signatureOf(sig.args) };
    // dbus-next emits what this returns: one value for a one-argument signal, else the array.
    proto[sig.name] = ((...args: unknown[]) => (sig.args.length === 1 ? args[0] : args)) satisfies AnyMethod;
  }
  Exported.configureMembers({ properties, methods: {}, signals });
  return new Exported(spec.name);
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
  bus: MessageBus,
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
  const hardened = hardenSend(bus);
  const instances = new Map<string, InstanceType<typeof dbus.interface.Interface>>();
  const readOnly = new Set<string>();
  const methods = new Map<string, { iface: InterfaceSpec; method: MethodSpec; inSignature: string }>();
  for (const iface of spec.interfaces) {
    instances.set(iface.name, buildInterface(iface, impl, onError));
    for (const p of iface.properties) if (p.access === 'read') readOnly.add(`${iface.name}\0${p.name}`);
    for (const method of iface.methods)
      methods.set(`${iface.name}\0${method.name}`, { iface, method, inSignature: signatureOf(method.in) });
  }

  /** The reply body of a call: the implementation's result, checked against the IDL. Throws (unsafe text) on failure. */
  const invoke = async (msg: Message, iface: InterfaceSpec, m: MethodSpec): Promise<unknown[]> => {
    const key = `${iface.name}.${m.name}`;
    const fn = impl[iface.name]?.[m.name];
    if (typeof fn !== 'function') throw new dbus.DBusError(ERROR_FAILED, `${m.name}: not implemented`);
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
      throw new dbus.DBusError(ERROR_FAILED, `${m.name}: the daemon returned an invalid value`);
    }
    return [result];
  };

  /**
   * Answers one call, always: with the result, else with a D-Bus error (redacted, printable). A result the
   * marshaller refuses (a string with a NUL…) is logged once and answered with an error. Nothing is sent once
   * the connection is closed.
   */
  const answer = async (msg: Message, iface: InterfaceSpec, m: MethodSpec): Promise<void> => {
    const key = `${iface.name}.${m.name}`;
    let reply: Message;
    try {
      reply = dbus.Message.newMethodReturn(msg, signatureOf(m.out), await invoke(msg, iface, m));
    } catch (e) {
      try {
        reply = dbus.Message.newError(msg, ...errorParts(dbusErrorFor(m.name, e)));
      } catch {
        // an exception that cannot even be looked at (a throwing getter…)
        reply = dbus.Message.newError(msg, ERROR_FAILED, `${m.name}: failed`);
      }
    }
    try {
      hardened.rawSend(reply);
      return;
    } catch (e) {
      if (!busIsOpen(bus)) return;
      onError(key, new Error(`the reply could not be sent: ${errorText(e)}`));
    }
    try {
      hardened.rawSend(
        dbus.Message.newError(msg, ERROR_FAILED, `${m.name}: the daemon could not send its reply`),
      );
    } catch {
      // nothing more to try
    }
  };

  const xml = introspectionXml(spec);
  const handler = (msg: Message): boolean => {
    if (msg.path !== spec.path) return false;
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
    const target = methods.get(`${msg.interface}\0${msg.member}`);
    if (target && (msg.signature ?? '') === target.inSignature) {
      void answer(msg, target.iface, target.method);
      return true;
    }
    return false;
  };

  const reportUnsent = (err: Error) => onError(`${spec.busName} reply`, err);
  const unexport = () => {
    hardened.reporters.delete(reportUnsent);
    bus.removeMethodHandler(handler);
    try {
      bus.unexport(spec.path);
    } catch {
      // nothing exported
    }
  };

  // The object is on the bus before the name is owned, so a client that sees the name finds the object.
  hardened.reporters.add(reportUnsent);
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
    emit(ifaceName, signal, typedArgs) {
      // The compiler checked the arguments against the IDL; a caller with a cast may still pass anything.
      const args = typedArgs as unknown as unknown[];
      const ispec = spec.interfaces.find((i) => i.name === ifaceName);
      const sspec = ispec?.signals.find((x) => x.name === signal);
      const inst = instances.get(ifaceName) as unknown as Record<string, AnyMethod> | undefined;
      if (closed || !sspec || !inst || !busIsOpen(bus)) return false;
      if (
        args.length !== sspec.args.length ||
        !sspec.args.every((a, i) => valueMatches(a.type, args[i])) ||
        hasNul(args)
      ) {
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
