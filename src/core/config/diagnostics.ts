// Configuration diagnostics: levels, `File:<path>:<line>` message prefixes, error tally and secret redaction. Pure.
import { REDACTED, redactSecrets } from '../log-text.js';

export { REDACTED } from '../log-text.js';

export type DiagnosticLevel = 'info' | 'warning' | 'error';

/** One message about a configuration file. `message` is the complete text, starting with `File:<path>[:<line>]`. */
export interface ConfigDiagnostic {
  readonly level: DiagnosticLevel;
  readonly file: string;
  /** 1-based line the message is about; absent for file-level messages (missing/unreadable file). */
  readonly line?: number;
  readonly message: string;
}

/** What every loader returns: a complete config (defaults where needed), its diagnostics, and whether any is an error. */
export interface ConfigResult<T> {
  readonly config: T;
  readonly diagnostics: readonly ConfigDiagnostic[];
  /** True when at least one diagnostic is an 'error' (unknown section/option, syntax error, unreadable file). */
  readonly hasErrors: boolean;
}

/** Keys (controller=/exclude= items) whose values are DH-HMAC-CHAP secrets. */
export const SECRET_KEYS: ReadonlySet<string> = new Set(['dhchap-secret', 'dhchap-ctrl-secret']);

/**
 * True when free text (an unparseable line, a malformed `controller=` item) may carry a secret: it names a
 * DH-HMAC-CHAP key, holds a `DHHC-1:` secret, or is a sys.conf `key` line.
 */
export function looksSecret(text: string): boolean {
  return /dhchap|DHHC-\d/i.test(text) || /^\s*key\b/i.test(text);
}

/** `"value"`, or `"<redacted>"` when the value is secret. */
export function quoted(value: string, secret: boolean): string {
  return `"${secret ? REDACTED : value}"`;
}

/** `File:<path>:<line>` (or `File:<path>` without a line). */
export function fileRef(file: string, line?: number): string {
  return line === undefined ? `File:${file}` : `File:${file}:${line}`;
}

/** `File:<path>:<line> [<section>]: <option> - ` — nvme-stas' prefix for option value messages, plus the line. */
export function optionRef(file: string, line: number, section: string, option: string): string {
  return `${fileRef(file, line)} [${section}]: ${option} - `;
}

export function hasErrors(diagnostics: readonly ConfigDiagnostic[]): boolean {
  return diagnostics.some((d) => d.level === 'error');
}

/** Known secrets shorter than this are not looked for in messages (`keyring=5` must not hide every `5`). */
export const MIN_SCRUBBED_SECRET_LENGTH = 8;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Collects the diagnostics of one file. Every message is redacted where it is made (`add`): DH-HMAC-CHAP
 * secrets and secret-named key values (see log-text.ts `redactSecrets`), and the secrets the parsers met in
 * the file (`secret`), in any case, wherever they landed by a typo.
 */
export class DiagnosticSink {
  readonly diagnostics: ConfigDiagnostic[] = [];
  private readonly secrets = new Set<string>();
  private secretsRe: RegExp | undefined;

  constructor(readonly file: string) {}

  /**
   * Registers the value of a secret (a `dhchap-secret=` item, sys.conf `key`…): it is replaced by `<redacted>` in
   * every message of this file, those already collected included. Empty, short and `file://` values are ignored.
   */
  secret(value: string): void {
    const v = value.trim();
    if (
      v.length < MIN_SCRUBBED_SECRET_LENGTH ||
      v === REDACTED ||
      /^file:\/\//i.test(v) ||
      this.secrets.has(v)
    )
      return;
    this.secrets.add(v);
    const longestFirst = [...this.secrets].sort((a, b) => b.length - a.length).map(escapeRegExp);
    this.secretsRe = new RegExp(longestFirst.join('|'), 'gi');
    this.diagnostics.forEach((d, i) => {
      const message = this.redact(d.message);
      if (message !== d.message) this.diagnostics[i] = { ...d, message };
    });
  }

  /** The text with the known secrets of this file and anything that looks like a secret redacted. */
  redact(text: string): string {
    return redactSecrets(this.secretsRe ? text.replace(this.secretsRe, REDACTED) : text);
  }

  add(level: DiagnosticLevel, line: number | undefined, text: string): void {
    const message = this.redact(text);
    this.diagnostics.push(
      line === undefined ? { level, file: this.file, message } : { level, file: this.file, line, message },
    );
  }

  info(line: number | undefined, message: string): void {
    this.add('info', line, message);
  }

  warn(line: number | undefined, message: string): void {
    this.add('warning', line, message);
  }

  error(line: number | undefined, message: string): void {
    this.add('error', line, message);
  }

  get hasErrors(): boolean {
    return hasErrors(this.diagnostics);
  }

  /** The result, diagnostics in file order (file-level ones first; stable within a line). */
  result<T>(config: T): ConfigResult<T> {
    const diagnostics = [...this.diagnostics].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    return { config, diagnostics, hasErrors: this.hasErrors };
  }
}
