/**
 * stafd's answer to get_all_log_pages (JSON of controller and DLPE dictionaries, all strings) turned back into
 * typed log entries for the planner. Anything malformed is skipped, never trusted. Pure.
 */
import type { DiscoveryLogEntry } from '../nvme/discovery-log.js';
import { Tid, type TidOptions } from '../tid.js';
import type { StafdView } from './plan.js';

const TRTYPE: Record<string, number> = { rdma: 1, fc: 2, tcp: 3, loop: 254 };
const ADRFAM: Record<string, number> = { pci: 0, ipv4: 1, ipv6: 2, infiniband: 3, fc: 4 };
const SUBTYPE: Record<string, number> = { referral: 1, nvme: 2, discovery: 3 };
const TREQ: Record<string, number> = {
  'not specified': 0,
  required: 1,
  'not required': 2,
  'disable sqflow': 4,
};
/** TCP security types as stafd names them in `tsas` (`{'sectype': 'none'}`); libnvme spells TLS 1.3 `tls1.3`. */
const SECTYPE: Record<string, number> = { none: 0, tls: 1, tls13: 2, 'tls1.3': 2 };

const str = (v: unknown) => (typeof v === 'string' ? v : '');
const num = (v: unknown, table?: Record<string, number>) => {
  const s = str(v);
  if (table && s in table) return table[s]!;
  return /^\d+$/.test(s) ? Number(s) : -1;
};

/**
 * The TSAS bytes behind stafd's `tsas` text (a Python dict repr): the TCP security type, or the RDMA QP type,
 * provider type and CM service, so that stacd shows the entry as stafd does. Unknown text: all zero.
 */
function tsasBytes(trtype: number, v: unknown): Uint8Array {
  const text = str(v);
  const field = (name: string) => new RegExp(`'${name}': '([^']*)'`).exec(text)?.[1];
  if (trtype === 3) {
    const sectype = field('sectype');
    const n = sectype === undefined ? 0 : (SECTYPE[sectype] ?? num(sectype));
    return n > 0 ? Uint8Array.of(n) : new Uint8Array(0);
  }
  if (trtype === 1) {
    const bytes = ['qptype', 'prtype', 'cms'].map((k) => Math.max(0, num(field(k))));
    return bytes.some((b) => b > 0) ? Uint8Array.from(bytes) : new Uint8Array(0);
  }
  return new Uint8Array(0);
}

export function stafdViewFromJson(json: string, opts: TidOptions): StafdView {
  let records: unknown;
  try {
    records = JSON.parse(json);
  } catch {
    return { answered: false };
  }
  if (!Array.isArray(records)) return { answered: false };
  const dcs: { dc: Tid; entries: DiscoveryLogEntry[] }[] = [];
  for (const r of records as Record<string, unknown>[]) {
    const d = (r?.['discovery-controller'] ?? {}) as Record<string, unknown>;
    if (!str(d['transport']) || !str(d['traddr'])) continue;
    const dc = Tid.from(
      {
        transport: str(d['transport']),
        traddr: str(d['traddr']),
        trsvcid: str(d['trsvcid']),
        subsysnqn: str(d['subsysnqn']),
        hostTraddr: str(d['host-traddr']),
        hostIface: str(d['host-iface']),
        hostNqn: str(d['host-nqn']),
      },
      opts,
    );
    const entries: DiscoveryLogEntry[] = [];
    for (const p of Array.isArray(r['log-pages']) ? (r['log-pages'] as Record<string, unknown>[]) : []) {
      const trtype = num(p['trtype'], TRTYPE);
      const subtype = num(p['subtype'], SUBTYPE);
      if (trtype < 0 || subtype < 0) continue;
      entries.push({
        trtype,
        adrfam: Math.max(0, num(p['adrfam'], ADRFAM)),
        subtype,
        // stafd's text of the TREQ field (nvme-stas' names, or a number); unknown text: not specified.
        treq: Math.max(0, num(p['treq'], TREQ)),
        portid: Math.max(0, num(p['portid'])),
        cntlid: Math.max(0, num(p['cntlid'])),
        asqsz: Math.max(0, num(p['asqsz'])),
        eflags: Math.max(0, num(p['eflags'])),
        trsvcid: str(p['trsvcid']),
        subnqn: str(p['subnqn']),
        traddr: str(p['traddr']),
        tsas: tsasBytes(trtype, p['tsas']),
      });
    }
    dcs.push({ dc, entries });
  }
  return { answered: true, dcs };
}
