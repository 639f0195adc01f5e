/** What the kernel tells about an existing NVMe controller (sysfs / uevent), and how it is classified. Pure. */
import { WELL_KNOWN_DISC_NQN } from './tid.js';

/** A controller's device name, `nvme<N>` (not `nvme-fabrics`, not a namespace). */
export function isControllerName(name: string): boolean {
  return /^nvme\d+$/.test(name);
}

/** A namespace's device name: `nvme<N>n<M>`, or `nvme<N>c<C>n<M>` (a multipath path). */
export function isNamespaceName(name: string): boolean {
  return /^nvme\d+(c\d+)?n\d+$/.test(name);
}

/** One controller as read from /sys/class/nvme/nvmeN (and its uevent). Empty string = unknown / not exposed. */
export interface KernelController {
  /** `nvme3` */
  device: string;
  transport: string;
  traddr: string;
  trsvcid: string;
  subsysnqn: string;
  hostNqn: string;
  hostId: string;
  /** host_traddr the connection was asked to use (NVME_HOST_TRADDR / `host_traddr=` in `address`). */
  hostTraddr: string;
  /** host_iface the connection was asked to use (NVME_HOST_IFACE / `host_iface=` in `address`). */
  hostIface: string;
  /** Actual source address (kernel ≥ 6.1 exposes `src_addr=` in `address`); '' on older kernels. */
  srcAddr: string;
  /** `io`, `discovery`, or '' on kernels before 5.18. */
  cntrltype: string;
  /** `cdc`, `ddc`, `none` or ''. */
  dctype: string;
  /** `live`, `connecting`, `resetting`, `deleting`, … */
  state: string;
  /** Has namespaces (child block devices): implies an I/O controller on old kernels. */
  hasNamespaces: boolean;
}

/** Values the kernel prints for "not set". */
function unsetToEmpty(v: string | undefined): string {
  const t = (v ?? '').trim();
  return t === 'none' || t === 'None' || t === '(efault)' ? '' : t;
}

/**
 * Parses the sysfs `address` attribute, e.g. `traddr=10.0.0.1,trsvcid=4420,host_traddr=10.0.0.2,src_addr=10.0.0.2`.
 * FC addresses contain no commas inside values, so a plain split is exact.
 */
export function parseSysfsAddress(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.trim().split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    out[part.slice(0, eq).trim()] = unsetToEmpty(part.slice(eq + 1));
  }
  return out;
}

/** Builds the record from raw sysfs attribute texts (missing attributes are undefined). */
export function kernelControllerFromSysfs(
  device: string,
  attrs: Readonly<Record<string, string | undefined>>,
  hasNamespaces: boolean,
): KernelController {
  const addr = parseSysfsAddress(attrs['address'] ?? '');
  return {
    device,
    transport: unsetToEmpty(attrs['transport']),
    traddr: addr['traddr'] ?? '',
    trsvcid: addr['trsvcid'] ?? '',
    subsysnqn: unsetToEmpty(attrs['subsysnqn']),
    hostNqn: unsetToEmpty(attrs['hostnqn']),
    hostId: unsetToEmpty(attrs['hostid']),
    hostTraddr: addr['host_traddr'] ?? '',
    hostIface: addr['host_iface'] ?? '',
    srcAddr: addr['src_addr'] ?? '',
    cntrltype: unsetToEmpty(attrs['cntrltype']),
    dctype: unsetToEmpty(attrs['dctype']),
    state: unsetToEmpty(attrs['state']),
    hasNamespaces,
  };
}

/** Discovery controller: well-known NQN, cntrltype=discovery, or (old kernels) no namespaces and no cntrltype. */
export function isDiscoveryController(c: KernelController): boolean {
  if (c.cntrltype) return c.cntrltype === 'discovery';
  return c.subsysnqn === WELL_KNOWN_DISC_NQN || !c.hasNamespaces;
}

/** I/O controller: cntrltype=io, or (old kernels) namespaces present. */
export function isIoController(c: KernelController): boolean {
  if (c.cntrltype) return c.cntrltype === 'io';
  return c.hasNamespaces && c.subsysnqn !== WELL_KNOWN_DISC_NQN;
}
