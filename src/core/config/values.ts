// Value checkers/converters of the stas configuration options (bool, enabled/disabled, int, range, choices...). Pure.
import { quoted } from './diagnostics.js';
import { parseTimespan } from './timespan.js';

/** Why a raw value was rejected, in nvme-stas' three flavours. */
export type ValueFailure =
  | { readonly kind: 'text' }
  | { readonly kind: 'converter' }
  | { readonly kind: 'range'; readonly value: number; readonly min: number; readonly max: number };

export type Checked<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly failure: ValueFailure };

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const TEXT: Checked<never> = { ok: false, failure: { kind: 'text' } };
const CONVERTER: Checked<never> = { ok: false, failure: { kind: 'converter' } };

/** nvme-stas' wording of a failure, e.g. `Text check found invalid value "yes"`; a secret value is redacted. */
export function describeFailure(failure: ValueFailure, raw: string, secret = false): string {
  switch (failure.kind) {
    case 'text':
      return `Text check found invalid value ${quoted(raw, secret)}`;
    case 'converter':
      return `Data converter found invalid value ${quoted(raw, secret)}`;
    case 'range':
      return `${quoted(String(failure.value), secret)} is not within range ${failure.min}..${failure.max}`;
  }
}

/** `true`/`false`, case-insensitive (not yes/no/1/0/on/off). */
export function parseBool(raw: string): Checked<boolean> {
  const v = raw.toLowerCase();
  return v === 'true' ? ok(true) : v === 'false' ? ok(false) : TEXT;
}

/** `enabled`/`disabled`, case-insensitive. */
export function parseEnabled(raw: string): Checked<boolean> {
  const v = raw.toLowerCase();
  return v === 'enabled' ? ok(true) : v === 'disabled' ? ok(false) : TEXT;
}

/**
 * Python `int(text)`: surrounding blanks, a sign, decimal digits with single `_` separators (`+5`, `-1`, ` 007 `,
 * `1_000`); not `1.5`, `0x10`, `NaN`, `` (undefined). Values beyond ±2^53 are refused as well.
 */
export function parsePyInt(raw: string): number | undefined {
  const t = raw.trim();
  if (!/^[+-]?\d+(?:_\d+)*$/.test(t)) return undefined;
  const n = Number(t.replace(/_/g, ''));
  return Number.isSafeInteger(n) ? n + 0 : undefined;
}

/** An integer option, optionally range-checked (inclusive). */
export function parseIntOption(raw: string, range?: readonly [number, number]): Checked<number> {
  const n = parsePyInt(raw);
  if (n === undefined) return CONVERTER;
  if (range && (n < range[0] || n > range[1]))
    return { ok: false, failure: { kind: 'range', value: n, min: range[0], max: range[1] } };
  return ok(n);
}

/** One of a fixed set of literals, case-sensitive. */
export function parseChoice<T extends string>(raw: string, choices: readonly T[]): Checked<T> {
  return (choices as readonly string[]).includes(raw) ? ok(raw as T) : TEXT;
}

export interface IpFamily {
  readonly ipv4: boolean;
  readonly ipv6: boolean;
}

export const IP_FAMILY_CHOICES = ['ipv4', 'ipv6', 'ipv4+ipv6', 'ipv6+ipv4'] as const;

/** `ipv4`, `ipv6`, `ipv4+ipv6` or `ipv6+ipv4` (case-sensitive). */
export function parseIpFamily(raw: string): Checked<IpFamily> {
  const c = parseChoice(raw, IP_FAMILY_CHOICES);
  if (!c.ok) return c;
  return ok({ ipv4: c.value !== 'ipv6', ipv6: c.value !== 'ipv4' });
}

/** A `+`-joined list: valid items in first-seen order without duplicates, and the invalid items (empty ones skipped). */
export function parsePlusList<T extends string>(
  raw: string,
  choices: readonly T[],
): { items: T[]; invalid: string[] } {
  const items: T[] = [];
  const invalid: string[] = [];
  for (const item of raw.split('+')) {
    if (item === '') continue;
    if (!(choices as readonly string[]).includes(item)) invalid.push(item);
    else if (!items.includes(item as T)) items.push(item as T);
  }
  return { items, invalid };
}

/** A time span in seconds (see timespan.ts); a negative span means "never", 0 "immediately". */
export function parseTimespanOption(raw: string): Checked<number> {
  const s = parseTimespan(raw);
  return s === undefined ? CONVERTER : ok(s);
}

/** Value types of single-valued options. */
export type ValueType =
  | 'bool'
  | 'enabled-disabled'
  | 'int'
  | 'choice'
  | 'ip-family'
  | 'plus-list'
  | 'timespan'
  | 'string';

/** What a checker needs to know about an option. */
export interface ValueSpec {
  readonly type: ValueType;
  /** Inclusive range of an 'int'. */
  readonly range?: readonly [number, number];
  /** Allowed literals of a 'choice' or items of a 'plus-list' (case-sensitive). */
  readonly choices?: readonly string[];
}

export type Converted =
  | { readonly ok: true; readonly value: unknown; readonly invalidItems: readonly string[] }
  | { readonly ok: false; readonly failure: ValueFailure };

/**
 * Checks and converts a raw value. A 'plus-list' never fails: its invalid items are listed in `invalidItems` and
 * its value is undefined when no valid item remains (the option's default applies).
 */
export function convertValue(spec: ValueSpec, raw: string): Converted {
  let c: Checked<unknown>;
  switch (spec.type) {
    case 'bool':
      c = parseBool(raw);
      break;
    case 'enabled-disabled':
      c = parseEnabled(raw);
      break;
    case 'int':
      c = parseIntOption(raw, spec.range);
      break;
    case 'choice':
      c = parseChoice(raw, spec.choices ?? []);
      break;
    case 'ip-family':
      c = parseIpFamily(raw);
      break;
    case 'timespan':
      c = parseTimespanOption(raw);
      break;
    case 'string':
      c = ok(raw);
      break;
    case 'plus-list': {
      const { items, invalid } = parsePlusList(raw, spec.choices ?? []);
      return { ok: true, value: items.length > 0 ? items : undefined, invalidItems: invalid };
    }
  }
  return c.ok ? { ok: true, value: c.value, invalidItems: [] } : c;
}
