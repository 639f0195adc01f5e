/**
 * The consistent Discovery Log Page read: header, entries in chunks, header again; start over while GENCTR
 * changes (bounded). Transport-independent: the caller supplies the Get Log Page operation (userspace NVMe/TCP
 * session or kernel passthrough ioctl).
 */
import { DiscoveryLsp, LogPage } from './commands.js';
import {
  type DiscoveryLogEntry,
  type DiscoveryLogHeader,
  DLP_ENTRY_LENGTH,
  DLP_HEADER_LENGTH,
  parseDiscoveryLogEntries,
  parseDiscoveryLogHeader,
} from './discovery-log.js';
import { ProtocolError } from './pdu.js';

export interface LogPageRead {
  /** Byte offset into the log page (multiple of 4). */
  offset: number;
  /** Bytes to read (multiple of 4). */
  length: number;
  /** Log specific parameter (PLEO etc.). */
  lsp: number;
  /** Retain Asynchronous Event: keep the AEN latched until the last read of the sequence. */
  rae: boolean;
}

/**
 * One Get Log Page transfer. Resolves with the bytes the controller transferred: `read.length` bytes, or fewer
 * when the transport knows the transfer was short (NVMe/TCP). A transport that cannot know (the kernel's
 * passthrough) returns `read.length` bytes, zero-filled past what the controller sent.
 */
export type GetLogPage = (read: LogPageRead) => Promise<Uint8Array>;

export interface DiscoveryLogReadOptions {
  /** Largest single transfer (bounded by the controller's MDTS). Rounded down to whole entries. */
  maxTransferBytes?: number;
  /** Attempts when GENCTR changes during the read (libnvme uses 6). */
  maxAttempts?: number;
  /** Ask for Port Local Entries Only (only when the controller supports it). */
  pleo?: boolean;
  /** Refuse logs with more entries than this (memory bound). */
  maxEntries?: number;
}

export interface DiscoveryLog {
  genctr: bigint;
  recfmt: number;
  entries: DiscoveryLogEntry[];
  /** Read attempts it took (1 when nothing changed meanwhile). */
  attempts: number;
}

export class DiscoveryLogChangingError extends Error {
  constructor(attempts: number) {
    super(`discovery log page kept changing (GENCTR moved during ${attempts} consecutive reads)`);
    this.name = 'DiscoveryLogChangingError';
  }
}

export class DiscoveryLogTooLargeError extends Error {
  constructor(numrec: bigint, max: number) {
    super(`discovery log page has ${numrec} entries, more than the limit of ${max}`);
    this.name = 'DiscoveryLogTooLargeError';
  }
}

/** The header's NUMREC promised more entries than the controller returned: a protocol error. */
export class DiscoveryLogNumrecError extends ProtocolError {
  constructor(
    readonly numrec: bigint,
    /** Entries actually returned (up to the first missing or zero-filled one). */
    readonly returned: number,
  ) {
    super(`discovery log header says ${numrec} entries but the controller returned ${returned}`);
    this.name = 'DiscoveryLogNumrecError';
  }
}

/** Default bound of one transfer (bytes). */
const DEFAULT_MAX_TRANSFER = 256 * 1024;

/** A record with every byte zero: what a zero-filled transfer past the end of the log looks like. */
function isZeroEntry(b: Uint8Array, at: number): boolean {
  for (let i = at; i < at + DLP_ENTRY_LENGTH; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * Whole entries a chunk really holds: it ends early on a short transfer, or at the first all-zero record (no
 * entry is all zero: TRTYPE and SUBTYPE 0 are reserved).
 */
function entriesPresent(data: Uint8Array, wanted: number): number {
  const whole = Math.min(wanted, Math.floor(data.length / DLP_ENTRY_LENGTH));
  for (let i = 0; i < whole; i++) if (isZeroEntry(data, i * DLP_ENTRY_LENGTH)) return i;
  return whole;
}

export async function readDiscoveryLog(
  getLogPage: GetLogPage,
  opts: DiscoveryLogReadOptions = {},
): Promise<DiscoveryLog> {
  const maxAttempts = opts.maxAttempts ?? 6;
  const maxEntries = opts.maxEntries ?? 65536;
  // Whole entries per transfer; the header (one entry's size) is the smallest transfer there is.
  const chunkEntries = Math.max(
    1,
    Math.floor((opts.maxTransferBytes ?? DEFAULT_MAX_TRANSFER) / DLP_ENTRY_LENGTH),
  );
  const lsp = opts.pleo ? DiscoveryLsp.PLEO : 0;
  const header = async (rae: boolean): Promise<DiscoveryLogHeader> =>
    parseDiscoveryLogHeader(await getLogPage({ offset: 0, length: DLP_HEADER_LENGTH, lsp, rae }));

  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const first = await header(true);
    if (first.numrec > BigInt(maxEntries)) throw new DiscoveryLogTooLargeError(first.numrec, maxEntries);
    const numrec = Number(first.numrec);
    const entries: DiscoveryLogEntry[] = [];
    let short = false;
    for (let i = 0; i < numrec; i += chunkEntries) {
      const n = Math.min(chunkEntries, numrec - i);
      const data = await getLogPage({
        offset: DLP_HEADER_LENGTH + i * DLP_ENTRY_LENGTH,
        length: n * DLP_ENTRY_LENGTH,
        lsp,
        rae: true,
      });
      const present = entriesPresent(data, n);
      entries.push(...parseDiscoveryLogEntries(data, present));
      if (present < n) {
        // The rest would be as empty: stop here.
        short = true;
        break;
      }
    }
    // The last read clears RAE so the controller may send the next change notice.
    const last = await header(false);
    const same = last.genctr === first.genctr && last.numrec === first.numrec;
    // A log that shrank while it was read is a change (read again); the same log being short is a lie.
    if (same && short) throw new DiscoveryLogNumrecError(first.numrec, entries.length);
    if (same) return { genctr: first.genctr, recfmt: first.recfmt, entries, attempts: attempt };
  }
  throw new DiscoveryLogChangingError(maxAttempts);
}

/** A Get Log Page of any log (LID) — what a session offers; readDiscoveryLog needs it bound to LID 0x70. */
export type GetAnyLogPage = (lid: number, read: LogPageRead) => Promise<Uint8Array>;

/** The DLP options word (EXTDLPES/PLEOS/ALLSUBES) of LID 0x70, from the Supported Log Pages log (LID 0). */
export async function discoveryLogOptions(getLogPage: GetAnyLogPage): Promise<number> {
  const data = await getLogPage(LogPage.SupportedLogPages, { offset: 0, length: 1024, lsp: 0, rae: true });
  const at = LogPage.Discovery * 4;
  // A transfer that stopped short of the word leaves it zero (no options), as a zero-filled one would.
  if (data.length < at + 4) return 0;
  return Buffer.from(data.buffer, data.byteOffset, data.length).readUInt32LE(at) >>> 16;
}

/** The whole discovery log, read consistently, with transfers bounded by the controller's MDTS (0: no limit). */
export function readDiscoveryLogOf(
  getLogPage: GetAnyLogPage,
  mdts: number,
  opts: DiscoveryLogReadOptions = {},
): Promise<DiscoveryLog> {
  const bound = mdts > 0 ? Math.min(4096 * 2 ** mdts, DEFAULT_MAX_TRANSFER) : DEFAULT_MAX_TRANSFER;
  // A caller may ask for smaller transfers, never for larger ones than the controller takes.
  const maxTransferBytes = Math.min(bound, opts.maxTransferBytes ?? bound);
  return readDiscoveryLog((r) => getLogPage(LogPage.Discovery, r), { ...opts, maxTransferBytes });
}
