// Option tables of stafd.conf, stacd.conf and sys.conf as data (section, key, type, default, doc), for parsing and man pages.
import { WELL_KNOWN_DISC_NQN } from '../tid.js';
import { DISCONNECT_TRTYPES, type DisconnectTrtype, TRANSPORT_NAMES } from '../transport.js';
import type { ValueSpec, ValueType } from './values.js';

export const QUEUE_SIZE_RANGE: readonly [number, number] = [16, 1024];
export const DISCONNECT_SCOPES = [
  'only-stas-connections',
  'all-connections-matching-disconnect-trtypes',
  'no-disconnect',
] as const;
export type DisconnectScope = (typeof DISCONNECT_SCOPES)[number];
/** Transports disconnect-trtypes takes (the transport table, src/core/transport.ts). */
export { DISCONNECT_TRTYPES, type DisconnectTrtype };

export type OptionType = ValueType | 'controller' | 'exclude';

export interface OptionSpec extends Omit<ValueSpec, 'type'> {
  readonly key: string;
  readonly type: OptionType;
  /** The default as it would be written in the file; null: unset (the kernel/libnvme default applies). */
  readonly default: string | null;
  /** Repeatable: every occurrence is an item (controller=, exclude=). Otherwise the last occurrence wins. */
  readonly multi?: boolean;
  /** Still honoured, but reported: where it went. */
  readonly deprecated?: string;
  /** The value is a secret: never printed. */
  readonly secret?: boolean;
  /** Man-page text. */
  readonly doc: string;
}

export interface SectionSpec {
  readonly name: string;
  readonly doc: string;
  readonly options: readonly OptionSpec[];
}

export interface ConfigSchema {
  /** Default path of the file. */
  readonly file: string;
  readonly sections: readonly SectionSpec[];
}

/** Connection parameters settable in [Global] and per controller (`controller = ...;kato=10`). */
export interface ConnectOptions {
  hdrDigest?: boolean;
  dataDigest?: boolean;
  kato?: number;
  queueSize?: number;
  reconnectDelay?: number;
  ctrlLossTmo?: number;
  disableSqflow?: boolean;
  nrIoQueues?: number;
  nrWriteQueues?: number;
  nrPollQueues?: number;
}

/** The connect parameters: config key, ConnectOptions property, and checker. */
export const CONNECT_OPTIONS: readonly {
  readonly key: string;
  readonly prop: keyof ConnectOptions;
  readonly spec: ValueSpec;
}[] = [
  { key: 'hdr-digest', prop: 'hdrDigest', spec: { type: 'bool' } },
  { key: 'data-digest', prop: 'dataDigest', spec: { type: 'bool' } },
  { key: 'kato', prop: 'kato', spec: { type: 'int' } },
  { key: 'queue-size', prop: 'queueSize', spec: { type: 'int', range: QUEUE_SIZE_RANGE } },
  { key: 'reconnect-delay', prop: 'reconnectDelay', spec: { type: 'int' } },
  { key: 'ctrl-loss-tmo', prop: 'ctrlLossTmo', spec: { type: 'int' } },
  { key: 'disable-sqflow', prop: 'disableSqflow', spec: { type: 'bool' } },
  { key: 'nr-io-queues', prop: 'nrIoQueues', spec: { type: 'int' } },
  { key: 'nr-write-queues', prop: 'nrWriteQueues', spec: { type: 'int' } },
  { key: 'nr-poll-queues', prop: 'nrPollQueues', spec: { type: 'int' } },
];

/** Identity/addressing keys of a `controller=` line (config spelling, after `nqn` → `subsysnqn`). */
export const CONTROLLER_FIELD_KEYS = [
  'transport',
  'traddr',
  'trsvcid',
  'subsysnqn',
  'host-traddr',
  'host-iface',
  'host-nqn',
  'dhchap-secret',
  'dhchap-ctrl-secret',
] as const;

/** Keys an `exclude=` entry may match on (config spelling, after `nqn` → `subsysnqn`). */
export const EXCLUDE_FIELD_KEYS = [
  'transport',
  'traddr',
  'trsvcid',
  'subsysnqn',
  'host-iface',
  'host-nqn',
] as const;

/**
 * Bounds on what remote parties can make stafd hold (stas extensions of [Discovery controller connection
 * management]). The defaults are far beyond real fabrics (a handful of DCs, a few thousand log entries) and keep a
 * hostile or broken discovery controller from exhausting the host.
 */
export const DC_BOUNDS = [
  {
    key: 'max-discovery-controllers',
    prop: 'maxDiscoveryControllers',
    default: 256,
    max: 65536,
    doc:
      'stas extension. The most Discovery Controllers stafd runs at once, over all origins (controller= lines ' +
      'and the nBFT first, then mDNS and referrals). When the bound is reached, the controllers already running ' +
      'stay; new ones are refused with one warning naming the Discovery Controller whose referral (or the mDNS ' +
      'announcement) was refused, counted in the stas_bound_hits metric and shown by stafctl events.',
  },
  {
    key: 'max-referral-depth',
    prop: 'maxReferralDepth',
    default: 8,
    max: 1024,
    doc:
      'stas extension. How far referrals are followed: a configured or mDNS Discovery Controller is at depth 0, ' +
      'the Discovery Controllers it refers to at depth 1, and so on; referrals of a Discovery Controller at this ' +
      'depth are not followed (one warning per referring controller).',
  },
  {
    key: 'max-referrals-per-controller',
    prop: 'maxReferralsPerController',
    default: 64,
    max: 65536,
    doc:
      'stas extension. The most referrals followed from the log page of one Discovery Controller (the first ones ' +
      'in the log page); the rest are ignored with one warning naming the controller.',
  },
  {
    key: 'max-cached-log-entries',
    prop: 'maxCachedLogEntries',
    default: 65536,
    max: 16777216,
    doc:
      'stas extension. The most discovery log page entries stafd caches, over all Discovery Controllers. A log ' +
      'page that would take the cache past this bound is refused (the controller keeps its previous log page) ' +
      'with one warning naming the controller; a single log page is never read past this many entries.',
  },
] as const;

export type DcBounds = { readonly [B in (typeof DC_BOUNDS)[number] as B['prop']]: number };

// ---- [Global] options shared by both daemons --------------------------------------------------------------------

const TRON: OptionSpec = {
  key: 'tron',
  type: 'bool',
  default: 'false',
  doc: 'Trace ON. Takes a boolean argument. If true, enables full code tracing (debug messages in the system log).',
};
const HDR_DIGEST: OptionSpec = {
  key: 'hdr-digest',
  type: 'bool',
  default: 'false',
  doc: 'Enable NVMe/TCP PDU Header Digest (CRC32C). Takes a boolean argument.',
};
const DATA_DIGEST: OptionSpec = {
  key: 'data-digest',
  type: 'bool',
  default: 'false',
  doc: 'Enable NVMe/TCP PDU Data Digest (CRC32C). Takes a boolean argument.',
};
const kato = (def: string, what: string): OptionSpec => ({
  key: 'kato',
  type: 'int',
  default: def,
  doc: `Keep Alive Timeout (KATO) in seconds for ${what} connections. Takes an unsigned integer.`,
});
const QUEUE_SIZE: OptionSpec = {
  key: 'queue-size',
  type: 'int',
  range: QUEUE_SIZE_RANGE,
  default: null,
  doc: 'Number of entries of the I/O queues (16..1024). Unset: the driver default.',
};
const RECONNECT_DELAY: OptionSpec = {
  key: 'reconnect-delay',
  type: 'int',
  default: null,
  doc: 'Seconds between the kernel reconnect attempts of a lost connection. Unset: the kernel default (10).',
};
const CTRL_LOSS_TMO: OptionSpec = {
  key: 'ctrl-loss-tmo',
  type: 'int',
  default: null,
  doc: 'Seconds after which the kernel stops reconnecting a lost connection (-1: forever). Unset: 600.',
};
const DISABLE_SQFLOW: OptionSpec = {
  key: 'disable-sqflow',
  type: 'bool',
  default: null,
  doc: 'Disable SQ flow control. Takes a boolean argument. Unset: the kernel default.',
};
const IGNORE_IFACE: OptionSpec = {
  key: 'ignore-iface',
  type: 'bool',
  default: 'false',
  doc:
    'Takes a boolean argument. When false, connections are forced onto the interface the controller was found ' +
    'on (SO_BINDTODEVICE); when true, the routing tables decide and the interface is not part of the identity.',
};
const IP_FAMILY: OptionSpec = {
  key: 'ip-family',
  type: 'ip-family',
  default: 'ipv4+ipv6',
  doc:
    'IP families connections may use: ipv4, ipv6 or ipv4+ipv6. Addresses of a disabled family (discovered or ' +
    'configured with controller=) are not connected to.',
};
const nrQueues = (key: string, what: string): OptionSpec => ({
  key,
  type: 'int',
  default: null,
  doc: `Number of ${what} queues. Unset: the kernel default.`,
});

const CONTROLLER_DOC =
  'One controller per line, repeatable: a series of key=value fields separated by semicolons: transport ' +
  `(mandatory: ${TRANSPORT_NAMES.join(', ')}), traddr (mandatory), trsvcid, nqn, host-traddr, host-iface, host-nqn, ` +
  'dhchap-secret, dhchap-ctrl-secret, and the per-controller overrides hdr-digest, data-digest, disable-sqflow, ' +
  'kato, reconnect-delay, ctrl-loss-tmo, queue-size, nr-io-queues, nr-write-queues, nr-poll-queues.';
const EXCLUDE_DOC =
  'Controllers not to connect to, repeatable. Same syntax as controller= (host-traddr does not apply). Minimal ' +
  'match: a controller is excluded when it has every field of an exclude= entry. Takes precedence over controller=.';

/** What dhchap-secret and dhchap-ctrl-secret are (both daemons); each adds who authenticates. */
const DHCHAP_DOC =
  "dhchap-secret is the host's DH-HMAC-CHAP secret (NVMe in-band authentication) for this controller: " +
  'DHHC-1:<hh>:<base64>: as nvme gen-dhchap-key prints it (hh 00: used as is; 01, 02, 03: transformed with ' +
  'SHA-256, SHA-384, SHA-512). Without it the host key of sys.conf (key) is used. dhchap-ctrl-secret is the ' +
  "controller's secret, for bidirectional authentication: the controller must prove its identity with it.";
const STAFD_DHCHAP_DOC =
  `${DHCHAP_DOC} On tcp with kernel-discovery=false, stafd's own NVMe/TCP host authenticates, right after ` +
  'Connect, when the Discovery Controller asks for it (hashes SHA-256, SHA-384, SHA-512; DH groups NULL and ' +
  'ffdhe2048 to ffdhe8192). It refuses the connection when the controller asks but no secret is configured, ' +
  'rejects the secret, fails to prove its identity or replays a challenge, and when the controller does not ask ' +
  'at all while dhchap-ctrl-secret is set. Kernel Discovery Controllers (rdma, fc, loop, and tcp with ' +
  'kernel-discovery=true) get the secrets as the kernel options dhchap_secret and dhchap_ctrl_secret, and the ' +
  'kernel authenticates, only when the controller asks (Linux 6.1). A Linux 6.1 target (nvmet) never asks a ' +
  'Discovery Controller to authenticate. TLS is not supported. Secrets are never logged nor shown over D-Bus.';
const STACD_DHCHAP_DOC =
  `${DHCHAP_DOC} The host key also applies to the I/O Controllers of discovery log pages. stacd passes the ` +
  'secrets to the kernel (connect options dhchap_secret and dhchap_ctrl_secret), which authenticates when the ' +
  'I/O Controller asks for it; Linux 6.1 connects without authenticating to a controller that does not ask, ' +
  'dhchap-ctrl-secret or not. A connect the kernel refuses while a secret is configured is logged once as an ' +
  'authentication failure naming the controller (the kernel log says why) and retried with the usual backoff ' +
  '(3 s, then every 60 s). TLS is not supported. Secrets are never logged nor shown over D-Bus.';

const controllersSection = (nqnDoc: string, authDoc: string): SectionSpec => ({
  name: 'Controllers',
  doc: 'Manually configured controllers and exclusions.',
  options: [
    {
      key: 'controller',
      type: 'controller',
      default: null,
      multi: true,
      doc: `${CONTROLLER_DOC} ${nqnDoc} ${authDoc}`,
    },
    { key: 'exclude', type: 'exclude', default: null, multi: true, doc: EXCLUDE_DOC },
    {
      key: 'blacklist',
      type: 'exclude',
      default: null,
      multi: true,
      deprecated: 'replaced by exclude=',
      doc: 'Legacy name of exclude= (nvme-stas 1.x): still honoured, exactly as exclude=, with a warning naming the file and line.',
    },
  ],
});

// ---- stafd.conf ---------------------------------------------------------------------------------------------------

export const STAFD_SCHEMA: ConfigSchema = {
  file: '/etc/stas/stafd.conf',
  sections: [
    {
      name: 'Global',
      doc: 'General options.',
      options: [
        TRON,
        HDR_DIGEST,
        DATA_DIGEST,
        kato('30', 'Discovery Controller'),
        QUEUE_SIZE,
        RECONNECT_DELAY,
        CTRL_LOSS_TMO,
        DISABLE_SQFLOW,
        IGNORE_IFACE,
        IP_FAMILY,
        {
          key: 'pleo',
          type: 'enabled-disabled',
          default: 'enabled',
          doc:
            'Port Local Entries Only (TP8010): enabled or disabled. When enabled, Direct Discovery Controllers that ' +
            'support it are asked to return only the log page entries of the port the host is connected to.',
        },
        {
          key: 'persistent-connections',
          type: 'bool',
          default: 'false',
          deprecated: 'moved to [Discovery controller connection management]',
          doc: 'Deprecated location of [Discovery controller connection management] persistent-connections.',
        },
      ],
    },
    {
      name: 'Service Discovery',
      doc: 'mDNS (Avahi) service discovery.',
      options: [
        {
          key: 'zeroconf',
          type: 'enabled-disabled',
          default: 'enabled',
          doc: 'Locate Discovery Controllers with mDNS (_nvme-disc._tcp, _nvme-disc._udp): enabled or disabled.',
        },
      ],
    },
    {
      name: 'Discovery controller connection management',
      doc: 'Life cycle of Discovery Controller connections.',
      options: [
        {
          key: 'persistent-connections',
          type: 'bool',
          default: 'true',
          doc:
            'Takes a boolean argument. Whether Discovery Controller connections are kept when stafd stops. They ' +
            'are kernel discovery controllers (every transport; see kernel-discovery), which a restarted stafd ' +
            'adopts again; stafd deletes only those it made itself. A Discovery Controller that leaves the ' +
            'configuration is always disconnected (a kernel connection only if stafd made it). With ' +
            "kernel-discovery=false, tcp connections use stafd's userspace host and always end with stafd.",
        },
        {
          key: 'zeroconf-connections-persistence',
          type: 'timespan',
          default: '72hours',
          doc:
            'How long a Discovery Controller found with mDNS that stopped being advertised stays connected: a ' +
            'number of seconds or a time span such as 72hours, 3 days 5 hours, 1:30:00. 0: removed ' +
            'immediately; negative (-1): never removed.',
        },
        {
          key: 'kernel-discovery',
          type: 'bool',
          default: 'true',
          doc:
            'stas extension. Takes a boolean argument. Which host reaches tcp Discovery Controllers: true (the ' +
            "default, as nvme-stas does with libnvme), the kernel's NVMe host: a kernel discovery controller " +
            '(nvmeN in sysfs and in nvme list-subsys) made through /dev/nvme-fabrics, kept or deleted when stafd ' +
            'stops per persistent-connections and adopted when it starts again, with its change notices as ' +
            'kernel uevents and its Identify, log pages and DIM registration through the NVMe admin passthrough ' +
            "ioctl; false, stafd's own userspace NVMe/TCP host, which leaves no kernel state behind, needs no " +
            '/dev/nvme-fabrics, and whose connections end when stafd stops (after deregistering from Central ' +
            'Discovery Controllers) whatever persistent-connections says. rdma, fc and loop Discovery ' +
            'Controllers always use the kernel. Without /dev/nvme-fabrics stafd loads nvme-fabrics once; if that ' +
            'fails, each kernel Discovery Controller fails to connect with an error saying so (and retries). ' +
            'stafd deletes only the kernel connections it made itself.',
        },
        ...DC_BOUNDS.map(
          (b): OptionSpec => ({
            key: b.key,
            type: 'int',
            range: [1, b.max],
            default: String(b.default),
            doc: b.doc,
          }),
        ),
      ],
    },
    controllersSection(
      `nqn defaults to the well-known discovery NQN (${WELL_KNOWN_DISC_NQN}).`,
      STAFD_DHCHAP_DOC,
    ),
  ],
};

// ---- stacd.conf ---------------------------------------------------------------------------------------------------

export const STACD_SCHEMA: ConfigSchema = {
  file: '/etc/stas/stacd.conf',
  sections: [
    {
      name: 'Global',
      doc: 'General options.',
      options: [
        TRON,
        HDR_DIGEST,
        DATA_DIGEST,
        kato('120', 'I/O Controller'),
        QUEUE_SIZE,
        RECONNECT_DELAY,
        CTRL_LOSS_TMO,
        DISABLE_SQFLOW,
        IGNORE_IFACE,
        IP_FAMILY,
        nrQueues('nr-io-queues', 'I/O'),
        nrQueues('nr-write-queues', 'write'),
        nrQueues('nr-poll-queues', 'poll'),
        {
          key: 'udev-rule',
          type: 'enabled-disabled',
          default: 'disabled',
          doc: "Whether nvme-cli's udev rules for TCP connections are executed (enabled) or ignored (disabled).",
        },
      ],
    },
    {
      name: 'I/O controller connection management',
      doc: 'When I/O Controller connections are removed.',
      options: [
        {
          key: 'disconnect-scope',
          type: 'choice',
          choices: DISCONNECT_SCOPES,
          default: 'only-stas-connections',
          doc:
            'only-stas-connections: only connections made (or adopted) by stacd are removed; ' +
            'all-connections-matching-disconnect-trtypes: every connection of the disconnect-trtypes transports ' +
            'not backed by configuration or discovery log pages is removed; no-disconnect: connections are sticky.',
        },
        {
          key: 'disconnect-trtypes',
          type: 'plus-list',
          choices: DISCONNECT_TRTYPES,
          default: 'tcp',
          doc: `Transports audited by all-connections-matching-disconnect-trtypes: ${DISCONNECT_TRTYPES.join(', ')} joined with + (no spaces).`,
        },
        {
          key: 'connect-attempts-on-ncc',
          type: 'int',
          range: [0, 2147483647],
          default: '0',
          doc:
            'Connection attempts before giving up on an I/O Controller whose log page entry has the NCC (Not ' +
            'Connected to CDC) bit set. 0: never give up; 1 is taken as 2.',
        },
      ],
    },
    controllersSection('nqn is mandatory.', STACD_DHCHAP_DOC),
  ],
};

// ---- sys.conf -----------------------------------------------------------------------------------------------------

export const SYS_SCHEMA: ConfigSchema = {
  file: '/etc/stas/sys.conf',
  sections: [
    {
      name: 'Host',
      doc: 'Host identity. Values are literal or file://<path> (first word of the first line of that file).',
      options: [
        { key: 'nqn', type: 'string', default: 'file:///etc/nvme/hostnqn', doc: 'Host NQN (mandatory).' },
        { key: 'id', type: 'string', default: 'file:///etc/nvme/hostid', doc: 'Host ID (mandatory).' },
        {
          key: 'key',
          type: 'string',
          default: 'file:///etc/nvme/hostkey',
          secret: true,
          doc:
            'Host DH-HMAC-CHAP secret (optional): DHHC-1:<hh>:<base64>: as nvme gen-dhchap-key prints it. The ' +
            "host's secret for NVMe in-band authentication on every connection without a dhchap-secret of its own " +
            '(a controller= line with one wins): the Discovery Controllers of stafd and the I/O Controllers of ' +
            'stacd, configured or discovered. Linux 6.1 takes a transformed secret (01, 02, 03) only as long as ' +
            'its hash (32, 48, 64 bytes), as nvme gen-dhchap-key makes it.',
        },
        {
          key: 'symname',
          type: 'string',
          default: null,
          doc: 'Host symbolic name sent in DIM registrations (optional).',
        },
      ],
    },
  ],
};

export function findSection(schema: ConfigSchema, name: string): SectionSpec | undefined {
  return schema.sections.find((s) => s.name === name);
}

export function findOption(schema: ConfigSchema, section: string, key: string): OptionSpec | undefined {
  return findSection(schema, section)?.options.find((o) => o.key === key);
}
