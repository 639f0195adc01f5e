/**
 * The two CRC-32s NVMe uses, pure and table-driven: CRC32C (Castagnoli), the NVMe/TCP header and data digest, and
 * the standard CRC-32 (IEEE 802.3) that ends a DH-HMAC-CHAP secret (DHHC-1 key). Here rather than node:zlib so that
 * a daemon does not load zlib for a checksum.
 */

function table(poly: number): Uint32Array {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
}

const TABLE = table(0x82f63b78);
const IEEE_TABLE = table(0xedb88320);

/** The standard CRC-32 (IEEE 802.3, reflected polynomial 0xedb88320) of `data`, as zlib's crc32. */
export function crc32(data: Uint8Array): number {
  const t = IEEE_TABLE;
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC32C of `data` (continuing from `crc` when given, for data split across buffers). */
export function crc32c(data: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
