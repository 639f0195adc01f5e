/**
 * Discovery log page entries as nvme-stas shows them (dictionaries of strings: stafd's get_log_pages and
 * get_all_log_pages on D-Bus, stafctl and stacctl) and back. One table per field serves both directions: stafd
 * encodes with it, stacd decodes stafd's answer with it, so the two cannot drift apart. The text is nvme-stas'
 * (pinned by test/integration/conformance.test.ts); what it does not carry (TSAS bytes other than the TCP security type
 * and the RDMA QP type, provider type and CM service) is not recovered. Pure.
 */
import type { DiscoveryLogEntry } from './nvme/discovery-log.js';
import { Tid, type TidOptions } from './tid.js';
import { ADRFAM_NAMES, TRTYPE_NAMES, TrType } from './transport.js';

const SUBTYPE_NAMES: Readonly<Record<number, string>> = { 1: 'referral', 2: 'nvme', 3: 'discovery' };
const TREQ_NAMES: Readonly<Record<number, string>> = {
  0: 'not specified',
  1: 'required',
  2: 'not required',
  4: 'disable sqflow',
};
/** TCP security types (`{'sectype': 'none'}`); libnvme spells TLS 1.3 `tls1.3`, read as well. */
const SECTYPE_NAMES: Readonly<Record<number, string>> = { 0: 'none', 1: 'tls', 2: 'tls13' };
const SECTYPE_ALIASES: Readonly<Record<string, number>> = { 'tls1.3': 2 };
/** RDMA TSAS fields, in byte order. */
const RDMA_TSAS = ['qptype', 'prtype', 'cms'] as const;

/** A field's text: its name, or its number when the table has none. */
const nameOf = (table: Readonly<Record<number, string>>, v: number) => table[v] ?? String(v);

/** A field's value from its text: the name's code, or a decimal number; -1 when neither. */
function codeOf(
  text: unknown,
  table?: Readonly<Record<number, string>>,
  aliases?: Readonly<Record<string, number>>,
) {
  const s = typeof text === 'string' ? text : '';
  if (table) for (const [code, name] of Object.entries(table)) if (name === s) return Number(code);
  if (aliases && Object.hasOwn(aliases, s)) return aliases[s]!;
  return /^\d+$/.test(s) ? Number(s) : -1;
}

/** Python repr of the TSAS dictionary nvme-stas shows (`{'sectype': 'none'}` for TCP); undefined: none shown. */
function tsasText(e: DiscoveryLogEntry): string | undefined {
  if (e.trtype === TrType.tcp) return `{'sectype': '${nameOf(SECTYPE_NAMES, e.tsas[0] ?? 0)}'}`;
  if (e.trtype === TrType.rdma)
    return `{${RDMA_TSAS.map((k, i) => `'${k}': '${e.tsas[i] ?? 0}'`).join(', ')}}`;
  return undefined;
}

/** The TSAS bytes behind tsasText's text; unknown text or all zero: no bytes. */
function tsasFromText(trtype: number, v: unknown): Uint8Array {
  const text = typeof v === 'string' ? v : '';
  const field = (name: string) => new RegExp(`'${name}': '([^']*)'`).exec(text)?.[1];
  if (trtype === TrType.tcp) {
    const sectype = field('sectype');
    const n = sectype === undefined ? 0 : codeOf(sectype, SECTYPE_NAMES, SECTYPE_ALIASES);
    return n > 0 ? Uint8Array.of(n) : new Uint8Array(0);
  }
  if (trtype === TrType.rdma) {
    const bytes = RDMA_TSAS.map((k) => Math.max(0, codeOf(field(k))));
    return bytes.some((b) => b > 0) ? Uint8Array.from(bytes) : new Uint8Array(0);
  }
  return new Uint8Array(0);
}

/** The D-Bus / CLI dictionary of one entry: every value a string, as nvme-stas' get_log_pages returns. */
export function dlpeToDict(e: DiscoveryLogEntry): Record<string, string> {
  const d: Record<string, string> = {
    trtype: nameOf(TRTYPE_NAMES, e.trtype),
    adrfam: nameOf(ADRFAM_NAMES, e.adrfam),
    traddr: e.traddr,
    trsvcid: e.trsvcid,
    subnqn: e.subnqn,
    subtype: nameOf(SUBTYPE_NAMES, e.subtype),
    treq: nameOf(TREQ_NAMES, e.treq),
    portid: String(e.portid),
    cntlid: String(e.cntlid),
    asqsz: String(e.asqsz),
    eflags: String(e.eflags),
  };
  const tsas = tsasText(e);
  if (tsas !== undefined) d['tsas'] = tsas;
  return d;
}

/**
 * The inverse of dlpeToDict, for a dictionary from another process (never trusted): undefined without a usable
 * trtype or subtype; other unreadable numbers become 0, unreadable strings ''.
 */
export function dlpeFromDict(p: Readonly<Record<string, unknown>>): DiscoveryLogEntry | undefined {
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  const trtype = codeOf(p['trtype'], TRTYPE_NAMES);
  const subtype = codeOf(p['subtype'], SUBTYPE_NAMES);
  if (trtype < 0 || subtype < 0) return undefined;
  return {
    trtype,
    adrfam: Math.max(0, codeOf(p['adrfam'], ADRFAM_NAMES)),
    subtype,
    treq: Math.max(0, codeOf(p['treq'], TREQ_NAMES)),
    portid: Math.max(0, codeOf(p['portid'])),
    cntlid: Math.max(0, codeOf(p['cntlid'])),
    asqsz: Math.max(0, codeOf(p['asqsz'])),
    eflags: Math.max(0, codeOf(p['eflags'])),
    trsvcid: str(p['trsvcid']),
    subnqn: str(p['subnqn']),
    traddr: str(p['traddr']),
    tsas: tsasFromText(trtype, p['tsas']),
  };
}

/** One record of get_all_log_pages: the DC's dictionary (Tid.idDict plus stafd's extras) and its entries. */
export type LogPagesRecord<D> = {
  'discovery-controller': D;
  'log-pages': Record<string, string>[];
};

/** stafd's side: the record of one DC, its entries as dlpeToDict shows them. */
export function logPagesRecord<D>(dc: D, entries: readonly DiscoveryLogEntry[]): LogPagesRecord<D> {
  return { 'discovery-controller': dc, 'log-pages': entries.map(dlpeToDict) };
}

/**
 * stacd's side: get_all_log_pages' JSON back as DCs (Tid.fromIdDict) with typed entries (dlpeFromDict); a record
 * or entry that cannot be read is skipped. undefined: not JSON, or not a list.
 */
export function parseAllLogPages(
  json: string,
  opts: TidOptions,
): { dc: Tid; entries: DiscoveryLogEntry[] }[] | undefined {
  let records: unknown;
  try {
    records = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (!Array.isArray(records)) return undefined;
  const out: { dc: Tid; entries: DiscoveryLogEntry[] }[] = [];
  for (const r of records as Record<string, unknown>[]) {
    const d = r?.['discovery-controller'];
    const dc = Tid.fromIdDict(
      typeof d === 'object' && d !== null ? (d as Record<string, unknown>) : {},
      opts,
    );
    if (!dc) continue;
    const pages = Array.isArray(r['log-pages']) ? (r['log-pages'] as unknown[]) : [];
    const entries: DiscoveryLogEntry[] = [];
    for (const p of pages) {
      const e = typeof p === 'object' && p !== null ? dlpeFromDict(p as Record<string, unknown>) : undefined;
      if (e) entries.push(e);
    }
    out.push({ dc, entries });
  }
  return out;
}
