/**
 * TP8010 Discovery Information Management payload: one extended Discovery Information Entry describing this
 * host (host NQN, host ID and symbolic name as extended attributes), encode and decode. Pure.
 */
import { readFixedString } from './discovery-log.js';
import { ProtocolError } from './pdu.js';

export const DIM_HEADER_LENGTH = 1024;
export const EXT_DIE_FIXED_LENGTH = 1032;
export const DimEntryFormat = { basic: 0x01, extended: 0x02 } as const;
export const DimEntityType = { host: 0x01, ddc: 0x02, cdc: 0x03 } as const;
export const ExtAttrType = { hostId: 0x01, symname: 0x02 } as const;
/** Entry key type nvme-stas/libnvme put in host registrations. */
export const DIM_EKTYPE_HOST = 0x5f;

export interface DimHostRegistration {
  hostNqn: string;
  /** 16-byte host identifier (UUID). */
  hostId: Uint8Array;
  symname?: string | undefined;
  /** Entity name (the host name). */
  ename: string;
  /** Entity version (operating system and version). */
  ever: string;
  /** Transport type and address family of the connection to the CDC. */
  trtype: number;
  adrfam: number;
}

function putString(b: Buffer, s: string, offset: number, size: number): void {
  const bytes = Buffer.from(s, 'latin1');
  bytes.copy(b, offset, 0, Math.min(size, bytes.length));
}

export function encodeDimRegistration(r: DimHostRegistration): Buffer {
  if (r.hostId.length !== 16) throw new RangeError('host ID must be 16 bytes');
  const attrs: Buffer[] = [];
  const attr = (type: number, value: Buffer) => {
    const padded = Math.ceil(value.length / 4) * 4;
    const a = Buffer.alloc(4 + padded, 0x20);
    a.writeUInt16LE(type, 0);
    a.writeUInt16LE(padded, 2);
    value.copy(a, 4);
    if (type === ExtAttrType.hostId) a.fill(0, 4 + value.length);
    attrs.push(a);
  };
  attr(ExtAttrType.hostId, Buffer.from(r.hostId));
  if (r.symname) attr(ExtAttrType.symname, Buffer.from(r.symname, 'latin1'));
  const tel = EXT_DIE_FIXED_LENGTH + attrs.reduce((n, a) => n + a.length, 0);
  const b = Buffer.alloc(DIM_HEADER_LENGTH + tel);
  b.writeUInt32LE(b.length, 0); // TDL
  b.writeBigUInt64LE(1n, 8); // NUMENT
  b.writeUInt16LE(DimEntryFormat.extended, 16);
  b.writeUInt16LE(DimEntityType.host, 18);
  b.writeUInt8(0, 20); // PORTLCL
  b.writeUInt16LE(DIM_EKTYPE_HOST, 22);
  putString(b, r.hostNqn, 24, 256);
  putString(b, r.ename, 280, 256);
  putString(b, r.ever, 536, 64);
  const d = DIM_HEADER_LENGTH;
  b.writeUInt8(r.trtype, d);
  b.writeUInt8(r.adrfam, d + 1);
  putString(b, r.hostNqn, d + 256, 256); // NQN; TRADDR (d + 512) stays empty: the CDC uses the source address
  b.writeUInt32LE(tel, d + 1024);
  b.writeUInt16LE(attrs.length, d + 1028);
  let o = d + EXT_DIE_FIXED_LENGTH;
  for (const a of attrs) {
    a.copy(b, o);
    o += a.length;
  }
  return b;
}

export interface DecodedDim {
  entfmt: number;
  etype: number;
  eid: string;
  ename: string;
  ever: string;
  entries: {
    trtype: number;
    adrfam: number;
    nqn: string;
    traddr: string;
    hostId?: Uint8Array;
    symname?: string;
  }[];
}

/** Decodes a DIM payload (used by the test target to record what a host registered). */
export function decodeDim(b: Uint8Array): DecodedDim {
  const v = Buffer.from(b.buffer, b.byteOffset, b.length);
  if (v.length < DIM_HEADER_LENGTH) throw new ProtocolError('DIM payload shorter than its header');
  const tdl = v.readUInt32LE(0);
  if (tdl > v.length) throw new ProtocolError(`DIM TDL ${tdl} exceeds the ${v.length} bytes received`);
  const nument = v.readBigUInt64LE(8);
  const out: DecodedDim = {
    entfmt: v.readUInt16LE(16),
    etype: v.readUInt16LE(18),
    eid: readFixedString(v, 24, 256),
    ename: readFixedString(v, 280, 256),
    ever: readFixedString(v, 536, 64),
    entries: [],
  };
  if (out.entfmt !== DimEntryFormat.extended) return out;
  let o = DIM_HEADER_LENGTH;
  for (let i = 0n; i < nument; i++) {
    if (o + EXT_DIE_FIXED_LENGTH > tdl) throw new ProtocolError('DIM entry extends past TDL');
    const tel = v.readUInt32LE(o + 1024);
    if (tel < EXT_DIE_FIXED_LENGTH || o + tel > tdl) throw new ProtocolError(`DIM entry TEL ${tel} invalid`);
    const entry: DecodedDim['entries'][number] = {
      trtype: v[o]!,
      adrfam: v[o + 1]!,
      nqn: readFixedString(v, o + 256, 256),
      traddr: readFixedString(v, o + 512, 256),
    };
    const numexat = v.readUInt16LE(o + 1028);
    let a = o + EXT_DIE_FIXED_LENGTH;
    for (let k = 0; k < numexat; k++) {
      if (a + 4 > o + tel) throw new ProtocolError('DIM extended attribute past its entry');
      const type = v.readUInt16LE(a);
      const len = v.readUInt16LE(a + 2);
      if (a + 4 + len > o + tel) throw new ProtocolError('DIM extended attribute length past its entry');
      const val = v.subarray(a + 4, a + 4 + len);
      if (type === ExtAttrType.hostId) entry.hostId = new Uint8Array(val.subarray(0, 16));
      else if (type === ExtAttrType.symname) entry.symname = readFixedString(val, 0, val.length);
      a += 4 + len;
    }
    out.entries.push(entry);
    o += tel;
  }
  return out;
}
