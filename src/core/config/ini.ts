// INI tokenizer/parser for the stas configuration files (configparser dialect + inline `#` comments). Pure.
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

function shown(text: string): string {
  return looksSecret(text) ? REDACTED : text;
}

/**
 * Parses INI text. Sections `[Name]` are case-sensitive and merge when repeated; keys are lower-cased; only `=`
 * delimits (split on the first one); blanks around key and value are dropped; full-line comments start with `#`
 * or `;`; an inline comment starts at a `#` preceded by white space; a line indented deeper than the key line
 * above it continues that key (one more value). Problems are reported to `sink` as errors naming file:line and the
 * offending line is ignored: a line that is no section header, comment, `key = value` or continuation, and a
 * `key = value` before any section.
 */
export function parseIni(text: string, sink: DiagnosticSink): IniDocument {
  const sections = new Map<string, IniSection>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let section: IniSection | undefined;
  let key: string | undefined; // key a continuation line would extend
  let keyIndent = 0;

  lines.forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) return;
    const content = stripInlineComment(raw).trim();
    const indent = raw.length - raw.trimStart().length;

    if (section && key !== undefined && indent > keyIndent) {
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
          `${fileRef(sink.file, line)} contains an invalid section header: "${shown(content)}". Line ignored`,
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
        `${fileRef(sink.file, line)} syntax error (expected [section], key = value or a comment): "${shown(content)}". Line ignored`,
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
    const values = section.options.get(name);
    if (values) values.push(entry);
    else section.options.set(name, [entry]);
    key = name;
  });

  return { sections };
}
