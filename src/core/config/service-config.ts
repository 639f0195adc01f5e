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
  type DisconnectScope,
  type DisconnectTrtype,
  findSection,
  type OptionSpec,
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

/** Converted option values of one file, by section and key. */
export class OptionValues {
  private readonly values = new Map<string, unknown>();
  set(section: string, key: string, value: unknown): void {
    this.values.set(`${section}\u0000${key}`, value);
  }
  get(section: string, key: string): unknown {
    return this.values.get(`${section}\u0000${key}`);
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
      values.set(section.name, option.key, value);
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
    tron: values.get('Global', 'tron') as boolean,
    ignoreIface: values.get('Global', 'ignore-iface') as boolean,
    ipFamily: values.get('Global', 'ip-family') as IpFamily,
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
    pleo: values.get('Global', 'pleo') as boolean,
    zeroconf: values.get('Service Discovery', 'zeroconf') as boolean,
    persistentConnections:
      (values.get(DCCM, 'persistent-connections') as boolean) ||
      (values.get('Global', 'persistent-connections') as boolean),
    zeroconfConnectionsPersistence: values.get(DCCM, 'zeroconf-connections-persistence') as number,
    kernelDiscovery: values.get(DCCM, 'kernel-discovery') as boolean,
    bounds: Object.fromEntries(DC_BOUNDS.map((b) => [b.prop, values.get(DCCM, b.key) as number])) as DcBounds,
  };
  return sink.result(config);
}

/** Parses stacd.conf text; `file` names the file in diagnostics. Never throws. */
export function parseStacdConfig(text: string, file: string = STACD_SCHEMA.file): ConfigResult<StacdConfig> {
  const sink = new DiagnosticSink(file);
  const doc = parseIni(text, sink);
  const { values, controllers, excludes } = readOptions(doc, STACD_SCHEMA, 'stacd', sink);
  const ncc = values.get(IOCCM, 'connect-attempts-on-ncc') as number;
  const config: StacdConfig = {
    ...common(values, STACD_SCHEMA, controllers, excludes),
    udevRule: values.get('Global', 'udev-rule') as boolean,
    disconnectScope: values.get(IOCCM, 'disconnect-scope') as DisconnectScope,
    disconnectTrtypes: values.get(IOCCM, 'disconnect-trtypes') as DisconnectTrtype[],
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
