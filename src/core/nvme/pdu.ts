/** NVMe/TCP PDU message types (NVMe/TCP Transport Specification 1.0, §3.6): what the codec reads and writes. */

export const PduType = {
  ICReq: 0x00,
  ICResp: 0x01,
  H2CTermReq: 0x02,
  C2HTermReq: 0x03,
  CapsuleCmd: 0x04,
  CapsuleResp: 0x05,
  H2CData: 0x06,
  C2HData: 0x07,
  R2T: 0x09,
} as const;
export type PduTypeCode = (typeof PduType)[keyof typeof PduType];

/** Common-header FLAGS bits. */
export const PduFlag = {
  HDGSTF: 0x01,
  DDGSTF: 0x02,
  /** Last data PDU of a command (C2HData, H2CData). */
  LAST_PDU: 0x04,
  /** C2HData only: the command completed successfully, no CapsuleResp follows. */
  SUCCESS: 0x08,
} as const;

/** Fixed header length (HLEN) of each PDU type. */
export const HEADER_LENGTH: Readonly<Record<number, number>> = {
  [PduType.ICReq]: 128,
  [PduType.ICResp]: 128,
  [PduType.H2CTermReq]: 24,
  [PduType.C2HTermReq]: 24,
  [PduType.CapsuleCmd]: 72,
  [PduType.CapsuleResp]: 24,
  [PduType.H2CData]: 24,
  [PduType.C2HData]: 24,
  [PduType.R2T]: 24,
};

/** Size of the common header and of a digest. */
export const CH_LENGTH = 8;
export const DIGEST_LENGTH = 4;
/** Term requests carry at most this much of the offending PDU header. */
export const TERM_REQ_MAX_DATA = 152;
/** ICResp MAXH2CDATA: at least this many bytes, and a multiple of 4 (NVMe/TCP 1.0, ICResp). */
export const MIN_MAXH2CDATA = 4096;

/** Fatal Error Status values of H2C/C2H Termination Requests. */
export const TermReqFes = {
  InvalidHeaderField: 0x01,
  PduSequenceError: 0x02,
  HeaderDigestError: 0x03,
  DataTransferOutOfRange: 0x04,
  DataTransferLimitExceeded: 0x05,
  R2TLimitExceeded: 0x05,
  UnsupportedParameter: 0x06,
} as const;

export interface ICReqPdu {
  type: 'icreq';
  pfv: number;
  /** Host PDU data alignment: data offsets in C2H PDUs are multiples of (hpda+1)*4. */
  hpda: number;
  hdgst: boolean;
  ddgst: boolean;
  maxr2t: number;
}

export interface ICRespPdu {
  type: 'icresp';
  pfv: number;
  /** Controller PDU data alignment for H2C data. */
  cpda: number;
  hdgst: boolean;
  ddgst: boolean;
  maxh2cdata: number;
}

export interface TermReqPdu {
  type: 'h2c_term' | 'c2h_term';
  fes: number;
  fei: number;
  /** The header of the PDU in error (up to 152 bytes). */
  data: Uint8Array;
}

export interface CapsuleCmdPdu {
  type: 'capsule_cmd';
  /** 64-byte submission queue entry. */
  sqe: Uint8Array;
  /** In-capsule data (may be empty). */
  data: Uint8Array;
}

export interface CapsuleRespPdu {
  type: 'capsule_resp';
  /** 16-byte completion queue entry. */
  cqe: Uint8Array;
}

export interface C2HDataPdu {
  type: 'c2h_data';
  cccid: number;
  datao: number;
  last: boolean;
  success: boolean;
  data: Uint8Array;
}

export interface H2CDataPdu {
  type: 'h2c_data';
  cccid: number;
  ttag: number;
  datao: number;
  last: boolean;
  data: Uint8Array;
}

export interface R2TPdu {
  type: 'r2t';
  cccid: number;
  ttag: number;
  r2to: number;
  r2tl: number;
}

export type Pdu =
  | ICReqPdu
  | ICRespPdu
  | TermReqPdu
  | CapsuleCmdPdu
  | CapsuleRespPdu
  | C2HDataPdu
  | H2CDataPdu
  | R2TPdu;

/** Digests in force on a connection (negotiated by ICReq/ICResp; never used on ICReq/ICResp themselves). */
export interface DigestOptions {
  hdgst: boolean;
  ddgst: boolean;
}

/** A violation of the NVMe/TCP protocol by the peer: the connection must be closed (optionally after a TermReq). */
export class ProtocolError extends Error {
  constructor(
    message: string,
    /** Fatal Error Status to report in a termination request. */
    readonly fes: number = TermReqFes.InvalidHeaderField,
    /** Field Error Information: byte offset of the offending field. */
    readonly fei = 0,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}
