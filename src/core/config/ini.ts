// INI tokenizer/parser for the stas configuration files (configparser dialect + inline `#` comments). Pure.
import { isSecretName } from '../log-text.js';
import { type DiagnosticSink, fileRef, looksSecret, REDACTED } from './diagnostics.js';

/** One value of a key: from a `key = value` line, or from an indented continuation line below it. */
export interface IniEntry {
  readonly value: string;
  /** 1-based line number the value comes from. */
  readonly line: number;
  /** True for an indented continuation line (an extra list item of the key above). */
  readonly continuation: boolean;
}

export interface IniSection {
  /** Exactly as written between the brackets (case-sensitive, spaces allowed). */
  readonly name: string;
  /** Line of the first `[name]` header (repeated sections merge). */
  readonly line: number;
  /** Lower-cased key → every value in file order (repeated keys accumulate). */
  readonly options: Map<string, IniEntry[]>;
}

export interface IniDocument {
  /** Sections in order of first appearance. */
  readonly sections: Map<string, IniSection>;
}

/** Cuts an inline comment: a `#` preceded by white space ends the line's content. */
export function stripInlineComment(line: string): string {
  const m = /\s#/.exec(line);
  return m ? line.slice(0, m.index) : line;
}

function shown(text: string, secret = false): string {
  return secret || looksSecret(text) ? REDACTED : text;
}

/**
 * True for a line that can be the wrapped rest of a secret (`b3H8k5AAp8UPUcM=:`): base64 with at most its
 * padding `=`, and a digit, `+`, `/` or `:` that ordinary words lack.
 */
function isSecretTail(content: string): boolean {
  return /^[A-Za-z0-9+/]{4,}={0,2}:?\]?$/.test(content) && /[0-9+/:]/.test(content);
}

/**
 * Parses INI text. Sections `[Name]` are case-sensitive and merge when repeated; keys are lower-cased; only `=`
 * delimits (split on the first one); blanks around key and value are dropped; full-line comments start with `#`
 * or `;`; an inline comment starts at a `#` preceded by white space; a line indented deeper than the key line
 * above it continues that key (one more value). Problems are reported to `sink` as errors naming file:line and the
 * offending line is ignored: a line that is no section header, comment, `key = value` or continuation, and a
 * `key = value` before any section. The values of secret-named keys are registered with `sink` (never shown),
 * and so is the wrapped rest of a secret on the line below one (a line break typed into a long secret).
 */
export function parseIni(text: string, sink: DiagnosticSink): IniDocument {
  const sections = new Map<string, IniSection>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let section: IniSection | undefined;
  let key: string | undefined; // key a continuation line would extend
  let keyIndent = 0;
  let afterSecret = false; // the line above held (part of) a secret

  lines.forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) return;
    const content = stripInlineComment(raw).trim();
    const indent = raw.length - raw.trimStart().length;
    const secretTail = afterSecret && isSecretTail(content);
    afterSecret = secretTail || looksSecret(content);
    if (secretTail) {
      // Taken for an option name, the part before a padding `=` would otherwise show up in a diagnostic.
      const padding = content.indexOf('=');
      sink.secret(content);
      if (padding > 0) sink.secret(content.slice(0, padding));
    }

    if (section && key !== undefined && indent > keyIndent) {
      if (isSecretName(key)) sink.secret(content);
      section.options.get(key)!.push({ value: content, line, continuation: true });
      return;
    }
    keyIndent = indent;
    key = undefined;

    if (content.startsWith('[')) {
      const name = content.endsWith(']') ? content.slice(1, -1) : '';
      if (name === '') {
        sink.error(
          line,
          `${fileRef(sink.file, line)} contains an invalid section header: "${shown(content, secretTail)}". Line ignored`,
        );
        return;
      }
      section = sections.get(name);
      if (!section) {
        section = { name, line, options: new Map() };
        sections.set(name, section);
      }
      return;
    }

    const eq = content.indexOf('=');
    const name = eq > 0 ? content.slice(0, eq).trim().toLowerCase() : '';
    if (name === '') {
      sink.error(
        line,
        `${fileRef(sink.file, line)} syntax error (expected [section], option = value or a comment): "${shown(content, secretTail)}". Line ignored`,
      );
      return;
    }
    if (!section) {
      sink.error(
        line,
        `${fileRef(sink.file, line)} option ${name} appears before any [section]. Line ignored`,
      );
      return;
    }
    const entry: IniEntry = { value: content.slice(eq + 1).trim(), line, continuation: false };
    // A secret (sys.conf `key`, a misplaced `dhchap-secret`) is never shown, wherever a later typo puts it.
    if (isSecretName(name)) sink.secret(entry.value);
    const values = section.options.get(name);
    if (values) values.push(entry);
    else section.options.set(name, [entry]);
    key = name;
  });

  return { sections };
}
