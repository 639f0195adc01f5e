/**
 * What both daemons report in process_info and in controller dictionaries, with nvme-stas' keys, key order and
 * value formats: timers as GLib timers print (`'60.0s [off]'`, `'3.0s [2.5s]'`), operations as Python dict reprs,
 * the kernel's support of the TP8013 and host_iface options, sysfs attributes of a controller. The host key never
 * in clear (nvme-stas printed it to any local user).
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readFile } from '../adapters/fs-async.js';
import { parseSupportedOptions } from '../core/connect-options.js';
import type { HostIdentity } from '../core/host-identity.js';
import { isControllerName } from '../core/kernel-controller.js';
import { type PyValue, pyFloatRepr, pyReprInOrder } from '../core/pprint.js';

/**
 * A timer as nvme-stas prints it: interval in seconds (a Python float) and `[off]`, or the seconds left while it
 * runs (`0s` once due).
 */
export function gtimerText(intervalSec: number, remainingSec?: number): string {
  const left = remainingSec === undefined ? 'off' : remainingSec > 0 ? `${pyFloatRepr(remainingSec)}s` : '0s';
  return `${pyFloatRepr(intervalSec)}s [${left}]`;
}

/**
 * stas has no controller terminator: a controller that goes is disconnected once its pending operation ended,
 * never queued for a periodic audit. Its state is the one nvme-stas shows when nothing awaits disposal.
 */
export const TERMINATOR_AUDIT_TIMER = gtimerText(30);

/** An asynchronous operation's state as nvme-stas prints it (`str(AsyncTask.as_dict())`). */
export interface OperationState {
  failCount: number;
  /** null: never run. */
  completed: boolean | null;
  /** Retry timer after a failure: interval and seconds left. */
  retry?: { intervalSec: number; remainingSec?: number };
  /** The last error, while failing. */
  error?: string;
}

export function operationText(op: OperationState): string {
  const d: Record<string, PyValue> = { 'fail count': op.failCount, completed: op.completed, alive: true };
  if (op.retry) d['retry timer'] = gtimerText(op.retry.intervalSec, op.retry.remainingSec);
  if (op.error !== undefined) d['error'] = op.error;
  return pyReprInOrder(d);
}

/** `True`/`False` as nvme-stas' `str(bool)`. */
export const pyBool = (b: boolean): string => (b ? 'True' : 'False');

/** What the kernel's fabrics module supports, as process_info reports it. */
export interface KernelSupport {
  /** TP8013: the `discovery` connect option. */
  tp8013: boolean;
  host_iface: boolean;
}

let kernelSupportCache: KernelSupport | undefined;
let kernelSupportAsked = false;

/**
 * The options of /dev/nvme-fabrics, read once per process in the background (a read takes the kernel's fabrics
 * mutex: never on the event loop, never per call). Until it is known, and when it cannot be read (no module, not
 * root), both are false, as nvme-stas reports an unreadable device.
 */
export function kernelSupport(device = '/dev/nvme-fabrics'): KernelSupport {
  if (!kernelSupportAsked) {
    kernelSupportAsked = true;
    readFile(device, 'utf8').then(
      (text) => {
        const o = parseSupportedOptions(text);
        kernelSupportCache = { tp8013: o.has('discovery'), host_iface: o.has('host_iface') };
      },
      () => {
        kernelSupportCache = { tp8013: false, host_iface: false };
      },
    );
  }
  return kernelSupportCache ?? { tp8013: false, host_iface: false };
}

/** The sysfs attributes nvme-stas adds to detailed controller dictionaries, in its order. */
export const SYSFS_ATTRIBUTES = ['hostid', 'hostnqn', 'model', 'serial', 'dctype', 'cntrltype'] as const;

/**
 * The sysfs attributes of `device` (`nvmeN`), trimmed; '' when there is no device or an attribute cannot be read,
 * and for the kernel's `(efault)`, as nvme-stas reads them.
 */
export function sysfsAttributes(
  device: string | undefined,
  root = '/sys/class/nvme',
): Record<(typeof SYSFS_ATTRIBUTES)[number], string> {
  const out = Object.fromEntries(SYSFS_ATTRIBUTES.map((a) => [a, ''])) as Record<
    (typeof SYSFS_ATTRIBUTES)[number],
    string
  >;
  if (!device || !isControllerName(device)) return out;
  for (const a of SYSFS_ATTRIBUTES) {
    try {
      const v = readFileSync(join(root, device, a), 'utf8').trim();
      out[a] = v === '(efault)' ? '' : v;
    } catch {
      // absent on this kernel, or the device went: ''
    }
  }
  return out;
}

/**
 * The process_info fields both daemons report, in nvme-stas' order: trace state, host identity (`hostkey` and
 * `symname` None when unset, the key redacted), the last-known config file, the config soak timer, the kernel's
 * support, the terminator.
 */
export function commonProcessInfo(
  tron: boolean,
  identity: HostIdentity,
  lkcPath: string | undefined,
  /** The config soak timer's text (default: nvme-stas' 1.5 s soak, idle). */
  soakTimer: string = gtimerText(1.5),
  kernel: KernelSupport = kernelSupport(),
): Record<string, PyValue> {
  return {
    tron,
    'log-level': tron ? 'DEBUG' : 'INFO',
    hostnqn: identity.hostNqn,
    hostid: identity.hostId,
    hostkey: identity.hostKey ? '<redacted>' : null,
    symname: identity.symname ?? null,
    'last known config file': lkcPath ?? '',
    'config soak timer': soakTimer,
    'kernel support.TP8013': pyBool(kernel.tp8013),
    'kernel support.host_iface': pyBool(kernel.host_iface),
    'terminator.audit timer': TERMINATOR_AUDIT_TIMER,
  };
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Python's `time.asctime()` / `time.ctime()` of a local time: `Tue Nov  3 14:05:09 2026`. */
export function asctime(d: Date): string {
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${d.getFullYear()}`;
}

/** libnvme's order of a discovery log entry's keys (the python binding with `tsas`, as nvme-stas stores them). */
const DLPE_ORDER = ['trtype', 'adrfam', 'traddr', 'trsvcid', 'subnqn', 'subtype', 'treq', 'tsas'];

/**
 * An I/O controller's `dlpe` as nvme-stas shows it: `str()` of the log entry dictionary stafd sent (a Python repr,
 * libnvme's key order), `None` without one.
 */
export function dlpeRepr(dlpe: Readonly<Record<string, string>> | undefined): string {
  if (!dlpe) return 'None';
  const keys = Object.keys(dlpe);
  const rank = (k: string) => {
    const i = DLPE_ORDER.indexOf(k);
    return i < 0 ? DLPE_ORDER.length : i;
  };
  const ordered = keys
    .map((k, i) => [k, i] as const)
    .sort((a, b) => rank(a[0]) - rank(b[0]) || a[1] - b[1])
    .map(([k]) => k);
  return pyReprInOrder(Object.fromEntries(ordered.map((k) => [k, dlpe[k]!])));
}
