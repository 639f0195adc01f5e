/**
 * Host identity (host NQN, host ID, DH-HMAC-CHAP host key, symbolic name) resolved from sys.conf values, with
 * `file://` indirection. Pure: file reads go through the reader passed in.
 */
import type { SysConfig } from './config/sys-config.js';
import { NQN_MAX_BYTES } from './kernel-options.js';

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

function describeError(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Resolves the identity. Missing/unreadable NQN or ID, an NQN without the `nqn.` prefix or longer than 223 bytes
 * are fatal (HostIdentityError, message as nvme-stas prints it). A missing key is fine; an unreadable symname
 * file produces a warning.
 */
export function resolveHostIdentity(
  values: HostConfigValues,
  read: TextReader,
  warn: (message: string) => void = () => {},
): HostIdentity {
  let hostNqn: string | undefined;
  try {
    hostNqn = resolveValue(values.nqn, read);
  } catch (e) {
    throw new HostIdentityError(`Error reading mandatory Host NQN (see stasadm --help): ${describeError(e)}`);
  }
  if (!hostNqn)
    throw new HostIdentityError('Error reading mandatory Host NQN (see stasadm --help): empty value');
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
    throw new HostIdentityError(`Error reading mandatory Host ID (see stasadm --help): ${describeError(e)}`);
  }
  if (!hostId)
    throw new HostIdentityError('Error reading mandatory Host ID (see stasadm --help): empty value');

  const identity: HostIdentity = { hostNqn, hostId };
  if (values.key !== undefined) {
    try {
      const key = resolveValue(values.key, read);
      if (key) identity.hostKey = key;
    } catch {
      // No host key: DH-HMAC-CHAP is optional.
    }
  }
  if (values.symname !== undefined) {
    try {
      const symname = resolveValue(values.symname, read, true);
      if (symname) identity.symname = symname;
    } catch (e) {
      warn(`Error reading host symbolic name (will remain undefined): ${describeError(e)}`);
    }
  }
  return identity;
}
