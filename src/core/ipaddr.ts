/** IP address literals: parsing, canonical text (RFC 5952), family and equality. Pure. */
import { isIPv4, isIPv6 } from 'node:net';

export interface ParsedIp {
  family: 4 | 6;
  /** 4 or 16 bytes in network order. */
  bytes: Uint8Array;
  /** IPv6 zone (scope) identifier, e.g. the interface of a link-local address. */
  zone?: string;
}

function parseV4(text: string): Uint8Array | null {
  if (!isIPv4(text)) return null;
  return Uint8Array.from(text.split('.').map(Number));
}

function parseV6(text: string): Uint8Array | null {
  if (!isIPv6(text)) return null;
  let hexText = text;
  const lastColon = text.lastIndexOf(':');
  const dotted = text.slice(lastColon + 1);
  if (dotted.includes('.')) {
    // Embedded IPv4 (e.g. ::ffff:192.0.2.1): rewrite the dotted quad as two hex groups.
    const v4 = parseV4(dotted);
    if (!v4) return null;
    const hi = ((v4[0]! << 8) | v4[1]!).toString(16);
    const lo = ((v4[2]! << 8) | v4[3]!).toString(16);
    hexText = `${text.slice(0, lastColon + 1)}${hi}:${lo}`;
  }
  const halves = hexText.split('::');
  const toGroups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const head = toGroups(halves[0] ?? '');
  const rest = halves.length > 1 ? toGroups(halves[1] ?? '') : [];
  const groups =
    halves.length > 1
      ? [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest]
      : head;
  if (groups.length !== 8) return null;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

/** Parses an IPv4 or IPv6 literal (IPv6 may carry `%zone`; brackets are accepted). Returns null if not a literal. */
export function parseIp(input: string): ParsedIp | null {
  let text = input.trim();
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const v4 = parseV4(text);
  if (v4) return { family: 4, bytes: v4 };
  let zone: string | undefined;
  const pct = text.indexOf('%');
  if (pct >= 0) {
    zone = text.slice(pct + 1);
    text = text.slice(0, pct);
    if (zone === '' || !text.includes(':')) return null;
  }
  const v6 = parseV6(text);
  if (!v6) return null;
  return zone === undefined ? { family: 6, bytes: v6 } : { family: 6, bytes: v6, zone };
}

/** True for `::ffff:a.b.c.d`. */
function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

function formatV6(b: Uint8Array): string {
  if (isV4Mapped(b)) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[i * 2]! << 8) | b[i * 2 + 1]!);
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLen).join(':');
  return `${left}::${right}`;
}

/**
 * Recent canonicalIp answers. A host sees few distinct addresses, but each pass of a daemon canonicalises every
 * controller's several times; a bounded memo makes that a lookup. Cleared whole when full.
 */
const canonicalMemo = new Map<string, string | null>();
const CANONICAL_MEMO_MAX = 4096;

/** Canonical text of an IP literal: dotted quad, or RFC 5952 lower-case compressed IPv6 (zone kept). Null if not an IP. */
export function canonicalIp(input: string): string | null {
  const known = canonicalMemo.get(input);
  if (known !== undefined) return known;
  const text = computeCanonicalIp(input);
  if (canonicalMemo.size >= CANONICAL_MEMO_MAX) canonicalMemo.clear();
  canonicalMemo.set(input, text);
  return text;
}

function computeCanonicalIp(input: string): string | null {
  if (input === '') return null;
  const ip = parseIp(input);
  if (!ip) return null;
  if (ip.family === 4) return Array.from(ip.bytes).join('.');
  const text = formatV6(ip.bytes);
  return ip.zone === undefined ? text : `${text}%${ip.zone}`;
}

/** Address family for the `ip-family` filter: IPv4-mapped IPv6 literals count as IPv6 (as nvme-stas does). */
export function ipFamily(input: string): 4 | 6 | null {
  return parseIp(input)?.family ?? null;
}

/** Same address? IPv6 compared numerically; an IPv4-mapped IPv6 address equals its IPv4 form. Zones are ignored. */
export function ipEqual(a: string, b: string): boolean {
  const pa = parseIp(a);
  const pb = parseIp(b);
  if (!pa || !pb) return false;
  const norm = (p: ParsedIp): Uint8Array =>
    p.family === 6 && isV4Mapped(p.bytes) ? p.bytes.subarray(12) : p.bytes;
  const x = norm(pa);
  const y = norm(pb);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}
