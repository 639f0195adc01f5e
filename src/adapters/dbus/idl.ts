/** The D-Bus interfaces of stafd and stacd as data, and the introspection XML (IDL) generated from it. */

export const STAFD_DBUS_NAME = 'org.nvmexpress.staf';
export const STAFD_DBUS_PATH = '/org/nvmexpress/staf';
export const STACD_DBUS_NAME = 'org.nvmexpress.stac';
export const STACD_DBUS_PATH = '/org/nvmexpress/stac';

export interface ArgSpec {
  readonly name: string;
  readonly type: string;
}

export interface PropertySpec {
  readonly name: string;
  readonly type: string;
  readonly access: 'read' | 'readwrite';
}

export interface MethodSpec {
  readonly name: string;
  readonly in: readonly ArgSpec[];
  readonly out: readonly ArgSpec[];
}

export interface SignalSpec {
  readonly name: string;
  readonly args: readonly ArgSpec[];
}

export interface InterfaceSpec {
  readonly name: string;
  readonly properties: readonly PropertySpec[];
  readonly methods: readonly MethodSpec[];
  readonly signals: readonly SignalSpec[];
}

/** One object: its path, its well-known bus name and its interfaces, in IDL order. */
export interface ObjectSpec {
  readonly daemon: 'stafd' | 'stacd';
  readonly busName: string;
  readonly path: string;
  readonly interfaces: readonly InterfaceSpec[];
}

/** A string argument (`s`), its name kept as a literal type. */
const s = <N extends string>(name: N) => ({ name, type: 's' }) as const;

/** The seven transport-ID arguments, in the order of the IDL. */
export const TID_ARGS = [
  s('transport'),
  s('traddr'),
  s('trsvcid'),
  s('subsysnqn'),
  s('host_traddr'),
  s('host_iface'),
  s('host_nqn'),
] as const satisfies readonly ArgSpec[];

function debugInterface<B extends string>(busName: B) {
  return {
    name: `${busName}.debug`,
    properties: [
      { name: 'tron', type: 'b', access: 'readwrite' },
      { name: 'log_level', type: 's', access: 'read' },
    ],
    methods: [
      { name: 'process_info', in: [], out: [s('info_json')] },
      { name: 'controller_info', in: TID_ARGS, out: [s('info_json')] },
    ],
    signals: [],
  } as const satisfies InterfaceSpec;
}

const listControllers = {
  name: 'list_controllers',
  in: [{ name: 'detailed', type: 'b' }],
  out: [{ name: 'controller_list', type: 'aa{ss}' }],
} as const satisfies MethodSpec;

/** stas extension: the recent history of a daemon (`stafctl events`, `stacctl events`). */
export function eventsInterface<B extends string>(busName: B) {
  return {
    name: `${busName}.events`,
    properties: [],
    methods: [{ name: 'events', in: [], out: [s('events_json')] }],
    signals: [],
  } as const satisfies InterfaceSpec;
}

/** stafd: `org.nvmexpress.staf.debug` and `org.nvmexpress.staf`, member for member as nvme-stas' stafd.idl. */
export const STAFD_OBJECT = {
  daemon: 'stafd',
  busName: STAFD_DBUS_NAME,
  path: STAFD_DBUS_PATH,
  interfaces: [
    debugInterface(STAFD_DBUS_NAME),
    {
      name: STAFD_DBUS_NAME,
      properties: [],
      methods: [
        listControllers,
        { name: 'get_log_pages', in: TID_ARGS, out: [{ name: 'log_pages', type: 'aa{ss}' }] },
        { name: 'get_all_log_pages', in: [{ name: 'detailed', type: 'b' }], out: [s('log_pages_json')] },
      ],
      signals: [
        { name: 'log_pages_changed', args: [...TID_ARGS, s('device')] },
        { name: 'dc_removed', args: [] },
      ],
    },
    eventsInterface(STAFD_DBUS_NAME),
  ],
} as const satisfies ObjectSpec;

/** stas extension of stacd, kept out of nvme-stas' two interfaces so those stay byte-compatible. */
export const STACD_PLAN_INTERFACE = {
  name: `${STACD_DBUS_NAME}.plan`,
  properties: [],
  methods: [{ name: 'plan', in: [], out: [s('plan_json')] }],
  signals: [],
} as const satisfies InterfaceSpec;

/** stacd: `org.nvmexpress.stac.debug` and `org.nvmexpress.stac` as nvme-stas' stacd.idl, plus `.plan`. */
export const STACD_OBJECT = {
  daemon: 'stacd',
  busName: STACD_DBUS_NAME,
  path: STACD_DBUS_PATH,
  interfaces: [
    debugInterface(STACD_DBUS_NAME),
    { name: STACD_DBUS_NAME, properties: [], methods: [listControllers], signals: [] },
    STACD_PLAN_INTERFACE,
    eventsInterface(STACD_DBUS_NAME),
  ],
} as const satisfies ObjectSpec;

/** The interface named `name` of `spec`, typed as the IDL has it. */
export function interfaceOf<O extends ObjectSpec, I extends InterfaceName<O>>(
  spec: O,
  name: I,
): InterfaceOf<O, I> {
  const iface = spec.interfaces.find((i) => i.name === name);
  if (!iface) throw new Error(`${name} is not an interface of ${spec.path}`);
  return iface as InterfaceOf<O, I>;
}

export type StafdObject = typeof STAFD_OBJECT;
export type StacdObject = typeof STACD_OBJECT;
/** The `<name>.debug` and `<name>.events` interfaces both daemons have (the same members under either name). */
export type DebugInterface = ReturnType<typeof debugInterface<string>>;
export type EventsInterface = ReturnType<typeof eventsInterface<string>>;
/** The main interface of either daemon, as far as they share it (list_controllers). */
export interface ListControllersInterface extends InterfaceSpec {
  readonly methods: readonly [typeof listControllers, ...MethodSpec[]];
}

// The compile-time view of the IDL: what the implementation of an object and a client's calls must look like.

/**
 * The TypeScript type of a value of D-Bus signature `T` (the signatures stas' interfaces use; any other is `never`,
 * so a member with a new signature needs a row here and in `valueMatches` of service.ts before it can be implemented).
 */
export type DBusValue<T extends string> = T extends 's'
  ? string
  : T extends 'b'
    ? boolean
    : T extends 'a{ss}'
      ? Record<string, string>
      : T extends 'aa{ss}'
        ? Record<string, string>[]
        : never;

/** The TypeScript tuple of an argument list. */
export type ArgValues<A extends readonly ArgSpec[]> = { -readonly [K in keyof A]: DBusValue<A[K]['type']> };

/** What a method returns: nothing, or its one out argument. */
export type ReturnValue<A extends readonly ArgSpec[]> = A extends readonly []
  ? undefined
  : A extends readonly [infer O extends ArgSpec]
    ? DBusValue<O['type']>
    : never;

export type Awaitable<T> = T | Promise<T>;

type Named<U, N> = Extract<U, { readonly name: N }>;

/** The interfaces of an object, by name. */
export type InterfaceOf<O extends ObjectSpec, I extends InterfaceName<O>> = Named<O['interfaces'][number], I>;
export type InterfaceName<O extends ObjectSpec> = O['interfaces'][number]['name'];
export type MethodOf<I extends InterfaceSpec, M extends I['methods'][number]['name']> = Named<
  I['methods'][number],
  M
>;
export type PropertyOf<I extends InterfaceSpec, P extends I['properties'][number]['name']> = Named<
  I['properties'][number],
  P
>;
export type SignalOf<I extends InterfaceSpec, S extends I['signals'][number]['name']> = Named<
  I['signals'][number],
  S
>;

/** A method's implementation: the IDL's in arguments, its out argument (maybe async). Throws become D-Bus errors. */
export type MethodImpl<M extends MethodSpec> = (
  ...args: ArgValues<M['in']>
) => Awaitable<ReturnValue<M['out']>>;

/** A property's implementation: a getter, and a setter for a readwrite one. */
export type PropertyImpl<P extends PropertySpec> = P['access'] extends 'readwrite'
  ? { get(): DBusValue<P['type']>; set(value: DBusValue<P['type']>): void }
  : { get(): DBusValue<P['type']> };

/** The implementation of one interface: every method and property of the IDL, by member name. */
export type InterfaceImpl<I extends InterfaceSpec> = {
  [M in I['methods'][number] as M['name']]: MethodImpl<M>;
} & {
  [P in I['properties'][number] as P['name']]: PropertyImpl<P>;
};

/** The implementation of an object: every interface of the IDL, by interface name. */
export type ObjectImpl<O extends ObjectSpec> = {
  [I in O['interfaces'][number] as I['name']]: InterfaceImpl<I>;
};

/** The D-Bus signature of a list of arguments. */
export function signatureOf(args: readonly ArgSpec[]): string {
  return args.map((a) => a.type).join('');
}

function xmlAttr(v: string): string {
  return v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** One `<interface>` element, laid out exactly as nvme-stas' IDL files (4-space steps, signal args at 10). */
export function interfaceXml(iface: InterfaceSpec): string {
  const out: string[] = [`    <interface name="${xmlAttr(iface.name)}">`];
  const arg = (indent: string, direction: string, a: ArgSpec) =>
    `${indent}<arg direction="${direction}" type="${xmlAttr(a.type)}" name="${xmlAttr(a.name)}"/>`;
  for (const p of iface.properties) {
    out.push(`        <property name="${xmlAttr(p.name)}" type="${xmlAttr(p.type)}" access="${p.access}"/>`);
  }
  for (const m of iface.methods) {
    const args = [
      ...m.in.map((a) => arg('            ', 'in', a)),
      ...m.out.map((a) => arg('            ', 'out', a)),
    ];
    if (args.length === 0) out.push(`        <method name="${xmlAttr(m.name)}"></method>`);
    else out.push(`        <method name="${xmlAttr(m.name)}">`, ...args, '        </method>');
  }
  for (const sig of iface.signals) {
    if (sig.args.length === 0) out.push(`        <signal name="${xmlAttr(sig.name)}"></signal>`);
    else {
      out.push(`        <signal name="${xmlAttr(sig.name)}">`);
      for (const a of sig.args) out.push(arg('          ', 'out', a));
      out.push('        </signal>');
    }
  }
  out.push('    </interface>');
  return out.join('\n');
}

/** The IDL text of an object: what `--idl FILE` writes (nvme-stas' stafd.idl / stacd.idl, name substituted). */
export function idlXml(obj: ObjectSpec): string {
  return `<node>\n${obj.interfaces.map(interfaceXml).join('\n\n')}\n</node>\n`;
}

const INTROSPECT_DOCTYPE =
  '<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"\n' +
  ' "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">';

/** The standard interfaces every exported object has (Introspectable and Properties served by service.ts, Peer by connection.ts), with argument names. */
export const STANDARD_INTERFACES: readonly InterfaceSpec[] = [
  {
    name: 'org.freedesktop.DBus.Introspectable',
    properties: [],
    methods: [{ name: 'Introspect', in: [], out: [s('xml_data')] }],
    signals: [],
  },
  {
    name: 'org.freedesktop.DBus.Peer',
    properties: [],
    methods: [
      { name: 'Ping', in: [], out: [] },
      { name: 'GetMachineId', in: [], out: [s('machine_uuid')] },
    ],
    signals: [],
  },
  {
    name: 'org.freedesktop.DBus.Properties',
    properties: [],
    methods: [
      { name: 'Get', in: [s('interface_name'), s('property_name')], out: [{ name: 'value', type: 'v' }] },
      {
        name: 'GetAll',
        in: [s('interface_name')],
        out: [{ name: 'properties', type: 'a{sv}' }],
      },
      { name: 'Set', in: [s('interface_name'), s('property_name'), { name: 'value', type: 'v' }], out: [] },
    ],
    signals: [
      {
        name: 'PropertiesChanged',
        args: [
          s('interface_name'),
          { name: 'changed_properties', type: 'a{sv}' },
          { name: 'invalidated_properties', type: 'as' },
        ],
      },
    ],
  },
];

/** The reply to org.freedesktop.DBus.Introspectable.Introspect on the object: the IDL plus the standard ones. */
export function introspectionXml(obj: ObjectSpec): string {
  const all = [...STANDARD_INTERFACES, ...obj.interfaces];
  return `${INTROSPECT_DOCTYPE}\n<node>\n${all.map(interfaceXml).join('\n\n')}\n</node>\n`;
}

/**
 * The Introspect reply of a path that is not an exported object: the list of its children among `exported`
 * (`/org/nvmexpress` lists `staf`), so that busctl tree and d-feet find the objects. The same bytes dbus-next
 * wrote (one-line DOCTYPE, two-space indent, `<node/>` for a path without children).
 */
export function childNodesXml(path: string, exported: Iterable<string>): string {
  const parts = path.split('/').filter((x) => x !== '');
  const children = new Set<string>();
  for (const p of exported) {
    const q = p.split('/').filter((x) => x !== '');
    if (q.length > parts.length && parts.every((x, i) => x === q[i])) children.add(q[parts.length]!);
  }
  const header =
    '<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n';
  if (children.size === 0) return `${header}<node/>`;
  return `${header}<node>\n${[...children].map((c) => `  <node name="${xmlAttr(c)}"/>`).join('\n')}\n</node>`;
}
