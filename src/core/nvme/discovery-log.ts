/** Discovery Log Page (LID 0x70): header and 1024-byte entries, decode and encode. Pure. */
import { ProtocolError } from './pdu.js';

/** TRTYPE and ADRFAM codes: the transport table (src/core/transport.ts). */
export { AdrFam, TrType } from '../transport.js';

export const DLP_HEADER_LENGTH = 1024;
export const DLP_ENTRY_LENGTH = 1024;

export const SubType = { referral: 1, nvme: 2, discovery: 3 } as const;
/** EFLAGS bits: duplicate returned information, explicit persistent connection support, not connected to CDC. */
export const EFlags = { DUPRETINFO: 0x1, EPCSD: 0x2, NCC: 0x4 } as const;

/**
 * The Discovery log page options word (Supported Log Pages, LID 0x70, bits 31:16 shifted down): extended entries,
 * port local entries only (PLEOS: the LSP PLEO bit is honoured), all NVM subsystem entries.
 */
export const DlpOptions = { EXTDLPES: 0x1, PLEOS: 0x2, ALLSUBES: 0x4 } as const;

export interface DiscoveryLogHeader {
  genctr: bigint;
  numrec: bigint;
  recfmt: number;
}

export interface DiscoveryLogEntry {
  trtype: number;
  adrfam: number;
  subtype: number;
  treq: number;
  portid: number;
  cntlid: number;
  asqsz: number;
  eflags: number;
  trsvcid: string;
  subnqn: string;
  traddr: string;
  /** Transport-specific address subtype, 256 raw bytes (TCP: byte 0 = SECTYPE). */
  tsas: Uint8Array;
}

export function parseDiscoveryLogHeader(b: Uint8Array): DiscoveryLogHeader {
  if (b.length < 18) throw new ProtocolError(`discovery log header needs 18 bytes, got ${b.length}`);
  const v = Buffer.from(b.buffer, b.byteOffset, b.length);
  return { genctr: v.readBigUInt64LE(0), numrec: v.readBigUInt64LE(8), recfmt: v.readUInt16LE(16) };
}

/** Fixed-size ASCII field: up to the first NUL, trailing blanks and padding removed. */
export function readFixedString(b: Buffer, offset: number, size: number): string {
  const field = b.subarray(offset, offset + size);
  const nul = field.indexOf(0);
  const raw = (nul >= 0 ? field.subarray(0, nul) : field).toString('latin1');
  return raw.trim();
}

/**
 * The all-zero TSAS (no transport-specific address subtype, the usual case), shared by every entry that has it so
 * that a 65,536-entry log does not hold 65,536 zero buffers. Never written to.
 */
export const ZERO_TSAS: Uint8Array = new Uint8Array(256);

/** Entry bytes 768..1023: the shared ZERO_TSAS when all zero, else a copy. */
function tsasOf(v: Uint8Array): Uint8Array {
  for (let i = 768; i < 1024; i++) if (v[i] !== 0) return new Uint8Array(v.subarray(768, 1024));
  return ZERO_TSAS;
}

/** One string per distinct value (the same traddr/trsvcid repeated across a log's entries is kept once). */
function interned(pool: Map<string, string> | undefined, s: string): string {
  if (!pool) return s;
  const had = pool.get(s);
  if (had !== undefined) return had;
  pool.set(s, s);
  return s;
}

export function parseDiscoveryLogEntry(b: Uint8Array, pool?: Map<string, string>): DiscoveryLogEntry {
  if (b.length < DLP_ENTRY_LENGTH)
    throw new ProtocolError(`discovery log entry needs ${DLP_ENTRY_LENGTH} bytes, got ${b.length}`);
  const v = Buffer.from(b.buffer, b.byteOffset, DLP_ENTRY_LENGTH);
  return {
    trtype: v[0]!,
    adrfam: v[1]!,
    subtype: v[2]!,
    treq: v[3]!,
    portid: v.readUInt16LE(4),
    cntlid: v.readUInt16LE(6),
    asqsz: v.readUInt16LE(8),
    eflags: v.readUInt16LE(10),
    trsvcid: interned(pool, readFixedString(v, 32, 32)),
    subnqn: readFixedString(v, 256, 256),
    traddr: interned(pool, readFixedString(v, 512, 256)),
    tsas: tsasOf(v),
  };
}

/** Parses `count` entries from a buffer holding whole entries (e.g. one chunk of a log page read). */
export function parseDiscoveryLogEntries(b: Uint8Array, count: number): DiscoveryLogEntry[] {
  if (b.length < count * DLP_ENTRY_LENGTH) {
    throw new ProtocolError(
      `${count} discovery log entries need ${count * DLP_ENTRY_LENGTH} bytes, got ${b.length}`,
    );
  }
  const out: DiscoveryLogEntry[] = [];
  const pool = new Map<string, string>();
  for (let i = 0; i < count; i++)
    out.push(parseDiscoveryLogEntry(b.subarray(i * DLP_ENTRY_LENGTH, (i + 1) * DLP_ENTRY_LENGTH), pool));
  return out;
}

function writeField(b: Buffer, text: string, offset: number, size: number, pad: number): void {
  b.fill(pad, offset, offset + size);
  const bytes = Buffer.from(text, 'latin1');
  bytes.copy(b, offset, 0, Math.min(bytes.length, size));
}

/**
 * Encodes a header and entries (the inverse of the parsers). Strings are space-padded as targets do for
 * trsvcid/traddr, NUL-padded for subnqn.
 */
export function encodeDiscoveryLog(h: DiscoveryLogHeader, entries: readonly DiscoveryLogEntry[]): Buffer {
  const b = Buffer.alloc(DLP_HEADER_LENGTH + entries.length * DLP_ENTRY_LENGTH);
  b.writeBigUInt64LE(h.genctr, 0);
  b.writeBigUInt64LE(h.numrec, 8);
  b.writeUInt16LE(h.recfmt, 16);
  entries.forEach((e, i) => {
    const o = DLP_HEADER_LENGTH + i * DLP_ENTRY_LENGTH;
    b.writeUInt8(e.trtype, o);
    b.writeUInt8(e.adrfam, o + 1);
    b.writeUInt8(e.subtype, o + 2);
    b.writeUInt8(e.treq, o + 3);
    b.writeUInt16LE(e.portid, o + 4);
    b.writeUInt16LE(e.cntlid, o + 6);
    b.writeUInt16LE(e.asqsz, o + 8);
    b.writeUInt16LE(e.eflags, o + 10);
    writeField(b, e.trsvcid, o + 32, 32, 0x20);
    writeField(b, e.subnqn, o + 256, 256, 0);
    writeField(b, e.traddr, o + 512, 256, 0x20);
    b.set(e.tsas.subarray(0, 256), o + 768);
  });
  return b;
}
