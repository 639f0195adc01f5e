/**
 * Whether a controller a daemon wants (stafd: a DC; stacd: an I/O controller) may be used: `exclude=`, the host
 * exclusion list, then its transport and address (src/core/transport.ts). One rule for both daemons. Pure.
 */
import { type ExcludeFields, isExcluded } from './exclude.js';
import type { TidFields } from './tid.js';
import { addressProblem } from './transport.js';

export { addressProblem };

/** The reason given for controllers the host-wide exclusion list keeps out. */
export const HOST_EXCLUDED = 'excluded by the host exclusion list (/etc/nvme/exclusions.conf)';

export interface RefusalRules {
  /** `exclude=` entries of the daemon's config. */
  readonly excludes: readonly ExcludeFields[];
  /** The host-wide exclusion list (/etc/nvme/exclusions.conf and its drop-ins), applicable entries. */
  readonly hostExclusions?: readonly ExcludeFields[] | undefined;
  readonly ipFamily: { readonly ipv4: boolean; readonly ipv6: boolean };
}

/** `excluded`, HOST_EXCLUDED, or undefined: the exclusions alone (for controllers that exist already). */
export function exclusionOf(tid: TidFields, rules: RefusalRules): string | undefined {
  if (isExcluded(tid, rules.excludes)) return 'excluded';
  if (isExcluded(tid, rules.hostExclusions ?? [])) return HOST_EXCLUDED;
  return undefined;
}

/** Why `tid` must not be used, or undefined: the exclusions first, then the transport and address. */
export function refusalOf(tid: TidFields, rules: RefusalRules): string | undefined {
  return exclusionOf(tid, rules) ?? addressProblem(tid, rules.ipFamily);
}
