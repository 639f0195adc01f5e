/**
 * What one discovery log page entry means, seen from the discovery controller that listed it: an I/O controller,
 * a referral to another discovery controller, the DC itself, an entry nvme-stas ignores, or an entry refused
 * because a field is not usable. The one place both daemons decide what a usable entry is; strings from the
 * network are validated here with the same checks as anything that reaches /dev/nvme-fabrics. Pure.
 */
import { checkAddress, checkNqn, checkServiceId, OptionValueError } from './kernel-options.js';
import { type DiscoveryLogEntry, SubType } from './nvme/discovery-log.js';
import { Tid, type TidFields, type TidOptions } from './tid.js';
import { type Transport, transportOfTrtype } from './transport.js';

/** Transport name of an entry (`tcp`, `rdma`, `fc`, `loop`), or undefined if unknown. */
export function entryTransport(e: DiscoveryLogEntry): Transport | undefined {
  return transportOfTrtype(e.trtype);
}

/**
 * The host fields a controller listed in a DC's log page takes from that DC (nvme-stas): always its host NQN;
 * its host-traddr and host-iface when the entry uses the DC's transport (a route that reaches the DC is the one
 * to its listed controllers).
 */
export function inheritedFromDc(
  dc: TidFields,
  transport: string,
): { hostTraddr: string; hostIface: string; hostNqn: string } {
  const same = transport === dc.transport;
  return {
    hostTraddr: same ? dc.hostTraddr : '',
    hostIface: same ? dc.hostIface : '',
    hostNqn: dc.hostNqn,
  };
}

/** Entries nvme-stas drops from the cache: no usable address (0.0.0.0, ::, empty — this includes loop). */
export function hasUsableAddress(e: DiscoveryLogEntry): boolean {
  const a = e.traddr.trim();
  return a !== '' && a !== '0.0.0.0' && a !== '::';
}

export type ClassifiedEntry =
  /** An NVM subsystem (I/O controller) or a referral to another DC, with the TID to connect to. */
  | { readonly kind: 'ioc' | 'referral'; readonly tid: Tid }
  /** The current discovery subsystem (the DC's own entry): kept and shown, never followed. */
  | { readonly kind: 'self' }
  /** Not used and not reported, as nvme-stas: no usable address, unknown transport or subtype. */
  | { readonly kind: 'ignored'; readonly why: string }
  /** A field is not usable (hostile or broken strings): not used, reported. */
  | { readonly kind: 'refused'; readonly field: string; readonly reason: string };

/** The entry field (nvme-stas' DLPE key) behind a kernel option name. */
const FIELD_OF_OPTION: Record<string, string> = { nqn: 'subnqn' };

/**
 * Classifies one entry of the log page of `dc`. I/O controllers and referrals inherit the DC's host fields
 * (inheritedFromDc).
 */
export function classifyEntry(dc: TidFields, e: DiscoveryLogEntry, opts: TidOptions): ClassifiedEntry {
  const transport = entryTransport(e);
  if (!transport) return { kind: 'ignored', why: `unknown transport type ${e.trtype}` };
  if (!hasUsableAddress(e)) return { kind: 'ignored', why: 'no usable address' };
  const kind =
    e.subtype === SubType.nvme
      ? 'ioc'
      : e.subtype === SubType.referral
        ? 'referral'
        : e.subtype === SubType.discovery
          ? 'self'
          : undefined;
  if (!kind) return { kind: 'ignored', why: `unknown subtype ${e.subtype}` };
  try {
    checkAddress('traddr', transport, e.traddr);
    // An empty service ID takes the transport's default (Tid.from).
    if (e.trsvcid !== '') checkServiceId('trsvcid', transport, e.trsvcid);
    checkNqn('nqn', e.subnqn);
  } catch (err) {
    if (!(err instanceof OptionValueError)) throw err;
    const field = FIELD_OF_OPTION[err.option] ?? err.option;
    return { kind: 'refused', field, reason: err.message.replace(`for ${err.option}:`, `for ${field}:`) };
  }
  if (kind === 'self') return { kind };
  const tid = Tid.from(
    {
      transport,
      traddr: e.traddr,
      trsvcid: e.trsvcid,
      subsysnqn: e.subnqn,
      ...inheritedFromDc(dc, transport),
    },
    opts,
  );
  return { kind, tid };
}

export interface ClassifiedLog {
  /** Entries worth keeping (I/O controllers, referrals, the DC's own entry), in log order. */
  kept: DiscoveryLogEntry[];
  iocs: { tid: Tid; entry: DiscoveryLogEntry }[];
  referrals: Tid[];
  /** Entries refused, by position in the log page (0-based), with the field and the reason. */
  refused: { index: number; field: string; reason: string }[];
}

/** Classifies a whole log page. */
export function classifyLog(
  dc: TidFields,
  entries: readonly DiscoveryLogEntry[],
  opts: TidOptions,
): ClassifiedLog {
  const out: ClassifiedLog = { kept: [], iocs: [], referrals: [], refused: [] };
  entries.forEach((entry, index) => {
    const c = classifyEntry(dc, entry, opts);
    if (c.kind === 'ignored') return;
    if (c.kind === 'refused') {
      out.refused.push({ index, field: c.field, reason: c.reason });
      return;
    }
    out.kept.push(entry);
    if (c.kind === 'ioc') out.iocs.push({ tid: c.tid, entry });
    else if (c.kind === 'referral') out.referrals.push(c.tid);
  });
  return out;
}

/** Whether two logs hold the same entries in the same order (every field, TSAS bytes included). */
export function sameEntries(a: readonly DiscoveryLogEntry[], b: readonly DiscoveryLogEntry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (
      x.trtype !== y.trtype ||
      x.adrfam !== y.adrfam ||
      x.subtype !== y.subtype ||
      x.treq !== y.treq ||
      x.portid !== y.portid ||
      x.cntlid !== y.cntlid ||
      x.asqsz !== y.asqsz ||
      x.eflags !== y.eflags ||
      x.trsvcid !== y.trsvcid ||
      x.subnqn !== y.subnqn ||
      x.traddr !== y.traddr ||
      !Buffer.from(x.tsas).equals(Buffer.from(y.tsas))
    )
      return false;
  }
  return true;
}
