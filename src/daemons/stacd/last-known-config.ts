/**
 * stacd's last-known configuration: the controllers it made or adopted, each with the identity it had (device
 * names are recycled by the kernel, so a name alone proves nothing), so that a restart keeps ownership. JSON under
 * /run/stacd.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../../adapters/atomic-file.js';
import { isControllerName } from '../../core/kernel-controller.js';

const VERSION = 2;

/** device → identity (see controllerIdentity). */
export function saveOwned(path: string, owned: ReadonlyMap<string, string>): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const body = {
    version: VERSION,
    owned: Object.fromEntries([...owned].sort(([a], [b]) => a.localeCompare(b))),
  };
  writeFileAtomic(path, `${JSON.stringify(body)}\n`, 0o600);
}

/** Anything unreadable, of an older version (names only) or malformed gives an empty map: nothing is presumed ours. */
export function loadOwned(path: string): Map<string, string> {
  try {
    const body = JSON.parse(readFileSync(path, 'utf8')) as { version?: unknown; owned?: unknown };
    if (body.version !== VERSION || typeof body.owned !== 'object' || body.owned === null) return new Map();
    return new Map(
      Object.entries(body.owned as Record<string, unknown>).filter(
        (e): e is [string, string] => isControllerName(e[0]) && typeof e[1] === 'string',
      ),
    );
  } catch {
    return new Map();
  }
}
