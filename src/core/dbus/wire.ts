/**
 * The D-Bus wire format (D-Bus specification, "Marshaling"): a WireWriter and a WireReader that own the byte
 * offset and the alignment, and marshal/unmarshal of values by type on top of them.
 *
 * Values as stas sees them: y n q i u d h → number; x t → bigint; b → boolean; s o g → string; ay → Buffer;
 * a{KV} → a plain object (keys as strings); other arrays and structs → arrays; v → Variant.
 */
import { isUtf8 } from 'node:buffer';
import { DBusWireError } from './errors.js';
import { type DType, typesOf } from './signature.js';

/** A D-Bus variant: a value and the signature of its (single, complete) type. */
export class Variant<T = unknown> {
  constructor(
    public signature: string,
    public value: T,
  ) {}
}

/** The largest message the specification allows (2^27 bytes), and the largest array (2^26 bytes). */
export const MAX_MESSAGE_BYTES = 0x8000000;
export const MAX_ARRAY_BYTES = 0x4000000;
/** Containers (arrays, structs, dict entries, variants) nested in one value, at most (the specification's 64). */
const MAX_NESTING = 64;

/** The alignment of each type code, in bytes. */
const ALIGN: Record<string, number> = {
  y: 1,
  g: 1,
  v: 1,
  n: 2,
  q: 2,
  b: 4,
  i: 4,
  u: 4,
  h: 4,
  s: 4,
  o: 4,
  a: 4,
  x: 8,
  t: 8,
  d: 8,
  '(': 8,
  '{': 8,
};

function alignOf(t: DType): number {
  return ALIGN[t.code] ?? 1;
}

const OBJECT_PATH = /^\/(?:[A-Za-z0-9_]+(?:\/[A-Za-z0-9_]+)*)?$/;

/** True if `s` is a valid object path ("/", or "/"-separated non-empty elements of [A-Za-z0-9_]). */
export function isValidObjectPath(s: unknown): s is string {
  return typeof s === 'string' && OBJECT_PATH.test(s);
}

/** Whether `s` is a valid signature. */
function isValidSignature(s: string): boolean {
  try {
    typesOf(s);
    return true;
  } catch {
    return false;
  }
}

/** A short description of a value for error messages (never throws, unlike JSON.stringify on a bigint). */
function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (
    v === null ||
    typeof v === 'number' ||
    typeof v === 'boolean' ||
    typeof v === 'bigint' ||
    v === undefined
  )
    return String(v) + (typeof v === 'bigint' ? 'n' : '');
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return `a ${typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v}`;
}

/**
 * Writes D-Bus data into a growing buffer. Alignment is relative to the start of the buffer, which must be the
 * start of the message (or any 8-aligned offset of it, such as the body).
 */
export class WireWriter {
  buf: Buffer;
  pos = 0;

  constructor(
    size = 256,
    readonly limit = MAX_MESSAGE_BYTES,
  ) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private grow(n: number): void {
    const need = this.pos + n;
    if (need > this.limit) throw new DBusWireError(`message longer than ${this.limit} bytes`);
    const next = Buffer.allocUnsafe(Math.min(Math.max(need, this.buf.length * 2), this.limit));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Zero bytes up to the next multiple of `n` (1, 2, 4 or 8). */
  align(n: number): void {
    const to = (this.pos + n - 1) & ~(n - 1);
    if (to > this.buf.length) this.grow(to - this.pos);
    while (this.pos < to) this.buf[this.pos++] = 0;
  }

  u8(v: number): void {
    if (this.pos + 1 > this.buf.length) this.grow(1);
    this.buf[this.pos++] = v;
  }

  /** Aligns to a fixed-size value of `n` bytes and makes room for it. */
  private fixed(n: number): void {
    this.align(n);
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  u16(v: number): void {
    this.fixed(2);
    this.pos = this.buf.writeUInt16LE(v, this.pos);
  }

  i16(v: number): void {
    this.fixed(2);
    this.pos = this.buf.writeInt16LE(v, this.pos);
  }

  u32(v: number): void {
    this.fixed(4);
    this.pos = this.buf.writeUInt32LE(v, this.pos);
  }

  i32(v: number): void {
    this.fixed(4);
    this.pos = this.buf.writeInt32LE(v, this.pos);
  }

  u64(v: bigint): void {
    this.fixed(8);
    this.pos = this.buf.writeBigUInt64LE(v, this.pos);
  }

  i64(v: bigint): void {
    this.fixed(8);
    this.pos = this.buf.writeBigInt64LE(v, this.pos);
  }

  f64(v: number): void {
    this.fixed(8);
    this.pos = this.buf.writeDoubleLE(v, this.pos);
  }

  /** Raw bytes, no alignment. */
  bytes(b: Uint8Array): void {
    if (this.pos + b.length > this.buf.length) this.grow(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A STRING or OBJECT_PATH: uint32 byte length, UTF-8 bytes, NUL. The caller checks `s` has no NUL. */
  string(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.u32(n);
    if (this.pos + n + 1 > this.buf.length) this.grow(n + 1);
    this.pos += this.buf.write(s, this.pos, 'utf8');
    this.buf[this.pos++] = 0;
  }

  /** A SIGNATURE: byte length, ASCII bytes, NUL. The caller checks `s` is a valid signature. */
  signature(s: string): void {
    if (this.pos + s.length + 2 > this.buf.length) this.grow(s.length + 2);
    this.buf[this.pos++] = s.length;
    this.pos += this.buf.write(s, this.pos, 'latin1');
    this.buf[this.pos++] = 0;
  }

  /** Overwrites the uint32 at `at` (an earlier placeholder). */
  setU32(at: number, v: number): void {
    this.buf.writeUInt32LE(v, at);
  }

  /** A copy of the bytes written, exactly as long. */
  result(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    return out;
  }
}

/**
 * Reads D-Bus data from `buf` between `pos` and `end`. Alignment is relative to index 0 of `buf`, which must be
 * the start of the message. Every read is bounds-checked; padding must be zero. Errors are DBusWireError.
 */
export class WireReader {
  constructor(
    readonly buf: Buffer,
    public pos = 0,
    public end = buf.length,
    readonly littleEndian = true,
  ) {}

  private need(n: number): void {
    if (this.pos + n > this.end) throw new DBusWireError('data ends early');
  }

  align(n: number): void {
    const to = (this.pos + n - 1) & ~(n - 1);
    if (to > this.end) throw new DBusWireError('data ends early');
    for (; this.pos < to; this.pos++)
      if (this.buf[this.pos] !== 0) throw new DBusWireError('non-zero padding');
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  /** Aligns to, checks and steps over a fixed-size value of `n` bytes; returns where it starts. */
  private fixed(n: number): number {
    this.align(n);
    this.need(n);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u16(): number {
    const at = this.fixed(2);
    return this.littleEndian ? this.buf.readUInt16LE(at) : this.buf.readUInt16BE(at);
  }

  i16(): number {
    const at = this.fixed(2);
    return this.littleEndian ? this.buf.readInt16LE(at) : this.buf.readInt16BE(at);
  }

  u32(): number {
    const at = this.fixed(4);
    return this.littleEndian ? this.buf.readUInt32LE(at) : this.buf.readUInt32BE(at);
  }

  i32(): number {
    const at = this.fixed(4);
    return this.littleEndian ? this.buf.readInt32LE(at) : this.buf.readInt32BE(at);
  }

  u64(): bigint {
    const at = this.fixed(8);
    return this.littleEndian ? this.buf.readBigUInt64LE(at) : this.buf.readBigUInt64BE(at);
  }

  i64(): bigint {
    const at = this.fixed(8);
    return this.littleEndian ? this.buf.readBigInt64LE(at) : this.buf.readBigInt64BE(at);
  }

  f64(): number {
    const at = this.fixed(8);
    return this.littleEndian ? this.buf.readDoubleLE(at) : this.buf.readDoubleBE(at);
  }

  /** `n` bytes at `pos` then a NUL, none inside, valid UTF-8; returns the text. */
  private text(n: number): string {
    this.need(n + 1);
    const start = this.pos;
    const stop = start + n;
    if (this.buf.indexOf(0, start) !== stop)
      throw new DBusWireError('string not NUL-terminated or contains NUL');
    const s = this.buf.toString('utf8', start, stop);
    // toString substitutes U+FFFD for bad UTF-8: check the bytes only when one shows up.
    if (s.includes('\uFFFD') && !isUtf8(this.buf.subarray(start, stop)))
      throw new DBusWireError('string is not valid UTF-8');
    this.pos = stop + 1;
    return s;
  }

  string(): string {
    return this.text(this.u32());
  }

  objectPath(): string {
    const s = this.string();
    if (!isValidObjectPath(s)) throw new DBusWireError(`invalid object path ${describe(s)}`);
    return s;
  }

  signature(): string {
    const s = this.text(this.u8());
    if (!isValidSignature(s)) throw new DBusWireError(`invalid signature ${describe(s)}`);
    return s;
  }
}

// ---- writing values

function int(v: unknown, code: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new DBusWireError(`'${code}' needs an integer in [${min}, ${max}], got ${describe(v)}`);
  return v;
}

function big(v: unknown, code: string, min: bigint, max: bigint): bigint {
  let b: bigint;
  if (typeof v === 'bigint') b = v;
  else if (typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v);
  else throw new DBusWireError(`'${code}' needs a bigint or a safe integer, got ${describe(v)}`);
  if (b < min || b > max) throw new DBusWireError(`'${code}' value ${b} out of range`);
  return b;
}

function str(v: unknown, code: string): string {
  if (typeof v !== 'string') throw new DBusWireError(`'${code}' needs a string, got ${describe(v)}`);
  if (v.includes('\0')) throw new DBusWireError(`'${code}' string contains NUL`);
  return v;
}

function isVariant(v: unknown): v is Variant {
  return (
    v instanceof Variant ||
    (typeof v === 'object' && v !== null && typeof (v as Variant).signature === 'string' && 'value' in v)
  );
}

/** A dict key given as an object's property name, as a value of the key type. */
function keyFromName(k: string, code: string): unknown {
  switch (code) {
    case 's':
    case 'o':
    case 'g':
      return k;
    case 'b':
      if (k === 'true' || k === 'false') return k === 'true';
      throw new DBusWireError(`dict key ${describe(k)} is not a boolean`);
    case 'x':
    case 't':
      if (/^-?\d+$/.test(k)) return BigInt(k);
      throw new DBusWireError(`dict key ${describe(k)} is not an integer`);
    default: {
      const n = k.trim() === '' ? Number.NaN : Number(k);
      if (Number.isNaN(n)) throw new DBusWireError(`dict key ${describe(k)} is not a number`);
      return n;
    }
  }
}

const MIN_I64 = -(1n << 63n);
const MAX_I64 = (1n << 63n) - 1n;
const MAX_U64 = (1n << 64n) - 1n;

function writeValue(w: WireWriter, t: DType, v: unknown, depth: number): void {
  switch (t.code) {
    case 'y':
      w.u8(int(v, 'y', 0, 0xff));
      return;
    case 'b':
      if (typeof v !== 'boolean' && v !== 0 && v !== 1)
        throw new DBusWireError(`'b' needs a boolean, got ${describe(v)}`);
      w.u32(v ? 1 : 0);
      return;
    case 'n':
      w.i16(int(v, 'n', -0x8000, 0x7fff));
      return;
    case 'q':
      w.u16(int(v, 'q', 0, 0xffff));
      return;
    case 'i':
      w.i32(int(v, 'i', -0x80000000, 0x7fffffff));
      return;
    case 'u':
    case 'h':
      w.u32(int(v, t.code, 0, 0xffffffff));
      return;
    case 'x':
      w.i64(big(v, 'x', MIN_I64, MAX_I64));
      return;
    case 't':
      w.u64(big(v, 't', 0n, MAX_U64));
      return;
    case 'd':
      if (typeof v !== 'number') throw new DBusWireError(`'d' needs a number, got ${describe(v)}`);
      w.f64(v);
      return;
    case 's':
      w.string(str(v, 's'));
      return;
    case 'o':
      if (!isValidObjectPath(v)) throw new DBusWireError(`'o' needs an object path, got ${describe(v)}`);
      w.string(v);
      return;
    case 'g': {
      const s = str(v, 'g');
      if (!isValidSignature(s)) throw new DBusWireError(`'g' needs a signature, got ${describe(v)}`);
      w.signature(s);
      return;
    }
    case 'v': {
      if (!isVariant(v)) throw new DBusWireError(`'v' needs a Variant, got ${describe(v)}`);
      if (depth >= MAX_NESTING) throw new DBusWireError('value nested too deeply');
      const types = typesOf(v.signature);
      if (types.length !== 1)
        throw new DBusWireError(`variant signature ${describe(v.signature)} is not one complete type`);
      w.signature(v.signature);
      writeValue(w, types[0]!, v.value, depth + 1);
      return;
    }
    case '(':
    case '{': {
      if (depth >= MAX_NESTING) throw new DBusWireError('value nested too deeply');
      if (!Array.isArray(v) || v.length !== t.children.length)
        throw new DBusWireError(
          `struct of ${t.children.length} needs an array of as many, got ${describe(v)}`,
        );
      w.align(8);
      for (let i = 0; i < v.length; i++) writeValue(w, t.children[i]!, v[i], depth + 1);
      return;
    }
    case 'a':
      writeArray(w, t.children[0]!, v, depth);
      return;
    default:
      throw new DBusWireError(`unknown type code '${t.code}'`);
  }
}

function writeArray(w: WireWriter, el: DType, v: unknown, depth: number): void {
  if (depth >= MAX_NESTING) throw new DBusWireError('value nested too deeply');
  w.u32(0);
  const lengthAt = w.pos - 4;
  w.align(alignOf(el));
  const start = w.pos;
  if (el.code === 'y' && (v instanceof Uint8Array || Array.isArray(v))) {
    if (v instanceof Uint8Array) w.bytes(v);
    else for (const b of v) w.u8(int(b, 'y', 0, 0xff));
  } else if (el.code === '{') {
    const [kt, vt] = el.children as [DType, DType];
    const entry = (k: unknown, val: unknown) => {
      w.align(8);
      writeValue(w, kt, k, depth + 2);
      writeValue(w, vt, val, depth + 2);
    };
    if (v instanceof Map) for (const [k, val] of v) entry(k, val);
    else if (typeof v === 'object' && v !== null && !Array.isArray(v))
      for (const k of Object.keys(v)) entry(keyFromName(k, kt.code), (v as Record<string, unknown>)[k]);
    else throw new DBusWireError(`'a{…}' needs an object or a Map, got ${describe(v)}`);
  } else if (Array.isArray(v)) {
    for (const x of v) writeValue(w, el, x, depth + 1);
  } else {
    throw new DBusWireError(`'a' needs an array, got ${describe(v)}`);
  }
  const n = w.pos - start;
  if (n > MAX_ARRAY_BYTES) throw new DBusWireError(`array longer than ${MAX_ARRAY_BYTES} bytes`);
  w.setU32(lengthAt, n);
}

/** Writes `values`, one per type of `types`; throws DBusWireError if they do not match. */
export function marshal(w: WireWriter, types: readonly DType[], values: readonly unknown[]): void {
  if (!Array.isArray(values) || values.length !== types.length)
    throw new DBusWireError(`${types.length} values expected, got ${describe(values)}`);
  for (let i = 0; i < types.length; i++) writeValue(w, types[i]!, values[i], 0);
}

// ---- reading values

function readValue(r: WireReader, t: DType, depth: number): unknown {
  switch (t.code) {
    case 'y':
      return r.u8();
    case 'b': {
      const b = r.u32();
      if (b > 1) throw new DBusWireError(`boolean ${b} is neither 0 nor 1`);
      return b === 1;
    }
    case 'n':
      return r.i16();
    case 'q':
      return r.u16();
    case 'i':
      return r.i32();
    case 'u':
    case 'h':
      return r.u32();
    case 'x':
      return r.i64();
    case 't':
      return r.u64();
    case 'd':
      return r.f64();
    case 's':
      return r.string();
    case 'o':
      return r.objectPath();
    case 'g':
      return r.signature();
    case 'v': {
      if (depth >= MAX_NESTING) throw new DBusWireError('value nested too deeply');
      const sig = r.signature();
      const types = typesOf(sig);
      if (types.length !== 1) throw new DBusWireError(`variant signature "${sig}" is not one complete type`);
      return new Variant(sig, readValue(r, types[0]!, depth + 1));
    }
    case '(':
    case '{': {
      if (depth >= MAX_NESTING) throw new DBusWireError('value nested too deeply');
      r.align(8);
      const out: unknown[] = [];
      for (const c of t.children) out.push(readValue(r, c, depth + 1));
      return out;
    }
    case 'a':
      return readArray(r, t.children[0]!, depth);
    default:
      throw new DBusWireError(`unknown type code '${t.code}'`);
  }
}

function readArray(r: WireReader, el: DType, depth: number): unknown {
  if (depth >= MAX_NESTING) throw new DBusWireError('value nested too deeply');
  const n = r.u32();
  if (n > MAX_ARRAY_BYTES) throw new DBusWireError(`array longer than ${MAX_ARRAY_BYTES} bytes`);
  r.align(alignOf(el));
  const end = r.pos + n;
  if (end > r.end) throw new DBusWireError('array runs past the end of the data');
  if (el.code === 'y') {
    const out = Buffer.from(r.buf.subarray(r.pos, end));
    r.pos = end;
    return out;
  }
  if (el.code === '{') {
    const [kt, vt] = el.children as [DType, DType];
    const out: Record<string, unknown> = {};
    while (r.pos < end) {
      r.align(8);
      const k = String(readValue(r, kt, depth + 2));
      const v = readValue(r, vt, depth + 2);
      if (k === '__proto__')
        Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
      else out[k] = v;
    }
    if (r.pos !== end) throw new DBusWireError('array element runs past the array');
    return out;
  }
  const out: unknown[] = [];
  while (r.pos < end) out.push(readValue(r, el, depth + 1));
  if (r.pos !== end) throw new DBusWireError('array element runs past the array');
  return out;
}

/** Reads one value per type of `types`. */
export function unmarshal(r: WireReader, types: readonly DType[]): unknown[] {
  const out: unknown[] = [];
  for (const t of types) out.push(readValue(r, t, 0));
  return out;
}
