/**
 * D-Bus type signatures (D-Bus specification, "Type System"): parsing into a tree and back.
 */
import { DBusWireError } from './errors.js';

/**
 * One complete type. `code` is the type's first character: a basic type (y b n q i u x t d h s o g), 'v', 'a'
 * (one child: the element type), '(' (a struct, its fields as children) or '{' (a dict entry: key, value).
 */
export interface DType {
  code: string;
  children: DType[];
}

/** Type codes of the basic types, the only ones allowed as dict entry keys. */
const BASIC = 'ybnqiuxtdhsog';
const MAX_DEPTH = 32;

interface Cursor {
  s: string;
  i: number;
  arrays: number;
  structs: number;
  dicts: number;
}

function bad(c: Cursor, why: string): DBusWireError {
  return new DBusWireError(`invalid signature "${c.s}": ${why}`);
}

function parseOne(c: Cursor): DType {
  const ch = c.s[c.i++];
  switch (ch) {
    case undefined:
      throw bad(c, 'unexpected end');
    case 'a': {
      if (++c.arrays > MAX_DEPTH) throw bad(c, `more than ${MAX_DEPTH} nested arrays`);
      const child = c.s[c.i] === '{' ? parseDictEntry(c) : parseOne(c);
      c.arrays--;
      return { code: 'a', children: [child] };
    }
    case '(': {
      if (++c.structs > MAX_DEPTH) throw bad(c, `more than ${MAX_DEPTH} nested structs`);
      const children: DType[] = [];
      while (c.s[c.i] !== ')') children.push(parseOne(c));
      c.i++;
      if (children.length === 0) throw bad(c, 'empty struct');
      c.structs--;
      return { code: '(', children };
    }
    case '{':
      throw bad(c, 'dict entry outside an array');
    case ')':
    case '}':
      throw bad(c, `unbalanced "${ch}"`);
    default:
      if (ch === 'v' || BASIC.includes(ch)) return { code: ch, children: [] };
      throw bad(c, `unknown type code "${ch}"`);
  }
}

function parseDictEntry(c: Cursor): DType {
  c.i++; // '{'
  if (++c.dicts > MAX_DEPTH) throw bad(c, `more than ${MAX_DEPTH} nested dict entries`);
  const key = parseOne(c);
  if (key.children.length > 0 || key.code === 'v') throw bad(c, 'dict entry key is not a basic type');
  const value = parseOne(c);
  if (c.s[c.i] !== '}') throw bad(c, 'dict entry does not have exactly two types');
  c.i++;
  c.dicts--;
  return { code: '{', children: [key, value] };
}

/** The complete types of `sig`, in order; throws DBusWireError if `sig` is not a valid signature. */
export function parseSignature(sig: string): DType[] {
  if (typeof sig !== 'string') throw new DBusWireError('signature is not a string');
  if (sig.length > 255) throw new DBusWireError(`signature longer than 255 bytes (${sig.length})`);
  const c: Cursor = { s: sig, i: 0, arrays: 0, structs: 0, dicts: 0 };
  const out: DType[] = [];
  while (c.i < sig.length) out.push(parseOne(c));
  return out;
}

const cache = new Map<string, readonly DType[]>();

/** parseSignature, memoized (a bounded cache); the trees returned are shared and must not be changed. */
export function typesOf(sig: string): readonly DType[] {
  let types = cache.get(sig);
  if (types === undefined) {
    types = parseSignature(sig);
    if (cache.size >= 512) cache.clear();
    cache.set(sig, types);
  }
  return types;
}

/** The signature of one complete type. */
export function signatureOf(t: DType): string {
  switch (t.code) {
    case 'a':
      return 'a' + signatureOf(t.children[0]!);
    case '(':
      return '(' + t.children.map(signatureOf).join('') + ')';
    case '{':
      return '{' + t.children.map(signatureOf).join('') + '}';
    default:
      return t.code;
  }
}
