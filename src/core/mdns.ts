// mDNS/DNS-SD (TP8009) discovery records from Avahi: TXT decoding, service keys, DC candidates and their validation. Pure.

import { canonicalIp, parseIp } from './ipaddr.js';
import {
  checkAddress,
  checkInterface,
  checkNqn,
  checkServiceId,
  OptionValueError,
} from './kernel-options.js';
import { cleanString, WELL_KNOWN_DISC_NQN } from './tid.js';
import { type MdnsTransport, takesHostIface, transportOfMdnsProtocol } from './transport.js';

/** DNS-SD service types of NVMe discovery controllers (TP8009): TCP, and UDP for RoCE (nvme-stas ≥ 2.1.2). */
export const NVME_DISC_SERVICE_TYPES: readonly string[] = ['_nvme-disc._tcp', '_nvme-disc._udp'];

/** Avahi's AvahiProtocol values (avahi-common/address.h). */
export const AVAHI_PROTO_INET = 0;
export const AVAHI_PROTO_INET6 = 1;
export const AVAHI_PROTO_UNSPEC = -1;
/** Avahi's AVAHI_IF_UNSPEC: every interface. */
export const AVAHI_IF_UNSPEC = -1;

/** What names one mDNS service for Avahi, and so for stafd: the same DC seen on two interfaces is two services. */
export interface ServiceIdentity {
  /** Interface index (in the network namespace of avahi-daemon). */
  readonly interface: number;
  /** {@link AVAHI_PROTO_INET} or {@link AVAHI_PROTO_INET6}: the protocol the announcement came over. */
  readonly protocol: number;
  readonly name: string;
  readonly type: string;
  readonly domain: string;
}

/** A service as Avahi's ServiceResolver `Found` signal reports it (the interface already turned into its name). */
export interface ResolvedService extends ServiceIdentity {
  /** Name of `interface`. */
  readonly ifname: string;
  /** Host name of the announcer (`host.local`). */
  readonly host: string;
  /** IP literal, as Avahi prints it (no IPv6 zone). */
  readonly address: string;
  readonly port: number;
  /** TXT record: one byte string per entry (D-Bus `aay`). */
  readonly txt: readonly (Uint8Array | readonly number[])[];
}

/** A discovery controller found by mDNS, ready to become a TID (host NQN is the system's, no host-traddr). */
export interface MdnsCandidate {
  readonly transport: MdnsTransport;
  /** IP literal; an IPv6 link-local address carries `%<interface>`. */
  readonly traddr: string;
  readonly trsvcid: string;
  readonly subsysnqn: string;
  /** Interface the service was seen on, for tcp; '' for rdma (nvme-stas: host-iface is for tcp only). */
  readonly hostIface: string;
}

/** Result of {@link candidateFromService}: a candidate, or why the service must not be used (and the log level). */
export type CandidateResult =
  | { readonly ok: true; readonly candidate: MdnsCandidate; readonly txt: ReadonlyMap<string, string> }
  | { readonly ok: false; readonly level: 'error' | 'warning'; readonly message: string };

/** Decoded TXT record: the accepted entries and a description of each dropped one (for logs). */
export interface DecodedTxt {
  /** Lower-cased key → value (later entries win, as a Python dict does). */
  readonly entries: ReadonlyMap<string, string>;
  /** Entries dropped: printable description (`"\x0a..."`) and, when one could be read, the lower-cased key. */
  readonly dropped: readonly { readonly key: string | undefined; readonly text: string }[];
}

/** Identity key of a service: equal keys ⇔ same (interface, protocol, name, type, domain). */
export function serviceKey(id: ServiceIdentity): string {
  return JSON.stringify([id.interface, id.protocol, id.name, id.type, id.domain]);
}

/** `IPv4`, `IPv6` or `unspecified` (for logs). */
export function protocolName(protocol: number): string {
  if (protocol === AVAHI_PROTO_INET) return 'IPv4';
  if (protocol === AVAHI_PROTO_INET6) return 'IPv6';
  if (protocol === AVAHI_PROTO_UNSPEC) return 'unspecified';
  return 'unknown';
}

/** Printable service identity for logs: `(eth0, IPv4, My DC.local, _nvme-disc._tcp)`. Names are escaped. */
export function serviceLabel(id: ServiceIdentity, ifname: string): string {
  return `(${escapeText(ifname)}, ${protocolName(id.protocol)}, ${escapeText(id.name)}.${escapeText(id.domain)}, ${escapeText(id.type)})`;
}

/** Python's str.isprintable() for a character decoded from one byte (latin-1), as nvme-stas decodes TXT bytes. */
function isPrintableLatin1(c: number): boolean {
  return (c >= 0x20 && c <= 0x7e) || (c >= 0xa1 && c <= 0xff && c !== 0xad);
}

/** Text safe for one log line: control and non-ASCII characters as `\xNN`, backslash doubled. */
export function escapeText(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '\\') out += '\\\\';
    else if (c >= 0x20 && c <= 0x7e) out += ch;
    else if (c <= 0xff) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += `\\u{${c.toString(16)}}`;
  }
  return out;
}

/**
 * Decodes a TXT record (nvme-stas' `_txt2dict`): each entry's bytes become characters one to one; an entry is
 * kept only if every character is printable and it holds an '=' after a non-empty key. The key is lower-cased
 * (keys are case-insensitive since nvme-stas 2.1); the value is everything after the first '=', verbatim (also
 * empty). Unlike nvme-stas, a value containing '=' is kept rather than the whole entry dropped: the validation of
 * the values that are used ({@link candidateFromService}) refuses it.
 */
export function decodeTxt(txt: readonly (Uint8Array | readonly number[])[]): DecodedTxt {
  const entries = new Map<string, string>();
  const dropped: { key: string | undefined; text: string }[] = [];
  for (const raw of txt) {
    let s = '';
    let printable = true;
    for (const b of raw) {
      const c = b & 0xff;
      if (!isPrintableLatin1(c)) printable = false;
      s += String.fromCharCode(c);
    }
    const eq = s.indexOf('=');
    const key = eq > 0 ? s.slice(0, eq).toLowerCase() : undefined;
    if (!printable || key === undefined) {
      dropped.push({ key, text: `"${escapeText(s)}"` });
      continue;
    }
    entries.set(key, s.slice(eq + 1));
  }
  return { entries, dropped };
}

/**
 * TXT `p=` to transport (trimmed, case-insensitive), by the transports' mDNS protocols (src/core/transport.ts):
 * tcp → tcp; roce, iwarp, rdma → rdma; anything else → null.
 */
export function protocolToTransport(p: string | undefined): MdnsTransport | null {
  return p === undefined ? null : transportOfMdnsProtocol(p);
}

/** TXT entries as a printable dictionary for logs: `{"p": "walmart", "nqn": "…"}`. */
export function formatTxt(entries: ReadonlyMap<string, string>): string {
  const items = [...entries].map(([k, v]) => `"${escapeText(k)}": "${escapeText(v)}"`);
  return `{${items.join(', ')}}`;
}

/** True for fe80::/10. */
function isIpv6LinkLocal(addr: string): boolean {
  const ip = parseIp(addr);
  return ip?.family === 6 && ip.bytes[0] === 0xfe && (ip.bytes[1]! & 0xc0) === 0x80;
}

export interface CandidateOptions {
  /**
   * The kernel takes the TP8013 `discovery` option, so a DC may be named by its own NQN (nvme-stas:
   * `NvmeOptions().discovery_supp`). Without it the TXT `nqn=` is ignored and the well-known NQN used. Default true.
   */
  discoveryNqnSupported?: boolean;
}

/**
 * The discovery-controller candidate a resolved service announces (nvme-stas `_service_identified` +
 * `set_identity`), or why it must not be used. Every value is validated as a connect option would be, so a
 * hostile announcement (an NQN with ',' or a newline, a bogus address, port or interface name) is refused with a
 * warning and never passed on. Differences from nvme-stas, all deliberate:
 * - an IPv6 link-local address gets `%<interface>` (Avahi prints none), so it is usable on its link whatever
 *   connects to it, also for rdma, which has no host-iface;
 * - a `nqn=` entry that was dropped as non-printable refuses the service (nvme-stas silently fell back to the
 *   well-known NQN); an empty `nqn=` means the well-known NQN.
 */
export function candidateFromService(svc: ResolvedService, opts: CandidateOptions = {}): CandidateResult {
  const { entries, dropped } = decodeTxt(svc.txt);
  const where = `address=${escapeText(svc.address)}, iface=${escapeText(svc.ifname)}`;
  const transport = protocolToTransport(entries.get('p'));
  if (transport === null) {
    return {
      ok: false,
      level: 'error',
      message: `Received invalid/undefined protocol in mDNS TXT field: ${where}, TXT=${formatTxt(entries)}`,
    };
  }
  const useNqn = opts.discoveryNqnSupported ?? true;
  const badNqn = dropped.find((d) => d.key === 'nqn');
  if (useNqn && badNqn) {
    return {
      ok: false,
      level: 'warning',
      message: `Ignoring mDNS service ${serviceLabel(svc, svc.ifname)} with an unusable TXT nqn entry ${badNqn.text}: ${where}`,
    };
  }
  const nqnText = cleanString(entries.get('nqn'));
  const subsysnqn = useNqn && nqnText !== '' ? nqnText : WELL_KNOWN_DISC_NQN;
  let traddr = svc.address.trim();
  const trsvcid = String(svc.port);
  try {
    checkInterface('host_iface', svc.ifname);
    checkAddress('traddr', transport, traddr);
    if (parseIp(traddr)?.zone !== undefined) {
      throw new OptionValueError('traddr', `${JSON.stringify(traddr)} already carries a zone`);
    }
    checkServiceId('trsvcid', transport, trsvcid);
    checkNqn('subsysnqn', subsysnqn);
  } catch (e) {
    if (!(e instanceof OptionValueError)) throw e;
    return {
      ok: false,
      level: 'warning',
      message: `Ignoring mDNS service ${serviceLabel(svc, svc.ifname)}: ${escapeText(e.message)} (${where})`,
    };
  }
  if (isIpv6LinkLocal(traddr)) traddr = `${traddr}%${svc.ifname}`;
  const candidate: MdnsCandidate = {
    transport,
    traddr,
    trsvcid,
    subsysnqn,
    hostIface: takesHostIface(transport) ? svc.ifname : '',
  };
  return { ok: true, candidate, txt: entries };
}

/** One identified service for {@link duplicateAddresses}. */
export interface AddressOnInterface {
  readonly address: string;
  readonly ifname: string;
}

/** An address announced on more than one interface (a misconfigured network, nvme-stas logs an error). */
export interface DuplicateAddress {
  /** Canonical address (IPv4-mapped IPv6 as IPv4, no zone). */
  readonly address: string;
  /** The distinct interfaces, in the order first seen. */
  readonly ifaces: readonly string[];
}

/** Canonical address for comparison: RFC 5952, IPv4-mapped IPv6 as IPv4, zone dropped; null if not an IP. */
function comparableIp(addr: string): string | null {
  const ip = parseIp(addr);
  if (!ip) return null;
  const b = ip.bytes;
  if (ip.family === 6 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) {
    return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  const text = canonicalIp(addr);
  if (text === null) return null;
  const pct = text.indexOf('%');
  return pct >= 0 ? text.slice(0, pct) : text;
}

/**
 * Addresses seen on several interfaces (nvme-stas `_check_for_duplicate_ips`). Unlike nvme-stas, one interface
 * reporting an address twice (two service names, both service types, IPv4 and IPv6 announcements) is not a
 * duplicate. Non-IP addresses are ignored.
 */
export function duplicateAddresses(services: Iterable<AddressOnInterface>): DuplicateAddress[] {
  const byIp = new Map<string, string[]>();
  for (const s of services) {
    const ip = comparableIp(s.address);
    if (ip === null) continue;
    const ifaces = byIp.get(ip) ?? [];
    if (!ifaces.includes(s.ifname)) ifaces.push(s.ifname);
    byIp.set(ip, ifaces);
  }
  const out: DuplicateAddress[] = [];
  for (const [address, ifaces] of byIp) if (ifaces.length > 1) out.push({ address, ifaces });
  return out;
}

/** nvme-stas' error line for a {@link DuplicateAddress}. */
export function duplicateAddressMessage(d: DuplicateAddress): string {
  return `IP address ${d.address} was found on multiple interfaces: ${d.ifaces.map(escapeText).join(',')}`;
}
