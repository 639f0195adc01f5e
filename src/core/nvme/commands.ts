/**
 * NVMe admin and Fabrics commands a discovery host sends (64-byte SQEs), and completion (CQE) decoding. Pure.
 * Field offsets: NVMe Base Specification 2.0 and NVMe over Fabrics 1.1 (Connect, Property Get/Set).
 */

export const Opcode = {
  GetLogPage: 0x02,
  Identify: 0x06,
  SetFeatures: 0x09,
  AsyncEventRequest: 0x0c,
  KeepAlive: 0x18,
  DiscoveryInfoMgmt: 0x21,
  Fabrics: 0x7f,
} as const;

export const FabricsType = { PropertySet: 0x00, Connect: 0x01, PropertyGet: 0x04 } as const;

/** Controller properties (register offsets). */
export const Property = { CAP: 0x00, VS: 0x08, CC: 0x14, CSTS: 0x1c } as const;

/** Controller Configuration bits a discovery host sets: EN with IOSQES=6 (64-byte SQEs) and IOCQES=4 (16-byte
 * CQEs), and SHN = normal shutdown. */
export const Cc = { ENABLE: 0x00460001, SHN_NORMAL: 0x4000 } as const;
/** Controller Status bits: RDY, CFS (fatal), and the SHST field (mask, shutdown complete). */
export const Csts = { RDY: 0x1, CFS: 0x2, SHST_MASK: 0xc, SHST_COMPLETE: 0x8 } as const;
/** CAP.TO (ready timeout) is in 500 ms units. */
export const CAP_TO_UNIT_MS = 500;

export const LogPage = { SupportedLogPages: 0x00, Discovery: 0x70 } as const;

/** Discovery Log Page LSP bits. */
export const DiscoveryLsp = { EXTDLPE: 0x1, PLEO: 0x2, ALLSUBE: 0x4 } as const;

export const Feature = { AsyncEventConfig: 0x0b } as const;
/** Async Event Configuration bit: Discovery Log Page Change notices. */
export const AEC_DISCOVERY_LOG_CHANGE = 0x80000000;

/** TP8010 Discovery Information Management task. */
export const DimTask = { Register: 0x0, Deregister: 0x1, Update: 0x2 } as const;

/** SGL descriptor identifiers used by NVMe/TCP. */
const SGL_IN_CAPSULE = 0x01; // Data Block, Offset: data in the capsule
const SGL_TRANSPORT = 0x5a; // Transport SGL Data Block: data in C2H/H2C data PDUs
/** CDW0 flags: PSDT = SGL (all fabrics commands use SGLs). */
const PSDT_SGL = 0x40;

export const IDENTIFY_DATA_LENGTH = 4096;
export const CONNECT_DATA_LENGTH = 1024;

export interface DataPointer {
  /** Bytes the command transfers. */
  length: number;
  /** true: data is in the capsule (host to controller); false: transferred in data PDUs. */
  inCapsule: boolean;
}

function sqe(opcode: number, cid: number, dptr?: DataPointer): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt8(opcode, 0);
  b.writeUInt8(PSDT_SGL, 1);
  b.writeUInt16LE(cid, 2);
  if (dptr && dptr.length > 0) {
    b.writeBigUInt64LE(0n, 24);
    b.writeUInt32LE(dptr.length, 32);
    b.writeUInt8(dptr.inCapsule ? SGL_IN_CAPSULE : SGL_TRANSPORT, 39);
  }
  return b;
}

/** Fabrics Connect for the admin queue (QID 0). KATO in milliseconds; SQSIZE is 0-based. */
export function connectCommand(cid: number, p: { sqsize: number; katoMs: number; cattr?: number }): Buffer {
  const b = sqe(Opcode.Fabrics, cid, { length: CONNECT_DATA_LENGTH, inCapsule: true });
  b.writeUInt8(FabricsType.Connect, 4);
  b.writeUInt16LE(0, 40); // RECFMT
  b.writeUInt16LE(0, 42); // QID
  b.writeUInt16LE(p.sqsize, 44);
  b.writeUInt8(p.cattr ?? 0, 46);
  b.writeUInt32LE(p.katoMs, 48);
  return b;
}

function writeAscii(buf: Buffer, text: string, offset: number, size: number): void {
  const bytes = Buffer.from(text, 'ascii');
  if (bytes.length > size) throw new RangeError(`"${text}" is longer than ${size} bytes`);
  bytes.copy(buf, offset);
}

/** The 1024-byte Connect data: host ID (16-byte UUID), controller ID (0xFFFF: dynamic), subsystem and host NQN. */
export function connectData(p: {
  hostId: Uint8Array;
  cntlid?: number;
  subsysnqn: string;
  hostnqn: string;
}): Buffer {
  const b = Buffer.alloc(CONNECT_DATA_LENGTH);
  if (p.hostId.length !== 16) throw new RangeError('host ID must be 16 bytes');
  b.set(p.hostId, 0);
  b.writeUInt16LE(p.cntlid ?? 0xffff, 16);
  writeAscii(b, p.subsysnqn, 256, 256);
  writeAscii(b, p.hostnqn, 512, 256);
  return b;
}

/** Property Get: size 8 for CAP, 4 otherwise. */
export function propertyGetCommand(cid: number, offset: number, size: 4 | 8): Buffer {
  const b = sqe(Opcode.Fabrics, cid);
  b.writeUInt8(FabricsType.PropertyGet, 4);
  b.writeUInt8(size === 8 ? 1 : 0, 40);
  b.writeUInt32LE(offset, 44);
  return b;
}

export function propertySetCommand(cid: number, offset: number, value: number): Buffer {
  const b = sqe(Opcode.Fabrics, cid);
  b.writeUInt8(FabricsType.PropertySet, 4);
  b.writeUInt8(0, 40);
  b.writeUInt32LE(offset, 44);
  b.writeBigUInt64LE(BigInt(value >>> 0), 48);
  return b;
}

/** Identify (CNS 1 = controller). */
export function identifyCommand(cid: number, cns = 1): Buffer {
  const b = sqe(Opcode.Identify, cid, { length: IDENTIFY_DATA_LENGTH, inCapsule: false });
  b.writeUInt32LE(cns, 40);
  return b;
}

/**
 * Get Log Page: `length` bytes (a multiple of 4) from byte `offset`. RAE keeps an asynchronous event
 * outstanding while a multi-part read is in progress.
 */
export function getLogPageCommand(
  cid: number,
  p: { lid: number; lsp?: number; length: number; offset?: number; rae?: boolean; nsid?: number },
): Buffer {
  if (p.length <= 0 || p.length % 4 !== 0)
    throw new RangeError('log page length must be a positive multiple of 4');
  if ((p.offset ?? 0) % 4 !== 0) throw new RangeError('log page offset must be a multiple of 4');
  const b = sqe(Opcode.GetLogPage, cid, { length: p.length, inCapsule: false });
  const numd = p.length / 4 - 1;
  b.writeUInt32LE(p.nsid ?? 0, 4);
  const cdw10 =
    (p.lid & 0xff) | (((p.lsp ?? 0) & 0x7f) << 8) | (p.rae ? 0x8000 : 0) | ((numd & 0xffff) << 16);
  b.writeUInt32LE(cdw10 >>> 0, 40);
  b.writeUInt32LE((numd >>> 16) & 0xffff, 44);
  const off = BigInt(p.offset ?? 0);
  b.writeUInt32LE(Number(off & 0xffffffffn), 48);
  b.writeUInt32LE(Number(off >> 32n), 52);
  return b;
}

export function keepAliveCommand(cid: number): Buffer {
  return sqe(Opcode.KeepAlive, cid);
}

export function asyncEventRequestCommand(cid: number): Buffer {
  return sqe(Opcode.AsyncEventRequest, cid);
}

export function setFeaturesCommand(cid: number, fid: number, cdw11: number): Buffer {
  const b = sqe(Opcode.SetFeatures, cid);
  b.writeUInt32LE(fid & 0xff, 40);
  b.writeUInt32LE(cdw11 >>> 0, 44);
  return b;
}

/** Discovery Information Management (TP8010) with its payload in the capsule. */
export function dimCommand(cid: number, task: number, payloadLength: number): Buffer {
  const b = sqe(Opcode.DiscoveryInfoMgmt, cid, { length: payloadLength, inCapsule: true });
  b.writeUInt32LE(task & 0xf, 40);
  return b;
}

/** Decoded fields of a submission queue entry (used by the test target and for diagnostics). */
export interface SqeFields {
  opcode: number;
  cid: number;
  nsid: number;
  fctype: number;
  sglLength: number;
  sglType: number;
  cdw: (i: number) => number;
}

export function parseSqe(b: Uint8Array): SqeFields {
  if (b.length !== 64) throw new RangeError('a submission queue entry is 64 bytes');
  const v = Buffer.from(b.buffer, b.byteOffset, 64);
  return {
    opcode: v[0]!,
    cid: v.readUInt16LE(2),
    nsid: v.readUInt32LE(4),
    fctype: v[4]!,
    sglLength: v.readUInt32LE(32),
    sglType: v[39]!,
    cdw: (i: number) => v.readUInt32LE(i * 4),
  };
}

/** Completion status (CQE DW3 bits 31:17). */
export interface NvmeStatus {
  /** Status Code. */
  sc: number;
  /** Status Code Type (0 generic, 1 command specific, 2 media, 3 path, 7 vendor). */
  sct: number;
  /** Command Retry Delay. */
  crd: number;
  more: boolean;
  /** Do Not Retry. */
  dnr: boolean;
}

export interface Completion {
  /** Command-specific DW0 (e.g. the AEN information, the property value, the Connect cntlid). */
  dw0: number;
  dw1: number;
  sqhd: number;
  sqid: number;
  cid: number;
  status: NvmeStatus;
  /** True when SCT and SC are 0. */
  ok: boolean;
}

export function parseCqe(b: Uint8Array): Completion {
  if (b.length !== 16) throw new RangeError('a completion queue entry is 16 bytes');
  const v = Buffer.from(b.buffer, b.byteOffset, 16);
  const raw = v.readUInt16LE(14) >>> 1;
  const status: NvmeStatus = {
    sc: raw & 0xff,
    sct: (raw >>> 8) & 0x7,
    crd: (raw >>> 11) & 0x3,
    more: ((raw >>> 13) & 1) === 1,
    dnr: ((raw >>> 14) & 1) === 1,
  };
  return {
    dw0: v.readUInt32LE(0),
    dw1: v.readUInt32LE(4),
    sqhd: v.readUInt16LE(8),
    sqid: v.readUInt16LE(10),
    cid: v.readUInt16LE(12),
    status,
    ok: status.sc === 0 && status.sct === 0,
  };
}

export function buildCqe(p: {
  cid: number;
  dw0?: number;
  dw1?: number;
  sqhd?: number;
  sqid?: number;
  status?: Partial<NvmeStatus>;
}): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE((p.dw0 ?? 0) >>> 0, 0);
  b.writeUInt32LE((p.dw1 ?? 0) >>> 0, 4);
  b.writeUInt16LE(p.sqhd ?? 0, 8);
  b.writeUInt16LE(p.sqid ?? 0, 10);
  b.writeUInt16LE(p.cid, 12);
  const s = p.status ?? {};
  const raw =
    ((s.sc ?? 0) & 0xff) |
    (((s.sct ?? 0) & 7) << 8) |
    (((s.crd ?? 0) & 3) << 11) |
    (s.more ? 1 << 13 : 0) |
    (s.dnr ? 1 << 14 : 0);
  b.writeUInt16LE((raw << 1) & 0xffff, 14);
  return b;
}

/** `SCT 0x1 / SC 0x82 (DNR)`-style text for errors and logs. */
export function describeStatus(s: NvmeStatus): string {
  return `SCT 0x${s.sct.toString(16)} / SC 0x${s.sc.toString(16).padStart(2, '0')}${s.dnr ? ' (DNR)' : ''}`;
}

/** AEN completion DW0: type (bits 2:0), information (15:8), log page (23:16). 0x70f002 = discovery log changed. */
export interface AsyncEvent {
  type: number;
  info: number;
  logPage: number;
}

export function parseAsyncEvent(dw0: number): AsyncEvent {
  return { type: dw0 & 0x7, info: (dw0 >>> 8) & 0xff, logPage: (dw0 >>> 16) & 0xff };
}

export function isDiscoveryLogChange(e: AsyncEvent): boolean {
  return e.type === 0x2 && e.info === 0xf0 && e.logPage === LogPage.Discovery;
}

/*
 * In-band authentication (NVMe over Fabrics 1.1 / Base 2.0 8.13.5): the Connect response's AUTHREQ bits and the
 * AUTH_Send / AUTH_Receive Fabrics commands that carry the DH-HMAC-CHAP messages (src/core/nvme/auth-messages.ts).
 * SQE layout as include/linux/nvme.h nvmf_auth_send_command: 41 SPSP0, 42 SPSP1, 43 SECP, 44-47 TL / AL.
 */

/** Fabrics command types of in-band authentication. */
export const FabricsAuthType = { AuthSend: 0x05, AuthReceive: 0x06 } as const;

/** SECP: the DH-HMAC-CHAP security protocol. SPSP0 and SPSP1 are both 01h for it. */
export const AUTH_SECP_DHCHAP = 0xe9;
const AUTH_SPSP = 0x01;

/** What the Linux host asks for with every AUTH_Receive (its CHAP buffer: room for ffdhe8192 values). */
export const AUTH_RECEIVE_LENGTH = 4096;

/** Connect response DW0 (admin queue) bits 31:16 AUTHREQ: ATR (bit 17), ASCR (bit 18). */
export const ConnectAuthReq = { ATR: 1 << 17, ASCR: 1 << 18 } as const;

/** Status of a command refused because the queue has not authenticated yet (SCT 1h / SC 91h). */
export const AUTH_REQUIRED_STATUS = { sct: 0x1, sc: 0x91 } as const;

/** The authentication the controller requires, from the Connect completion's DW0. */
export function connectAuthRequest(dw0: number): {
  /** Authentication Transaction Required. */
  atr: boolean;
  /** Authentication and Secure Channel Required (TLS concatenation). */
  ascr: boolean;
} {
  return { atr: (dw0 & ConnectAuthReq.ATR) !== 0, ascr: (dw0 & ConnectAuthReq.ASCR) !== 0 };
}

function authCommand(cid: number, type: number, length: number, inCapsule: boolean): Buffer {
  if (!Number.isInteger(length) || length <= 0 || length > 0xffffffff)
    throw new RangeError('an authentication transfer length is a positive 32-bit value');
  const b = sqe(Opcode.Fabrics, cid, { length, inCapsule });
  b.writeUInt8(type, 4);
  b.writeUInt8(AUTH_SPSP, 41);
  b.writeUInt8(AUTH_SPSP, 42);
  b.writeUInt8(AUTH_SECP_DHCHAP, 43);
  b.writeUInt32LE(length, 44);
  return b;
}

/** AUTH_Send: `length` bytes of one authentication message, in the capsule (TL = length). */
export function authSendCommand(cid: number, length: number): Buffer {
  return authCommand(cid, FabricsAuthType.AuthSend, length, true);
}

/** AUTH_Receive: up to `length` bytes (AL) returned in C2H data. */
export function authReceiveCommand(cid: number, length = AUTH_RECEIVE_LENGTH): Buffer {
  return authCommand(cid, FabricsAuthType.AuthReceive, length, false);
}
