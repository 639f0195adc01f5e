/** Loads the host identity: sys.conf through the config parser, then `file://` values read from disk. */
import { readFileSync } from 'node:fs';
import type { ConfigDiagnostic } from '../core/config/diagnostics.js';
import { SYS_SCHEMA } from '../core/config/schema.js';
import { type HostIdentity, resolveHostIdentity } from '../core/host-identity.js';
import { loadSysConfigSync } from './config-file.js';

export interface LoadedHostIdentity {
  identity: HostIdentity;
  /** sys.conf diagnostics and identity warnings (e.g. an unreadable symname file). */
  diagnostics: ConfigDiagnostic[];
}

/** Throws HostIdentityError (nvme-stas' message) when the host NQN or ID cannot be had. */
export function loadHostIdentity(sysConfPath: string = SYS_SCHEMA.file): LoadedHostIdentity {
  const { config, diagnostics } = loadSysConfigSync(sysConfPath);
  const out = [...diagnostics];
  const identity = resolveHostIdentity(
    config,
    (p) => readFileSync(p, 'utf8'),
    (message) => out.push({ level: 'warning', file: sysConfPath, message }),
  );
  return { identity, diagnostics: out };
}
