/**
 * Does an existing kernel controller serve a candidate TID? (nvme-stas' reuse rules: adopt, don't duplicate.)
 * Pure: the interface/address map is an argument.
 */
import { ipEqual, parseIp } from './ipaddr.js';
import type { KernelController } from './kernel-controller.js';
import { type TidFields, WELL_KNOWN_DISC_NQN } from './tid.js';
import { isIpTransport, transportInfo } from './transport.js';

/** Local interfaces and their addresses, each list in the kernel's order (the first is the primary). */
export type InterfaceMap = ReadonlyMap<
  string,
  { readonly ipv4: readonly string[]; readonly ipv6: readonly string[] }
>;

/** Name of the interface that owns `addr`, or '' if none does. */
export function interfaceOf(ifaces: InterfaceMap, addr: string): string {
  for (const [name, a] of ifaces) {
    if (a.ipv4.some((x) => ipEqual(x, addr)) || a.ipv6.some((x) => ipEqual(x, addr))) return name;
  }
  return '';
}

function sameAddr(transport: string, a: string, b: string): boolean {
  if (isIpTransport(transport)) return ipEqual(a, b);
  return a.toLowerCase() === b.toLowerCase();
}

/** Kernels before 6.1 do not expose src_addr: infer what we can from host_traddr / host_iface. */
function legacyTcpMatch(tid: TidFields, c: KernelController, ifaces: InterfaceMap): boolean {
  if (!c.hostIface) {
    if (!c.hostTraddr) return true; // Nothing known about the existing connection's source: assume it matches.
    if (tid.hostTraddr && !ipEqual(tid.hostTraddr, c.hostTraddr)) return false;
    if (tid.hostIface && tid.hostIface !== interfaceOf(ifaces, c.hostTraddr)) return false;
    return true;
  }
  if (tid.hostIface && tid.hostIface !== c.hostIface) return false;
  if (tid.hostTraddr) {
    if (c.hostTraddr) return ipEqual(tid.hostTraddr, c.hostTraddr);
    const family = parseIp(tid.hostTraddr)?.family;
    const addrs = ifaces.get(c.hostIface);
    const primary = family === 4 ? addrs?.ipv4[0] : addrs?.ipv6[0];
    if (primary === undefined || !ipEqual(primary, tid.hostTraddr)) return false;
  }
  return true;
}

/**
 * True when the existing controller `c` is the connection `tid` asks for:
 * 1. transport, trsvcid and host NQN equal;
 * 2. subsystem NQN equal, or the candidate uses the well-known discovery NQN (a DC with a unique NQN, TP8013);
 * 3. traddr equal (as IP addresses for tcp/rdma, case-insensitive otherwise);
 * 4. the transport's reuse rule (src/core/transport.ts): tcp (`source`): host-traddr/host-iface, when the
 *    candidate names them, agree with the connection's source address; fc (`host-traddr`): host-traddr equal
 *    (case-insensitive); rdma (`host-traddr-if-named`): host-traddr equal when named; loop (`any`).
 */
export function controllerMatchesTid(tid: TidFields, c: KernelController, ifaces: InterfaceMap): boolean {
  if (c.transport !== tid.transport || c.trsvcid !== tid.trsvcid || c.hostNqn !== tid.hostNqn) return false;
  if (tid.subsysnqn !== WELL_KNOWN_DISC_NQN && tid.subsysnqn !== c.subsysnqn) return false;
  if (!sameAddr(tid.transport, tid.traddr, c.traddr)) return false;

  switch (transportInfo(tid.transport)?.reuse) {
    case 'source': {
      if (!tid.hostTraddr && !tid.hostIface) return true;
      if (!c.srcAddr) return legacyTcpMatch(tid, c, ifaces);
      if (tid.hostTraddr && !ipEqual(tid.hostTraddr, c.srcAddr)) return false;
      if (tid.hostIface && tid.hostIface !== interfaceOf(ifaces, c.srcAddr)) return false;
      return true;
    }
    case 'host-traddr':
      return tid.hostTraddr.toLowerCase() === c.hostTraddr.toLowerCase();
    case 'host-traddr-if-named':
      return !tid.hostTraddr || ipEqual(tid.hostTraddr, c.hostTraddr);
    default:
      return true;
  }
}
