/**
 * Making untrusted text (from the network, a config file, a D-Bus caller) safe for a log line: `redactSecrets`
 * hides DH-HMAC-CHAP secrets and the values of secret-named keys, `printable` escapes everything a terminal or a
 * log reader could take for something else (control characters, escape sequences, invisible and line-breaking
 * characters). `safeText` applies both. Pure.
 */

/** Printed in place of a secret value. */
export const REDACTED = '<redacted>';

/**
 * Key names whose values are secrets, in every spelling stas meets: config (`dhchap-secret`, sys.conf `key`),
 * kernel options (`dhchap_secret`, `tls_key`, `keyring`) and libnvme JSON (`dhchap_key`, `dhchap_ctrl_key`).
 */
const SECRET_NAME = '(?:dhchap[-_](?:ctrl[-_])?(?:secret|key)|tls[-_]?key|keyring|key)';
/** The same names but `key` alone, which is also an ordinary English word ("unknown key", "key serial"). */
const SPECIFIC_SECRET_NAME = '(?:dhchap[-_](?:ctrl[-_])?(?:secret|key)|tls[-_]?key|keyring)';

/** A key name is not part of a longer word (`mykey`, `host-key`), but may be an option (`--tls-key`). */
const NAME_START = '(?:(?<![\\w-])|(?<=(?:^|[^\\w-])--?))';
const NAME_END = '(?![\\w-])';

const SECRET_NAME_RE = new RegExp(`^${SECRET_NAME}$`, 'i');

/** True when `name` (trimmed, any case) names a secret: `dhchap-secret`, `key`, `tls_key`, `keyring`… */
export function isSecretName(name: string): boolean {
  return SECRET_NAME_RE.test(name.trim());
}

/**
 * `'name': 'value'` / `"name": "value"` (Python repr, JSON); also `name: "value"`. Groups: 3 the value's quote,
 * 4 the value, 5 its closing quote (empty when the text ends inside the value).
 */
const QUOTED_PAIR_RE = new RegExp(
  `(["']?)${NAME_START}${SECRET_NAME}${NAME_END}\\1(\\s*:\\s*)(["'])((?:\\\\.|(?!\\3)[^\\\\])*)(\\3|$)`,
  'gi',
);

/**
 * `name=value`, `name = value`, `name="value"`: the value is a quoted string (to the end of the text when not
 * closed) or runs to a blank, `;`, `,` or quote. Groups: 2 the quote, 3 the quoted value, 4 its closing quote,
 * 5 an unquoted value.
 */
const ASSIGNED_RE = new RegExp(
  `${NAME_START}${SECRET_NAME}${NAME_END}(\\s*=\\s*)(?:(["'])((?:\\\\.|(?!\\2)[^\\\\])*)(\\2|$)|([^\\s;,"'\`)\\]}]+))`,
  'gi',
);

/**
 * `name value` (a separator forgotten): the unambiguous names anywhere; bare `key` only where a config line or
 * an option name starts (start of text, after a quote, a bracket or `: `), e.g. `"key DHHC-1:…"`.
 */
const SPACED_RE = new RegExp(
  `(?:${NAME_START}${SPECIFIC_SECRET_NAME}|(?:^|(?<=["'\\[(]|:\\s))key)${NAME_END}([ \\t]+)(?![=:"'<-])([^\\s;,"'\`)\\]}]+)`,
  'gim',
);

/** The word `value` of prose such as "expected key=value". */
const PLACEHOLDER_RE = /^value$/i;

/** A `DHHC-1:…` secret anywhere, in any case, with or without its trailing colon. */
const DHHC_RE = /DHHC-\d+:[A-Za-z0-9+/=:_-]+/gi;
const DHHC_REDACTED = `DHHC-1:${REDACTED}`;

/**
 * The text with secrets replaced: every `DHHC-1:…`-looking token (any case, also inside other text) becomes
 * `DHHC-1:<redacted>`, and the value of every secret-named key (see `isSecretName`) written as `key=value`,
 * `key = value`, `key value`, `'key': 'value'` or `"key":"value"` becomes `<redacted>`. Idempotent.
 */
export function redactSecrets(text: string): string {
  // Each pattern ends with the value: keep what precedes it, put REDACTED (and the closing quote) instead. The
  // placeholder of prose ("expected key=value") is no secret.
  const keepUpTo = (m: string, value: string, closing = '') =>
    PLACEHOLDER_RE.test(value)
      ? m
      : `${m.slice(0, m.length - value.length - closing.length)}${REDACTED}${closing}`;
  return text
    .replace(QUOTED_PAIR_RE, (m, _q1, _sep, _q, value: string, closing: string) =>
      keepUpTo(m, value, closing),
    )
    .replace(
      ASSIGNED_RE,
      (m, _sep, _q, quoted: string | undefined, closing: string | undefined, bare: string | undefined) =>
        bare === undefined ? keepUpTo(m, quoted!, closing) : keepUpTo(m, bare),
    )
    .replace(SPACED_RE, (m, _sep, value: string) => keepUpTo(m, value))
    .replace(DHHC_RE, DHHC_REDACTED);
}

/** Characters shown escaped: the backslash (so that escapes are unambiguous) and every non-printable. */
const UNPRINTABLE_RE = /\\|(?! )[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/gu;

const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

function escapeChar(c: string): string {
  const short = SHORT_ESCAPES[c];
  if (short !== undefined) return short;
  const cp = c.codePointAt(0)!;
  const hex = cp.toString(16);
  if (cp < 0x80) return `\\x${hex.padStart(2, '0')}`;
  return cp <= 0xffff ? `\\u${hex.padStart(4, '0')}` : `\\u{${hex}}`;
}

/**
 * The text with every character that is not plainly visible escaped: C0 controls and DEL as `\x1b`, newline,
 * carriage return and tab as `\n` `\r` `\t`, C1 controls, format characters (bidi overrides, zero-width
 * characters), line/paragraph separators, spaces other than U+0020, private-use, unassigned code points and lone
 * surrogates as `\u009b` (`\u{…}` beyond U+FFFF). A backslash becomes `\\`, so the result is unambiguous.
 * Printable Unicode (`é`, `日本`) stays as it is.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE_RE, escapeChar);
}

/** `printable(redactSecrets(text))`: what may go into a log line or a D-Bus error text. */
export function safeText(text: string): string {
  return printable(redactSecrets(text));
}
