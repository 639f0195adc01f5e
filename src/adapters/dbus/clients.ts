/** Typed D-Bus clients of stafd and stacd (for stafctl, stacctl and stacd), signal subscriptions and name watching. */
import { type Message, MessageType, message, Variant } from '../../core/dbus/message.js';
import { errorText } from '../../core/log.js';
import {
  type ArgValues,
  type DBusValue,
  type DebugInterface,
  type EventsInterface,
  type InterfaceSpec,
  interfaceOf,
  type ListControllersInterface,
  type MethodOf,
  type ObjectSpec,
  type PropertyOf,
  type ReturnValue,
  type SignalOf,
  STACD_DBUS_NAME,
  STACD_OBJECT,
  STAFD_DBUS_NAME,
  STAFD_OBJECT,
  signatureOf,
} from './idl.js';
import { busCall, busDriverCall, type DBusConnection, type TidArgs, valueMatches } from './service.js';

export type { TidArgs } from './service.js';

const BUS_NAME = 'org.freedesktop.DBus';
const BUS_PATH = '/org/freedesktop/DBus';
const PROPERTIES = 'org.freedesktop.DBus.Properties';
const { METHOD_RETURN, ERROR, SIGNAL } = MessageType;

export interface ClientOptions {
  /** Reply timeout of every call (ms). Default 25 000 (as GDBus and libdbus). */
  timeoutMs?: number;
}

export interface Subscription {
  /** Stops the callbacks and removes the match rule. */
  close(): Promise<void>;
}

export interface NameWatch {
  /** The unique name owning the watched name now, or null. */
  readonly owner: string | null;
  close(): Promise<void>;
}

/** Runs a user callback; an exception in it is re-thrown outside the connection's dispatch, like a listener's. */
function runCallback(f: () => void): void {
  try {
    f();
  } catch (e) {
    setImmediate(() => {
      throw e;
    });
  }
}

async function addMatch(bus: DBusConnection, rule: string): Promise<void> {
  await busDriverCall(bus, 'AddMatch', 's', [rule]);
}

async function removeMatch(bus: DBusConnection, rule: string): Promise<void> {
  try {
    await busDriverCall(bus, 'RemoveMatch', 's', [rule], { timeoutMs: 2000 });
  } catch {
    // connection gone: the bus dropped the rule with it
  }
}

/**
 * Watches who owns `name`: `cb` is called once with the current owner (unique name, or null if nobody owns
 * it), then on every change (null when the owner goes away, the new unique name when one appears).
 */
export async function watchName(
  bus: DBusConnection,
  name: string,
  cb: (owner: string | null) => void,
): Promise<NameWatch> {
  const rule =
    `type='signal',sender='${BUS_NAME}',path='${BUS_PATH}',interface='${BUS_NAME}',` +
    `member='NameOwnerChanged',arg0='${name}'`;
  let owner: string | null = null;
  let known = false;
  let closed = false;
  const report = (o: string | null) => {
    if (closed || (known && o === owner)) return;
    known = true;
    owner = o;
    runCallback(() => cb(o));
  };
  // Everything is handled in arrival order in this listener: a NameOwnerChanged that arrives before the
  // GetNameOwner reply is older than that reply (ignored), any later one is newer.
  let req: Message | undefined;
  let fail: ((e: Error) => void) | undefined;
  const listener = (msg: Message) => {
    if (req?.serial != null && msg.replySerial === req.serial && msg.sender === BUS_NAME) {
      if (msg.type === METHOD_RETURN) report(String(msg.body[0]));
      else if (msg.type === ERROR) {
        if (msg.errorName === 'org.freedesktop.DBus.Error.NameHasNoOwner') report(null);
        else fail?.(new Error(`GetNameOwner(${name}): ${String(msg.body[0] ?? msg.errorName)}`));
      }
      return;
    }
    if (
      known &&
      msg.type === SIGNAL &&
      msg.sender === BUS_NAME &&
      msg.interface === BUS_NAME &&
      msg.member === 'NameOwnerChanged' &&
      msg.body[0] === name
    ) {
      const n = msg.body[2];
      report(typeof n === 'string' && n !== '' ? n : null);
    }
  };
  bus.on('message', listener);
  const close = async () => {
    if (closed) return;
    closed = true;
    bus.removeListener('message', listener);
    await removeMatch(bus, rule);
  };
  try {
    await addMatch(bus, rule);
    await new Promise<void>((resolve, reject) => {
      fail = reject;
      req = message({
        destination: BUS_NAME,
        path: BUS_PATH,
        interface: BUS_NAME,
        member: 'GetNameOwner',
        signature: 's',
        body: [name],
      });
      busCall(bus, req).then(
        () => resolve(),
        (e: unknown) => {
          if ((e as { type?: string }).type === 'org.freedesktop.DBus.Error.NameHasNoOwner') resolve();
          else reject(e instanceof Error ? e : new Error(errorText(e)));
        },
      );
    });
  } catch (e) {
    await close();
    throw e;
  }
  return {
    get owner() {
      return owner;
    },
    close,
  };
}

type MethodName<I extends InterfaceSpec> = I['methods'][number]['name'];
type PropertyName<I extends InterfaceSpec> = I['properties'][number]['name'];
type SignalName<I extends InterfaceSpec> = I['signals'][number]['name'];

/**
 * Calls the members of `spec`'s object with the IDL's signatures, checking every reply. The interface is passed
 * as its IDL data, so the compiler checks member names, arguments and results.
 */
function makeCaller(bus: DBusConnection, spec: ObjectSpec, opts: ClientOptions) {
  const timeoutMs = opts.timeoutMs ?? 25_000;
  const target = (iface: string, member: string, signature: string, body: unknown[]) => ({
    destination: spec.busName,
    path: spec.path,
    interface: iface,
    member,
    signature,
    body,
  });
  const call = async <I extends InterfaceSpec, M extends MethodName<I>>(
    iface: I,
    member: M,
    args: ArgValues<MethodOf<I, M>['in']>,
  ): Promise<ReturnValue<MethodOf<I, M>['out']>> => {
    const m = iface.methods.find((x) => x.name === member);
    if (!m) throw new Error(`${iface.name}.${member} is not in the IDL`);
    const reply = await busCall(bus, target(iface.name, member, signatureOf(m.in), args), {
      timeoutMs,
      what: `${spec.daemon} ${member}`,
    });
    const out = signatureOf(m.out);
    if (reply.signature !== out || (m.out[0] && !valueMatches(m.out[0].type, reply.body[0]))) {
      throw new Error(
        `${spec.daemon} ${member}: unexpected reply signature '${reply.signature}' (want '${out}')`,
      );
    }
    return reply.body[0] as ReturnValue<MethodOf<I, M>['out']>;
  };
  const getProperty = async <I extends InterfaceSpec, P extends PropertyName<I>>(
    iface: I,
    prop: P,
  ): Promise<DBusValue<PropertyOf<I, P>['type']>> => {
    const p = iface.properties.find((x) => x.name === prop);
    if (!p) throw new Error(`${iface.name}.${prop} is not in the IDL`);
    const reply = await busCall(bus, target(PROPERTIES, 'Get', 'ss', [iface.name, prop]), {
      timeoutMs,
      what: `${spec.daemon} get ${prop}`,
    });
    const v = reply.body[0] as { signature?: string; value?: unknown } | undefined;
    if (reply.signature !== 'v' || v?.signature !== p.type || !valueMatches(p.type, v.value)) {
      throw new Error(
        `${spec.daemon} ${prop}: unexpected property type '${v?.signature ?? reply.signature}'`,
      );
    }
    return v.value as DBusValue<PropertyOf<I, P>['type']>;
  };
  const setProperty = async <I extends InterfaceSpec, P extends PropertyName<I>>(
    iface: I,
    prop: P,
    value: DBusValue<PropertyOf<I, P>['type']>,
  ): Promise<void> => {
    const p = iface.properties.find((x) => x.name === prop);
    if (!p) throw new Error(`${iface.name}.${prop} is not in the IDL`);
    const body = [iface.name, prop, new Variant(p.type, value)];
    await busCall(bus, target(PROPERTIES, 'Set', 'ssv', body), {
      timeoutMs,
      what: `${spec.daemon} set ${prop}`,
    });
  };
  /** Subscribes to a signal of the object, its arguments typed by the IDL. */
  const on = <I extends InterfaceSpec, S extends SignalName<I>>(
    iface: I,
    signal: S,
    cb: (...args: ArgValues<SignalOf<I, S>['args']>) => void,
  ): Promise<Subscription> =>
    subscribe(bus, spec, iface, signal, (body) => cb(...(body as ArgValues<SignalOf<I, S>['args']>)));
  return { call, getProperty, setProperty, on };
}

/**
 * Subscribes to one signal of `spec`'s object. Only signals sent by the current owner of the well-known
 * name are delivered (the match rule names it as sender, and the owner is tracked with watchName).
 */
async function subscribe(
  bus: DBusConnection,
  spec: ObjectSpec,
  ispec: InterfaceSpec,
  signal: string,
  cb: (body: unknown[]) => void,
): Promise<Subscription> {
  const iface = ispec.name;
  const s = ispec.signals.find((x) => x.name === signal);
  if (!s) throw new Error(`${iface}.${signal} is not in the IDL`);
  const signature = signatureOf(s.args);
  const rule = `type='signal',sender='${spec.busName}',path='${spec.path}',interface='${iface}',member='${signal}'`;
  const watch = await watchName(bus, spec.busName, () => {});
  const listener = (msg: Message) => {
    if (
      msg.type === SIGNAL &&
      msg.path === spec.path &&
      msg.interface === iface &&
      msg.member === signal &&
      msg.signature === signature &&
      msg.sender !== undefined &&
      msg.sender === watch.owner
    ) {
      runCallback(() => cb(msg.body));
    }
  };
  bus.on('message', listener);
  try {
    await addMatch(bus, rule);
  } catch (e) {
    bus.removeListener('message', listener);
    await watch.close();
    throw e;
  }
  let closed = false;
  return {
    async close() {
      if (closed) return;
      closed = true;
      bus.removeListener('message', listener);
      await removeMatch(bus, rule);
      await watch.close();
    },
  };
}

/** What both daemons answer (org.nvmexpress.staf|stac, their .debug and .events interfaces). Calls reject with
 * a DBusError (`.type`) or a timeout. */
export interface DaemonClient {
  listControllers(detailed: boolean): Promise<Record<string, string>[]>;
  /** JSON text */
  processInfo(): Promise<string>;
  /** JSON text */
  controllerInfo(...tid: TidArgs): Promise<string>;
  getTron(): Promise<boolean>;
  setTron(on: boolean): Promise<void>;
  logLevel(): Promise<string>;
  /** JSON text (the .events interface, stas extension) */
  events(): Promise<string>;
}

function daemonClient(
  caller: ReturnType<typeof makeCaller>,
  main: ListControllersInterface,
  debug: DebugInterface,
  events: EventsInterface,
): DaemonClient {
  const { call, getProperty, setProperty } = caller;
  return {
    listControllers: (detailed) => call(main, 'list_controllers', [detailed]),
    processInfo: () => call(debug, 'process_info', []),
    controllerInfo: (...tid) => call(debug, 'controller_info', tid),
    getTron: () => getProperty(debug, 'tron'),
    setTron: (on) => setProperty(debug, 'tron', on),
    logLevel: () => getProperty(debug, 'log_level'),
    events: () => call(events, 'events', []),
  };
}

/** stafd as seen by stafctl and stacd. */
export interface StafClient extends DaemonClient {
  getLogPages(...tid: TidArgs): Promise<Record<string, string>[]>;
  /** JSON text */
  getAllLogPages(detailed: boolean): Promise<string>;
  onLogPagesChanged(cb: (tid: TidArgs, device: string) => void): Promise<Subscription>;
  onDcRemoved(cb: () => void): Promise<Subscription>;
}

export function stafClient(bus: DBusConnection, opts: ClientOptions = {}): StafClient {
  const caller = makeCaller(bus, STAFD_OBJECT, opts);
  const main = interfaceOf(STAFD_OBJECT, STAFD_DBUS_NAME);
  const debug = interfaceOf(STAFD_OBJECT, `${STAFD_DBUS_NAME}.debug`);
  const events = interfaceOf(STAFD_OBJECT, `${STAFD_DBUS_NAME}.events`);
  return {
    ...daemonClient(caller, main, debug, events),
    getLogPages: (...tid) => caller.call(main, 'get_log_pages', tid),
    getAllLogPages: (detailed) => caller.call(main, 'get_all_log_pages', [detailed]),
    onLogPagesChanged: (cb) =>
      caller.on(main, 'log_pages_changed', (...args) => cb(args.slice(0, 7) as TidArgs, args[7])),
    onDcRemoved: (cb) => caller.on(main, 'dc_removed', () => cb()),
  };
}

/** stacd as seen by stacctl. */
export interface StacClient extends DaemonClient {
  /** JSON text (org.nvmexpress.stac.plan, stas extension) */
  plan(): Promise<string>;
}

export function stacClient(bus: DBusConnection, opts: ClientOptions = {}): StacClient {
  const caller = makeCaller(bus, STACD_OBJECT, opts);
  const main = interfaceOf(STACD_OBJECT, STACD_DBUS_NAME);
  return {
    ...daemonClient(
      caller,
      main,
      interfaceOf(STACD_OBJECT, `${STACD_DBUS_NAME}.debug`),
      interfaceOf(STACD_OBJECT, `${STACD_DBUS_NAME}.events`),
    ),
    plan: () => caller.call(interfaceOf(STACD_OBJECT, `${STACD_DBUS_NAME}.plan`), 'plan', []),
  };
}
