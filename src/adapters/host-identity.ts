/** Loads the host identity: sys.conf through the config parser, then `file://` values read from disk. */
import type { ConfigDiagnostic } from '../core/config/diagnostics.js';
import { SYS_SCHEMA } from '../core/config/schema.js';
import { type HostIdentity, resolveHostIdentity } from '../core/host-identity.js';
import { loadSysConfigSync, readRegularFileSync } from './config-file.js';

export interface LoadedHostIdentity {
  identity: HostIdentity;
  /** sys.conf diagnostics and identity warnings (e.g. an unreadable symname file). */
  diagnostics: ConfigDiagnostic[];
}

/**
 * Throws HostIdentityError (nvme-stas' message) when the host NQN or ID cannot be had, or when a value holds
 * characters it must not. sys.conf and the `file://` files are read only if they are regular files (a FIFO in
 * their place would block start-up).
 */
export function loadHostIdentity(sysConfPath: string = SYS_SCHEMA.file): LoadedHostIdentity {
  const { config, diagnostics } = loadSysConfigSync(sysConfPath);
  const out = [...diagnostics];
  const identity = resolveHostIdentity(
    config,
    readRegularFileSync,
    (message) => out.push({ level: 'warning', file: sysConfPath, message }),
    sysConfPath,
  );
  return { identity, diagnostics: out };
}
