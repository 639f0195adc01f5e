/** stacd's last-known configuration: the controllers it made or adopted, so a restart keeps ownership. JSON under /run/stacd. */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../../adapters/atomic-file.js';

export function saveOwned(path: string, devices: ReadonlySet<string>): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileAtomic(path, `${JSON.stringify({ version: 1, owned: [...devices].sort() })}\n`, 0o600);
}

export function loadOwned(path: string): Set<string> {
  try {
    const body = JSON.parse(readFileSync(path, 'utf8')) as { version?: unknown; owned?: unknown };
    if (body.version !== 1 || !Array.isArray(body.owned)) return new Set();
    return new Set(body.owned.filter((d): d is string => typeof d === 'string' && /^nvme\d+$/.test(d)));
  } catch {
    return new Set();
  }
}
