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
      `${obj.daemon} owns ${obj.busName} on the system bus and exports ${obj.path}. Only root may call methods (D-Bus policy); anyone may introspect.`,
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
  seeAlso: string[];
}

const DAEMON_OPTIONS: [string, string][] = [
  ['-h, --help', 'Print the help text and exit.'],
  ['-v, --version', 'Print the version and exit.'],
  ['-f FILE, --conf-file=FILE', 'Configuration file (default /etc/stas/<daemon>.conf).'],
  ['-s, --syslog', 'Log with journald/syslog priority prefixes instead of plain lines.'],
  ['--tron', 'Trace ON: debug messages.'],
  ['--idl=FILE', 'Print the D-Bus IDL to FILE and exit.'],
  ['--sys-conf=FILE', 'Host identity file (default /etc/stas/sys.conf). stas extension.'],
];

export const PROGRAMS: ProgramDoc[] = [
  {
    name: 'stafd',
    section: 8,
    summary: 'STorage Appliance Finder',
    synopsis: 'stafd [OPTIONS...]',
    description:
      'stafd locates NVMe-oF Discovery Controllers (configured with controller=, announced by mDNS through Avahi, or referred to by other discovery log pages), connects to them with its own NVMe/TCP host, registers the host with Central Discovery Controllers (DIM), reads and caches their discovery log pages, re-reads them on every change notice and reconnect, and publishes them on D-Bus (org.nvmexpress.staf). The cache and the controller list survive restarts (/run/stafd). SIGHUP reloads the configuration (a file with errors is refused and the last good configuration kept); SIGTERM stops.',
    options: DAEMON_OPTIONS,
    seeAlso: ['stafd.conf(5)', 'stafctl(1)', 'stacd(8)', 'org.nvmexpress.staf(5)'],
  },
  {
    name: 'stacd',
    section: 8,
    summary: 'STorage Appliance Connector',
    synopsis: 'stacd [OPTIONS...]',
    description:
      'stacd connects the kernel to the NVMe-oF I/O controllers listed in the discovery log pages stafd collects and to those configured with controller=, minus exclude= and disabled address families. Each reconciliation pass scans /sys/class/nvme once, builds a plan (connect, disconnect, keep, skip, each with its reason; see stacctl plan) and executes it. Disconnections follow disconnect-scope. When stafd does not answer, nothing discovered is disconnected. Connections are left in place when stacd stops. SIGHUP reloads the configuration; SIGTERM stops.',
    options: DAEMON_OPTIONS,
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
