/** The host's network interfaces and their addresses (for the reuse rules of src/core/match.ts). */
import { networkInterfaces } from 'node:os';
import type { InterfaceMap } from '../core/match.js';

export function localInterfaces(): InterfaceMap {
  const map = new Map<string, { ipv4: string[]; ipv6: string[] }>();
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    const v = { ipv4: [] as string[], ipv6: [] as string[] };
    for (const a of addrs ?? []) (a.family === 'IPv4' ? v.ipv4 : v.ipv6).push(a.address);
    map.set(name, v);
  }
  return map;
}
