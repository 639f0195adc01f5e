/** Kernel uevent datagrams (NETLINK_KOBJECT_UEVENT, kernel group): parsing and NVMe event classification. Pure. */
import { isControllerName } from './kernel-controller.js';

export interface Uevent {
  action: string;
  devpath: string;
  /** KEY=VALUE properties (ACTION, DEVPATH, SUBSYSTEM, DEVNAME, NVME_AEN, …). */
  props: Readonly<Record<string, string>>;
}

/**
 * Parses one datagram: `ACTION@DEVPATH\0KEY=VALUE\0…`. Returns null for anything else (e.g. udevd's
 * `libudev` messages, truncated or empty datagrams).
 */
export function parseUevent(datagram: Uint8Array): Uevent | null {
  const text = Buffer.from(datagram.buffer, datagram.byteOffset, datagram.length).toString('utf8');
  // Fields end at NUL; empty ones are skipped. One pass with indexOf: a burst of connects brings hundreds.
  let i = 0;
  while (text.charCodeAt(i) === 0) i++;
  const headEnd = nulOrEnd(text, i);
  const head = text.slice(i, headEnd);
  if (!head || head.startsWith('libudev')) return null;
  const at = head.indexOf('@');
  if (at <= 0) return null;
  const props: Record<string, string> = {};
  for (i = headEnd + 1; i < text.length; ) {
    const end = nulOrEnd(text, i);
    const eq = text.indexOf('=', i);
    if (eq > i && eq < end) props[text.slice(i, eq)] = text.slice(eq + 1, end);
    i = end + 1;
  }
  const action = props['ACTION'] ?? head.slice(0, at);
  const devpath = props['DEVPATH'] ?? head.slice(at + 1);
  return { action, devpath, props };
}

/** The index of the next NUL at or after `from`, or the text's length. */
function nulOrEnd(text: string, from: number): number {
  const n = text.indexOf('\0', from);
  return n < 0 ? text.length : n;
}

/** What stas cares about: a controller came, went or changed (AEN, reconnect…). */
export type NvmeEvent =
  | { kind: 'add' | 'remove'; device: string }
  | { kind: 'aen'; device: string; aen: number }
  | { kind: 'event'; device: string; event: string }
  | { kind: 'change'; device: string };

/** NVME_AEN value of a Discovery Log Page Change notice. */
export const AEN_DISCOVERY_LOG_CHANGE = 0x70f002;

/** Classifies uevents of nvme controllers (`SUBSYSTEM=nvme`, `nvmeN`); other devices give null. */
export function nvmeEvent(u: Uevent): NvmeEvent | null {
  if (u.props['SUBSYSTEM'] !== 'nvme') return null;
  const device = (u.props['DEVNAME'] ?? u.devpath.split('/').pop() ?? '').replace(/^\/dev\//, '');
  if (!isControllerName(device)) return null;
  switch (u.action) {
    case 'add':
    case 'remove':
      return { kind: u.action, device };
    case 'change': {
      const aen = u.props['NVME_AEN'];
      if (aen !== undefined && /^(0x)?[0-9a-fA-F]+$/.test(aen))
        return { kind: 'aen', device, aen: Number.parseInt(aen, 16) };
      const event = u.props['NVME_EVENT'];
      if (event) return { kind: 'event', device, event };
      return { kind: 'change', device };
    }
    default:
      return null;
  }
}

/** {@link nvmeEvent} of a raw datagram (what the uevent monitor hands over). */
export function nvmeEventOf(datagram: Uint8Array): NvmeEvent | null {
  const u = parseUevent(datagram);
  return u && nvmeEvent(u);
}
