/**
 * Which host carries a discovery controller's session: the kernel's NVMe host (every transport by default) or
 * stafd's userspace NVMe/TCP host (tcp with kernel-discovery = false). The rule is the core's dcHostFor; this is
 * the session factory stafd's runners call, reading kernel-discovery at each connect (a SIGHUP's new value applies
 * to the next connection).
 */
import type { DcSessionFactory } from '../../adapters/dc-session.js';
import { dcHostFor } from '../../core/stafd/kernel-dc.js';

/** The two hosts' session factories. */
export interface DcHosts {
  kernel: DcSessionFactory;
  userspace: DcSessionFactory;
}

export function dcSessionFactory(hosts: DcHosts, kernelDiscovery: () => boolean): DcSessionFactory {
  return (opts) =>
    dcHostFor(opts.transport, kernelDiscovery()) === 'kernel' ? hosts.kernel(opts) : hosts.userspace(opts);
}
