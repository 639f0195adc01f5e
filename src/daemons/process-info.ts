/** The process_info fields both daemons report (trace state and host identity; the host key never in clear). */
import type { HostIdentity } from '../core/host-identity.js';

export function commonProcessInfo(
  tron: boolean,
  identity: HostIdentity,
  lkcPath: string | undefined,
): Record<string, unknown> {
  return {
    tron,
    'log-level': tron ? 'DEBUG' : 'INFO',
    hostnqn: identity.hostNqn,
    hostid: identity.hostId,
    hostkey: identity.hostKey ? '<redacted>' : '',
    symname: identity.symname ?? '',
    'last known config file': lkcPath ?? '',
  };
}
