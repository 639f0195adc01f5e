/** Test helpers: the sysfs record a kernel would show for a connect request, and an in-memory kernel for unit tests. */
import { KernelConnectError } from '../../src/adapters/kernel/fabrics.js';
import type { OwnershipRegistry } from '../../src/adapters/kernel/registry.js';
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

/** An ownership registry in memory (`owners` is the registry itself). */
export function memoryRegistry(owners = new Map<string, string>()): OwnershipRegistry {
  return {
    owners: async () => new Map(owners),
    claim: async (device) => {
      owners.set(device, 'stas');
    },
    release: async (device) => {
      if (owners.get(device) === 'stas') owners.delete(device);
    },
  };
}

/**
 * An in-memory kernel for a StacdService: connect adds a live controller, disconnect removes it; connects to an
 * NQN in `refuse` fail with ECONNREFUSED. `beforeConnect` runs first in every connect (to hold connects, or to
 * advance an injected clock). Its ownership registry is in memory (tests that check the files assign
 * ownershipRegistry(dir) to the port).
 */
export function fakeKernel(beforeConnect?: (r: ConnectRequest) => Promise<void>) {
  const ctrls: KernelController[] = [];
  const requests: ConnectRequest[] = [];
  let next = 0;
  const refuse = new Set<string>();
  return {
    ctrls,
    requests,
    refuse,
    port: {
      scan: async () => ctrls.map((c) => ({ ...c })),
      connect: async (r: ConnectRequest) => {
        await beforeConnect?.(r);
        requests.push(r);
        if (refuse.has(r.nqn))
          throw new KernelConnectError('ECONNREFUSED', 'ECONNREFUSED: connection refused by the target');
        const device = `nvme${next++}`;
        ctrls.push(controllerFor(r, device));
        return { device, instance: next - 1, cntlid: 1 };
      },
      disconnect: async (d: string) => {
        ctrls.splice(
          ctrls.findIndex((c) => c.device === d),
          1,
        );
      },
      ...memoryRegistry(),
    },
  };
}
