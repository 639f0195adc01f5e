/** Encodes NVMe/TCP PDUs to bytes: header, optional header digest, alignment padding, data, data digest. Pure. */
import { crc32c } from './crc32c.js';
import {
  DIGEST_LENGTH,
  type DigestOptions,
  HEADER_LENGTH,
  type Pdu,
  PduFlag,
  PduType,
  TERM_REQ_MAX_DATA,
} from './pdu.js';

export interface SerializeOptions extends DigestOptions {
  /** Data alignment the receiver asked for (CPDA from ICResp for H2C, HPDA from ICReq for C2H): 0..31. */
  pda: number;
}

const NO_DIGESTS: SerializeOptions = { hdgst: false, ddgst: false, pda: 0 };

/** Type code, header bytes and data of one PDU, before digests and framing. */
function layout(pdu: Pdu): { code: number; header: Buffer; data: Uint8Array; flags: number } {
  const code = codeOf(pdu);
  const header = Buffer.alloc(HEADER_LENGTH[code]!);
  let data: Uint8Array = new Uint8Array(0);
  let flags = 0;
  switch (pdu.type) {
    case 'icreq':
      header.writeUInt16LE(pdu.pfv, 8);
      header.writeUInt8(pdu.hpda, 10);
      header.writeUInt8((pdu.hdgst ? 1 : 0) | (pdu.ddgst ? 2 : 0), 11);
      header.writeUInt32LE(pdu.maxr2t, 12);
      break;
    case 'icresp':
      header.writeUInt16LE(pdu.pfv, 8);
      header.writeUInt8(pdu.cpda, 10);
      header.writeUInt8((pdu.hdgst ? 1 : 0) | (pdu.ddgst ? 2 : 0), 11);
      header.writeUInt32LE(pdu.maxh2cdata, 12);
      break;
    case 'h2c_term':
    case 'c2h_term':
      header.writeUInt16LE(pdu.fes, 8);
      header.writeUInt32LE(pdu.fei, 10);
      data = pdu.data.subarray(0, TERM_REQ_MAX_DATA);
      break;
    case 'capsule_cmd':
      if (pdu.sqe.length !== 64) throw new RangeError('a submission queue entry is 64 bytes');
      header.set(pdu.sqe, 8);
      data = pdu.data;
      break;
    case 'capsule_resp':
      if (pdu.cqe.length !== 16) throw new RangeError('a completion queue entry is 16 bytes');
      header.set(pdu.cqe, 8);
      break;
    case 'c2h_data':
      header.writeUInt16LE(pdu.cccid, 8);
      header.writeUInt32LE(pdu.datao, 12);
      header.writeUInt32LE(pdu.data.length, 16);
      data = pdu.data;
      flags = (pdu.last ? PduFlag.LAST_PDU : 0) | (pdu.success ? PduFlag.SUCCESS : 0);
      break;
    case 'h2c_data':
      header.writeUInt16LE(pdu.cccid, 8);
      header.writeUInt16LE(pdu.ttag, 10);
      header.writeUInt32LE(pdu.datao, 12);
      header.writeUInt32LE(pdu.data.length, 16);
      data = pdu.data;
      flags = pdu.last ? PduFlag.LAST_PDU : 0;
      break;
    case 'r2t':
      header.writeUInt16LE(pdu.cccid, 8);
      header.writeUInt16LE(pdu.ttag, 10);
      header.writeUInt32LE(pdu.r2to, 12);
      header.writeUInt32LE(pdu.r2tl, 16);
      break;
  }
  return { code, header, data, flags };
}

function codeOf(pdu: Pdu): number {
  switch (pdu.type) {
    case 'icreq':
      return PduType.ICReq;
    case 'icresp':
      return PduType.ICResp;
    case 'h2c_term':
      return PduType.H2CTermReq;
    case 'c2h_term':
      return PduType.C2HTermReq;
    case 'capsule_cmd':
      return PduType.CapsuleCmd;
    case 'capsule_resp':
      return PduType.CapsuleResp;
    case 'c2h_data':
      return PduType.C2HData;
    case 'h2c_data':
      return PduType.H2CData;
    case 'r2t':
      return PduType.R2T;
  }
}

/**
 * Serialises one PDU. Digests apply to every PDU but ICReq/ICResp and term requests (which are sent before or
 * instead of trusting the negotiated state); data is placed at the first offset aligned to (pda+1)*4 bytes.
 */
export function serializePdu(pdu: Pdu, opts: SerializeOptions = NO_DIGESTS): Buffer {
  const { code, header, data, flags: typeFlags } = layout(pdu);
  const digestsApply =
    code !== PduType.ICReq && code !== PduType.ICResp && pdu.type !== 'h2c_term' && pdu.type !== 'c2h_term';
  const hdgst = digestsApply && opts.hdgst;
  const hasData = data.length > 0;
  const ddgst = digestsApply && opts.ddgst && hasData;
  const hlen = header.length;
  const afterHeader = hlen + (hdgst ? DIGEST_LENGTH : 0);
  let pdo = 0;
  if (hasData) {
    const isTerm = pdu.type === 'h2c_term' || pdu.type === 'c2h_term';
    const align = isTerm ? 1 : (opts.pda + 1) * 4;
    pdo = isTerm ? 0 : Math.ceil(afterHeader / align) * align;
  }
  const dataStart = pdo || afterHeader;
  const plen = hasData ? dataStart + data.length + (ddgst ? DIGEST_LENGTH : 0) : afterHeader;
  if (pdo > 255) throw new RangeError(`PDU data offset ${pdo} does not fit in PDO`);

  header.writeUInt8(code, 0);
  header.writeUInt8(typeFlags | (hdgst ? PduFlag.HDGSTF : 0) | (ddgst ? PduFlag.DDGSTF : 0), 1);
  header.writeUInt8(hlen, 2);
  header.writeUInt8(pdo, 3);
  header.writeUInt32LE(plen, 4);

  const out = Buffer.alloc(plen);
  header.copy(out, 0);
  if (hdgst) out.writeUInt32LE(crc32c(header), hlen);
  if (hasData) {
    out.set(data, dataStart);
    if (ddgst) out.writeUInt32LE(crc32c(data), dataStart + data.length);
  }
  return out;
}
