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

export async function readDiscoveryLog(
  getLogPage: GetLogPage,
  opts: DiscoveryLogReadOptions = {},
): Promise<DiscoveryLog> {
  const maxAttempts = opts.maxAttempts ?? 6;
  const maxEntries = opts.maxEntries ?? 65536;
  const chunkEntries = Math.max(1, Math.floor((opts.maxTransferBytes ?? 256 * 1024) / DLP_ENTRY_LENGTH));
  const lsp = opts.pleo ? DiscoveryLsp.PLEO : 0;

  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const first: DiscoveryLogHeader = parseDiscoveryLogHeader(
      await getLogPage({ offset: 0, length: DLP_HEADER_LENGTH, lsp, rae: true }),
    );
    if (first.numrec > BigInt(maxEntries)) throw new DiscoveryLogTooLargeError(first.numrec, maxEntries);
    const numrec = Number(first.numrec);
    const entries: DiscoveryLogEntry[] = [];
    for (let i = 0; i < numrec; i += chunkEntries) {
      const n = Math.min(chunkEntries, numrec - i);
      const data = await getLogPage({
        offset: DLP_HEADER_LENGTH + i * DLP_ENTRY_LENGTH,
        length: n * DLP_ENTRY_LENGTH,
        lsp,
        rae: true,
      });
      entries.push(...parseDiscoveryLogEntries(data, n));
    }
    // The last read clears RAE so the controller may send the next change notice.
    const last = parseDiscoveryLogHeader(
      await getLogPage({ offset: 0, length: DLP_HEADER_LENGTH, lsp, rae: false }),
    );
    if (last.genctr === first.genctr && last.numrec === first.numrec) {
      return { genctr: first.genctr, recfmt: first.recfmt, entries, attempts: attempt };
    }
  }
  throw new DiscoveryLogChangingError(maxAttempts);
}

/** A Get Log Page of any log (LID) — what a session offers; readDiscoveryLog needs it bound to LID 0x70. */
export type GetAnyLogPage = (lid: number, read: LogPageRead) => Promise<Uint8Array>;

/** The DLP options word (EXTDLPES/PLEOS/ALLSUBES) of LID 0x70, from the Supported Log Pages log (LID 0). */
export async function discoveryLogOptions(getLogPage: GetAnyLogPage): Promise<number> {
  const data = await getLogPage(LogPage.SupportedLogPages, { offset: 0, length: 1024, lsp: 0, rae: true });
  return Buffer.from(data.buffer, data.byteOffset, data.length).readUInt32LE(LogPage.Discovery * 4) >>> 16;
}

/** The whole discovery log, read consistently, with transfers bounded by the controller's MDTS (0: no limit). */
export function readDiscoveryLogOf(
  getLogPage: GetAnyLogPage,
  mdts: number,
  opts: DiscoveryLogReadOptions = {},
): Promise<DiscoveryLog> {
  const maxTransferBytes = mdts > 0 ? Math.min(4096 * 2 ** mdts, 256 * 1024) : 256 * 1024;
  return readDiscoveryLog((r) => getLogPage(LogPage.Discovery, r), { maxTransferBytes, ...opts });
}
