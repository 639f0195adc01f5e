/**
 * Host identity (host NQN, host ID, DH-HMAC-CHAP host key, symbolic name) resolved from sys.conf values, with
 * `file://` indirection. Pure: file reads go through the reader passed in.
 */
import { SYS_SCHEMA } from './config/schema.js';
import type { SysConfig } from './config/sys-config.js';
import { NQN_MAX_BYTES } from './kernel-options.js';
import { errorText } from './log.js';

/** sys.conf [Host] values as written (defaults applied), before `file://` resolution. */
export type HostConfigValues = SysConfig;

export interface HostIdentity {
  hostNqn: string;
  hostId: string;
  /** Host DH-HMAC-CHAP secret. A secret: never log it. */
  hostKey?: string;
  symname?: string;
}

/** Reads a whole file as text; throws an Error (with the OS message) when it cannot. */
export type TextReader = (path: string) => string;

export class HostIdentityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostIdentityError';
  }
}

const FILE_PREFIX = 'file://';

/**
 * A literal value, or the content of the file a `file://` value names: for NQN, ID and key the first
 * white-space-separated token of the first line (as nvme-stas), for the symbolic name the whole first line
 * trimmed (names may contain blanks). An empty result is undefined.
 */
export function resolveValue(value: string, read: TextReader, wholeLine = false): string | undefined {
  if (!value.startsWith(FILE_PREFIX)) return value.trim() || undefined;
  const text = read(value.slice(FILE_PREFIX.length));
  const first = (text.split('\n')[0] ?? '').trim();
  const result = wholeLine ? first : (first.split(/\s+/)[0] ?? '');
  return result || undefined;
}

function isNotFound(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'ENOENT';
}

/** Where a value comes from, for messages: the file a `file://` value names, or the sys.conf option. */
function sourceOf(value: string, sysConf: string, option: string): string {
  return value.startsWith(FILE_PREFIX) ? value.slice(FILE_PREFIX.length) : `${sysConf} [Host] ${option}`;
}

/**
 * Refuses a value holding a character it must not: a control character (C0, DEL, C1; NUL among them) in any
 * value, and for identifiers (host NQN and ID) anything but printable ASCII. Such a value cannot be sent to a
 * controller or the kernel, nor be carried on D-Bus. The message names the field and where the value comes from
 * and the offending character, never the value (the host key is a secret).
 */
function checkCharacters(field: string, value: string, source: string, identifier: boolean): void {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    const control = c < 0x20 || (c >= 0x7f && c <= 0x9f);
    if (control || (identifier && c > 0x7e)) {
      const what = control ? 'a control character' : 'a non-ASCII character';
      const code = `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
      throw new HostIdentityError(`Error ${field} (${source}) contains ${what} (${code}) at offset ${i}`);
    }
  }
}

/**
 * Resolves the identity. Missing/unreadable NQN or ID, an NQN without the `nqn.` prefix or longer than 223 bytes
 * are fatal (HostIdentityError, message as nvme-stas prints it), and so is a value with a control character, or
 * an NQN or ID with anything but printable ASCII (see checkCharacters). A missing key is fine (a key file that
 * exists but cannot be read produces a warning); an unreadable symname file produces a warning. `sysConf` names
 * sys.conf in messages about its literal values.
 */
export function resolveHostIdentity(
  values: HostConfigValues,
  read: TextReader,
  warn: (message: string) => void = () => {},
  sysConf: string = SYS_SCHEMA.file,
): HostIdentity {
  let hostNqn: string | undefined;
  try {
    hostNqn = resolveValue(values.nqn, read);
  } catch (e) {
    throw new HostIdentityError(`Error reading mandatory Host NQN (see stasadm --help): ${errorText(e)}`);
  }
  if (!hostNqn)
    throw new HostIdentityError('Error reading mandatory Host NQN (see stasadm --help): empty value');
  checkCharacters('Host NQN', hostNqn, sourceOf(values.nqn, sysConf, 'nqn'), true);
  if (!hostNqn.startsWith('nqn.'))
    throw new HostIdentityError(`Error Host NQN "${hostNqn}" should start with "nqn."`);
  const len = Buffer.byteLength(hostNqn);
  if (len > NQN_MAX_BYTES) {
    throw new HostIdentityError(
      `Error Host NQN is too long (${len} chars, max ${NQN_MAX_BYTES} per NVMe spec)`,
    );
  }

  let hostId: string | undefined;
  try {
    hostId = resolveValue(values.id, read);
  } catch (e) {
    throw new HostIdentityError(`Error reading mandatory Host ID (see stasadm --help): ${errorText(e)}`);
  }
  if (!hostId)
    throw new HostIdentityError('Error reading mandatory Host ID (see stasadm --help): empty value');
  checkCharacters('Host ID', hostId, sourceOf(values.id, sysConf, 'id'), true);

  const identity: HostIdentity = { hostNqn, hostId };
  if (values.key !== undefined) {
    let key: string | undefined;
    try {
      key = resolveValue(values.key, read);
    } catch (e) {
      // No host key: DH-HMAC-CHAP is optional. (The OS error names the file, never its content.)
      if (!isNotFound(e)) warn(`Error reading host key (will remain undefined): ${errorText(e)}`);
    }
    if (key) {
      checkCharacters('host key', key, sourceOf(values.key, sysConf, 'key'), false);
      identity.hostKey = key;
    }
  }
  if (values.symname !== undefined) {
    let symname: string | undefined;
    try {
      symname = resolveValue(values.symname, read, true);
    } catch (e) {
      warn(`Error reading host symbolic name (will remain undefined): ${errorText(e)}`);
    }
    if (symname) {
      checkCharacters('host symbolic name', symname, sourceOf(values.symname, sysConf, 'symname'), false);
      identity.symname = symname;
    }
  }
  return identity;
}
