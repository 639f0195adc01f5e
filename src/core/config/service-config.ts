// stafd.conf / stacd.conf text → typed StafdConfig / StacdConfig, validated against the option tables, with diagnostics. Pure.
import {
  type ControllerEntry,
  type Daemon,
  type ExcludeEntry,
  parseControllerEntry,
  parseExcludeEntry,
} from './controller-line.js';
import { type ConfigResult, DiagnosticSink, fileRef, optionRef } from './diagnostics.js';
import { type IniDocument, parseIni } from './ini.js';
import {
  CONNECT_OPTIONS,
  type ConfigSchema,
  type ConnectOptions,
  DC_BOUNDS,
  type DcBounds,
  DISCONNECT_SCOPES,
  DISCONNECT_TRTYPES,
  type DisconnectScope,
  type DisconnectTrtype,
  findSection,
  type OptionSpec,
  type OptionType,
  STACD_SCHEMA,
  STAFD_SCHEMA,
} from './schema.js';
import { convertValue, describeFailure, type IpFamily } from './values.js';

export type { ControllerEntry, ExcludeEntry } from './controller-line.js';
export type { ConfigDiagnostic, ConfigResult } from './diagnostics.js';
export type { ConnectOptions, DisconnectScope, DisconnectTrtype } from './schema.js';
export type { IpFamily } from './values.js';

/** Options both daemons have. */
export interface ServiceConfig {
  readonly tron: boolean;
  readonly ignoreIface: boolean;
  readonly ipFamily: IpFamily;
  /** [Global] connect parameters: hdrDigest, dataDigest and kato always set, the others only when configured. */
  readonly connect: ConnectOptions;
  /** Valid `controller=` entries in file order (duplicates kept: TID construction dedupes). */
  readonly controllers: readonly ControllerEntry[];
  /** Valid, non-empty `exclude=` entries in file order. */
  readonly excludes: readonly ExcludeEntry[];
}

export interface StafdConfig extends ServiceConfig {
  readonly pleo: boolean;
  /** [Service Discovery] zeroconf. */
  readonly zeroconf: boolean;
  /** [Discovery controller connection management] persistent-connections OR the deprecated [Global] one. */
  readonly persistentConnections: boolean;
  /** Seconds; negative: never purge; 0: purge immediately. */
  readonly zeroconfConnectionsPersistence: number;
  /** [Discovery controller connection management] kernel-discovery (stas extension, default true): tcp DCs through the kernel. */
  readonly kernelDiscovery: boolean;
  /** Bounds on DCs, referrals and cached entries (stas extensions, [Discovery controller connection management]). */
  readonly bounds: DcBounds;
}

export interface StacdConfig extends ServiceConfig {
  readonly udevRule: boolean;
  readonly disconnectScope: DisconnectScope;
  readonly disconnectTrtypes: readonly DisconnectTrtype[];
  /** 0: never stop trying; never 1 (taken as 2). */
  readonly connectAttemptsOnNcc: number;
}

/** The connect parameters of one controller: its overrides, else the [Global] values. */
export function effectiveConnectOptions(global: ConnectOptions, overrides: ConnectOptions): ConnectOptions {
  return { ...global, ...overrides };
}

/**
 * Converted option values of one file, by section and key, each with its schema type. The typed accessors say
 * what a value is: each checks the option's schema type (asking for a type the schema does not give the option is
 * a programming error, and throws on every parse, so any unit test parsing the defaults finds it).
 */
export class OptionValues {
  private readonly values = new Map<string, { type: OptionType; value: unknown }>();
  set(section: string, key: string, type: OptionType, value: unknown): void {
    this.values.set(`${section}\u0000${key}`, { type, value });
  }
  /** The value whatever its type (undefined: not set and no default). */
  get(section: string, key: string): unknown {
    return this.values.get(`${section}\u0000${key}`)?.value;
  }
  /** A 'bool' or 'enabled-disabled' option. */
  bool(section: string, key: string): boolean {
    return this.typed(section, key, ['bool', 'enabled-disabled']) as boolean;
  }
  /** An 'int' option, or a 'timespan' one (seconds). */
  int(section: string, key: string): number {
    return this.typed(section, key, ['int', 'timespan']) as number;
  }
  /** A 'string' option (undefined: not set and no default). */
  string(section: string, key: string): string | undefined {
    return this.typed(section, key, ['string']) as string | undefined;
  }
  /** A 'choice' option: one of its schema's choices, typed by them. */
  choice<T extends string>(section: string, key: string, _choices: readonly T[]): T {
    return this.typed(section, key, ['choice']) as T;
  }
  /** A 'plus-list' option: items among its schema's choices, typed by them. */
  list<T extends string>(section: string, key: string, _choices: readonly T[]): T[] {
    return this.typed(section, key, ['plus-list']) as T[];
  }
  /** The 'ip-family' option. */
  ipFamily(section: string, key: string): IpFamily {
    return this.typed(section, key, ['ip-family']) as IpFamily;
  }
  private typed(section: string, key: string, types: readonly OptionType[]): unknown {
    const entry = this.values.get(`${section}\u0000${key}`);
    if (!entry || !types.includes(entry.type)) {
      throw new Error(`option [${section}] ${key}: the schema gives it no ${types.join('/')} value`);
    }
    return entry.value;
  }
}

/** The typed default of an option (its default text, converted). */
function defaultOf(option: OptionSpec): unknown {
  if (option.default === null || option.type === 'controller' || option.type === 'exclude') return undefined;
  const c = convertValue({ ...option, type: option.type }, option.default);
  return c.ok ? c.value : undefined;
}

/**
 * Reports unknown sections/options (errors) and reads every single-valued option of `schema` (last occurrence
 * wins; an invalid value is a warning and the default applies) and every controller=/exclude= line.
 */
export function readOptions(
  doc: IniDocument,
  schema: ConfigSchema,
  daemon: Daemon,
  sink: DiagnosticSink,
): { values: OptionValues; controllers: ControllerEntry[]; excludes: ExcludeEntry[] } {
  for (const section of doc.sections.values()) {
    const spec = findSection(schema, section.name);
    if (!spec) {
      sink.error(
        section.line,
        `${fileRef(sink.file, section.line)} contains invalid section: [${section.name}]`,
      );
      continue;
    }
    for (const [key, entries] of section.options) {
      if (spec.options.some((o) => o.key === key)) continue;
      for (const e of entries)
        if (!e.continuation)
          sink.error(
            e.line,
            `${fileRef(sink.file, e.line)} [${section.name}] contains invalid option: ${key}`,
          );
    }
  }

  const values = new OptionValues();
  const controllers: ControllerEntry[] = [];
  const excludes: ExcludeEntry[] = [];
  for (const section of schema.sections) {
    for (const option of section.options) {
      const entries = doc.sections.get(section.name)?.options.get(option.key) ?? [];
      if (option.type === 'controller' || option.type === 'exclude') {
        for (const e of entries) {
          if (option.type === 'controller') {
            const c = parseControllerEntry(e.value, e.line, daemon, sink, section.name);
            if (c) controllers.push(c);
          } else {
            // blacklist= (nvme-stas 1.x) is exclude= under its old name: honoured, and reported where it is.
            if (option.deprecated !== undefined)
              sink.warn(
                e.line,
                `${optionRef(sink.file, e.line, section.name, option.key)}deprecated option (${option.deprecated}); still honoured`,
              );
            const x = parseExcludeEntry(e.value, e.line, sink, section.name, option.key);
            if (x) excludes.push(x);
          }
        }
        continue;
      }
      let value = defaultOf(option);
      const last = entries[entries.length - 1];
      if (last) {
        const prefix = optionRef(sink.file, last.line, section.name, option.key);
        if (option.deprecated !== undefined)
          sink.warn(last.line, `${prefix}deprecated option (${option.deprecated}); still honoured`);
        const c = convertValue({ ...option, type: option.type }, last.value);
        if (!c.ok) {
          sink.warn(
            last.line,
            `${prefix}${describeFailure(c.failure, last.value, option.secret === true)}. Default will be used`,
          );
        } else {
          for (const item of c.invalidItems)
            sink.warn(last.line, `${prefix}List checker found invalid item "${item}" will be ignored.`);
          if (c.value !== undefined) value = c.value;
        }
      }
      values.set(section.name, option.key, option.type, value);
    }
  }
  return { values, controllers, excludes };
}

function globalConnect(values: OptionValues, schema: ConfigSchema): ConnectOptions {
  const connect: Record<string, unknown> = {};
  const global = findSection(schema, 'Global')!;
  for (const { key, prop } of CONNECT_OPTIONS) {
    if (!global.options.some((o) => o.key === key)) continue;
    const v = values.get('Global', key);
    if (v !== undefined) connect[prop] = v;
  }
  return connect as ConnectOptions;
}

function common(
  values: OptionValues,
  schema: ConfigSchema,
  controllers: ControllerEntry[],
  excludes: ExcludeEntry[],
) {
  return {
    tron: values.bool('Global', 'tron'),
    ignoreIface: values.bool('Global', 'ignore-iface'),
    ipFamily: values.ipFamily('Global', 'ip-family'),
    connect: globalConnect(values, schema),
    controllers,
    excludes,
  };
}

const DCCM = 'Discovery controller connection management';
const IOCCM = 'I/O controller connection management';

/** Parses stafd.conf text; `file` names the file in diagnostics. Never throws. */
export function parseStafdConfig(text: string, file: string = STAFD_SCHEMA.file): ConfigResult<StafdConfig> {
  const sink = new DiagnosticSink(file);
  const doc = parseIni(text, sink);
  const { values, controllers, excludes } = readOptions(doc, STAFD_SCHEMA, 'stafd', sink);
  const config: StafdConfig = {
    ...common(values, STAFD_SCHEMA, controllers, excludes),
    pleo: values.bool('Global', 'pleo'),
    zeroconf: values.bool('Service Discovery', 'zeroconf'),
    persistentConnections:
      values.bool(DCCM, 'persistent-connections') || values.bool('Global', 'persistent-connections'),
    zeroconfConnectionsPersistence: values.int(DCCM, 'zeroconf-connections-persistence'),
    kernelDiscovery: values.bool(DCCM, 'kernel-discovery'),
    bounds: Object.fromEntries(DC_BOUNDS.map((b) => [b.prop, values.int(DCCM, b.key)])) as DcBounds,
  };
  return sink.result(config);
}

/** Parses stacd.conf text; `file` names the file in diagnostics. Never throws. */
export function parseStacdConfig(text: string, file: string = STACD_SCHEMA.file): ConfigResult<StacdConfig> {
  const sink = new DiagnosticSink(file);
  const doc = parseIni(text, sink);
  const { values, controllers, excludes } = readOptions(doc, STACD_SCHEMA, 'stacd', sink);
  const ncc = values.int(IOCCM, 'connect-attempts-on-ncc');
  const config: StacdConfig = {
    ...common(values, STACD_SCHEMA, controllers, excludes),
    udevRule: values.bool('Global', 'udev-rule'),
    disconnectScope: values.choice(IOCCM, 'disconnect-scope', DISCONNECT_SCOPES),
    disconnectTrtypes: values.list(IOCCM, 'disconnect-trtypes', DISCONNECT_TRTYPES),
    connectAttemptsOnNcc: ncc === 1 ? 2 : ncc,
  };
  return sink.result(config);
}

export function defaultStafdConfig(): StafdConfig {
  return parseStafdConfig('').config;
}

export function defaultStacdConfig(): StacdConfig {
  return parseStacdConfig('').config;
}
