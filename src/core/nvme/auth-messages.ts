/**
 * NVMe in-band authentication (DH-HMAC-CHAP) messages: the identifiers, and the encoding and strict decoding of
 * every message the host and the controller exchange in AUTH_Send / AUTH_Receive data. Pure.
 *
 * Layouts: NVMe Base Specification 2.0, 8.13.5 (DH-HMAC-CHAP protocol), as the Linux kernel lays them out
 * (include/linux/nvme.h: nvmf_auth_dhchap_*_data, all little-endian):
 *
 *   every message   0 AUTH-Type, 1 AUTH-ID, 2-3 reserved, 4-5 T_ID
 *   Negotiate       6 SC_C, 7 NAPD, 8.. NAPD protocol descriptors of 64 bytes
 *                   (0 AUTHID, 1 reserved, 2 HALEN, 3 DHLEN, 4-63 ID list: hashes from 0, DH groups from 30)
 *   Challenge       6 HL, 7 reserved, 8 HASHID, 9 DHGID, 10-11 DHVLEN, 12-15 SEQNUM, 16.. C1 (HL), DH value (DHVLEN)
 *   Reply           6 HL, 7 reserved, 8 CVALID, 9 reserved, 10-11 DHVLEN, 12-15 SEQNUM,
 *                   16.. R1 (HL), C2 (HL, zero when CVALID is 0), DH value (DHVLEN)
 *   Success1        6 HL, 7 reserved, 8 RVALID, 9-15 reserved, 16.. R2 (HL) when RVALID
 *   Success2        6-15 reserved
 *   Failure1/2      6 reason code, 7 reason code explanation
 *
 * A controller returns the whole AUTH_Receive allocation (zero-padded): decoders accept trailing bytes but never a
 * field that runs past the data.
 */

/** AUTH-Type. */
export const AuthType = { Common: 0x00, DhChap: 0x01 } as const;

/** AUTH-ID (with AUTH-Type Common: Negotiate, Failure1, Failure2; with DhChap: the others). */
export const AuthId = {
  Negotiate: 0x00,
  Challenge: 0x01,
  Reply: 0x02,
  Success1: 0x03,
  Success2: 0x04,
  Failure2: 0xf0,
  Failure1: 0xf1,
} as const;

/** Authentication protocol identifier of a Negotiate protocol descriptor. */
export const DHCHAP_AUTH_ID = 0x01;

/** Hash function identifiers. */
export const HashId = { SHA256: 0x01, SHA384: 0x02, SHA512: 0x03 } as const;
export type HashIdCode = (typeof HashId)[keyof typeof HashId];

/** Diffie-Hellman group identifiers (NULL: no DH exchange; the others: RFC 7919 groups). */
export const DhGroupId = {
  NULL: 0x00,
  FFDHE2048: 0x01,
  FFDHE3072: 0x02,
  FFDHE4096: 0x03,
  FFDHE6144: 0x04,
  FFDHE8192: 0x05,
} as const;
export type DhGroupIdCode = (typeof DhGroupId)[keyof typeof DhGroupId];

/** Failure reason code. */
export const FailureReason = { Failed: 0x01 } as const;

/** Failure reason code explanations. */
export const FailureExplanation = {
  Failed: 0x01,
  NotUsable: 0x02,
  ConcatMismatch: 0x03,
  HashUnusable: 0x04,
  DhGroupUnusable: 0x05,
  IncorrectPayload: 0x06,
  IncorrectMessage: 0x07,
} as const;

const EXPLANATION_TEXT: Readonly<Record<number, string>> = {
  [FailureExplanation.Failed]: 'authentication failed',
  [FailureExplanation.NotUsable]: 'authentication protocol not usable',
  [FailureExplanation.ConcatMismatch]: 'secure channel concatenation mismatch',
  [FailureExplanation.HashUnusable]: 'hash function not usable',
  [FailureExplanation.DhGroupUnusable]: 'DH group not usable',
  [FailureExplanation.IncorrectPayload]: 'incorrect payload',
  [FailureExplanation.IncorrectMessage]: 'incorrect protocol message',
};

/** `incorrect payload (0x06)`. */
export function describeExplanation(code: number): string {
  const hex = `0x${code.toString(16).padStart(2, '0')}`;
  const text = EXPLANATION_TEXT[code];
  return text ? `${text} (${hex})` : `reason code explanation ${hex}`;
}

/** The ID lists of a protocol descriptor hold at most 30 hash IDs and 30 DH group IDs. */
export const MAX_IDS = 30;
const DESCRIPTOR_LENGTH = 64;
const HEADER_LENGTH = 16;
export const NEGOTIATE_HEADER_LENGTH = 8;
export const FAILURE_LENGTH = 8;
export const SUCCESS2_LENGTH = 16;

/**
 * A DH-HMAC-CHAP exchange failed. `explanation` is the failure reason code explanation: the one a Failure1 carried
 * (`byController`), or the one the side that detected the fault reports in its Failure message.
 */
export class DhchapError extends Error {
  constructor(
    message: string,
    readonly explanation: number,
    readonly byController = false,
  ) {
    super(message);
    this.name = 'DhchapError';
  }
}

export interface ProtocolDescriptor {
  authId: number;
  hashes: number[];
  dhGroups: number[];
}

export interface NegotiateMessage {
  kind: 'negotiate';
  tid: number;
  /** Secure channel concatenation (0: none). */
  scC: number;
  protocols: ProtocolDescriptor[];
}

export interface ChallengeMessage {
  kind: 'challenge';
  tid: number;
  hashId: number;
  dhGroupId: number;
  seqnum: number;
  /** C1: as long as the hash (HL). */
  challenge: Buffer;
  /** The controller's DH public value (empty for the NULL group). */
  dhValue: Buffer;
}

export interface ReplyMessage {
  kind: 'reply';
  tid: number;
  /** R1: as long as the hash (HL). */
  response: Buffer;
  /** C2 (bidirectional authentication); undefined: CVALID is 0. */
  challenge: Buffer | undefined;
  /** S2 (0 when the host does not authenticate the controller). */
  seqnum: number;
  /** The host's DH public value (empty for the NULL group). */
  dhValue: Buffer;
}

export interface Success1Message {
  kind: 'success1';
  tid: number;
  /** HL. */
  hashLength: number;
  /** R2; undefined: RVALID is 0. */
  response: Buffer | undefined;
}

export interface Success2Message {
  kind: 'success2';
  tid: number;
}

export interface FailureMessage {
  kind: 'failure1' | 'failure2';
  tid: number;
  reason: number;
  explanation: number;
}

export type AuthMessage =
  | NegotiateMessage
  | ChallengeMessage
  | ReplyMessage
  | Success1Message
  | Success2Message
  | FailureMessage;

function checkU16(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`${what} ${v} is not a 16-bit value`);
}

function checkU32(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
    throw new RangeError(`${what} ${v} is not a 32-bit value`);
}

function checkHashLength(n: number): void {
  if (n < 1 || n > 0xff) throw new RangeError(`hash length ${n} does not fit HL`);
}

function header(length: number, type: number, id: number, tid: number): Buffer {
  checkU16('T_ID', tid);
  const b = Buffer.alloc(length);
  b[0] = type;
  b[1] = id;
  b.writeUInt16LE(tid, 4);
  return b;
}

/** The bytes of one message (what AUTH_Send carries, or what a controller returns for AUTH_Receive). */
export function encodeAuthMessage(m: AuthMessage): Buffer {
  switch (m.kind) {
    case 'negotiate': {
      if (m.protocols.length > 0xff) throw new RangeError('too many protocol descriptors');
      const b = header(NEGOTIATE_HEADER_LENGTH + DESCRIPTOR_LENGTH * m.protocols.length, 0, 0, m.tid);
      b[0] = AuthType.Common;
      b[1] = AuthId.Negotiate;
      b[6] = m.scC;
      b[7] = m.protocols.length;
      m.protocols.forEach((p, i) => {
        if (p.hashes.length > MAX_IDS || p.dhGroups.length > MAX_IDS)
          throw new RangeError(
            `a protocol descriptor lists at most ${MAX_IDS} hashes and ${MAX_IDS} DH groups`,
          );
        const o = NEGOTIATE_HEADER_LENGTH + DESCRIPTOR_LENGTH * i;
        b[o] = p.authId;
        b[o + 2] = p.hashes.length;
        b[o + 3] = p.dhGroups.length;
        b.set(p.hashes, o + 4);
        b.set(p.dhGroups, o + 4 + MAX_IDS);
      });
      return b;
    }
    case 'challenge': {
      checkHashLength(m.challenge.length);
      checkU16('DHVLEN', m.dhValue.length);
      checkU32('SEQNUM', m.seqnum);
      const b = header(
        HEADER_LENGTH + m.challenge.length + m.dhValue.length,
        AuthType.DhChap,
        AuthId.Challenge,
        m.tid,
      );
      b[6] = m.challenge.length;
      b[8] = m.hashId;
      b[9] = m.dhGroupId;
      b.writeUInt16LE(m.dhValue.length, 10);
      b.writeUInt32LE(m.seqnum, 12);
      b.set(m.challenge, HEADER_LENGTH);
      b.set(m.dhValue, HEADER_LENGTH + m.challenge.length);
      return b;
    }
    case 'reply': {
      const hl = m.response.length;
      checkHashLength(hl);
      if (m.challenge && m.challenge.length !== hl) throw new RangeError('C2 must be as long as R1');
      checkU16('DHVLEN', m.dhValue.length);
      checkU32('SEQNUM', m.seqnum);
      const b = header(HEADER_LENGTH + 2 * hl + m.dhValue.length, AuthType.DhChap, AuthId.Reply, m.tid);
      b[6] = hl;
      b[8] = m.challenge ? 1 : 0;
      b.writeUInt16LE(m.dhValue.length, 10);
      b.writeUInt32LE(m.seqnum, 12);
      b.set(m.response, HEADER_LENGTH);
      if (m.challenge) b.set(m.challenge, HEADER_LENGTH + hl);
      b.set(m.dhValue, HEADER_LENGTH + 2 * hl);
      return b;
    }
    case 'success1': {
      checkHashLength(m.hashLength);
      if (m.response && m.response.length !== m.hashLength) throw new RangeError('R2 must be HL bytes');
      const b = header(
        HEADER_LENGTH + (m.response ? m.hashLength : 0),
        AuthType.DhChap,
        AuthId.Success1,
        m.tid,
      );
      b[6] = m.hashLength;
      if (m.response) {
        b[8] = 1;
        b.set(m.response, HEADER_LENGTH);
      }
      return b;
    }
    case 'success2':
      return header(SUCCESS2_LENGTH, AuthType.DhChap, AuthId.Success2, m.tid);
    case 'failure1':
    case 'failure2': {
      const b = header(
        FAILURE_LENGTH,
        AuthType.Common,
        m.kind === 'failure1' ? AuthId.Failure1 : AuthId.Failure2,
        m.tid,
      );
      b[6] = m.reason;
      b[7] = m.explanation;
      return b;
    }
  }
}

const NAMES: Readonly<Record<string, string>> = {
  [`${AuthType.Common}/${AuthId.Negotiate}`]: 'AUTH_Negotiate',
  [`${AuthType.DhChap}/${AuthId.Challenge}`]: 'DH-HMAC-CHAP_Challenge',
  [`${AuthType.DhChap}/${AuthId.Reply}`]: 'DH-HMAC-CHAP_Reply',
  [`${AuthType.DhChap}/${AuthId.Success1}`]: 'DH-HMAC-CHAP_Success1',
  [`${AuthType.DhChap}/${AuthId.Success2}`]: 'DH-HMAC-CHAP_Success2',
  [`${AuthType.Common}/${AuthId.Failure1}`]: 'AUTH_Failure1',
  [`${AuthType.Common}/${AuthId.Failure2}`]: 'AUTH_Failure2',
};

/** The specification's name of each message. */
export const MESSAGE_NAMES: Readonly<Record<AuthMessage['kind'], string>> = {
  negotiate: 'AUTH_Negotiate',
  challenge: 'DH-HMAC-CHAP_Challenge',
  reply: 'DH-HMAC-CHAP_Reply',
  success1: 'DH-HMAC-CHAP_Success1',
  success2: 'DH-HMAC-CHAP_Success2',
  failure1: 'AUTH_Failure1',
  failure2: 'AUTH_Failure2',
};

/** `DH-HMAC-CHAP_Challenge`, or `AUTH-Type 0x07 / AUTH-ID 0x01` for what is no message. */
export function messageName(type: number, id: number): string {
  return (
    NAMES[`${type}/${id}`] ??
    `AUTH-Type 0x${type.toString(16).padStart(2, '0')} / AUTH-ID 0x${id.toString(16).padStart(2, '0')}`
  );
}

function malformed(what: string): DhchapError {
  return new DhchapError(`malformed ${what}`, FailureExplanation.IncorrectPayload);
}

/**
 * Decodes one message. Throws DhchapError (incorrect payload) when a field runs past the data or holds a value the
 * layout forbids, and (incorrect message) when the AUTH-Type / AUTH-ID pair names no message. Failure messages are
 * recognised with either AUTH-Type (some kernels sent AUTH_Failure2 as a DH-HMAC-CHAP message).
 */
export function decodeAuthMessage(data: Uint8Array): AuthMessage {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (b.length < FAILURE_LENGTH)
    throw new DhchapError(
      `authentication message of ${b.length} bytes is too short`,
      FailureExplanation.IncorrectPayload,
    );
  const type = b[0]!;
  const id = b[1]!;
  const tid = b.readUInt16LE(4);
  if (
    (type === AuthType.Common || type === AuthType.DhChap) &&
    (id === AuthId.Failure1 || id === AuthId.Failure2)
  ) {
    return { kind: id === AuthId.Failure1 ? 'failure1' : 'failure2', tid, reason: b[6]!, explanation: b[7]! };
  }
  const name = messageName(type, id);
  if (type === AuthType.Common && id === AuthId.Negotiate) {
    const napd = b[7]!;
    if (napd === 0) throw malformed(`${name}: no protocol descriptor`);
    if (b.length < NEGOTIATE_HEADER_LENGTH + napd * DESCRIPTOR_LENGTH)
      throw malformed(`${name}: ${napd} protocol descriptors do not fit ${b.length} bytes`);
    const protocols: ProtocolDescriptor[] = [];
    for (let i = 0; i < napd; i++) {
      const o = NEGOTIATE_HEADER_LENGTH + i * DESCRIPTOR_LENGTH;
      const halen = b[o + 2]!;
      const dhlen = b[o + 3]!;
      if (halen > MAX_IDS || dhlen > MAX_IDS) throw malformed(`${name}: HALEN ${halen} / DHLEN ${dhlen}`);
      protocols.push({
        authId: b[o]!,
        hashes: [...b.subarray(o + 4, o + 4 + halen)],
        dhGroups: [...b.subarray(o + 4 + MAX_IDS, o + 4 + MAX_IDS + dhlen)],
      });
    }
    return { kind: 'negotiate', tid, scC: b[6]!, protocols };
  }
  if (type !== AuthType.DhChap || !(id >= AuthId.Challenge && id <= AuthId.Success2)) {
    throw new DhchapError(`unknown authentication message ${name}`, FailureExplanation.IncorrectMessage);
  }
  if (b.length < HEADER_LENGTH) throw malformed(`${name} of ${b.length} bytes`);
  const hl = b[6]!;
  switch (id) {
    case AuthId.Challenge: {
      const dhvlen = b.readUInt16LE(10);
      if (hl === 0) throw malformed(`${name}: HL is 0`);
      if (b.length < HEADER_LENGTH + hl + dhvlen)
        throw malformed(`${name}: HL ${hl} and DHVLEN ${dhvlen} run past its ${b.length} bytes`);
      return {
        kind: 'challenge',
        tid,
        hashId: b[8]!,
        dhGroupId: b[9]!,
        seqnum: b.readUInt32LE(12),
        challenge: Buffer.from(b.subarray(HEADER_LENGTH, HEADER_LENGTH + hl)),
        dhValue: Buffer.from(b.subarray(HEADER_LENGTH + hl, HEADER_LENGTH + hl + dhvlen)),
      };
    }
    case AuthId.Reply: {
      const cvalid = b[8]!;
      const dhvlen = b.readUInt16LE(10);
      if (hl === 0) throw malformed(`${name}: HL is 0`);
      if (cvalid > 1) throw malformed(`${name}: CVALID ${cvalid}`);
      if (b.length < HEADER_LENGTH + 2 * hl + dhvlen)
        throw malformed(`${name}: HL ${hl} and DHVLEN ${dhvlen} run past its ${b.length} bytes`);
      return {
        kind: 'reply',
        tid,
        response: Buffer.from(b.subarray(HEADER_LENGTH, HEADER_LENGTH + hl)),
        challenge: cvalid ? Buffer.from(b.subarray(HEADER_LENGTH + hl, HEADER_LENGTH + 2 * hl)) : undefined,
        seqnum: b.readUInt32LE(12),
        dhValue: Buffer.from(b.subarray(HEADER_LENGTH + 2 * hl, HEADER_LENGTH + 2 * hl + dhvlen)),
      };
    }
    case AuthId.Success1: {
      const rvalid = b[8]!;
      if (rvalid > 1) throw malformed(`${name}: RVALID ${rvalid}`);
      if (rvalid && b.length < HEADER_LENGTH + hl)
        throw malformed(`${name}: R2 runs past its ${b.length} bytes`);
      return {
        kind: 'success1',
        tid,
        hashLength: hl,
        response: rvalid ? Buffer.from(b.subarray(HEADER_LENGTH, HEADER_LENGTH + hl)) : undefined,
      };
    }
    default:
      return { kind: 'success2', tid };
  }
}
