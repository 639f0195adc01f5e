/** Kernel uevent datagrams (NETLINK_KOBJECT_UEVENT, kernel group): parsing and NVMe event classification. Pure. */

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
  const fields = text.split('\0').filter((f) => f !== '');
  const head = fields[0];
  if (!head || head.startsWith('libudev')) return null;
  const at = head.indexOf('@');
  if (at <= 0) return null;
  const props: Record<string, string> = {};
  for (const f of fields.slice(1)) {
    const eq = f.indexOf('=');
    if (eq > 0) props[f.slice(0, eq)] = f.slice(eq + 1);
  }
  const action = props['ACTION'] ?? head.slice(0, at);
  const devpath = props['DEVPATH'] ?? head.slice(at + 1);
  return { action, devpath, props };
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
  if (!/^nvme\d+$/.test(device)) return null;
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

/**
 * {@link nvmeEvent} of a raw datagram, reading only the properties it needs (a burst of connects brings a few
 * uevents per controller, and a daemon should not build a full property map for each). Every property of a kernel
 * uevent follows a NUL, which keeps a value that contains `KEY=` from being taken for the key.
 */
export function nvmeEventOf(datagram: Uint8Array): NvmeEvent | null {
  const buf = Buffer.isBuffer(datagram)
    ? datagram
    : Buffer.from(datagram.buffer, datagram.byteOffset, datagram.length);
  // Every value read below is ASCII (or checked to be): latin1 decoding is exact for them, and cheaper.
  const text = buf.toString('latin1');
  const prop = (key: string): string | undefined => {
    const at = text.indexOf(`\0${key}=`);
    if (at < 0) return undefined;
    const from = at + key.length + 2;
    const end = text.indexOf('\0', from);
    return text.slice(from, end < 0 ? text.length : end);
  };
  if (prop('SUBSYSTEM') !== 'nvme') return null;
  const head = text.slice(0, Math.max(0, text.indexOf('\0')));
  const at = head.indexOf('@');
  if (at <= 0 || head.startsWith('libudev')) return null;
  const action = prop('ACTION') ?? head.slice(0, at);
  const devpath = prop('DEVPATH') ?? head.slice(at + 1);
  const props: Record<string, string> = { SUBSYSTEM: 'nvme' };
  for (const key of ['DEVNAME', 'NVME_AEN', 'NVME_EVENT']) {
    const v = prop(key);
    if (v !== undefined) props[key] = v;
  }
  return nvmeEvent({ action, devpath, props });
}
