/**
 * The reachability probe stafd makes before it uses a DC announced by mDNS (nvme-stas probes a TCP DC the same
 * way): a plain TCP connect, opened and closed at once. Not part of mDNS: the Avahi adapter only browses.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { parseIp } from '../core/ipaddr.js';
import { errorText } from '../core/log.js';
import { TRANSPORTS, type Transport } from '../core/transport.js';
import { NativeAddonError, tcpConnectBound } from './native.js';

/** Where to probe: a DC's transport address and the interface to reach it on ('' for any). */
export interface ProbeTarget {
  readonly transport: Transport;
  readonly traddr: string;
  readonly trsvcid: string;
  readonly hostIface: string;
}

/** Result of {@link isReachable}. */
export interface Reachability {
  readonly reachable: boolean;
  /** Why not (errno code and message). */
  readonly error?: string;
}

/**
 * Can a TCP connection to the candidate be opened? (nvme-stas probes a TCP DC before using it; rdma is
 * reachable without a probe.) The connection is bound to `hostIface` with SO_BINDTODEVICE through the native
 * addon; without the addon (or with `useNative` false) it is made with node:net from an address of that interface
 * (an interface without an address of the target's family: not reachable). The connection is closed at once: the
 * target sees a bare open/close.
 */
export async function isReachable(
  c: ProbeTarget,
  timeoutMs: number,
  useNative = true,
): Promise<Reachability> {
  if (!TRANSPORTS[c.transport].reachabilityProbe) return { reachable: true };
  const port = Number(c.trsvcid);
  if (useNative) {
    try {
      const fd = await tcpConnectBound({
        host: c.traddr,
        port,
        ...(c.hostIface ? { iface: c.hostIface } : {}),
        timeoutMs,
      });
      await new Promise<void>((resolve) => fs.close(fd, () => resolve()));
      return { reachable: true };
    } catch (e) {
      if (!(e instanceof NativeAddonError)) return { reachable: false, error: describeError(e) };
    }
  }
  return probeWithNet(c.traddr, port, c.hostIface, timeoutMs);
}

function describeError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const msg = errorText(e);
  return code && !msg.includes(code) ? `${code}: ${msg}` : msg;
}

/** A local address of `iface` for a connection to `target` (same family; a link-local one for a link-local target). */
function localAddressFor(iface: string, target: string): string | undefined {
  const ip = parseIp(target);
  const addrs = os.networkInterfaces()[iface] ?? [];
  if (!ip) return undefined;
  if (ip.family === 4) return addrs.find((a) => a.family === 'IPv4')?.address;
  const v6 = addrs.filter((a) => a.family === 'IPv6');
  const linkLocal = (a: os.NetworkInterfaceInfo) => /^fe[89ab]/i.test(a.address);
  const targetLinkLocal = ip.bytes[0] === 0xfe && (ip.bytes[1]! & 0xc0) === 0x80;
  const pick = v6.find((a) => linkLocal(a) === targetLinkLocal) ?? v6[0];
  if (!pick) return undefined;
  return linkLocal(pick) ? `${pick.address.split('%')[0]}%${iface}` : pick.address;
}

function probeWithNet(host: string, port: number, iface: string, timeoutMs: number): Promise<Reachability> {
  let localAddress: string | undefined;
  if (iface) {
    localAddress = localAddressFor(iface, host);
    if (!localAddress) {
      return Promise.resolve({
        reachable: false,
        error: `interface ${iface} has no address to reach ${host} from`,
      });
    }
  }
  return new Promise((resolve) => {
    const s = net.connect({ host, port, ...(localAddress ? { localAddress } : {}) });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ reachable: false, error: `ETIMEDOUT: no connection within ${timeoutMs} ms` });
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve({ reachable: true });
    });
    s.once('error', (e) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ reachable: false, error: describeError(e) });
    });
  });
}
