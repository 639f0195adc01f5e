// Reads stafd.conf / stacd.conf / sys.conf from disk and hands the text to the pure parsers of src/core/config.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { ConfigDiagnostic, ConfigResult } from '../core/config/diagnostics.js';
import { fileRef } from '../core/config/diagnostics.js';
import { STACD_SCHEMA, STAFD_SCHEMA, SYS_SCHEMA } from '../core/config/schema.js';
import {
  parseStacdConfig,
  parseStafdConfig,
  type StacdConfig,
  type StafdConfig,
} from '../core/config/service-config.js';
import { parseSysConfig, type SysConfig } from '../core/config/sys-config.js';

/** A pure parser: text and the path to name in diagnostics → result. */
export type ConfigParser<T> = (text: string, file: string) => ConfigResult<T>;

function errorCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e
    ? String((e as { code: unknown }).code)
    : undefined;
}

/** Defaults (parsing empty text) plus a note: info for a missing file, error for any other read failure. */
function unreadable<T>(path: string, parse: ConfigParser<T>, e: unknown): ConfigResult<T> {
  const defaults = parse('', path);
  const missing = errorCode(e) === 'ENOENT';
  const note: ConfigDiagnostic = missing
    ? { level: 'info', file: path, message: `${fileRef(path)} not found. Defaults will be used` }
    : {
        level: 'error',
        file: path,
        message: `${fileRef(path)} cannot be read (${e instanceof Error ? e.message : String(e)}). Defaults will be used`,
      };
  return {
    config: defaults.config,
    diagnostics: [note, ...defaults.diagnostics],
    hasErrors: !missing || defaults.hasErrors,
  };
}

/** Reads and parses a configuration file. Never throws: a missing file gives the defaults, an unreadable one too (with an error). */
export async function loadConfigFile<T>(path: string, parse: ConfigParser<T>): Promise<ConfigResult<T>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    return unreadable(path, parse, e);
  }
  return parse(text, path);
}

/** Synchronous loadConfigFile, for start-up paths and CLIs. */
export function loadConfigFileSync<T>(path: string, parse: ConfigParser<T>): ConfigResult<T> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return unreadable(path, parse, e);
  }
  return parse(text, path);
}

export function loadStafdConfig(path: string = STAFD_SCHEMA.file): Promise<ConfigResult<StafdConfig>> {
  return loadConfigFile(path, parseStafdConfig);
}

export function loadStacdConfig(path: string = STACD_SCHEMA.file): Promise<ConfigResult<StacdConfig>> {
  return loadConfigFile(path, parseStacdConfig);
}

export function loadSysConfig(path: string = SYS_SCHEMA.file): Promise<ConfigResult<SysConfig>> {
  return loadConfigFile(path, parseSysConfig);
}

export function loadSysConfigSync(path: string = SYS_SCHEMA.file): ConfigResult<SysConfig> {
  return loadConfigFileSync(path, parseSysConfig);
}
