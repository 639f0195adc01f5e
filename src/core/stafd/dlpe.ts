/** Discovery log page entries as nvme-stas shows them (all-string dictionaries), and referral entries as TIDs. Pure. */
import { classifyLog } from '../log-entry.js';
import type { DiscoveryLogEntry } from '../nvme/discovery-log.js';
import type { Tid, TidOptions } from '../tid.js';

const TRTYPE: Record<number, string> = { 0: 'unspecified', 1: 'rdma', 2: 'fc', 3: 'tcp', 254: 'loop' };
const ADRFAM: Record<number, string> = { 0: 'pci', 1: 'ipv4', 2: 'ipv6', 3: 'infiniband', 4: 'fc' };
const SUBTYPE: Record<number, string> = { 1: 'referral', 2: 'nvme', 3: 'discovery' };
const TREQ: Record<number, string> = {
  0: 'not specified',
  1: 'required',
  2: 'not required',
  4: 'disable sqflow',
};
const SECTYPE: Record<number, string> = { 0: 'none', 1: 'tls', 2: 'tls13' };

const name = (table: Record<number, string>, v: number) => table[v] ?? String(v);

/** Python repr of the TSAS dictionary nvme-stas shows (`{'sectype': 'none'}` for TCP). */
function tsasRepr(e: DiscoveryLogEntry): string | undefined {
  if (e.trtype === 3) return `{'sectype': '${name(SECTYPE, e.tsas[0] ?? 0)}'}`;
  if (e.trtype === 1)
    return `{'qptype': '${e.tsas[0] ?? 0}', 'prtype': '${e.tsas[1] ?? 0}', 'cms': '${e.tsas[2] ?? 0}'}`;
  return undefined;
}

/** The D-Bus / CLI dictionary of one entry: every value a string, as nvme-stas' get_log_pages returns. */
export function dlpeToDict(e: DiscoveryLogEntry): Record<string, string> {
  const d: Record<string, string> = {
    trtype: name(TRTYPE, e.trtype),
    adrfam: name(ADRFAM, e.adrfam),
    traddr: e.traddr,
    trsvcid: e.trsvcid,
    subnqn: e.subnqn,
    subtype: name(SUBTYPE, e.subtype),
    treq: name(TREQ, e.treq),
    portid: String(e.portid),
    cntlid: String(e.cntlid),
    asqsz: String(e.asqsz),
    eflags: String(e.eflags),
  };
  const tsas = tsasRepr(e);
  if (tsas !== undefined) d['tsas'] = tsas;
  return d;
}

/**
 * The referral entries of a DC's log as TIDs of other DCs (see classifyEntry: what they inherit from the DC, and
 * which entries are refused). Self-references (subtype `discovery`) are not referrals.
 */
export function referralTids(dc: Tid, entries: readonly DiscoveryLogEntry[], opts: TidOptions): Tid[] {
  return classifyLog(dc, entries, opts).referrals;
}
