/**
 * DH-HMAC-CHAP computations: secret parsing, the key transformation, the augmented challenge and the host and
 * controller responses. Pure (hashes and HMACs only), byte for byte as the Linux kernel computes them:
 *
 *   secret        `DHHC-1:<hh>:<base64 of key || CRC-32(key), little-endian>:`, key of 32, 48 or 64 bytes
 *                 (drivers/nvme/common/auth.c nvme_auth_extract_key: standard CRC-32 ~crc32(~0, key))
 *   transform     hh 00: the key itself; 01/02/03: HMAC-SHA-256/384/512(key, NQN || "NVMe-over-Fabrics")
 *                 (nvme_auth_transform_key; the host key with the host NQN, the controller key with the subsystem NQN)
 *   augmented C   HMAC-H(H(shared DH secret), C), H the negotiated hash (nvme_auth_augmented_challenge)
 *   host R1       HMAC-H(Kh, C1' || S1 LE32 || T_ID LE16 || SC_C || "HostHost" || hostnqn || 0x00 || subsysnqn)
 *                 (drivers/nvme/host/auth.c nvme_auth_dhchap_setup_host_response)
 *   ctrl R2       HMAC-H(Kc, C2' || S2 LE32 || T_ID LE16 || SC_C || "Controller" || subsysnqn || 0x00 || hostnqn)
 *                 (nvme_auth_dhchap_setup_ctrl_response; drivers/nvme/target/auth.c nvmet_auth_ctrl_hash)
 *
 * The HMAC key of a response is the whole transformed key (as long as the transform's digest, or the key itself for
 * hh 00), as current kernels use it.
 */
import { nodeCrypto } from '../node-crypto.js';
import { HashId, type HashIdCode } from './auth-messages.js';
import { crc32 } from './crc32c.js';

export type HashName = 'sha256' | 'sha384' | 'sha512';

const HASHES: Readonly<Record<HashIdCode, { name: HashName; length: number }>> = {
  [HashId.SHA256]: { name: 'sha256', length: 32 },
  [HashId.SHA384]: { name: 'sha384', length: 48 },
  [HashId.SHA512]: { name: 'sha512', length: 64 },
};

export function isHashId(id: number): id is HashIdCode {
  return Object.hasOwn(HASHES, id);
}

/** `sha256`… (throws for an unknown identifier). */
export function hashName(id: number): HashName {
  if (!isHashId(id)) throw new RangeError(`unknown hash identifier ${id}`);
  return HASHES[id].name;
}

/** Digest length in bytes; 0 for an unknown identifier. */
export function hashLength(id: number): number {
  return isHashId(id) ? HASHES[id].length : 0;
}

export function hashIdOf(name: HashName): HashIdCode {
  const e = Object.entries(HASHES).find(([, h]) => h.name === name);
  if (!e) throw new RangeError(`unknown hash ${name}`);
  return Number(e[0]) as HashIdCode;
}

/** Zeroes buffers that held secrets. */
export function wipe(...bufs: (Uint8Array | undefined)[]): void {
  for (const b of bufs) b?.fill(0);
}

/** A parsed DH-HMAC-CHAP secret. */
export interface DhchapKey {
  /** hh: 0 = used as is, 1/2/3 = transformed with HMAC-SHA-256/384/512 before use. */
  transform: 0 | 1 | 2 | 3;
  /** The key (32, 48 or 64 bytes). */
  key: Buffer;
}

/** A secret that cannot be used. Its message never contains the secret. */
export class DhchapSecretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DhchapSecretError';
  }
}

const KEY_LENGTHS = new Set([32, 48, 64]);

/**
 * Parses `DHHC-1:<hh>:<base64>:` (the final `:` may be left out, as the kernel allows): checks the transformation
 * id, the base64 text, the key length and the CRC-32. Throws DhchapSecretError, whose message names the fault but
 * never shows the secret.
 */
export function parseDhchapSecret(text: string): DhchapKey {
  const m = /^DHHC-1:(\d\d):([A-Za-z0-9+/]+={0,2}):?$/.exec(text);
  if (!m) throw new DhchapSecretError('not a DH-HMAC-CHAP secret (DHHC-1:<hh>:<base64>:)');
  const transform = Number(m[1]);
  if (transform > 3)
    throw new DhchapSecretError(`unknown key transformation ${m[1]} (00, 01, 02 or 03 expected)`);
  const b64 = m[2]!;
  const raw = Buffer.from(b64, 'base64');
  const canonical = raw.toString('base64');
  if (b64.includes('=') ? b64 !== canonical : b64 !== canonical.replace(/=+$/, '')) {
    raw.fill(0);
    throw new DhchapSecretError('the key is not valid base64');
  }
  const keyLength = raw.length - 4;
  if (!KEY_LENGTHS.has(keyLength)) {
    raw.fill(0);
    throw new DhchapSecretError(
      `the key is ${Math.max(keyLength, 0)} bytes long (32, 48 or 64 expected, followed by its CRC-32)`,
    );
  }
  const key = Buffer.from(raw.subarray(0, keyLength));
  const crc = raw.readUInt32LE(keyLength);
  raw.fill(0);
  if (crc32(key) !== crc) {
    key.fill(0);
    throw new DhchapSecretError('the key fails its CRC-32 check (mistyped or truncated secret)');
  }
  return { transform: transform as DhchapKey['transform'], key };
}

/** `DHHC-1:<hh>:<base64 of key || CRC-32 LE>:` (what nvme gen-dhchap-key prints). */
export function formatDhchapSecret(key: Uint8Array, transform: 0 | 1 | 2 | 3): string {
  if (!KEY_LENGTHS.has(key.length)) throw new RangeError('a DH-HMAC-CHAP key is 32, 48 or 64 bytes long');
  const raw = Buffer.alloc(key.length + 4);
  raw.set(key);
  raw.writeUInt32LE(crc32(key), key.length);
  const text = `DHHC-1:0${transform}:${raw.toString('base64')}:`;
  raw.fill(0);
  return text;
}

/**
 * The key a response is keyed with: the key itself (hh 00), else HMAC(transform hash, key)(nqn ||
 * "NVMe-over-Fabrics"). The host key is transformed with the host NQN, the controller key with the subsystem NQN.
 * Returns a new Buffer (wipe it after use).
 */
export function transformKey(k: DhchapKey, nqn: string): Buffer {
  if (k.transform === 0) return Buffer.from(k.key);
  return nodeCrypto()
    .createHmac(hashName(k.transform), k.key)
    .update(Buffer.from(nqn, 'utf8'))
    .update('NVMe-over-Fabrics', 'latin1')
    .digest();
}

/** The challenge a DH exchange augments: HMAC-H(H(sessionKey), challenge). */
export function augmentedChallenge(hashId: number, sessionKey: Uint8Array, challenge: Uint8Array): Buffer {
  const name = hashName(hashId);
  const hashed = nodeCrypto().createHash(name).update(sessionKey).digest();
  const out = nodeCrypto().createHmac(name, hashed).update(challenge).digest();
  hashed.fill(0);
  return out;
}

export interface ResponseInput {
  hashId: number;
  /** The transformed key (transformKey). */
  key: Uint8Array;
  /** The challenge, or the augmented challenge when a DH group is in use. */
  challenge: Uint8Array;
  seqnum: number;
  tid: number;
  /** SC_C of the Negotiate (0: no secure channel concatenation). */
  scC?: number;
  hostNqn: string;
  subsysNqn: string;
}

function response(p: ResponseInput, label: string, first: string, second: string): Buffer {
  const name = hashName(p.hashId);
  if (p.challenge.length !== hashLength(p.hashId))
    throw new RangeError(`the challenge must be ${hashLength(p.hashId)} bytes for ${name}`);
  const fixed = Buffer.alloc(7);
  fixed.writeUInt32LE(p.seqnum >>> 0, 0);
  fixed.writeUInt16LE(p.tid & 0xffff, 4);
  fixed.writeUInt8((p.scC ?? 0) & 0xff, 6);
  return nodeCrypto()
    .createHmac(name, p.key)
    .update(p.challenge)
    .update(fixed)
    .update(label, 'latin1')
    .update(Buffer.from(first, 'utf8'))
    .update(Buffer.alloc(1))
    .update(Buffer.from(second, 'utf8'))
    .digest();
}

/** R1, the host's response to C1 (S1 the controller's sequence number). */
export function hostResponse(p: ResponseInput): Buffer {
  return response(p, 'HostHost', p.hostNqn, p.subsysNqn);
}

/** R2, the controller's response to C2 (S2 the host's sequence number). */
export function controllerResponse(p: ResponseInput): Buffer {
  return response(p, 'Controller', p.subsysNqn, p.hostNqn);
}

/** Constant-time comparison of two responses (false when their lengths differ). */
export function sameResponse(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && nodeCrypto().timingSafeEqual(a, b);
}
