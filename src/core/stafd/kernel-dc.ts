/**
 * Kernel-hosted discovery controllers, the decisions as data: which host reaches a DC (stafd's userspace
 * NVMe/TCP host or the kernel's) and which existing kernel controller a DC adopts instead of connecting. Pure.
 */
import { isDiscoveryController, type KernelController } from '../kernel-controller.js';
import { controllerMatchesTid, type InterfaceMap } from '../match.js';
import type { TidFields } from '../tid.js';

export type DcHost = 'userspace' | 'kernel';

/**
 * Every DC is a kernel discovery controller (as with nvme-stas), except tcp DCs with `kernel-discovery=false`, which
 * use stafd's own NVMe/TCP host; rdma, fc and loop always need the kernel (stafd has no userspace host for them).
 */
export function dcHostFor(transport: string, kernelDiscovery: boolean): DcHost {
  return transport === 'tcp' && !kernelDiscovery ? 'userspace' : 'kernel';
}

/** Controller states in which a controller is on its way out: never adopted. */
const GOING = new Set(['deleting', 'deleting (no IO)', 'dead']);

/**
 * The existing kernel discovery controller a DC adopts instead of connecting again (nvme-stas' reuse rules,
 * src/core/match.ts), or undefined. Preference: the device stafd created for this DC before (`preferDevice`),
 * then the lowest device number. A loop controller connected without traddr (the kernel then shows none) serves
 * any loop DC of the same subsystem and host NQN.
 */
export function findKernelDc(
  tid: TidFields,
  controllers: readonly KernelController[],
  ifaces: InterfaceMap,
  preferDevice?: string,
): KernelController | undefined {
  const found = controllers.filter((c) => {
    if (!isDiscoveryController(c) || GOING.has(c.state)) return false;
    const k =
      tid.transport === 'loop' && c.transport === 'loop' && c.traddr === ''
        ? { ...c, traddr: tid.traddr }
        : c;
    return controllerMatchesTid(tid, k, ifaces);
  });
  return found.find((c) => c.device === preferDevice) ?? found[0];
}
