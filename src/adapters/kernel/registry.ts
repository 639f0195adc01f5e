/**
 * The NVMe connection ownership registry shared with libnvme/nvme-cli: /run/nvme/registry/<device>/owner holds
 * the name of the program that owns a controller (`stas`, `nbft`, …). stacd claims what it connects and never
 * disconnects what another owner claimed.
 *
 * The registry lives on /run, a tmpfs: its reads and writes are memory operations that cannot stall like a device
 * or network file system, so they are made synchronously. A pass reads every entry and claims every controller it
 * connects; as thread-pool round trips, hundreds of them cost more CPU than the file operations themselves.
 */
import { mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isControllerName } from '../../core/kernel-controller.js';

export const REGISTRY_DIR = '/run/nvme/registry';
export const STAS_OWNER = 'stas';

const ownerOf = (dir: string, device: string): string | undefined => {
  try {
    return readFileSync(join(dir, device, 'owner'), 'utf8').trim() || undefined;
  } catch {
    return undefined; // no owner file: unknown owner
  }
};

/** device → owner, for every device with a readable owner file. */
export async function readOwners(dir = REGISTRY_DIR): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    if (!isControllerName(n)) continue;
    const owner = ownerOf(dir, n);
    if (owner) out.set(n, owner);
  }
  return out;
}

export async function claim(device: string, owner = STAS_OWNER, dir = REGISTRY_DIR): Promise<void> {
  if (!isControllerName(device)) throw new RangeError(`not a controller name: ${device}`);
  mkdirSync(join(dir, device), { recursive: true, mode: 0o755 });
  writeFileSync(join(dir, device, 'owner'), `${owner}\n`);
}

/** Drops the entry of a device that is gone (only if we own it). */
export async function release(device: string, dir = REGISTRY_DIR): Promise<void> {
  if (!isControllerName(device)) return;
  if (ownerOf(dir, device) !== STAS_OWNER) return;
  // The usual entry holds only `owner`: two calls, not a recursive walk.
  try {
    unlinkSync(join(dir, device, 'owner'));
    rmdirSync(join(dir, device));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOTEMPTY')
      rmSync(join(dir, device), { recursive: true, force: true });
  }
}

/** The registry as the daemons use it (their kernel ports carry it; tests substitute one in memory). */
export interface OwnershipRegistry {
  /** device → owner, for every device with a readable owner file. */
  owners(): Promise<Map<string, string>>;
  /** Records `device` as stas'. */
  claim(device: string): Promise<void>;
  /** Drops the entry of a device that is gone (only if stas owns it). */
  release(device: string): Promise<void>;
}

/** The registry in `dir` (default /run/nvme/registry), claims made as `stas`. */
export function ownershipRegistry(dir = REGISTRY_DIR): OwnershipRegistry {
  return {
    owners: () => readOwners(dir),
    claim: (device) => claim(device, STAS_OWNER, dir),
    release: (device) => release(device, dir),
  };
}
