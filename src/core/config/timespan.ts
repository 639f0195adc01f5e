// Time-span grammar of zeroconf-connections-persistence (nvme-stas' vendored pytimeparse) → seconds. Pure.

/** Python `float()` text: optional sign, digits with single `_` separators, fraction, exponent, inf/nan. */
const PY_FLOAT_RE =
  /^[+-]?(?:(?:\d(?:_?\d)*)(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?$/;
const PY_FLOAT_SPECIAL_RE = /^([+-]?)(?:inf|infinity|nan)$/i;

/** Python `float(text)`, or undefined where Python raises ValueError. */
export function parsePyFloat(text: string): number | undefined {
  const t = text.trim();
  if (PY_FLOAT_RE.test(t)) return Number(t.replace(/_/g, ''));
  const special = PY_FLOAT_SPECIAL_RE.exec(t);
  if (!special) return undefined;
  if (/nan/i.test(t)) return Number.NaN;
  return special[1] === '-' ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
}

const NUM = '[\\d.]+';
const DAYS = `(?<days>${NUM})\\s*(?:d|dys?|days?)`;
const HOURS = `(?<hours>${NUM})\\s*(?:h|hrs?|hours?)`;
const MINS = `(?<mins>${NUM})\\s*(?:m|mins?|minutes?)`;
const SECS = `(?<secs>${NUM})\\s*(?:s|secs?|seconds?)`;
const SECCLOCK = ':(?<secs>\\d{2}(?:\\.\\d+)?)';
const MINCLOCK = '(?<mins>\\d{1,2}):(?<secs>\\d{2}(?:\\.\\d+)?)';
const HOURCLOCK = '(?<hours>\\d+):(?<mins>\\d{2}):(?<secs>\\d{2}(?:\\.\\d+)?)';
const DAYCLOCK = '(?<days>\\d+):(?<hours>\\d{2}):(?<mins>\\d{2}):(?<secs>\\d{2}(?:\\.\\d+)?)';
const opt = (s: string): string => `(?:${s})?`;
const optsep = (s: string): string => `(?:${s}\\s*(?:[,/]\\s*)?)?`;

const FORMATS: readonly RegExp[] = [
  `${optsep(DAYS)}\\s*${optsep(HOURS)}\\s*${optsep(MINS)}\\s*${opt(SECS)}`,
  MINCLOCK,
  `${optsep(DAYS)}\\s*${HOURCLOCK}`,
  DAYCLOCK,
  SECCLOCK,
].map((f) => new RegExp(`^\\s*${f}\\s*$`, 'i'));

const SIGN_RE = /^\s*(?<sign>[+|-])?\s*(?<unsigned>.*)$/;

const MULTIPLIERS: Readonly<Record<string, number>> = { days: 86400, hours: 3600, mins: 60, secs: 1 };

const isDigits = (s: string): boolean => /^\d+$/.test(s);

/**
 * Parses a time span into seconds, or undefined when the text is not a time span (or is NaN):
 * a Python float (`3600`, `-1`, `0.5`, `1e3`, `inf`), else an optionally signed (`+`, `-`, `|`) expression
 * `[N d|dy|dys|day|days][,|/] [N h|hr|hrs|hour|hours][,|/] [N m|min|mins|minute|minutes][,|/] [N s|sec|secs|second|seconds]`
 * (case-insensitive, blanks optional) or a clock `M:SS`, `[days] H:MM:SS`, `D:HH:MM:SS`, `:SS` (seconds may have
 * a fraction). As pytimeparse: when the seconds part is an integer (or absent) the larger units are summed and
 * truncated to whole seconds (`1.2 minutes` → 72, `1.01 minutes` → 60); otherwise the exact sum is returned.
 * Unlike pytimeparse, the sign applies to the whole span (`- 1.5 minutes 10 seconds` → -100, not -80).
 */
export function parseTimespan(text: string): number | undefined {
  const asFloat = parsePyFloat(text);
  if (asFloat !== undefined) return Number.isNaN(asFloat) ? undefined : asFloat + 0;

  const signed = SIGN_RE.exec(text);
  if (!signed) return undefined; // line breaks: never present in a config value
  const sign = signed.groups!['sign'] === '-' ? -1 : 1;
  const unsigned = signed.groups!['unsigned']!;
  for (const format of FORMATS) {
    const m = format.exec(unsigned);
    if (!m || m[0].trim() === '') continue;
    const parts = Object.entries(m.groups!).filter((e): e is [string, string] => e[1] !== undefined);
    let total: number;
    const secs = m.groups!['secs'];
    if (parts.every(([, v]) => isDigits(v))) {
      total = parts.reduce((sum, [k, v]) => sum + MULTIPLIERS[k]! * Number(v), 0);
    } else if (secs === undefined || isDigits(secs)) {
      const larger = parts
        .filter(([k]) => k !== 'secs')
        .reduce((sum, [k, v]) => sum + MULTIPLIERS[k]! * Number(v), 0);
      total = Math.trunc(larger) + (secs === undefined ? 0 : Number(secs));
    } else {
      total = parts.reduce((sum, [k, v]) => sum + MULTIPLIERS[k]! * Number(v), 0);
    }
    // `[\d.]+` also matches `.` or `1.2.3`, where Python's float() raises: not a time span.
    return Number.isNaN(total) ? undefined : sign * total + 0;
  }
  return undefined;
}
