/** Test helper: the sysfs record a kernel would show for a connect request (in-memory kernels of unit tests). */
import type { ConnectRequest } from '../../src/core/connect-options.js';
import type { KernelController } from '../../src/core/kernel-controller.js';

export function controllerFor(r: ConnectRequest, device: string): KernelController {
  return {
    device,
    transport: r.transport,
    traddr: r.traddr,
    trsvcid: r.trsvcid ?? '',
    subsysnqn: r.nqn,
    hostNqn: r.hostNqn,
    hostId: r.hostId,
    hostTraddr: '',
    hostIface: '',
    srcAddr: '127.0.0.1',
    cntrltype: 'io',
    dctype: 'none',
    state: 'live',
    hasNamespaces: true,
  };
}
