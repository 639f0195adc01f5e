/**
 * Streaming NVMe/TCP PDU parser: bytes in (in any chunking), whole PDUs out. Every length and offset is checked
 * against the bytes actually present and against a size limit before anything is read; a violation is a
 * ProtocolError (the caller closes that connection). Pure.
 */
import { crc32c } from './crc32c.js';
import {
  CH_LENGTH,
  DIGEST_LENGTH,
  type DigestOptions,
  HEADER_LENGTH,
  MIN_MAXH2CDATA,
  type Pdu,
  PduFlag,
  PduType,
  ProtocolError,
  TERM_REQ_MAX_DATA,
  TermReqFes,
} from './pdu.js';

export interface ParserOptions {
  /** Largest PDU accepted (PLEN), to bound memory. */
  maxPduLength?: number;
  /** PDU types this side may receive (a host receives C2H types; a controller H2C types). Default: all. */
  accept?: ReadonlySet<number>;
}

export const DEFAULT_MAX_PDU_LENGTH = 16 * 1024 * 1024 + 4096;

export class PduParser {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private digests: DigestOptions = { hdgst: false, ddgst: false };
  private failed: ProtocolError | null = null;
  private readonly maxPduLength: number;
  private readonly accept: ReadonlySet<number> | undefined;

  constructor(opts: ParserOptions = {}) {
    this.maxPduLength = opts.maxPduLength ?? DEFAULT_MAX_PDU_LENGTH;
    this.accept = opts.accept;
  }

  /** Digests negotiated by ICReq/ICResp: from now on PDUs must carry exactly these. */
  setDigests(d: DigestOptions): void {
    this.digests = { ...d };
  }

  /** Bytes received but not yet part of a whole PDU. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** Adds bytes; returns the PDUs they complete. Throws ProtocolError, after which the parser stays failed. */
  push(chunk: Uint8Array): Pdu[] {
    if (this.failed) throw this.failed;
    if (chunk.length > 0) {
      this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      this.buffered += chunk.length;
    }
    const out: Pdu[] = [];
    try {
      for (;;) {
        if (this.buffered < CH_LENGTH) break;
        const ch = this.peek(CH_LENGTH);
        const plen = this.checkCommonHeader(ch);
        if (this.buffered < plen) break;
        out.push(this.decode(this.take(plen)));
      }
    } catch (e) {
      this.failed = e instanceof ProtocolError ? e : new ProtocolError(String(e));
      this.chunks = [];
      this.buffered = 0;
      throw this.failed;
    }
    return out;
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    const merged = Buffer.concat(this.chunks, this.buffered);
    this.chunks = [merged];
    return merged.subarray(0, n);
  }

  private take(n: number): Buffer {
    const head = this.peek(n);
    const first = this.chunks[0]!;
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return head;
  }

  /** Validates the 8-byte common header; returns PLEN. */
  private checkCommonHeader(ch: Buffer): number {
    const type = ch[0]!;
    const hlen = ch[2]!;
    const plen = ch.readUInt32LE(4);
    const want = HEADER_LENGTH[type];
    if (want === undefined)
      throw new ProtocolError(`unknown PDU type 0x${type.toString(16)}`, TermReqFes.InvalidHeaderField, 0);
    if (this.accept && !this.accept.has(type)) {
      throw new ProtocolError(`unexpected PDU type 0x${type.toString(16)}`, TermReqFes.InvalidHeaderField, 0);
    }
    if (hlen !== want)
      throw new ProtocolError(
        `PDU type 0x${type.toString(16)} with HLEN ${hlen} (want ${want})`,
        TermReqFes.InvalidHeaderField,
        2,
      );
    if (plen < hlen)
      throw new ProtocolError(`PLEN ${plen} shorter than HLEN ${hlen}`, TermReqFes.InvalidHeaderField, 4);
    if (plen > this.maxPduLength) {
      throw new ProtocolError(
        `PLEN ${plen} exceeds the limit of ${this.maxPduLength} bytes`,
        TermReqFes.DataTransferLimitExceeded,
        4,
      );
    }
    return plen;
  }

  private decode(buf: Buffer): Pdu {
    const type = buf[0]!;
    const flags = buf[1]!;
    const hlen = buf[2]!;
    const pdo = buf[3]!;
    const plen = buf.length;
    const isIc = type === PduType.ICReq || type === PduType.ICResp;
    const isTerm = type === PduType.H2CTermReq || type === PduType.C2HTermReq;

    if (isIc || isTerm) {
      if (flags & (PduFlag.HDGSTF | PduFlag.DDGSTF))
        throw new ProtocolError(
          'digest flag on an ICReq/ICResp/TermReq PDU',
          TermReqFes.InvalidHeaderField,
          1,
        );
    } else {
      const hd = (flags & PduFlag.HDGSTF) !== 0;
      if (hd !== this.digests.hdgst)
        throw new ProtocolError(
          `header digest ${hd ? 'present' : 'missing'} against the negotiated state`,
          TermReqFes.InvalidHeaderField,
          1,
        );
    }
    const hdgst = (flags & PduFlag.HDGSTF) !== 0;
    const ddgst = (flags & PduFlag.DDGSTF) !== 0;
    const header = buf.subarray(0, hlen);
    const afterHeader = hlen + (hdgst ? DIGEST_LENGTH : 0);
    if (plen < afterHeader)
      throw new ProtocolError('PDU too short for its header digest', TermReqFes.InvalidHeaderField, 4);
    if (hdgst && buf.readUInt32LE(hlen) !== crc32c(header))
      throw new ProtocolError('header digest mismatch', TermReqFes.HeaderDigestError, 0);

    let data: Buffer = Buffer.alloc(0);
    if (isIc) {
      if (plen !== hlen || pdo !== 0)
        throw new ProtocolError('ICReq/ICResp carry no data', TermReqFes.InvalidHeaderField, 4);
    } else if (isTerm) {
      data = buf.subarray(hlen, plen);
      if (data.length > TERM_REQ_MAX_DATA)
        throw new ProtocolError('termination request data too long', TermReqFes.InvalidHeaderField, 4);
    } else if (pdo === 0) {
      if (ddgst || plen !== afterHeader)
        throw new ProtocolError(
          'PDU with bytes after its header but PDO 0',
          TermReqFes.InvalidHeaderField,
          3,
        );
    } else {
      if (pdo < afterHeader || pdo > plen)
        throw new ProtocolError(
          `PDO ${pdo} outside ${afterHeader}..${plen}`,
          TermReqFes.InvalidHeaderField,
          3,
        );
      if (ddgst !== this.digests.ddgst)
        throw new ProtocolError(
          `data digest ${ddgst ? 'present' : 'missing'} against the negotiated state`,
          TermReqFes.InvalidHeaderField,
          1,
        );
      const end = plen - (ddgst ? DIGEST_LENGTH : 0);
      if (end < pdo)
        throw new ProtocolError('PDU too short for its data digest', TermReqFes.InvalidHeaderField, 4);
      data = buf.subarray(pdo, end);
      if (ddgst && buf.readUInt32LE(end) !== crc32c(data))
        throw new ProtocolError('data digest mismatch', TermReqFes.DataTransferOutOfRange, 0);
    }
    // Copy what we hand out so callers never alias the receive buffer.
    const own = (b: Buffer) => new Uint8Array(b);

    switch (type) {
      case PduType.ICReq:
        return {
          type: 'icreq',
          pfv: header.readUInt16LE(8),
          hpda: header[10]!,
          hdgst: (header[11]! & 1) !== 0,
          ddgst: (header[11]! & 2) !== 0,
          maxr2t: header.readUInt32LE(12),
        };
      case PduType.ICResp: {
        const maxh2cdata = header.readUInt32LE(12);
        if (maxh2cdata < MIN_MAXH2CDATA)
          throw new ProtocolError(
            `ICResp MAXH2CDATA ${maxh2cdata} is below the minimum of ${MIN_MAXH2CDATA}`,
            TermReqFes.InvalidHeaderField,
            12,
          );
        if (maxh2cdata % 4 !== 0)
          throw new ProtocolError(
            `ICResp MAXH2CDATA ${maxh2cdata} is not a multiple of 4`,
            TermReqFes.InvalidHeaderField,
            12,
          );
        return {
          type: 'icresp',
          pfv: header.readUInt16LE(8),
          cpda: header[10]!,
          hdgst: (header[11]! & 1) !== 0,
          ddgst: (header[11]! & 2) !== 0,
          maxh2cdata,
        };
      }
      case PduType.H2CTermReq:
      case PduType.C2HTermReq:
        return {
          type: type === PduType.H2CTermReq ? 'h2c_term' : 'c2h_term',
          fes: header.readUInt16LE(8),
          fei: header.readUInt32LE(10),
          data: own(data),
        };
      case PduType.CapsuleCmd:
        return { type: 'capsule_cmd', sqe: own(header.subarray(8, 72)), data: own(data) };
      case PduType.CapsuleResp:
        return { type: 'capsule_resp', cqe: own(header.subarray(8, 24)) };
      case PduType.C2HData:
      case PduType.H2CData: {
        const datal = header.readUInt32LE(16);
        if (datal !== data.length)
          throw new ProtocolError(
            `DATAL ${datal} but ${data.length} data bytes`,
            TermReqFes.InvalidHeaderField,
            16,
          );
        if (datal === 0) throw new ProtocolError('data PDU without data', TermReqFes.InvalidHeaderField, 16);
        const common = {
          cccid: header.readUInt16LE(8),
          datao: header.readUInt32LE(12),
          last: (flags & PduFlag.LAST_PDU) !== 0,
          data: own(data),
        };
        if (type === PduType.C2HData) {
          const success = (flags & PduFlag.SUCCESS) !== 0;
          if (success && !common.last)
            throw new ProtocolError('SUCCESS flag without LAST_PDU', TermReqFes.InvalidHeaderField, 1);
          return { type: 'c2h_data', ...common, success };
        }
        return { type: 'h2c_data', ...common, ttag: header.readUInt16LE(10) };
      }
      default:
        return {
          type: 'r2t',
          cccid: header.readUInt16LE(8),
          ttag: header.readUInt16LE(10),
          r2to: header.readUInt32LE(12),
          r2tl: header.readUInt32LE(16),
        };
    }
  }
}
