/** Identify Controller data (CNS 1): the fields a discovery host uses. Pure. */

import { IDENTIFY_DATA_LENGTH } from './commands.js';
import { readFixedString } from './discovery-log.js';
import { ProtocolError } from './pdu.js';

export const CntrlType = { reserved: 0, io: 1, discovery: 2, admin: 3 } as const;
export const DcType = { notReported: 0, ddc: 1, cdc: 2 } as const;
/** OAES bit: Discovery Log Page Change notices supported. */
export const OAES_DISCOVERY_LOG_CHANGE = 0x80000000;

export interface IdentifyController {
  vid: number;
  serial: string;
  model: string;
  firmware: string;
  /** Maximum Data Transfer Size as a power of two of the minimum page size (0 = no limit). */
  mdts: number;
  cntlid: number;
  version: number;
  oaes: number;
  cntrltype: number;
  /** Keep Alive Support granularity in 100 ms units (0 = not supported). */
  kas: number;
  subnqn: string;
  dctype: number;
}

export function parseIdentifyController(b: Uint8Array): IdentifyController {
  if (b.length < IDENTIFY_DATA_LENGTH)
    throw new ProtocolError(`identify data needs ${IDENTIFY_DATA_LENGTH} bytes, got ${b.length}`);
  const v = Buffer.from(b.buffer, b.byteOffset, IDENTIFY_DATA_LENGTH);
  return {
    vid: v.readUInt16LE(0),
    serial: readFixedString(v, 4, 20),
    model: readFixedString(v, 24, 40),
    firmware: readFixedString(v, 64, 8),
    mdts: v[77]!,
    cntlid: v.readUInt16LE(78),
    version: v.readUInt32LE(80),
    oaes: v.readUInt32LE(92),
    cntrltype: v[111]!,
    kas: v.readUInt16LE(320),
    subnqn: readFixedString(v, 768, 256),
    dctype: v[1806]!,
  };
}

/** Builds identify data (for the test target and fixtures). */
export function encodeIdentifyController(c: Partial<IdentifyController>): Buffer {
  const b = Buffer.alloc(IDENTIFY_DATA_LENGTH);
  b.writeUInt16LE(c.vid ?? 0, 0);
  const str = (s: string | undefined, o: number, n: number) => {
    b.fill(0x20, o, o + n);
    Buffer.from(s ?? '', 'latin1').copy(b, o, 0, n);
  };
  str(c.serial, 4, 20);
  str(c.model, 24, 40);
  str(c.firmware, 64, 8);
  b.writeUInt8(c.mdts ?? 0, 77);
  b.writeUInt16LE(c.cntlid ?? 0, 78);
  b.writeUInt32LE(c.version ?? 0x10300, 80);
  b.writeUInt32LE((c.oaes ?? 0) >>> 0, 92);
  b.writeUInt8(c.cntrltype ?? 0, 111);
  b.writeUInt16LE(c.kas ?? 0, 320);
  Buffer.from(c.subnqn ?? '', 'latin1').copy(b, 768, 0, 256);
  b.writeUInt8(c.dctype ?? 0, 1806);
  return b;
}
