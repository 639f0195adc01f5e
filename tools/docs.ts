/**
 * Documentation generated from the code's own data, so it cannot drift: the commented configuration templates
 * (etc/stas/*.conf) and the man pages of the configuration files and D-Bus interfaces come from the option schema
 * (src/core/config/schema.ts) and the IDL data (src/adapters/dbus/idl.ts); program man pages from the tables
 * below. `node dist/tools/docs.js` writes them; test/unit/docs.test.ts fails if a committed file is stale.
 */
import { type InterfaceSpec, type ObjectSpec, STACD_OBJECT, STAFD_OBJECT } from '../src/adapters/dbus/idl.js';
import { type ConfigSchema, STACD_SCHEMA, STAFD_SCHEMA, SYS_SCHEMA } from '../src/core/config/schema.js';
import { VERSION } from '../src/version.js';

const DATE = '2026-11';

/** Escapes text for roff: backslashes and leading dots/quotes. */
function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/^([.'])/gm, '\\&$1')
    .replace(/-/g, '\\-');
}

function wrap(text: string, width = 100, prefix = '# '): string {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && (line + ' ' + word).length > width - prefix.length) {
      out.push(prefix + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(prefix + line);
  return out.join('\n');
}

/** The configuration file as shipped: every option commented out at its default, with its documentation. */
export function configTemplate(schema: ConfigSchema, title: string): string {
  const parts = [
    `# ${title}`,
    `# ${schema.file} — every option is shown commented out at its default.`,
    '# Lines starting with # are comments; a # after white space ends a value.',
    '',
  ];
  for (const sec of schema.sections) {
    parts.push(`[${sec.name}]`, wrap(sec.doc), '');
    for (const o of sec.options) {
      if (o.deprecated) continue;
      parts.push(wrap(o.doc));
      if (o.multi) parts.push(`#${o.key} =`);
      else parts.push(`#${o.key} = ${o.default ?? ''}`.trimEnd());
      parts.push('');
    }
  }
  return `${parts.join('\n').trimEnd()}\n`;
}

function manHeader(name: string, section: number, title: string): string[] {
  return [`.TH ${name.toUpperCase()} ${section} "${DATE}" "stas ${VERSION}" "${title}"`];
}

/** man page of a configuration file from its schema. */
export function configManPage(schema: ConfigSchema, name: string, program: string, summary: string): string {
  const l = [
    ...manHeader(name, 5, 'File Formats'),
    '.SH NAME',
    `${name} \\- ${roff(summary)}`,
    '.SH SYNOPSIS',
    `.B ${schema.file}`,
    '.SH DESCRIPTION',
  ];
  l.push(
    roff(
      `${program} reads its configuration from ${schema.file}. The file is divided into sections ([Name]); entries are key=value lines. ` +
        'Blanks around = are ignored; keys are case-insensitive, section names are not. Lines starting with # or ; are comments, ' +
        'and a # preceded by white space ends a value. Repeated keys accumulate for controller= and exclude=; for other options the last one wins. ' +
        'An invalid value is reported with the file and line and the default applies; an unknown section or option is reported and ignored. ' +
        'A missing file means all defaults.',
    ),
  );
  for (const sec of schema.sections) {
    l.push(`.SH "[${sec.name.toUpperCase()}] SECTION"`, roff(sec.doc));
    for (const o of sec.options) {
      l.push('.TP', `.BR ${roff(o.key)} =`);
      const bits = [o.doc];
      if (o.choices) bits.push(`Values: ${o.choices.join(', ')}.`);
      if (o.range) bits.push(`Range: ${o.range[0]}..${o.range[1]}.`);
      if (!o.multi) bits.push(o.default === null ? 'Default: unset.' : `Default: ${o.default}.`);
      if (o.deprecated) bits.push(`Deprecated: ${o.deprecated}`);
      if (o.secret) bits.push('The value is a secret: it is never printed in messages.');
      l.push(roff(bits.join(' ')));
    }
  }
  l.push('.SH SEE ALSO', `.BR ${program} (8)`);
  return `${l.join('\n')}\n`;
}

function signature(args: readonly { name: string; type: string }[]): string {
  return args.map((a) => `${a.type} ${a.name}`).join(', ');
}

/** man page of a D-Bus interface set from the IDL data. */
export function dbusManPage(obj: ObjectSpec, extra: InterfaceSpec[] = []): string {
  const l = [
    ...manHeader(obj.busName, 5, 'D-Bus Interfaces'),
    '.SH NAME',
    `${obj.busName} \\- D\\-Bus API of ${obj.daemon}`,
  ];
  l.push(
    '.SH DESCRIPTION',
    roff(
      `${obj.daemon} owns ${obj.busName} on the system bus and exports ${obj.path}. Only root may call methods (D-Bus policy); anyone may introspect. Every caller gets the same replies: DH-HMAC-CHAP secrets (dhchap-secret, dhchap-ctrl-secret, the sys.conf key) are never sent over D-Bus, to anyone, root included; replies show <redacted> where nvme-stas returned them readable.`,
    ),
  );
  for (const iface of [...obj.interfaces, ...extra]) {
    l.push(`.SH "INTERFACE ${iface.name}"`);
    for (const m of iface.methods)
      l.push('.TP', `.B ${m.name}(${roff(signature(m.in))}) \\(-> ${roff(signature(m.out))}`, 'Method.');
    for (const s of iface.signals) l.push('.TP', `.B ${s.name}(${roff(signature(s.args))})`, 'Signal.');
    for (const p of iface.properties) l.push('.TP', `.B ${p.name}`, `Property, type ${p.type}, ${p.access}.`);
  }
  return `${l.join('\n')}\n`;
}

interface ProgramDoc {
  name: string;
  section: 1 | 8;
  summary: string;
  synopsis: string;
  description: string;
  options: [string, string][];
  extra?: [string, string][];
  /** Metrics served with --metrics: name → meaning. */
  metrics?: [string, string][];
  seeAlso: string[];
}

const DAEMON_OPTIONS: [string, string][] = [
  ['-h, --help', 'Print the help text and exit.'],
  ['-v, --version', `Print the program's name and version, "stas ${VERSION}", and exit.`],
  ['-f FILE, --conf-file=FILE', 'Configuration file (default /etc/stas/<daemon>.conf).'],
  ['-s, --syslog', 'Log with journald/syslog priority prefixes instead of plain lines.'],
  ['--tron', 'Trace ON: debug messages.'],
  ['--idl=FILE', 'Print the D-Bus IDL to FILE and exit.'],
  ['--sys-conf=FILE', 'Host identity file (default /etc/stas/sys.conf). stas extension.'],
  [
    '--metrics=LISTEN',
    'Serve metrics in the OpenMetrics text format (Prometheus) at GET /metrics on LISTEN: 127.0.0.1:PORT (any 127.0.0.0/8 address), [::1]:PORT, localhost:PORT, or the absolute path of a unix socket (created mode 0660, a stale one replaced, removed on exit). The endpoint has no authentication, so any other address is refused (usage error). If it cannot listen, the daemon logs an error and runs without metrics. Off by default; stas extension (see METRICS).',
  ],
];

const METRICS_INTRO =
  "With --metrics, every scrape reads the daemon's current state; counters start at 0 when the daemon starts. The families (counters end in _total):";

const DC_HOSTS: [string, string] = [
  'DISCOVERY CONTROLLER CONNECTIONS',
  "Discovery Controllers are kernel discovery controllers, as with nvme-stas (which connects them with libnvme): the kernel's NVMe host carries them for every transport, they show as nvmeN in /sys/class/nvme and in nvme list-subsys, and the device name is the device of stafctl ls and of the log_pages_changed signal. stafd first adopts a kernel discovery controller to the same controller if one exists (nvme-stas' reuse rules), else writes a discovery connect with keep_alive_tmo to /dev/nvme-fabrics and records itself as the owner (owner file stas under /run/nvme/registry); it reads Identify and the log pages through the NVMe admin passthrough ioctl (each log read ends with RAE cleared, so that the controller sends the next change notice), registers with Central Discovery Controllers (DIM, data host-to-controller) through the same ioctl, and takes change notices from the kernel's uevents (NVME_AEN=0x70f002; NVME_EVENT=connected or rediscover triggers a re-read; removal of the device makes stafd reconnect). When stafd stops, it leaves these connections in place with persistent-connections=true (the default) and deletes those it created otherwise (deregistering from a CDC first); a restarted stafd adopts them again. A Discovery Controller removed from the configuration is deleted if stafd created it. A kernel connection stafd did not create (nvme-cli, the nBFT, an administrator) is never deleted. Without /dev/nvme-fabrics, stafd runs modprobe nvme-fabrics once; if the device is still missing, each Discovery Controller fails to connect with an error that says so (logged once, retried with the usual backoff, so loading the module later is enough). kernel-discovery=false (stafd.conf(5), stas extension) is the opt-in alternative for tcp: stafd's own userspace NVMe/TCP host (connect, Identify, log pages, change notices, keep-alive, DIM), with nothing in /sys/class/nvme (device nvme?), no /dev/nvme-fabrics access, and connections that end when stafd stops (after deregistering from CDCs) whatever persistent-connections says. The trade-off: kernel connections survive stafd restarts per persistent-connections, work for every transport and are what nvme-stas and nvme-cli users expect, but need /dev/nvme-fabrics, the passthrough ioctl and netlink uevents (root) and are visible to (and may be acted on by) other NVMe tools; userspace leaves no kernel state and needs fewer privileges.",
];

const HOST_EXCLUSION_LIST: [string, string] = [
  'HOST EXCLUSION LIST',
  'Besides exclude=, the daemon honours the exclusion list that nvme-cli and the other NVMe-oF orchestrators of the host share: /etc/nvme/exclusions.conf and every /etc/nvme/exclusions.conf.d/*.conf, each an [exclusions] section of "exclusion = key=value;..." lines with the nvme connect key names transport, traddr, trsvcid, nqn, host-traddr, host-iface, hostnqn and hostid. A controller matching every field of any entry is neither connected nor kept (disconnected per disconnect-scope, as exclude= does; stafd drops such discovery controllers). An entry with an unknown key, an item without "=" or an empty value never matches and is reported once with its file and line. The files are read on every pass and watched, so an edit applies at once without SIGHUP; a missing or unreadable list excludes nothing.',
];

const NBFT_SECTION: [string, string] = [
  'NVME BOOT FIRMWARE TABLE (NBFT)',
  "When the firmware booted the host from NVMe/TCP it leaves an ACPI NBFT (NVM Express Boot Specification). At start-up stafd reads every /sys/firmware/acpi/tables/NBFT* once (not again on SIGHUP), logs \"NBFT location(s): [...]\" and adds each discovery entry of the tables to the configured discovery controllers, exactly like a controller= line (exclude= applies; origin configured; a controller= line naming the same controller wins). The entry's URI nvme+tcp://HOST:PORT/ gives transport, traddr (IPv6 brackets removed; an IP address is required) and trsvcid (8009 when the URI has no port, where nvme-stas used the string None); subsysnqn is the entry's NQN or the well-known discovery NQN; host-nqn is the table's host NQN only when the table marks it as administratively configured; host-iface is the Ethernet or loopback interface whose MAC address is that of the entry's host fabric interface (none when no interface has it). Every string of the table is checked like a discovery log page entry: an entry with an invalid transport, address, port or NQN is dropped with a warning; an unusable host NQN or interface name is left out with a warning. A table that cannot be decoded (wrong signature or checksum, truncated, out-of-bounds references) is reported and ignored. The namespace (SSNS) entries are decoded but not used, as in nvme-stas.",
];

const BOUNDS_SECTION: [string, string] = [
  'BOUNDS',
  'A discovery controller is a remote party: stafd bounds what one can make it hold or do, and the bounds are configuration (stafd.conf(5), [Discovery controller connection management]): max-discovery-controllers (256) over all origins, configured and nBFT controllers first, then those already running, then new ones; max-referral-depth (8), counted from the configured and mDNS-discovered controllers (depth 0) breadth-first, so that referral cycles and chains end; max-referrals-per-controller (64) taken from one log page; max-cached-log-entries (65536) over all controllers, which also bounds a single log page read. When a bound keeps something out, stafd logs one warning naming the bound and the discovery controller that caused it (not one line per refused entry, and not again until the bound stops biting for that controller), counts it in stas_bound_hits_total and records a bound event (stafctl events); the controllers already running are not affected. Each controller has at most one log read in flight and one pending: change notices that arrive meanwhile are coalesced, and two reads of one controller start at least 250 ms apart (a notice after a quiet spell is read at once). A read is announced on D-Bus (log_pages_changed) only when the log page changed, as soon as it is read. The set of discovery controllers is reconciled when its inputs change (configuration, mDNS, referrals, the state of a discovered controller): at once when no pass runs, changes during a pass coalesced into one pass after it, two passes at least 250 ms apart. A log page that keeps changing while it is read, and a connection that fails or drops, are retried with exponential backoff from 3 s (connections) or 20 s (log reads) up to 60 s, and said once. Every field of a log page entry is checked like anything that reaches /dev/nvme-fabrics (the transport address, the service ID and the NQN): an entry that fails is not cached nor used, with one warning per read naming the entry and the field. The last-known configuration is written at most once a second, off the event loop.',
];

/** What the status and detailed listings show where stas' mechanism differs from nvme-stas' (both control tools). */
const OUTPUT_COMMON =
  'status and ls -d print every key nvme-stas prints, with its key names and value formats (timers as "60.0s [off]" or the seconds left, operations as Python dict text, True/False as text), then a few stas keys. hostkey is <redacted> when a host key is set and None when not (nvme-stas printed the key); symname is None when not set. kernel support.TP8013 and kernel support.host_iface say whether the kernel\'s /dev/nvme-fabrics accepts the discovery and host_iface options (False when it cannot be read: no module, not root). terminator.audit timer is always 30.0s [off]: stas has no controller terminator (a controller that goes is disconnected once its pending operation ended, never queued for a periodic audit), which is the state nvme-stas shows when nothing awaits disposal. config soak timer: stas has no soak (nvme-stas waited 1.5 s after a change before reconciling); a change (a log page change, a stafd signal, a kernel uevent, SIGHUP) starts a reconciliation pass at once when none runs, and changes that arrive during a pass make one more pass after it. The timer shows the least time between two pass starts, 0.25s, which bounds how many passes a storm of changes can cause: 0.25s [off] when no pass runs or is due, otherwise the seconds until the next pass may start (0s while one runs). Controller dictionaries carry the sysfs attributes of their kernel device (empty without one); secrets (dhchap-secret, dhchap-ctrl-secret) are shown as <redacted>, to every caller, root included: the daemons never send a secret over D-Bus.';

export const PROGRAMS: ProgramDoc[] = [
  {
    name: 'stafd',
    section: 8,
    summary: 'STorage Appliance Finder',
    synopsis: 'stafd [OPTIONS...]',
    description:
      "stafd locates NVMe-oF Discovery Controllers (configured with controller=, listed in the firmware's NBFT, announced by mDNS through Avahi, or referred to by other discovery log pages), connects to them (see DISCOVERY CONTROLLER CONNECTIONS), registers the host with Central Discovery Controllers (DIM), reads and caches their discovery log pages, re-reads them on change notices and reconnects, and publishes them on D-Bus (org.nvmexpress.staf). What a remote discovery controller can make stafd do is bounded (see BOUNDS). The cache and the controller list survive restarts (/run/stafd). SIGHUP reloads the configuration (a file with errors, or that is not a regular file, is refused and the last good configuration kept); SIGTERM stops. Either signal, received during start-up (from the first line of the program on), is acted on once the daemon runs (a stop whose start-up does not complete within 5 s exits at once). Configuration and identity files are read only when they are regular files: a FIFO or a device in their place is refused with an error, never waited on.",
    options: DAEMON_OPTIONS,
    extra: [DC_HOSTS, BOUNDS_SECTION, HOST_EXCLUSION_LIST, NBFT_SECTION],
    metrics: [
      [
        'stas_dc{state,origin}',
        'Gauge: discovery controllers by state (idle, connecting, connected, waiting: a retry is scheduled after a failure or a lost connection) and origin (configured, discovered, referral).',
      ],
      ['stas_dlpe', 'Gauge: discovery log page entries cached, over all discovery controllers.'],
      ['stas_aen_total', 'Asynchronous event notices received from discovery controllers.'],
      ['stas_log_page_reads_total', 'Discovery log pages read successfully.'],
      ['stas_dc_connect_failures_total', 'Failed connection attempts to discovery controllers.'],
      [
        'stas_dim_registrations_total{result}',
        'DIM registrations with Central Discovery Controllers, result success or failure.',
      ],
      [
        'stas_bound_hits_total{bound}',
        'Times a bound of stafd.conf kept discovery controllers, referrals or log entries out; bound is the option: max-discovery-controllers, max-referral-depth, max-referrals-per-controller or max-cached-log-entries.',
      ],
      [
        'stas_lkc_writes_total',
        'Writes of the last-known configuration (/run/stafd/last-known-config.json).',
      ],
    ],
    seeAlso: ['stafd.conf(5)', 'stafctl(1)', 'stacd(8)', 'org.nvmexpress.staf(5)'],
  },
  {
    name: 'stacd',
    section: 8,
    summary: 'STorage Appliance Connector',
    synopsis: 'stacd [OPTIONS...]',
    description:
      'stacd connects the kernel to the NVMe-oF I/O controllers listed in the discovery log pages stafd collects and to those configured with controller=, minus exclude= and disabled address families. A change (the log_pages_changed or dc_removed signal of stafd, stafd appearing or leaving the bus, a kernel uevent adding or removing an NVMe controller, SIGHUP, an edit of the host exclusion list) starts a reconciliation pass at once when none runs; the changes that arrive during a pass are coalesced into one pass after it, and two passes start at least 250 ms apart. There is no soak: a new log page entry is connected by the pass that the stafd signal starts. Each reconciliation pass scans /sys/class/nvme once, builds a plan (connect, disconnect, keep, skip, each with its reason; see stacctl plan) and executes it. Disconnections follow disconnect-scope. When stafd does not answer, nothing discovered is disconnected. Connections are left in place when stacd stops. SIGHUP reloads the configuration (a file with errors, or that is not a regular file, is refused and the last good configuration kept); SIGTERM stops. Either signal, received during start-up (from the first line of the program on), is acted on once the daemon runs (a stop whose start-up does not complete within 5 s exits at once). Configuration and identity files are read only when they are regular files: a FIFO or a device in their place is refused with an error, never waited on.',
    options: DAEMON_OPTIONS,
    extra: [HOST_EXCLUSION_LIST],
    metrics: [
      [
        'stas_ioc{state}',
        'Gauge: the wanted I/O controllers of the last reconcile pass by state: connected, connecting (connect in progress), failed (the last attempt failed; it is retried), skipped (given up while the CDC reports NCC, connect-attempts-on-ncc), excluded (refused by exclude=, the host exclusion list or a disabled address family).',
      ],
      ['stas_connects_total', 'I/O controller connections made through /dev/nvme-fabrics.'],
      ['stas_connect_failures_total', 'I/O controller connection attempts that failed.'],
      ['stas_disconnects_total', 'I/O controllers disconnected.'],
      ['stas_reconcile_passes_total', 'Reconcile passes started.'],
      [
        'stas_reconcile_duration_seconds',
        'Histogram of reconcile pass durations (sysfs scan, stafd query, plan and execution), buckets from 5 ms to 60 s.',
      ],
      [
        'stas_sysfs_scans_total',
        'Scans of /sys/class/nvme: one per pass and one per plan asked for (stacctl plan).',
      ],
    ],
    seeAlso: ['stacd.conf(5)', 'stacctl(1)', 'stafd(8)', 'org.nvmexpress.stac(5)'],
  },
  {
    name: 'stafctl',
    section: 1,
    summary: 'control tool for stafd',
    synopsis: 'stafctl [-v] COMMAND [OPTIONS...]',
    description:
      'stafctl queries and controls stafd over D-Bus. Output is Python pprint text as nvme-stas prints it, or JSON (--json), or tables (-H).',
    options: [
      ['ls [-d]', 'List the discovery controllers (detailed with -d).'],
      [
        'dlp -t T -a ADDR -s PORT [-w HOST-TRADDR] [-f HOST-IFACE] [-q HOST-NQN] [-n NQN]',
        'Discovery log pages of one controller.',
      ],
      ['adlp [-d]', 'Discovery log pages of all controllers.'],
      ['status', 'Process information and every controller.'],
      ['events', 'The recent history of discovery and connection changes, with timestamps (stas extension).'],
      ['tron, troff', 'Switch debug messages on or off.'],
    ],
    extra: [
      [
        'OUTPUT',
        `${OUTPUT_COMMON} stafd: avahi is what stafd's mDNS side knows (the wake-up timer runs while avahi-daemon is absent; service types and services are empty with zeroconf disabled). For a discovery controller on stafd's own userspace NVMe/TCP host (no kernel device: device is nvme?), hostid, hostnqn, model, serial, dctype and cntrltype come from the session (host identity, Identify) instead of sysfs; the operations (connect operation, register operation, get supported log page operation, get log page operation) are shown while nvme-stas would have them: a connect in progress, and for the life of a connection (register for a CDC, get supported log pages for a DDC with pleo enabled). stas adds state and last error to every controller and discovery controllers to status.`,
      ],
      [
        'EXIT STATUS',
        '0 success; 1 error (daemon not running, D-Bus error, permission denied, no command); 2 usage error.',
      ],
    ],
    seeAlso: ['stafd(8)'],
  },
  {
    name: 'stacctl',
    section: 1,
    summary: 'control tool for stacd',
    synopsis: 'stacctl [-v] COMMAND [OPTIONS...]',
    description:
      'stacctl queries and controls stacd over D-Bus. Output is Python pprint text as nvme-stas prints it, or JSON (--json), or tables (-H).',
    options: [
      ['ls [-d]', 'List the I/O controllers (detailed with -d).'],
      ['status', 'Process information and every controller.'],
      ['plan', 'The reconciler plan: what the next pass would connect, disconnect, keep or skip, and why.'],
      [
        'events',
        'The recent history of connections made, lost and removed, with timestamps (stas extension).',
      ],
      ['tron, troff', 'Switch debug messages on or off.'],
      ['--json', 'Print JSON instead of Python pprint text (stas extension).'],
      ['-H, --human', 'Print readable tables (stas extension).'],
    ],
    extra: [
      [
        'OUTPUT',
        `${OUTPUT_COMMON} stacd: retry connect timer is 60.0s [off] unless a connect failed; then it shows the retry (3 s after the first failure, 60 s after the next ones) and the seconds left: stacd retries with its reconcile passes. dlpe is the discovery log page entry as stafd sent it, printed as Python's str() prints it (None for a configured controller). stas adds plan (the plan item: action and reason) to every controller, and reconcile passes, sysfs scans, last working pass, last working pass phases and last plan to status.`,
      ],
      [
        'EXIT STATUS',
        '0 success; 1 error (daemon not running, D-Bus error, permission denied, no command); 2 usage error.',
      ],
    ],
    seeAlso: ['stacd(8)'],
  },
  {
    name: 'stasadm',
    section: 1,
    summary: 'STorage Appliance Services admin tool',
    synopsis: 'stasadm [-v] [-c FILE] COMMAND [OPTIONS...]',
    description:
      'stasadm writes the host identity to /etc/stas/sys.conf (or FILE): in place, keeping comments, atomically. With -f the value goes to that file and sys.conf gets file://<absolute path>.',
    options: [
      [
        'hostnqn [-f FILE]',
        'Generate the host NQN nqn.2014-08.org.nvmexpress:uuid:<UUID> (UUID from /etc/machine-id, else DMI, device tree, random).',
      ],
      ['hostid [-f FILE]', 'Generate a random host ID.'],
      [
        'set-symname [-f FILE] SYMNAME',
        'Set the host symbolic name (sent to Central Discovery Controllers).',
      ],
      ['clear-symname', 'Remove the symbolic name.'],
    ],
    extra: [['EXIT STATUS', '0 success; 1 error or no command; 2 usage error.']],
    seeAlso: ['sys.conf(5)', 'stafd(8)', 'stacd(8)'],
  },
];

export function programManPage(p: ProgramDoc): string {
  const l = [...manHeader(p.name, p.section, p.section === 8 ? 'System Administration' : 'User Commands')];
  l.push(
    '.SH NAME',
    `${p.name} \\- ${roff(p.summary)}`,
    '.SH SYNOPSIS',
    `.B ${roff(p.synopsis)}`,
    '.SH DESCRIPTION',
    roff(p.description),
  );
  l.push(`.SH ${p.section === 8 ? 'OPTIONS' : 'COMMANDS'}`);
  for (const [o, d] of p.options) l.push('.TP', `.B ${roff(o)}`, roff(d));
  if (p.metrics) {
    l.push('.SH METRICS', roff(METRICS_INTRO));
    for (const [m, d] of p.metrics) l.push('.TP', `.B ${roff(m)}`, roff(d));
  }
  for (const [h, t] of p.extra ?? []) l.push(`.SH ${h}`, roff(t));
  l.push('.SH SEE ALSO', roff(p.seeAlso.join(', ')));
  return `${l.join('\n')}\n`;
}

/** Every generated file: path relative to the repository → content. */
export function generatedFiles(): Map<string, string> {
  const f = new Map<string, string>();
  f.set(
    'etc/stas/stafd.conf',
    configTemplate(STAFD_SCHEMA, 'stafd.conf: configuration of stafd, the STorage Appliance Finder'),
  );
  f.set(
    'etc/stas/stacd.conf',
    configTemplate(STACD_SCHEMA, 'stacd.conf: configuration of stacd, the STorage Appliance Connector'),
  );
  f.set(
    'etc/stas/sys.conf.doc',
    configTemplate(SYS_SCHEMA, 'sys.conf: host identity of the stas daemons and tools (see stasadm(1))'),
  );
  f.set(
    'man/stafd.conf.5',
    configManPage(STAFD_SCHEMA, 'stafd.conf', 'stafd', 'stafd(8) configuration file'),
  );
  f.set(
    'man/stacd.conf.5',
    configManPage(STACD_SCHEMA, 'stacd.conf', 'stacd', 'stacd(8) configuration file'),
  );
  f.set(
    'man/sys.conf.5',
    configManPage(SYS_SCHEMA, 'sys.conf', 'stafd, stacd and stasadm', 'host identity of the stas daemons'),
  );
  f.set('man/org.nvmexpress.staf.5', dbusManPage(STAFD_OBJECT));
  f.set('man/org.nvmexpress.stac.5', dbusManPage(STACD_OBJECT));
  for (const p of PROGRAMS) f.set(`man/${p.name}.${p.section}`, programManPage(p));
  return f;
}

// `node dist/tools/docs.js [ROOT]` writes the files.
if (process.argv[1]?.endsWith('/tools/docs.js')) {
  const { mkdirSync, writeFileSync } = await import('node:fs');
  const { dirname, join } = await import('node:path');
  const root = process.argv[2] ?? '.';
  for (const [path, content] of generatedFiles()) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
  console.log(`wrote ${generatedFiles().size} files`);
}
