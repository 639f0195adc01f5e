// Configuration diagnostics: levels, `File:<path>:<line>` message prefixes, error tally and secret redaction. Pure.

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

/** Printed in place of a secret value. */
export const REDACTED = '<redacted>';

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

/** Collects the diagnostics of one file. */
export class DiagnosticSink {
  readonly diagnostics: ConfigDiagnostic[] = [];

  constructor(readonly file: string) {}

  add(level: DiagnosticLevel, line: number | undefined, message: string): void {
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
