// Python's pprint.pformat (CPython 3.11, sort_dicts=True, indent=1) and repr for JSON-like values, byte for byte.
/**
 * stafctl/stacctl print what nvme-stas prints: `pprint.pformat(obj, width=120)`. Tools `eval()` that text, so
 * the layout must match CPython exactly. The values are the JSON data model as Python sees it after
 * `json.loads`: dict (str keys), list, str, int, float, bool, None.
 *
 * JavaScript numbers map as `json.loads(JSON.stringify(x))` would: integers below 1e21 in magnitude are
 * Python ints, everything else a float (shortest round-trip repr, Python's exponent rules).
 *
 * Unicode: "printable" (repr escaping) and white space follow CPython's definitions; the character database
 * is Node's (ICU), so characters assigned after Unicode 14 (Python 3.11) may be printed rather than escaped.
 */

export type PyValue =
  | null
  | boolean
  | number
  | string
  | readonly PyValue[]
  | { readonly [k: string]: PyValue };

export interface PformatOptions {
  /** Wanted maximum line width (Python's `width`); default 80 as pprint, stas' CLIs use 120. */
  width?: number;
}

/** Number of code points of `s` (Python's len). */
export function pyLen(s: string): number {
  if (!/[\uD800-\uDFFF]/.test(s)) return s.length;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/** Compares two strings by code point, as Python orders str (JavaScript's < compares UTF-16 units). */
export function compareCodePoints(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(j)!;
    if (ca !== cb) return ca < cb ? -1 : 1;
    i += ca > 0xffff ? 2 : 1;
    j += cb > 0xffff ? 2 : 1;
  }
  const ra = a.length - i;
  const rb = b.length - j;
  return ra === rb ? 0 : ra < rb ? -1 : 1;
}

// CPython's str.isprintable() is false for categories Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs other than ' '.
const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;
const NEEDS_ESCAPE = /[\\'"\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

const hex = (n: number, digits: number) => n.toString(16).padStart(digits, '0');

/** Python's repr() of a str. */
export function pyStrRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  if (!NEEDS_ESCAPE.test(s)) return `${quote}${s}${quote}`;
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === ' ' || !NOT_PRINTABLE.test(ch)) out += ch;
    else if (cp < 0x100) out += `\\x${hex(cp, 2)}`;
    else if (cp < 0x10000) out += `\\u${hex(cp, 4)}`;
    else out += `\\U${hex(cp, 8)}`;
  }
  return out + quote;
}

/** Python's repr() of a float (repr(float) = shortest round-trip digits, exponent form outside [1e-4, 1e16)). */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expText] = x.toExponential().split('e') as [string, string];
  const exp = Number(expText);
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  const sign = neg ? '-' : '';
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exp).toString().padStart(2, '0');
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${e}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  const frac = digits.slice(exp + 1);
  return `${sign}${intPart}.${frac || '0'}`;
}

/** Python's repr() of what json.loads(JSON.stringify(x)) gives for a number. */
export function pyNumberRepr(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e21) return Object.is(x, -0) ? '0' : String(x);
  return pyFloatRepr(x);
}

function isDict(v: PyValue): v is { readonly [k: string]: PyValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function sortedItems(d: { readonly [k: string]: PyValue }): [string, PyValue][] {
  return Object.keys(d)
    .sort(compareCodePoints)
    .map((k) => [k, d[k]!]);
}

/** Python's one-line repr of a value (pprint's _safe_repr: dict keys sorted). */
export function pyRepr(v: PyValue): string {
  if (v === null) return 'None';
  switch (typeof v) {
    case 'boolean':
      return v ? 'True' : 'False';
    case 'number':
      return pyNumberRepr(v);
    case 'string':
      return pyStrRepr(v);
  }
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (isDict(v)) {
    return `{${sortedItems(v)
      .map(([k, x]) => `${pyStrRepr(k)}: ${pyRepr(x)}`)
      .join(', ')}}`;
  }
  throw new TypeError(`pformat: unsupported value of type ${typeof v}`);
}

// str.splitlines(True): line boundaries \n \r \r\n \v \f \x1c \x1d \x1e \x85 \u2028 \u2029, ends kept.
const EOL = '\\n\\r\\v\\f\\x1c-\\x1e\\x85\\u2028\\u2029';
const LINE = new RegExp(`[^${EOL}]*(?:\\r\\n|[${EOL}])?`, 'gu');
// re.findall(r'\S*\s*', line) with CPython's Unicode \s (str.isspace()).
const WS = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const WORD = new RegExp(`[^${WS}]*[${WS}]*`, 'gu');

function splitLines(s: string): string[] {
  return (s.match(LINE) ?? []).filter((l) => l !== '');
}

class Printer {
  private out = '';

  constructor(private readonly width: number) {}

  result(): string {
    return this.out;
  }

  format(v: PyValue, indent: number, allowance: number, level: number): void {
    const rep = pyRepr(v);
    if (pyLen(rep) > this.width - indent - allowance) {
      if (typeof v === 'string') {
        this.str(v, indent, allowance, level + 1);
        return;
      }
      if (Array.isArray(v)) {
        this.list(v, indent, allowance, level + 1);
        return;
      }
      if (v !== null && isDict(v)) {
        this.dict(v, indent, allowance, level + 1);
        return;
      }
    }
    this.out += rep;
  }

  private dict(d: { readonly [k: string]: PyValue }, indent: number, allowance: number, level: number): void {
    this.out += '{';
    const items = sortedItems(d);
    const inner = indent + 1;
    const delim = `,\n${' '.repeat(inner)}`;
    items.forEach(([k, v], i) => {
      const last = i === items.length - 1;
      const krep = pyStrRepr(k);
      this.out += `${krep}: `;
      this.format(v, inner + pyLen(krep) + 2, last ? allowance + 1 : 1, level);
      if (!last) this.out += delim;
    });
    this.out += '}';
  }

  private list(l: readonly PyValue[], indent: number, allowance: number, level: number): void {
    this.out += '[';
    const inner = indent + 1;
    const delim = `,\n${' '.repeat(inner)}`;
    l.forEach((v, i) => {
      const last = i === l.length - 1;
      if (i > 0) this.out += delim;
      this.format(v, inner, last ? allowance + 1 : 1, level);
    });
    this.out += ']';
  }

  // pprint's _pprint_str: one literal per line, lines too long split after white space; in parentheses at top level.
  private str(s: string, indent: number, allowance: number, level: number): void {
    if (s === '') {
      this.out += "''";
      return;
    }
    const chunks: string[] = [];
    const lines = splitLines(s);
    if (level === 1) {
      indent += 1;
      allowance += 1;
    }
    const maxWidth = this.width - indent;
    let maxWidth1 = maxWidth;
    lines.forEach((line, i) => {
      const lastLine = i === lines.length - 1;
      const rep = pyStrRepr(line);
      if (lastLine) maxWidth1 -= allowance;
      if (pyLen(rep) <= maxWidth1) {
        chunks.push(rep);
        return;
      }
      const parts = (line.match(WORD) ?? []).filter((p) => p !== '');
      let maxWidth2 = maxWidth;
      let current = '';
      parts.forEach((part, j) => {
        const candidate = current + part;
        if (j === parts.length - 1 && lastLine) maxWidth2 -= allowance;
        if (pyLen(pyStrRepr(candidate)) > maxWidth2) {
          if (current) chunks.push(pyStrRepr(current));
          current = part;
        } else {
          current = candidate;
        }
      });
      if (current) chunks.push(pyStrRepr(current));
    });
    if (chunks.length === 1) {
      this.out += chunks[0]!;
      return;
    }
    if (level === 1) this.out += '(';
    this.out += chunks.join(`\n${' '.repeat(indent)}`);
    if (level === 1) this.out += ')';
  }
}

/** `pprint.pformat(v, width=…)` of CPython 3.11 (no trailing newline). */
export function pformat(v: PyValue, opts: PformatOptions = {}): string {
  const p = new Printer(opts.width ?? 80);
  p.format(v, 0, 0, 0);
  return p.result();
}

/**
 * Python's `repr()`/`str()` of a value as built in Python (dicts keep their insertion order, unlike pprint): what
 * nvme-stas stores with `str(dict)`, e.g. the `dlpe` of an I/O controller or an operation's state.
 */
export function pyReprInOrder(v: PyValue): string {
  if (Array.isArray(v)) return `[${v.map(pyReprInOrder).join(', ')}]`;
  if (v !== null && isDict(v)) {
    return `{${Object.keys(v)
      .map((k) => `${pyStrRepr(k)}: ${pyReprInOrder(v[k]!)}`)
      .join(', ')}}`;
  }
  return pyRepr(v);
}

const JSON_SHORT: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
};

/** A JSON string as Python's json.dumps writes it (ensure_ascii: everything outside ' '..'~' escaped). */
function pyJsonString(s: string): string {
  return `"${s.replace(/[^ -~]|["\\]/g, (ch) => JSON_SHORT[ch] ?? `\\u${hex(ch.charCodeAt(0), 4)}`)}"`;
}

/**
 * Python's `json.dumps(v)` with its defaults (separators `', '` and `': '`, ensure_ascii, insertion order): the
 * JSON text nvme-stas' D-Bus methods return (process_info, controller_info, get_all_log_pages).
 */
export function pyJsonDumps(v: PyValue): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (Number.isNaN(v)) return 'NaN';
      if (!Number.isFinite(v)) return v > 0 ? 'Infinity' : '-Infinity';
      return pyNumberRepr(v);
    case 'string':
      return pyJsonString(v);
  }
  if (Array.isArray(v)) return `[${v.map(pyJsonDumps).join(', ')}]`;
  if (isDict(v)) {
    return `{${Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .map((k) => `${pyJsonString(k)}: ${pyJsonDumps(v[k]!)}`)
      .join(', ')}}`;
  }
  throw new TypeError(`pyJsonDumps: unsupported value of type ${typeof v}`);
}
