/** One-pass scan of /sys/class/nvme into typed controller records (the reconciler's view of the kernel). */

import { join } from 'node:path';
import {
  isControllerName,
  isNamespaceName,
  type KernelController,
  kernelControllerFromSysfs,
} from '../../core/kernel-controller.js';
import { readdir, readFile } from '../fs-async.js';
import { nativeAvailable, scanNvmeControllers } from '../native.js';

export const SYS_CLASS_NVME = '/sys/class/nvme';

const ATTRS = [
  'transport',
  'address',
  'subsysnqn',
  'hostnqn',
  'hostid',
  'cntrltype',
  'dctype',
  'state',
] as const;

async function readAttr(dir: string, name: string): Promise<string | undefined> {
  try {
    return await readFile(join(dir, name), 'utf8');
  } catch {
    return undefined; // older kernels lack some attributes; a controller may vanish mid-scan
  }
}

/** Reads one controller directory; undefined if it disappeared meanwhile. */
export async function readController(
  device: string,
  root = SYS_CLASS_NVME,
): Promise<KernelController | undefined> {
  if (!isControllerName(device)) return undefined;
  const dir = join(root, device);
  const values = await Promise.all(ATTRS.map((a) => readAttr(dir, a)));
  if (values[0] === undefined) return undefined;
  let hasNamespaces = false;
  try {
    hasNamespaces = (await readdir(dir)).some(isNamespaceName);
  } catch {
    return undefined;
  }
  return fromAttrValues(device, values, hasNamespaces);
}

/** The record of a controller from the values of ATTRS, in order (undefined or null: unreadable). */
function fromAttrValues(
  device: string,
  values: readonly (string | null | undefined)[],
  hasNamespaces: boolean,
): KernelController {
  const attrs: Record<string, string | undefined> = {};
  ATTRS.forEach((a, i) => {
    attrs[a] = values[i] ?? undefined;
  });
  return kernelControllerFromSysfs(device, attrs, hasNamespaces);
}

/**
 * Every fabrics controller the kernel has (PCIe devices are left out: stas never touches them). One directory
 * listing plus a fixed number of attribute reads per controller: in one thread-pool job of the native addon
 * (thousands of separate asynchronous reads cost far more CPU than the reads themselves), or, without the
 * addon, as concurrent reads.
 */
export async function scanControllers(root = SYS_CLASS_NVME): Promise<KernelController[]> {
  let found: (KernelController | undefined)[];
  try {
    found = nativeAvailable() ? await nativeScan(root) : await jsScan(root);
  } catch {
    return []; // no nvme class: no NVMe support loaded
  }
  return found
    .filter((c): c is KernelController => c !== undefined && c.transport !== 'pcie' && c.transport !== '')
    .sort((a, b) => Number(a.device.slice(4)) - Number(b.device.slice(4)));
}

async function nativeScan(root: string): Promise<KernelController[]> {
  const rows = await scanNvmeControllers(root, ATTRS);
  return rows.map(([device, hasNamespaces, ...values]) => fromAttrValues(device, values, hasNamespaces));
}

async function jsScan(root: string): Promise<(KernelController | undefined)[]> {
  const names = (await readdir(root)).filter(isControllerName);
  return Promise.all(names.map((n) => readController(n, root)));
}
