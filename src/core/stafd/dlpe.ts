/** stafd's view of a DC's log: its entries as nvme-stas shows them (src/core/dlpe-dict.ts), its referrals as TIDs. Pure. */
import { classifyLog } from '../log-entry.js';
import type { DiscoveryLogEntry } from '../nvme/discovery-log.js';
import type { Tid, TidOptions } from '../tid.js';

export { dlpeToDict } from '../dlpe-dict.js';

/**
 * The referral entries of a DC's log as TIDs of other DCs (see classifyEntry: what they inherit from the DC, and
 * which entries are refused). Self-references (subtype `discovery`) are not referrals.
 */
export function referralTids(dc: Tid, entries: readonly DiscoveryLogEntry[], opts: TidOptions): Tid[] {
  return classifyLog(dc, entries, opts).referrals;
}
