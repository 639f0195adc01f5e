/**
 * stafd's reconciliation as data: which discovery controllers should exist (configured, mDNS-discovered,
 * referrals; minus exclusions and disabled address families) and what to add and remove given the current set.
 * Pure.
 */
import type { ControllerEntry } from '../config/controller-line.js';
import type { IpFamily } from '../config/values.js';
import { type ExcludeFields, isExcluded } from '../exclude.js';
import { parseIp } from '../ipaddr.js';
import { isFabricTransport, type Tid } from '../tid.js';

/** The reason given for controllers the host-wide exclusion list keeps out. */
export const HOST_EXCLUDED = 'excluded by the host exclusion list (/etc/nvme/exclusions.conf)';

export type DcOrigin = 'configured' | 'discovered' | 'referral';

export interface DcCandidate {
  tid: Tid;
  origin: DcOrigin;
  /** The `controller=` line for configured DCs (per-controller options and secrets). */
  entry?: ControllerEntry;
}

export interface DcPlanInput {
  /** `controller=` entries (host names already resolved to addresses), then nBFT discovery entries (no entry). */
  configured: readonly { tid: Tid; entry?: ControllerEntry | undefined }[];
  /** DCs announced by mDNS and found reachable. */
  discovered: readonly Tid[];
  /** Referral entries of the current DCs' logs. */
  referrals: readonly Tid[];
  excludes: readonly ExcludeFields[];
  /** The host-wide exclusion list (/etc/nvme/exclusions.conf and its drop-ins), applicable entries. */
  hostExclusions?: readonly ExcludeFields[];
  ipFamily: IpFamily;
}

export interface DroppedDc {
  tid: Tid;
  reason: string;
}

export interface DcPlan {
  /** Desired DCs by TID key, origin by precedence configured > referral > discovered (nvme-stas' order). */
  desired: Map<string, DcCandidate>;
  /** Candidates refused, with the reason (for logs). */
  dropped: DroppedDc[];
}

/** Why a TID cannot be used, or undefined: unknown transport, not an IP literal, address family disabled. */
export function addressProblem(tid: Tid, ipFamily: IpFamily): string | undefined {
  if (!isFabricTransport(tid.transport)) return `Invalid transport ${tid.transport}`;
  if (tid.transport !== 'tcp' && tid.transport !== 'rdma') return undefined;
  const ip = parseIp(tid.traddr);
  if (!ip) return 'IP address is not valid';
  if (ip.family === 4 && !ipFamily.ipv4) return 'ignored because IPv4 is disabled';
  if (ip.family === 6 && !ipFamily.ipv6) return 'ignored because IPv6 is disabled';
  return undefined;
}

export function planDiscoveryControllers(input: DcPlanInput): DcPlan {
  const desired = new Map<string, DcCandidate>();
  const dropped: DroppedDc[] = [];
  const consider = (c: DcCandidate) => {
    if (isExcluded(c.tid, input.excludes)) {
      dropped.push({ tid: c.tid, reason: 'excluded' });
      return;
    }
    if (isExcluded(c.tid, input.hostExclusions ?? [])) {
      dropped.push({ tid: c.tid, reason: HOST_EXCLUDED });
      return;
    }
    const problem = addressProblem(c.tid, input.ipFamily);
    if (problem) {
      dropped.push({ tid: c.tid, reason: problem });
      return;
    }
    if (!desired.has(c.tid.key())) desired.set(c.tid.key(), c);
  };
  for (const c of input.configured) consider({ tid: c.tid, origin: 'configured', entry: c.entry });
  for (const tid of input.referrals) consider({ tid, origin: 'referral' });
  for (const tid of input.discovered) consider({ tid, origin: 'discovered' });
  return { desired, dropped };
}

/** What stafd knows about a DC it has now. */
export interface CurrentDc {
  origin: DcOrigin;
  /** mDNS-discovered DC that is gone from mDNS, not connected, and whose persistence time ran out. */
  expired: boolean;
}

export interface DcDiff {
  add: DcCandidate[];
  /** Keys to remove (disconnect), with the reason. */
  remove: { key: string; reason: string }[];
  /** Keys whose origin changes (e.g. a referral that is now also configured). */
  origin: { key: string; origin: DcOrigin }[];
}

/**
 * Compares the current DCs with the plan. A DC that is no longer desired is removed — except an mDNS-discovered
 * one, which stays until it has expired (a passing Avahi outage must not tear it down) unless it was excluded or
 * its address became unusable.
 */
export function diffDiscoveryControllers(current: ReadonlyMap<string, CurrentDc>, plan: DcPlan): DcDiff {
  const droppedKeys = new Map(plan.dropped.map((d) => [d.tid.key(), d.reason]));
  const diff: DcDiff = { add: [], remove: [], origin: [] };
  for (const [key, dc] of current) {
    const want = plan.desired.get(key);
    if (want) {
      if (want.origin !== dc.origin) diff.origin.push({ key, origin: want.origin });
      continue;
    }
    const refused = droppedKeys.get(key);
    if (refused) diff.remove.push({ key, reason: refused });
    else if (dc.origin !== 'discovered')
      diff.remove.push({
        key,
        reason: `no longer ${dc.origin === 'configured' ? 'configured' : 'referred to'}`,
      });
    else if (dc.expired)
      diff.remove.push({
        key,
        reason: 'not responding and no longer announced (zeroconf-connections-persistence)',
      });
  }
  for (const [key, c] of plan.desired) if (!current.has(key)) diff.add.push(c);
  return diff;
}
