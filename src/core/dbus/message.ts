/**
 * D-Bus messages (D-Bus specification, "Message Protocol"): the message shape stas uses, builders for replies
 * and signals, encodeMessage (always little-endian) and a streaming MessageParser (either endianness).
 */
import { DBusWireError } from './errors.js';
import { typesOf } from './signature.js';
import {
  isValidObjectPath,
  MAX_ARRAY_BYTES,
  MAX_MESSAGE_BYTES,
  marshal,
  unmarshal,
  WireReader,
  WireWriter,
} from './wire.js';

export { DBusWireError } from './errors.js';
export { isValidObjectPath, Variant } from './wire.js';

export const MessageType = { METHOD_CALL: 1, METHOD_RETURN: 2, ERROR: 3, SIGNAL: 4 } as const;
export const MessageFlag = { NO_REPLY_EXPECTED: 1, NO_AUTO_START: 2 } as const;

export interface Message {
  type: number;
  flags: number;
  serial: number;
  path?: string;
  interface?: string;
  member?: string;
  errorName?: string;
  replySerial?: number;
  destination?: string;
  sender?: string;
  signature: string;
  body: unknown[];
}

export type MessageInit = Partial<Message> & { type?: number };

/** An error reply (received from a call) or an error to reply with (thrown from a service member). */
export class DBusError extends Error {
  override name = 'DBusError';
  constructor(
    public type: string,
    public text = '',
    public reply: Message | null = null,
  ) {
    super(text);
  }
}

// ---- names

const MEMBER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const INTERFACE = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+$/;
const WELL_KNOWN = /^[A-Za-z_-][A-Za-z0-9_-]*(?:\.[A-Za-z_-][A-Za-z0-9_-]*)+$/;
const UNIQUE = /^:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+$/;

/** A unique (":1.42") or well-known ("org.freedesktop.DBus") bus name. */
export function isValidBusName(s: unknown): s is string {
  return typeof s === 'string' && s.length <= 255 && (s[0] === ':' ? UNIQUE : WELL_KNOWN).test(s);
}

/** An interface name ("org.freedesktop.DBus.Properties"); error names follow the same rules. */
export function isValidInterfaceName(s: unknown): s is string {
  return typeof s === 'string' && s.length <= 255 && INTERFACE.test(s);
}

/** A member (method or signal) name. */
export function isValidMemberName(s: unknown): s is string {
  return typeof s === 'string' && s.length <= 255 && MEMBER.test(s);
}

// ---- building

/** A message with defaults: METHOD_CALL, flags 0, serial 0, signature '', body []. */
export function message(init: MessageInit): Message {
  const m: Message = {
    type: init.type ?? MessageType.METHOD_CALL,
    flags: init.flags ?? 0,
    serial: init.serial ?? 0,
    signature: init.signature ?? '',
    body: init.body ?? [],
  };
  for (const k of OPTIONAL) if (init[k] !== undefined) (m as unknown as Record<string, unknown>)[k] = init[k];
  return m;
}

const OPTIONAL = [
  'path',
  'interface',
  'member',
  'errorName',
  'replySerial',
  'destination',
  'sender',
] as const;

/** The METHOD_RETURN for `call`. */
export function methodReturn(call: Message, signature = '', body: unknown[] = []): Message {
  return message({
    type: MessageType.METHOD_RETURN,
    replySerial: call.serial,
    destination: call.sender,
    signature,
    body,
  });
}

/** The ERROR reply to `call`: `errorName` (checked), the text as the one 's' argument if given. */
export function errorReply(call: Message, errorName: string, text?: string): Message {
  if (!isValidInterfaceName(errorName)) throw new DBusWireError(`invalid error name "${errorName}"`);
  return message({
    type: MessageType.ERROR,
    replySerial: call.serial,
    destination: call.sender,
    errorName,
    ...(text === undefined ? {} : { signature: 's', body: [text] }),
  });
}

/** A SIGNAL. */
export function signal(
  path: string,
  iface: string,
  member: string,
  signature = '',
  body: unknown[] = [],
): Message {
  return message({ type: MessageType.SIGNAL, path, interface: iface, member, signature, body });
}

// ---- encoding

/** Header field codes, and the type of each field's value. */
const F = {
  PATH: 1,
  INTERFACE: 2,
  MEMBER: 3,
  ERROR_NAME: 4,
  REPLY_SERIAL: 5,
  DESTINATION: 6,
  SENDER: 7,
  SIGNATURE: 8,
};
const FIELD_TYPE = ['', 'o', 's', 's', 's', 'u', 's', 's', 'g', 'u'];

const LITTLE = 0x6c; // 'l'
const BIG = 0x42; // 'B'

function checkHeader(m: Message): void {
  const fail = (why: string) => {
    throw new DBusWireError(`cannot send ${why}`);
  };
  const need = (...fields: (keyof Message)[]) => {
    for (const f of fields)
      if (m[f] === undefined || m[f] === '') fail(`message type ${m.type} without ${f}`);
  };
  switch (m.type) {
    case MessageType.METHOD_CALL:
      need('path', 'member');
      break;
    case MessageType.SIGNAL:
      need('path', 'interface', 'member');
      break;
    case MessageType.ERROR:
      need('errorName', 'replySerial');
      break;
    case MessageType.METHOD_RETURN:
      need('replySerial');
      break;
    default:
      fail(`message type ${m.type}`);
  }
  if (!Number.isInteger(m.flags) || m.flags < 0 || m.flags > 0xff) fail(`flags ${m.flags}`);
  if (m.path && !isValidObjectPath(m.path)) fail(`object path "${m.path}"`);
  if (m.interface && !isValidInterfaceName(m.interface)) fail(`interface name "${m.interface}"`);
  if (m.member && !isValidMemberName(m.member)) fail(`member name "${m.member}"`);
  if (m.errorName && !isValidInterfaceName(m.errorName)) fail(`error name "${m.errorName}"`);
  if (m.destination && !isValidBusName(m.destination)) fail(`destination "${m.destination}"`);
  if (m.sender && !isValidBusName(m.sender)) fail(`sender "${m.sender}"`);
  const rs = m.replySerial;
  if (rs !== undefined && (!Number.isInteger(rs) || rs < 1 || rs > 0xffffffff)) fail(`reply serial ${rs}`);
}

/** A scratch writer reused by encodeMessage (synchronous, so never shared), dropped when it grew large. */
let scratch: WireWriter | null = null;

/**
 * The bytes of `m` with serial `serial` (little-endian). Throws DBusWireError if a required header field is
 * missing, a name is invalid, or the body does not match the signature.
 */
export function encodeMessage(m: Message, serial: number): Buffer {
  if (!Number.isInteger(serial) || serial < 1 || serial > 0xffffffff)
    throw new DBusWireError(`bad serial ${serial}`);
  checkHeader(m);
  const types = typesOf(m.signature ?? '');
  const w = scratch ?? new WireWriter(4096);
  scratch = null;
  w.pos = 0;
  try {
    w.u8(LITTLE);
    w.u8(m.type);
    w.u8(m.flags);
    w.u8(1);
    w.u32(0); // body length
    w.u32(serial);
    w.u32(0); // header fields length
    const field = (code: number, value: unknown) => {
      w.align(8);
      w.u8(code);
      w.signature(FIELD_TYPE[code]!);
      if (code === F.REPLY_SERIAL) w.u32(value as number);
      else if (code === F.SIGNATURE) w.signature(value as string);
      else w.string(value as string);
    };
    if (m.path) field(F.PATH, m.path);
    if (m.interface) field(F.INTERFACE, m.interface);
    if (m.member) field(F.MEMBER, m.member);
    if (m.errorName) field(F.ERROR_NAME, m.errorName);
    if (m.replySerial) field(F.REPLY_SERIAL, m.replySerial);
    if (m.destination) field(F.DESTINATION, m.destination);
    if (m.sender) field(F.SENDER, m.sender);
    if (m.signature) field(F.SIGNATURE, m.signature);
    w.setU32(12, w.pos - 16);
    w.align(8);
    const bodyStart = w.pos;
    marshal(w, types, m.body ?? []);
    w.setU32(4, w.pos - bodyStart);
    return w.result();
  } finally {
    if (w.buf.length <= 65536) scratch = w;
  }
}

// ---- decoding

function decodeMessage(buf: Buffer): Message | null {
  const le = buf[0] === LITTLE;
  const r = new WireReader(buf, 1, buf.length, le);
  const type = r.u8();
  const flags = r.u8();
  r.u8(); // version, checked by the parser
  const bodyLength = r.u32();
  const serial = r.u32();
  if (serial === 0) throw new DBusWireError('message serial 0');
  if (type === 0) throw new DBusWireError('message type 0 (invalid)');
  const fieldsLength = r.u32();
  const fieldsEnd = 16 + fieldsLength;
  const m: Message = { type, flags, serial, signature: '', body: [] };
  const f = m as unknown as Record<string, unknown>;
  r.end = fieldsEnd;
  while (r.pos < fieldsEnd) {
    r.align(8);
    const code = r.u8();
    const sig = r.signature();
    const types = typesOf(sig);
    if (types.length !== 1) throw new DBusWireError(`header field ${code}: variant signature "${sig}"`);
    const want = FIELD_TYPE[code];
    if (want === undefined || want === '') {
      unmarshal(r, types); // unknown field: skipped
      continue;
    }
    if (sig !== want) throw new DBusWireError(`header field ${code} has type "${sig}", not "${want}"`);
    const [value] = unmarshal(r, types);
    switch (code) {
      case F.PATH:
        m.path = value as string;
        break;
      case F.INTERFACE:
        if (!isValidInterfaceName(value)) throw new DBusWireError(`invalid interface name "${value}"`);
        m.interface = value;
        break;
      case F.MEMBER:
        if (!isValidMemberName(value)) throw new DBusWireError(`invalid member name "${value}"`);
        m.member = value;
        break;
      case F.ERROR_NAME:
        if (!isValidInterfaceName(value)) throw new DBusWireError(`invalid error name "${value}"`);
        m.errorName = value;
        break;
      case F.REPLY_SERIAL:
        if (value === 0) throw new DBusWireError('reply serial 0');
        m.replySerial = value as number;
        break;
      case F.DESTINATION:
      case F.SENDER:
        if (!isValidBusName(value)) throw new DBusWireError(`invalid bus name "${value}"`);
        f[code === F.SENDER ? 'sender' : 'destination'] = value;
        break;
      case F.SIGNATURE:
        m.signature = value as string;
        break;
      default: // UNIX_FDS: ignored
    }
  }
  r.end = buf.length;
  r.align(8);
  switch (type) {
    case MessageType.METHOD_CALL:
      if (m.path === undefined || m.member === undefined)
        throw new DBusWireError('method call without path or member');
      break;
    case MessageType.SIGNAL:
      if (m.path === undefined || m.interface === undefined || m.member === undefined)
        throw new DBusWireError('signal without path, interface or member');
      break;
    case MessageType.ERROR:
      if (m.errorName === undefined || m.replySerial === undefined)
        throw new DBusWireError('error without error name or reply serial');
      break;
    case MessageType.METHOD_RETURN:
      if (m.replySerial === undefined) throw new DBusWireError('method return without reply serial');
      break;
    default:
      return null; // unknown message types are ignored (specification)
  }
  if (r.pos + bodyLength !== buf.length) throw new DBusWireError('body length does not match');
  m.body = unmarshal(r, typesOf(m.signature));
  if (r.pos !== buf.length) throw new DBusWireError('body longer than its signature');
  return m;
}

/**
 * Splits a byte stream into messages. push() returns every message completed by the chunk and keeps the rest; it
 * throws DBusWireError on malformed data, after which the parser refuses further data. A message's length is
 * checked against maxMessageBytes (default: the specification's 128 MiB) as soon as its first 16 bytes arrive.
 */
export class MessageParser {
  private readonly max: number;
  private chunks: Buffer[] = [];
  private head = 0; // index of the first unconsumed chunk
  private have = 0; // bytes held
  private need = 0; // length of the message being received, 0 until its fixed header is in
  private broken = false;

  constructor(opts: { maxMessageBytes?: number } = {}) {
    this.max = Math.min(opts.maxMessageBytes ?? MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES);
  }

  push(chunk: Buffer): Message[] {
    if (this.broken) throw new DBusWireError('message stream already failed');
    const out: Message[] = [];
    try {
      if (chunk.length > 0) {
        this.chunks.push(chunk);
        this.have += chunk.length;
      }
      for (;;) {
        if (this.need === 0) {
          if (this.have < 16) break;
          this.need = this.messageLength(this.peek16());
        }
        if (this.have < this.need) break;
        const buf = this.take(this.need);
        this.need = 0;
        const m = decodeMessage(buf);
        if (m) out.push(m);
      }
    } catch (e) {
      this.broken = true;
      this.chunks = [];
      if (e instanceof DBusWireError) throw e;
      throw new DBusWireError(`malformed message: ${(e as Error)?.message ?? e}`);
    }
    return out;
  }

  /** The whole message's length from its fixed header, after checking endianness, version and length. */
  private messageLength(h: Buffer): number {
    const e = h[0];
    if (e !== LITTLE && e !== BIG) throw new DBusWireError(`bad endianness byte ${e}`);
    if (h[3] !== 1) throw new DBusWireError(`protocol version ${h[3]}, not 1`);
    const le = e === LITTLE;
    const body = le ? h.readUInt32LE(4) : h.readUInt32BE(4);
    const fields = le ? h.readUInt32LE(12) : h.readUInt32BE(12);
    if (fields > MAX_ARRAY_BYTES) throw new DBusWireError(`header fields of ${fields} bytes`);
    const total = 16 + ((fields + 7) & ~7) + body;
    if (total > this.max) throw new DBusWireError(`message of ${total} bytes is longer than ${this.max}`);
    return total;
  }

  private peek16(): Buffer {
    const first = this.chunks[this.head]!;
    if (first.length >= 16) return first;
    const h = Buffer.allocUnsafe(16);
    let n = 0;
    for (let i = this.head; n < 16; i++) n += this.chunks[i]!.copy(h, n, 0, 16 - n);
    return h;
  }

  /** Removes the first `n` bytes (n <= have): a view of the first chunk if it holds them, else one copy. */
  private take(n: number): Buffer {
    const first = this.chunks[this.head]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      this.consume(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let got = 0;
      while (got < n) {
        const c = this.chunks[this.head]!;
        const k = Math.min(c.length, n - got);
        c.copy(out, got, 0, k);
        got += k;
        this.consume(k);
      }
    }
    return out;
  }

  private consume(n: number): void {
    const c = this.chunks[this.head]!;
    this.have -= n;
    if (n === c.length) {
      this.chunks[this.head++] = EMPTY;
      if (this.head === this.chunks.length) {
        this.chunks = [];
        this.head = 0;
      } else if (this.head > 64 && this.head * 2 > this.chunks.length) {
        this.chunks = this.chunks.slice(this.head);
        this.head = 0;
      }
    } else {
      this.chunks[this.head] = c.subarray(n);
    }
  }
}

const EMPTY = Buffer.alloc(0);
