// Parsing of `controller=` and `exclude=` values (`key=value;key=value;...`) into typed entries, with diagnostics. Pure.
import { isSecretName } from '../log-text.js';
import { FABRIC_TRANSPORTS, isFabricTransport, WELL_KNOWN_DISC_NQN } from '../tid.js';
import { type DiagnosticSink, looksSecret, optionRef, quoted, REDACTED, SECRET_KEYS } from './diagnostics.js';
import { CONNECT_OPTIONS, CONTROLLER_FIELD_KEYS, type ConnectOptions, EXCLUDE_FIELD_KEYS } from './schema.js';
import { convertValue, describeFailure } from './values.js';

/** A `controller=` line: raw addressing fields (no defaults applied except stafd's discovery NQN) and overrides. */
export interface ControllerEntry {
  /** Line of the config file the entry comes from. */
  readonly line: number;
  readonly transport: string;
  readonly traddr: string;
  readonly trsvcid?: string;
  readonly subsysnqn?: string;
  readonly hostTraddr?: string;
  readonly hostIface?: string;
  readonly hostNqn?: string;
  /** Secret: never log. */
  readonly dhchapSecret?: string;
  /** Secret: never log. */
  readonly dhchapCtrlSecret?: string;
  /** Per-controller connect parameters (valid ones only); they take precedence over [Global]. */
  readonly overrides: ConnectOptions;
}

/** An `exclude=` line: field (config spelling: transport, traddr, trsvcid, subsysnqn, host-iface, host-nqn) → value. */
export interface ExcludeEntry {
  readonly line: number;
  readonly fields: Readonly<Record<string, string>>;
}

export type Daemon = 'stafd' | 'stacd';

/** The items of a `key=value;...` value: lower-cased key → value (later duplicates win), and the malformed items. */
export interface SplitEntry {
  readonly fields: Map<string, string>;
  readonly malformed: readonly string[];
}

/**
 * Splits on `;` (blanks around ignored), each non-empty item on its first `=` (so values may contain `=`, e.g.
 * base64 secrets); keys are trimmed and lower-cased. Items without `=` or with an empty key are malformed.
 * `nqn` is renamed `subsysnqn` (and wins over an explicit `subsysnqn`).
 */
export function splitEntry(raw: string): SplitEntry {
  const fields = new Map<string, string>();
  const malformed: string[] = [];
  for (const part of raw.split(';')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    const key = eq < 0 ? '' : item.slice(0, eq).trim().toLowerCase();
    if (key === '') malformed.push(item);
    else fields.set(key, item.slice(eq + 1).trim());
  }
  const nqn = fields.get('nqn');
  if (nqn !== undefined) {
    fields.delete('nqn');
    fields.set('subsysnqn', nqn);
  }
  return { fields, malformed };
}

/** The value with the values of secret items (and anything that looks like a secret) replaced by `<redacted>`. */
export function redactEntry(raw: string): string {
  return raw
    .split(';')
    .map((part) => {
      const eq = part.indexOf('=');
      if (eq >= 0 && SECRET_KEYS.has(part.slice(0, eq).trim().toLowerCase()))
        return `${part.slice(0, eq + 1)}${REDACTED}`;
      return looksSecret(part) ? REDACTED : part;
    })
    .join(';');
}

/** Registers the values of secret items (`dhchap-secret=`…) so that no message of the file shows them. */
function registerSecrets(sink: DiagnosticSink, fields: ReadonlyMap<string, string>): void {
  for (const [key, value] of fields) if (isSecretName(key)) sink.secret(value);
}

function reportMalformed(
  sink: DiagnosticSink,
  prefix: string,
  line: number,
  malformed: readonly string[],
): void {
  for (const item of malformed)
    sink.warn(
      line,
      `${prefix}malformed item ${quoted(item, looksSecret(item))} (expected key=value) will be ignored`,
    );
}

const keyShown = (key: string): string => quoted(key, looksSecret(key));

/**
 * Parses one `controller=` value. Returns undefined (after a warning naming file:line) when transport or traddr is
 * missing, the transport is not tcp/rdma/fc/loop, or — for stacd — the nqn is missing. For stafd a missing nqn is
 * the well-known discovery NQN. trsvcid is left as written (undefined when absent). Invalid override values and
 * unknown keys are dropped with a warning. Secrets are never printed.
 */
export function parseControllerEntry(
  raw: string,
  line: number,
  daemon: Daemon,
  sink: DiagnosticSink,
  section = 'Controllers',
): ControllerEntry | undefined {
  const prefix = optionRef(sink.file, line, section, 'controller');
  const { fields, malformed } = splitEntry(raw);
  registerSecrets(sink, fields);
  reportMalformed(sink, prefix, line, malformed);

  const overrides: ConnectOptions = {};
  const known = new Set<string>(CONTROLLER_FIELD_KEYS);
  for (const [key, value] of fields) {
    if (known.has(key)) continue;
    const option = CONNECT_OPTIONS.find((o) => o.key === key);
    if (!option) {
      sink.warn(line, `${prefix}unknown key ${keyShown(key)} will be ignored`);
      continue;
    }
    const c = convertValue(option.spec, value);
    if (c.ok) (overrides as Record<string, unknown>)[option.prop] = c.value;
    else
      sink.warn(
        line,
        `${prefix}${key}: ${describeFailure(c.failure, value)}. [Global] value or default will be used`,
      );
  }

  const get = (key: string): string | undefined => {
    const v = fields.get(key);
    return v === undefined || v === '' ? undefined : v;
  };
  const transport = get('transport');
  const traddr = get('traddr');
  const subsysnqn = get('subsysnqn') ?? (daemon === 'stafd' ? WELL_KNOWN_DISC_NQN : undefined);
  const missing =
    transport === undefined ? 'transport' : traddr === undefined ? 'traddr' : subsysnqn ? undefined : 'nqn';
  if (missing !== undefined) {
    sink.warn(line, `${prefix}"${redactEntry(raw)}" lacks mandatory field ${missing}. Entry will be ignored`);
    return undefined;
  }
  if (!isFabricTransport(transport!)) {
    sink.warn(
      line,
      `${prefix}invalid transport "${transport}" (expected ${FABRIC_TRANSPORTS.join(', ')}). Entry will be ignored`,
    );
    return undefined;
  }

  const entry: Record<string, unknown> = { line, transport, traddr };
  const optional: [string, string][] = [
    ['trsvcid', 'trsvcid'],
    ['subsysnqn', 'subsysnqn'],
    ['host-traddr', 'hostTraddr'],
    ['host-iface', 'hostIface'],
    ['host-nqn', 'hostNqn'],
    ['dhchap-secret', 'dhchapSecret'],
    ['dhchap-ctrl-secret', 'dhchapCtrlSecret'],
  ];
  for (const [key, prop] of optional) {
    const v = key === 'subsysnqn' ? subsysnqn : get(key);
    if (v !== undefined) entry[prop] = v;
  }
  entry['overrides'] = overrides;
  return entry as unknown as ControllerEntry;
}

/**
 * Parses one `exclude=` value into the fields it matches on. `host-traddr` does not apply and other keys
 * (overrides, secrets, unknown keys) cannot be matched: they are dropped with a warning, as are items with an empty
 * value. An entry left with no field is ignored with a warning (nvme-stas made it exclude every controller).
 */
export function parseExcludeEntry(
  raw: string,
  line: number,
  sink: DiagnosticSink,
  section = 'Controllers',
  /** The option's name in messages: `exclude`, or its legacy name `blacklist`. */
  option = 'exclude',
): ExcludeEntry | undefined {
  const prefix = optionRef(sink.file, line, section, option);
  const { fields, malformed } = splitEntry(raw);
  registerSecrets(sink, fields);
  reportMalformed(sink, prefix, line, malformed);
  const usable = new Set<string>(EXCLUDE_FIELD_KEYS);
  const out: Record<string, string> = {};
  for (const [key, value] of fields) {
    if (key === 'host-traddr')
      sink.warn(line, `${prefix}host-traddr does not apply to exclude= and will be ignored`);
    else if (!usable.has(key))
      sink.warn(line, `${prefix}key ${keyShown(key)} cannot be used to exclude and will be ignored`);
    else if (value === '') sink.warn(line, `${prefix}empty value of ${key} will be ignored`);
    else out[key] = value;
  }
  if (Object.keys(out).length === 0) {
    sink.warn(
      line,
      `${prefix}"${redactEntry(raw)}" has no usable key=value item. Entry will be ignored (it would exclude every controller)`,
    );
    return undefined;
  }
  return { line, fields: out };
}
