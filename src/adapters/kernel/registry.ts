/**
 * The NVMe connection ownership registry shared with libnvme/nvme-cli: /run/nvme/registry/<device>/owner holds
 * the name of the program that owns a controller (`stas`, `nbft`, …). stacd claims what it connects and never
 * disconnects what another owner claimed.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const REGISTRY_DIR = '/run/nvme/registry';
export const STAS_OWNER = 'stas';

/** device → owner, for every device with a readable owner file. */
export async function readOwners(dir = REGISTRY_DIR): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return out;
  }
  await Promise.all(
    names
      .filter((n) => /^nvme\d+$/.test(n))
      .map(async (n) => {
        try {
          const owner = (await readFile(join(dir, n, 'owner'), 'utf8')).trim();
          if (owner) out.set(n, owner);
        } catch {
          // no owner file: unknown owner
        }
      }),
  );
  return out;
}

export async function claim(device: string, owner = STAS_OWNER, dir = REGISTRY_DIR): Promise<void> {
  if (!/^nvme\d+$/.test(device)) throw new RangeError(`not a controller name: ${device}`);
  await mkdir(join(dir, device), { recursive: true, mode: 0o755 });
  await writeFile(join(dir, device, 'owner'), `${owner}\n`);
}

/** Drops the entry of a device that is gone (only if we own it). */
export async function release(device: string, dir = REGISTRY_DIR): Promise<void> {
  if (!/^nvme\d+$/.test(device)) return;
  const owners = await readOwners(dir);
  if (owners.get(device) === STAS_OWNER) await rm(join(dir, device), { recursive: true, force: true });
}
