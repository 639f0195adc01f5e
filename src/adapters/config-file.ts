// Reads stafd.conf / stacd.conf / sys.conf from disk and hands the text to the pure parsers of src/core/config.
import { closeSync, constants, fstatSync, openSync, readFileSync, type Stats, statSync } from 'node:fs';
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
import { errorText } from '../core/log.js';
import { close, fstat, open, readFile, stat } from './fs-async.js';

/** A path that names something other than a regular file (a FIFO, a device, a directory...): never read. */
export class NotRegularFileError extends Error {
  readonly code = 'ENOTREG';
  constructor(
    readonly path: string,
    readonly kind: string,
  ) {
    super(`${path} is not a regular file (${kind})`);
    this.name = 'NotRegularFileError';
  }
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'directory';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  if (st.isSocket()) return 'socket';
  return 'not a file';
}

function mustBeRegular(path: string, st: Stats): void {
  if (!st.isFile()) throw new NotRegularFileError(path, kindOf(st));
}

// Reading a configuration or identity file must never wait for a writer: a FIFO put in its place would block
// (for the synchronous read, the whole event loop, SIGTERM included). So the path is checked with stat() (which
// does not open it: opening some devices has side effects), opened with O_NONBLOCK (opening a FIFO waits for a
// writer otherwise), and checked again on the open descriptor (the path may have changed in between); only a
// regular file is read. Not covered: a regular file on a hung mount (NFS, FUSE), where stat() and read() wait
// for the server; the asynchronous reader then ties up a thread-pool thread but not the event loop.
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/** The text of a regular file; throws NotRegularFileError for anything else, or the OS error. Never blocks on a FIFO. */
export function readRegularFileSync(path: string): string {
  mustBeRegular(path, statSync(path));
  const fd = openSync(path, OPEN_FLAGS);
  try {
    mustBeRegular(path, fstatSync(fd));
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** readRegularFileSync without blocking the event loop. */
export async function readRegularFile(path: string): Promise<string> {
  mustBeRegular(path, await stat(path));
  const fd = await open(path, OPEN_FLAGS);
  try {
    mustBeRegular(path, await fstat(fd));
    return await readFile(fd, 'utf8');
  } finally {
    await close(fd);
  }
}

/** A pure parser: text and the path to name in diagnostics → result. */
export type ConfigParser<T> = (text: string, file: string) => ConfigResult<T>;

function errorCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e
    ? String((e as { code: unknown }).code)
    : undefined;
}

/**
 * Defaults (parsing empty text) plus a note: info for a missing file, error for any other read failure (among
 * them a path that is not a regular file).
 */
function unreadable<T>(path: string, parse: ConfigParser<T>, e: unknown): ConfigResult<T> {
  const defaults = parse('', path);
  const missing = errorCode(e) === 'ENOENT';
  const note: ConfigDiagnostic = missing
    ? { level: 'info', file: path, message: `${fileRef(path)} not found. Defaults will be used` }
    : {
        level: 'error',
        file: path,
        message:
          e instanceof NotRegularFileError
            ? `${fileRef(path)} is not a regular file (${e.kind}). Defaults will be used`
            : `${fileRef(path)} cannot be read (${errorText(e)}). Defaults will be used`,
      };
  return {
    config: defaults.config,
    diagnostics: [note, ...defaults.diagnostics],
    hasErrors: !missing || defaults.hasErrors,
  };
}

/**
 * Reads and parses a configuration file without blocking the event loop. Never throws: a missing file gives the
 * defaults, an unreadable one or one that is not a regular file too (with an error).
 */
export async function loadConfigFile<T>(path: string, parse: ConfigParser<T>): Promise<ConfigResult<T>> {
  let text: string;
  try {
    text = await readRegularFile(path);
  } catch (e) {
    return unreadable(path, parse, e);
  }
  return parse(text, path);
}

/** Synchronous loadConfigFile, for start-up paths and CLIs (never blocks on a FIFO; see readRegularFileSync). */
export function loadConfigFileSync<T>(path: string, parse: ConfigParser<T>): ConfigResult<T> {
  let text: string;
  try {
    text = readRegularFileSync(path);
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
