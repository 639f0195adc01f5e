/**
 * Kernel-hosted discovery controllers, the decisions as data: which host reaches a DC (stafd's userspace
 * NVMe/TCP host or the kernel's) and which existing kernel controller a DC adopts instead of connecting. Pure.
 */
import { isDiscoveryController, type KernelController } from '../kernel-controller.js';
import { controllerMatchesTid, type InterfaceMap } from '../match.js';
import type { TidFields } from '../tid.js';
import { takesKernelOption, transportInfo } from '../transport.js';

export type DcHost = 'userspace' | 'kernel';

/**
 * Every DC is a kernel discovery controller (as with nvme-stas), except DCs on a transport stafd hosts itself (tcp:
 * its own NVMe/TCP host) with `kernel-discovery=false`; rdma, fc and loop always need the kernel.
 */
export function dcHostFor(transport: string, kernelDiscovery: boolean): DcHost {
  return transportInfo(transport)?.userspaceHost && !kernelDiscovery ? 'userspace' : 'kernel';
}

/** Controller states in which a controller is on its way out: never adopted. */
const GOING = new Set(['deleting', 'deleting (no IO)', 'dead']);

/**
 * The existing kernel discovery controller a DC adopts instead of connecting again (nvme-stas' reuse rules,
 * src/core/match.ts), or undefined. Preference: the device stafd created for this DC before (`preferDevice`),
 * then the lowest device number. On a transport whose traddr is not passed to the kernel (loop), a controller
 * without traddr serves any DC of the same subsystem and host NQN.
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
      c.transport === tid.transport && c.traddr === '' && !takesKernelOption(tid.transport, 'traddr')
        ? { ...c, traddr: tid.traddr }
        : c;
    return controllerMatchesTid(tid, k, ifaces);
  });
  return found.find((c) => c.device === preferDevice) ?? found[0];
}
