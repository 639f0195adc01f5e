/** `exclude=` minimal matching: an entry excludes every controller whose fields include all of the entry's. Pure. */
import { ipEqual, parseIp } from './ipaddr.js';
import type { TidFields } from './tid.js';

/** An exclude entry as parsed from the config: field name (config spelling) → value. */
export type ExcludeFields = Readonly<Record<string, string>>;

/**
 * The entry that matches every controller. Config files cannot produce it (an empty `exclude=` is refused); the
 * host exclusion list does, for an entry that names only this host's ID.
 */
export const EXCLUDE_ALL: ExcludeFields = Object.freeze({ '*': '' });

/** The TID value an exclude key is compared with (config spellings: transport, traddr, host-iface, nqn…). */
function tidValue(tid: TidFields, key: string): string | undefined {
  switch (key) {
    case 'transport':
      return tid.transport;
    case 'traddr':
      return tid.traddr;
    case 'trsvcid':
      return tid.trsvcid;
    case 'subsysnqn':
    case 'nqn':
      return tid.subsysnqn;
    case 'host-iface':
      return tid.hostIface;
    case 'host-traddr':
      return tid.hostTraddr;
    case 'host-nqn':
      return tid.hostNqn;
    default:
      return undefined;
  }
}

function valueMatches(key: string, want: string, have: string): boolean {
  if (want === have) return true;
  // Addresses: the same IP written differently (FE80::1 vs fe80::1, ::ffff:1.2.3.4 vs 1.2.3.4) still matches.
  if (key === 'traddr' || key === 'host-traddr') {
    if (parseIp(want) && parseIp(have)) return ipEqual(want, have);
    // Fibre Channel addresses (nn-0x…:pn-0x…) are case-insensitive.
    if (/^nn-0x/i.test(want)) return want.toLowerCase() === have.toLowerCase();
  }
  return false;
}

/**
 * True if every key of `entry` equals the TID's value for that key. An empty entry matches nothing (nvme-stas
 * made it match everything; the config loader already warns about it). Unknown keys never match.
 */
export function excludeEntryMatches(entry: ExcludeFields, tid: TidFields): boolean {
  const keys = Object.keys(entry);
  if (keys.length === 0) return false;
  if (keys.length === 1 && keys[0] === '*') return true;
  return keys.every((k) => {
    const have = tidValue(tid, k);
    return have !== undefined && valueMatches(k, entry[k]!, have);
  });
}

export function isExcluded(tid: TidFields, entries: readonly ExcludeFields[]): boolean {
  return entries.some((e) => excludeEntryMatches(e, tid));
}
