/**
 * nvme-cli's autoconnect udev rule and stacd's `udev-rule=disabled`: while stacd runs, an empty rule of the same
 * name in /run/udev/rules.d shadows /usr/lib/udev/rules.d/70-nvmf-autoconnect.rules (so udevd and stacd do not
 * race to connect the same controllers); on exit the shadow is removed. A stale shadow from a crash is replaced.
 */

import { writeFileAtomic } from './atomic-file.js';
import { rm } from './fs-async.js';

export const SHADOW_RULE = '/run/udev/rules.d/70-nvmf-autoconnect.rules';

const CONTENT = "# Created by stacd (udev-rule=disabled): shadows nvme-cli's rule while stacd runs.\n";

export function maskAutoconnectRule(path = SHADOW_RULE): void {
  writeFileAtomic(path, CONTENT);
}

export async function unmaskAutoconnectRule(path = SHADOW_RULE): Promise<void> {
  await rm(path, { force: true });
}
