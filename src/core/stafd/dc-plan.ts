/**
 * stafd's reconciliation as data: which discovery controllers should exist (configured, mDNS-discovered,
 * referrals; minus exclusions and disabled address families; within the bounds on controllers, referral depth and
 * referrals per controller) and what to add and remove given the current set. Pure.
 */
import type { ControllerEntry } from '../config/controller-line.js';
import { DC_BOUNDS, type DcBounds } from '../config/schema.js';
import type { IpFamily } from '../config/values.js';
import type { ExcludeFields } from '../exclude.js';
import { addressProblem, HOST_EXCLUDED, refusalOf } from '../refusal.js';
import type { Tid } from '../tid.js';

export { addressProblem, HOST_EXCLUDED };

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
  /** Referrals in the log pages of the current DCs, by the referring DC's TID key (followed from the roots). */
  referrals: ReadonlyMap<string, readonly Tid[]>;
  /** TID keys of the DCs running now: when the controller bound is reached they keep their places. */
  current?: ReadonlySet<string>;
  /** Default: the documented defaults (DC_BOUNDS). */
  bounds?: DcBounds;
  excludes: readonly ExcludeFields[];
  /** The host-wide exclusion list (/etc/nvme/exclusions.conf and its drop-ins), applicable entries. */
  hostExclusions?: readonly ExcludeFields[];
  ipFamily: IpFamily;
}

export interface DroppedDc {
  tid: Tid;
  reason: string;
}

/** A bound that kept candidates out: which, because of which DC (undefined: configuration or mDNS), how many. */
export interface BoundHit {
  bound: 'max-discovery-controllers' | 'max-referral-depth' | 'max-referrals-per-controller';
  /** The referring DC; undefined for configured or mDNS candidates. */
  by: Tid | undefined;
  /** Origin of the refused candidates when `by` is undefined. */
  origin: DcOrigin;
  refused: number;
}

export interface DcPlan {
  /** Desired DCs by TID key, origin by precedence configured > referral > discovered (nvme-stas' order). */
  desired: Map<string, DcCandidate>;
  /** Candidates refused, with the reason (for logs). */
  dropped: DroppedDc[];
  /** Bounds that kept candidates out (one record per bound and cause). */
  hits: BoundHit[];
}

export const DEFAULT_DC_BOUNDS: DcBounds = Object.fromEntries(
  DC_BOUNDS.map((b) => [b.prop, b.default]),
) as unknown as DcBounds;

/**
 * The desired DCs: configured ones, then referrals followed breadth-first from the configured and mDNS DCs (depth
 * 0) up to the depth bound, taking at most the per-controller bound from each log page, then mDNS ones; then at
 * most the controller bound of them, configured first, then those running now, then new ones, in that order.
 */
export function planDiscoveryControllers(input: DcPlanInput): DcPlan {
  const bounds = input.bounds ?? DEFAULT_DC_BOUNDS;
  const dropped: DroppedDc[] = [];
  const hits = new Map<string, BoundHit>();
  const hit = (bound: BoundHit['bound'], by: Tid | undefined, origin: DcOrigin, n = 1) => {
    const k = `${bound}\u0000${by?.key() ?? origin}`;
    const h = hits.get(k) ?? { bound, by, origin, refused: 0 };
    h.refused += n;
    hits.set(k, h);
  };
  const usable = (tid: Tid): boolean => {
    const reason = refusalOf(tid, input);
    if (reason) dropped.push({ tid, reason });
    return !reason;
  };

  /** Candidates in precedence order, with the DC whose referral brought them. */
  const wanted = new Map<string, DcCandidate & { by?: Tid }>();
  const roots: { tid: Tid; depth: number }[] = [];
  for (const c of input.configured) {
    const key = c.tid.key();
    if (wanted.has(key) || !usable(c.tid)) continue;
    wanted.set(key, { tid: c.tid, origin: 'configured', entry: c.entry });
    roots.push({ tid: c.tid, depth: 0 });
  }
  const discovered = new Map<string, Tid>();
  for (const tid of input.discovered) {
    const key = tid.key();
    if (wanted.has(key) || discovered.has(key) || !usable(tid)) continue;
    discovered.set(key, tid);
    roots.push({ tid, depth: 0 });
  }
  // Breadth-first over the referral graph (each DC once: its shortest depth).
  const seen = new Set(roots.map((r) => r.tid.key()));
  for (let i = 0; i < roots.length; i++) {
    const { tid: dc, depth } = roots[i]!;
    const refs = input.referrals.get(dc.key()) ?? [];
    if (!refs.length) continue;
    if (depth >= bounds.maxReferralDepth) {
      const fresh = refs.filter((t) => !seen.has(t.key())).length;
      if (fresh) hit('max-referral-depth', dc, 'referral', fresh);
      continue;
    }
    refs.forEach((tid, n) => {
      if (n >= bounds.maxReferralsPerController) {
        if (n === bounds.maxReferralsPerController)
          hit('max-referrals-per-controller', dc, 'referral', refs.length - n);
        return;
      }
      const key = tid.key();
      if (wanted.has(key)) return;
      if (discovered.has(key)) {
        // Announced and referred to: a referral (nvme-stas' precedence); it is a root already.
        wanted.set(key, { tid, origin: 'referral', by: dc });
        return;
      }
      if (seen.has(key) || !usable(tid)) return;
      seen.add(key);
      wanted.set(key, { tid, origin: 'referral', by: dc });
      roots.push({ tid, depth: depth + 1 });
    });
  }
  for (const [key, tid] of discovered) if (!wanted.has(key)) wanted.set(key, { tid, origin: 'discovered' });

  // The controller bound: configured first, then the running ones, then new ones.
  const order = [...wanted.values()];
  const rank = (c: DcCandidate) => (c.origin === 'configured' ? 0 : input.current?.has(c.tid.key()) ? 1 : 2);
  order.sort((a, b) => rank(a) - rank(b)); // stable: precedence order within a rank
  const desired = new Map<string, DcCandidate>();
  for (const c of order) {
    if (desired.size >= bounds.maxDiscoveryControllers) {
      hit('max-discovery-controllers', c.by, c.origin);
      continue;
    }
    desired.set(
      c.tid.key(),
      c.entry ? { tid: c.tid, origin: c.origin, entry: c.entry } : { tid: c.tid, origin: c.origin },
    );
  }
  return { desired, dropped, hits: [...hits.values()] };
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
