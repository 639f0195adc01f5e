// Shared machinery of stafctl and stacctl: argparse-like command lines, the D-Bus session, output (pprint/--json/-H), exit codes.
import type { ParseArgsConfig } from 'node:util';
import type { TidArgs } from '../adapters/dbus/clients.js';
import type { DBusConnection } from '../adapters/dbus/service.js';
import { openSystemBus } from '../adapters/dbus/service.js';
import { parseStrict, splitCommand, UsageError } from '../core/argv.js';
import { errorText } from '../core/log.js';
import { type PyValue, pformat, pyLen } from '../core/pprint.js';
import { VERSION_TEXT } from '../version.js';

type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | undefined>;
export type OutputMode = 'pprint' | 'json' | 'human';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_USAGE = 2;

/** What a command produced: the data nvme-stas pprints (and --json prints), and its -H rendering. */
export interface CommandResult {
  data: PyValue;
  /** Printed instead of pformat(data) (tron/troff print `tron = True`). */
  text?: string;
  human(): string;
}

/** An error to report as is on stderr (exit 1), before or after talking to the daemon. */
export class CtlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CtlError';
  }
}

export interface CommandSpec<C> {
  name: string;
  /** One line in the command list of --help. */
  summary: string;
  /** Arguments part of the usage line, e.g. `[-d]`. */
  usage: string;
  /** The command's options (without -h, --json, -H). */
  options: Options;
  /** Lines of the options section of `COMMAND -h` (after -h/--help). */
  optionsHelp: string;
  /** Checks and completes the parsed values before the bus is opened (UsageError, CtlError). */
  prepare?(values: Values, global: Values): void;
  run(client: C, values: Values): Promise<CommandResult>;
}

export interface CtlProgram<C> {
  prog: 'stafctl' | 'stacctl';
  daemon: 'stafd' | 'stacd';
  description: string;
  /** Global options besides -h, -v, --json and -H (usage text, help lines). */
  globalOptions?: { options: Options; usage: string; help: string };
  commands: CommandSpec<C>[];
  client(bus: DBusConnection): C;
}

/** The output options every stafctl/stacctl command and the global command line take. */
export const OUTPUT_OPTIONS = {
  json: { type: 'boolean' },
  human: { type: 'boolean', short: 'H' },
} as const satisfies Options;

const OUTPUT_HELP = `  --json                Print the data as JSON (machine output; same content as the default output)
  -H, --human           Print readable tables instead of Python literals
`;

export const DBUS_ACCESS_DENIED = 'org.freedesktop.DBus.Error.AccessDenied';
/** The daemon answers but lacks the member (e.g. `stacctl plan` against nvme-stas' stacd). */
const UNSUPPORTED = [
  'org.freedesktop.DBus.Error.UnknownMethod',
  'org.freedesktop.DBus.Error.UnknownInterface',
  'org.freedesktop.DBus.Error.UnknownProperty',
];

function commandList<C>(p: CtlProgram<C>): string {
  return `{${p.commands.map((c) => c.name).join(',')}}`;
}

export function usageLine<C>(p: CtlProgram<C>): string {
  return `usage: ${p.prog} [-h] [-v] [--json | -H]${p.globalOptions ? ` ${p.globalOptions.usage}` : ''} ${commandList(p)} ...\n`;
}

function exitStatusHelp(daemon: string): string {
  return `exit status:
  0  success
  1  error: ${daemon} not on the D-Bus (not running), D-Bus error, permission denied by the D-Bus policy
     (only root may talk to ${daemon}), no command given
  2  usage error (unknown command or option, missing or invalid argument)
`;
}

export function helpText<C>(p: CtlProgram<C>): string {
  const cmds = p.commands.map((c) => `    ${c.name.padEnd(20)}${c.summary}`).join('\n');
  return `${usageLine(p)}
${p.description}

options:
  -h, --help            show this help message and exit
  -v, --version         Print version, then exit
${OUTPUT_HELP}${p.globalOptions?.help ?? ''}
Commands:
  ${commandList(p)}
${cmds}

Output is Python pprint text, byte for byte as nvme-stas prints it (tools eval() it), unless --json or -H.
Options --json and -H may also follow the command. Bus: $DBUS_SYSTEM_BUS_ADDRESS, else the system bus.

${exitStatusHelp(p.daemon)}`;
}

function subUsage<C>(p: CtlProgram<C>, c: CommandSpec<C>): string {
  return `usage: ${p.prog} ${c.name} [-h] [--json | -H]${c.usage ? ` ${c.usage}` : ''}\n`;
}

function subHelp<C>(p: CtlProgram<C>, c: CommandSpec<C>): string {
  return `${subUsage(p, c)}
${c.summary}

options:
  -h, --help            show this help message and exit
${OUTPUT_HELP}${c.optionsHelp}`;
}

/**
 * Expands unambiguous abbreviations of long options (`--det` → `--detailed`) as argparse does; an ambiguous
 * one is a usage error. Values of string options and tokens after `--` are left alone; with
 * `stopAtPositional`, so is everything from the first positional token (the command) on.
 */
export function expandAbbreviations(
  args: readonly string[],
  options: Options,
  stopAtPositional = false,
): string[] {
  const longs = Object.keys(options);
  const takesValue = (long: string) => options[long]?.type === 'string';
  const shortTakesValue = new Set(
    Object.values(options)
      .filter((o) => o.type === 'string' && o.short)
      .map((o) => `-${o.short}`),
  );
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--' || (stopAtPositional && !a.startsWith('-'))) {
      out.push(...args.slice(i));
      break;
    }
    if (!a.startsWith('--')) {
      out.push(a);
      if (shortTakesValue.has(a) && i + 1 < args.length) out.push(args[++i]!);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    let long: string | undefined = name;
    if (!longs.includes(name)) {
      const matches = longs.filter((l) => l.startsWith(name));
      if (matches.length > 1) {
        throw new UsageError(
          `ambiguous option: --${name} could match ${matches.map((m) => `--${m}`).join(', ')}`,
        );
      }
      long = matches[0];
    }
    out.push(long === undefined ? a : `--${long}${eq < 0 ? '' : a.slice(eq)}`);
    if (long !== undefined && eq < 0 && takesValue(long) && i + 1 < args.length) out.push(args[++i]!);
  }
  return out;
}

function outputMode(...sets: Values[]): OutputMode {
  const json = sets.some((v) => v['json']);
  const human = sets.some((v) => v['human']);
  if (json && human) throw new UsageError('argument -H/--human: not allowed with argument --json');
  return json ? 'json' : human ? 'human' : 'pprint';
}

function errorType(e: unknown): string | undefined {
  const t = (e as { type?: unknown } | null)?.type;
  return typeof t === 'string' ? t : undefined;
}

/** The one line nvme-stas prints for any D-Bus failure, or the permission message for a policy refusal. */
export function dbusFailureMessage(daemon: string, e: unknown): string {
  const type = errorType(e);
  if (type === DBUS_ACCESS_DENIED) {
    return `Permission denied: only root may query or control ${daemon} (D-Bus policy)`;
  }
  if (type !== undefined && UNSUPPORTED.includes(type)) {
    return `${daemon} does not support this command (${type}): is it an older or another implementation?`;
  }
  return `Unable to communicate with ${daemon} over D-Bus. Is ${daemon} running?`;
}

function render(r: CommandResult, mode: OutputMode): string {
  if (mode === 'json') return `${JSON.stringify(r.data, null, 2)}\n`;
  if (mode === 'human') {
    const h = r.human();
    return h.endsWith('\n') || h === '' ? h : `${h}\n`;
  }
  return `${r.text ?? pformat(r.data, { width: 120 })}\n`;
}

/** Runs one stafctl/stacctl invocation; resolves to the exit status. */
export async function ctlMain<C>(p: CtlProgram<C>, argv: readonly string[]): Promise<number> {
  const globalOpts: Options = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'v' },
    ...OUTPUT_OPTIONS,
    ...(p.globalOptions?.options ?? {}),
  };
  let command: CommandSpec<C> | undefined;
  let values: Values;
  let global: Values;
  let mode: OutputMode;
  try {
    const split = splitCommand(expandAbbreviations(argv, globalOpts, true), globalOpts);
    global = parseStrict(split.global, globalOpts).values as Values;
    if (global['help']) {
      process.stdout.write(helpText(p));
      return EXIT_OK;
    }
    if (global['version']) {
      process.stdout.write(VERSION_TEXT);
      return EXIT_OK;
    }
    if (split.command === undefined) {
      process.stdout.write(usageLine(p));
      return EXIT_ERROR;
    }
    command = p.commands.find((c) => c.name === split.command);
    if (!command) {
      throw new UsageError(
        `argument ${commandList(p)}: invalid choice: '${split.command}' (choose from ${p.commands.map((c) => `'${c.name}'`).join(', ')})`,
      );
    }
    const subOpts: Options = { help: { type: 'boolean', short: 'h' }, ...OUTPUT_OPTIONS, ...command.options };
    values = parseStrict(expandAbbreviations(split.rest, subOpts), subOpts).values as Values;
    if (values['help']) {
      process.stdout.write(subHelp(p, command));
      return EXIT_OK;
    }
    mode = outputMode(global, values);
    command.prepare?.(values, global);
  } catch (e) {
    if (e instanceof UsageError) {
      const where = command ? `${p.prog} ${command.name}` : p.prog;
      process.stderr.write(`${command ? subUsage(p, command) : usageLine(p)}${where}: error: ${e.message}\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`${p.prog}: ${errorText(e)}\n`);
    return EXIT_ERROR;
  }

  let bus: DBusConnection | undefined;
  let result: CommandResult;
  try {
    bus = await openSystemBus();
    result = await command.run(p.client(bus), values);
  } catch (e) {
    process.stderr.write(
      `${e instanceof CtlError ? `${p.prog}: ${e.message}` : dbusFailureMessage(p.daemon, e)}\n`,
    );
    return EXIT_ERROR;
  } finally {
    bus?.close();
  }
  process.stdout.write(render(result, mode));
  return EXIT_OK;
}

/** Sets the exit status of a CLI; a closed stdout (`stafctl ls | head -1`) ends it quietly. */
export function runCli(main: Promise<number>): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? EXIT_OK);
    throw e;
  });
  main.then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = EXIT_ERROR;
    },
  );
}

// ---- data helpers shared by both programs ----

/** Parses JSON text sent by a daemon; garbage is a daemon failure, reported like any other. */
export function parseDaemonJson(daemon: string, what: string, text: string): PyValue {
  try {
    return JSON.parse(text) as PyValue;
  } catch {
    throw new CtlError(`${daemon} sent invalid JSON for ${what}`);
  }
}

/** The seven TID arguments of a controller dict, in IDL order (missing keys are empty). */
export function tidOf(c: Readonly<Record<string, PyValue>>): TidArgs {
  const s = (k: string) => (typeof c[k] === 'string' ? (c[k] as string) : '');
  return [
    s('transport'),
    s('traddr'),
    s('trsvcid'),
    s('subsysnqn'),
    s('host-traddr'),
    s('host-iface'),
    s('host-nqn'),
  ];
}

/**
 * `status` as nvme-stas builds it: process_info() decoded, plus `controllers` = list_controllers(true), each
 * controller updated with controller_info() (and, for stafd, `log_pages` = its get_log_pages()).
 */
export async function buildStatus(
  daemon: string,
  client: {
    processInfo(): Promise<string>;
    listControllers(detailed: boolean): Promise<Record<string, string>[]>;
    controllerInfo(...tid: TidArgs): Promise<string>;
  },
  logPages?: (...tid: TidArgs) => Promise<Record<string, string>[]>,
): Promise<Record<string, PyValue>> {
  const raw = parseDaemonJson(daemon, 'process_info', await client.processInfo());
  const info: Record<string, PyValue> = isRecord(raw) ? { ...raw } : {};
  const controllers = (await client.listControllers(true)) as Record<string, PyValue>[];
  info['controllers'] = await Promise.all(
    controllers.map(async (c) => {
      const tid = tidOf(c);
      const out: Record<string, PyValue> = { ...c };
      if (logPages) out['log_pages'] = await logPages(...tid);
      const extra = parseDaemonJson(daemon, 'controller_info', await client.controllerInfo(...tid));
      if (isRecord(extra)) Object.assign(out, extra);
      return out;
    }),
  );
  return info;
}

export function isRecord(v: PyValue | undefined): v is Record<string, PyValue> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---- readable output (-H) ----

const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/** A value as table text: strings as they are (control characters escaped: terminal safety), others as Python. */
export function cell(v: PyValue | undefined): string {
  if (v === undefined || v === null || v === '') return '-';
  if (typeof v === 'string') {
    return v.replace(UNSAFE, (ch) => {
      const cp = ch.codePointAt(0)!;
      return cp < 0x100 ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u${cp.toString(16).padStart(4, '0')}`;
    });
  }
  if (typeof v === 'object') return cell(pformat(v, { width: 1_000_000 }));
  return pformat(v);
}

/** Left-aligned columns separated by two spaces, upper-case header; empty cells show `-`. */
export function table(columns: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [columns.map((c) => c.toUpperCase()), ...rows];
  const widths = columns.map((_, i) => Math.max(...all.map((r) => pyLen(r[i] ?? ''))));
  return all
    .map((r) =>
      r
        .map((x, i) => (i === r.length - 1 ? x : x + ' '.repeat(widths[i]! - pyLen(x))))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
    .concat('\n');
}

/** A table of dicts: one row each, the given keys as columns. */
export function dictTable(columns: readonly string[], dicts: readonly PyValue[]): string {
  return table(
    columns,
    dicts.map((d) => columns.map((k) => cell(isRecord(d) ? d[k] : undefined))),
  );
}

export const CONTROLLER_COLUMNS = ['transport', 'traddr', 'trsvcid', 'subsysnqn', 'host-iface', 'device'];

/** Printable TID as in the daemons' log lines: `(tcp, 10.0.0.1, 8009, nqn…, eth0, 10.0.0.2)`. */
export function tidText(c: PyValue | undefined): string {
  if (!isRecord(c)) return '-';
  const [transport, traddr, trsvcid, subsysnqn, hostTraddr, hostIface] = tidOf(c);
  const parts = [transport, traddr, trsvcid];
  if (subsysnqn) parts.push(subsysnqn);
  if (hostIface) parts.push(hostIface);
  if (hostTraddr) parts.push(hostTraddr);
  return `(${parts.map((x) => cell(x)).join(', ')})`;
}

/** `key: value` lines of a dict, keys sorted, nested dicts flattened with dots, lists joined with commas. */
export function keyValueLines(d: Record<string, PyValue>, skip: readonly string[] = [], prefix = ''): string {
  let out = '';
  for (const k of Object.keys(d).sort()) {
    if (skip.includes(k)) continue;
    const v = d[k]!;
    if (isRecord(v) && Object.keys(v).length > 0) out += keyValueLines(v, [], `${prefix}${k}.`);
    else if (Array.isArray(v)) out += `${cell(`${prefix}${k}`)}: ${v.map((x) => cell(x)).join(', ')}\n`;
    else out += `${cell(`${prefix}${k}`)}: ${cell(v)}\n`;
  }
  return out;
}

/** -H of `status`: the process information, then one table row per controller. */
export function humanStatus(info: Record<string, PyValue>, extraColumns: readonly string[] = []): string {
  const controllers = Array.isArray(info['controllers']) ? info['controllers'] : [];
  const columns = [...CONTROLLER_COLUMNS, 'connected', ...extraColumns];
  return `${keyValueLines(info, ['controllers'])}\ncontrollers:\n${dictTable(columns, controllers)}`;
}

/** tron/troff: set the property, read it back, print `tron = True` as nvme-stas. */
export async function setTron(
  client: { setTron(on: boolean): Promise<void>; getTron(): Promise<boolean> },
  on: boolean,
): Promise<CommandResult> {
  await client.setTron(on);
  const now = await client.getTron();
  const text = `tron = ${now ? 'True' : 'False'}`;
  return { data: { tron: now }, text, human: () => text };
}

/** The tron/troff/status/ls commands both programs have (ls/status differ only in columns and data). */
export function commonCommands<
  C extends {
    setTron(on: boolean): Promise<void>;
    getTron(): Promise<boolean>;
    listControllers(detailed: boolean): Promise<Record<string, string>[]>;
  },
>(
  daemon: string,
  what: string,
  status: (client: C) => Promise<Record<string, PyValue>>,
  statusHuman: (info: Record<string, PyValue>) => string = (info) => humanStatus(info),
): CommandSpec<C>[] {
  return [
    {
      name: 'tron',
      summary: 'Trace ON',
      usage: '',
      options: {},
      optionsHelp: '',
      run: (c) => setTron(c, true),
    },
    {
      name: 'troff',
      summary: 'Trace OFF',
      usage: '',
      options: {},
      optionsHelp: '',
      run: (c) => setTron(c, false),
    },
    {
      name: 'status',
      summary: `Show runtime status information about ${daemon}`,
      usage: '',
      options: {},
      optionsHelp: '',
      run: async (c) => {
        const info = await status(c);
        return { data: info, human: () => statusHuman(info) };
      },
    },
    {
      name: 'ls',
      summary: `List ${what}`,
      usage: '[-d]',
      options: { detailed: { type: 'boolean', short: 'd' } },
      optionsHelp: '  -d, --detailed        Print detailed info (default: "False")\n',
      run: async (c, v) => {
        const list = await c.listControllers(!!v['detailed']);
        return { data: list, human: () => dictTable(CONTROLLER_COLUMNS, list) };
      },
    },
  ];
}

/** `events`: the daemon's recent history (stas extension), oldest first; -H: time, kind, controller, detail. */
export function eventsCommand<C extends { events(): Promise<string> }>(daemon: string): CommandSpec<C> {
  return {
    name: 'events',
    summary: 'Show the recent history of discovery and connection changes, with timestamps',
    usage: '',
    options: {},
    optionsHelp: '',
    async run(c) {
      const items = parseDaemonJson(daemon, 'events', await c.events());
      const rows = (Array.isArray(items) ? items : []).map((e) =>
        isRecord(e)
          ? [cell(e['time']), cell(e['kind']), cell(e['controller']), cell(e['device']), cell(e['detail'])]
          : [cell(e), '-', '-', '-', '-'],
      );
      return { data: items, human: () => table(['time', 'kind', 'controller', 'device', 'detail'], rows) };
    },
  };
}
