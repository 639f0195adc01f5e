/**
 * The discovery entries of NBFTs as stafd configured discovery controllers (nvme-stas' NbftConf.dcs), and the
 * MAC-address → interface matching for their HFIs. Every string from the table is treated as untrusted input and
 * checked as strictly as a discovery log page entry before it can become a TID. Pure.
 */
import {
  checkAddress,
  checkInterface,
  checkNqn,
  checkServiceId,
  OptionValueError,
} from '../kernel-options.js';
import type { NbftTable } from '../nbft.js';
import { type TidInput, WELL_KNOWN_DISC_NQN } from '../tid.js';
import { TRANSPORTS } from '../transport.js';

/** Link types whose address is a MAC that an HFI can name (nvme-stas: Ethernet and loopback links). */
export const ARPHRD_ETHER = 1;
export const ARPHRD_LOOPBACK = 772;

/** A network interface as /sys/class/net shows it. */
export interface NetLink {
  name: string;
  /** `address`: the link-layer address, `aa:bb:cc:dd:ee:ff`. */
  address: string;
  /** `type`: the ARPHRD link type. */
  type: number;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/**
 * The interface whose MAC address is `mac`, among Ethernet and loopback links; the first by name when several
 * share it (a VLAN or macvlan interface keeps its parent's MAC: the parent sorts first). Undefined if none.
 */
export function interfaceForMac(mac: string, links: readonly NetLink[]): string | undefined {
  const want = mac.trim().toLowerCase();
  if (!MAC_RE.test(want)) return undefined;
  return links
    .filter(
      (l) =>
        (l.type === ARPHRD_ETHER || l.type === ARPHRD_LOOPBACK) && l.address.trim().toLowerCase() === want,
    )
    .map((l) => l.name)
    .sort()[0];
}

export interface NbftUri {
  /** The part of the scheme after `nvme+` (`tcp`). */
  transport: string;
  /** The host, IPv6 brackets removed. */
  host: string;
  /** The port as written, or undefined when the URI has none. */
  port: string | undefined;
}

/**
 * Splits an NBFT discovery URI, `nvme+tcp://<host>[:<port>]/[...]` (an IPv6 host in brackets). Anything after the
 * authority is ignored. Returns a reason string when the text is not such a URI.
 */
export function parseNbftUri(uri: string): NbftUri | string {
  const m = /^nvme\+([A-Za-z0-9]+):\/\/([^/?#]*)(?:[/?#].*)?$/is.exec(uri);
  if (!m) return 'not an nvme+<transport>://<host>:<port>/ URI';
  const transport = m[1]!.toLowerCase();
  const authority = m[2]!;
  if (authority.includes('@')) return 'user information is not allowed';
  let host: string;
  let rest: string;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) return 'unterminated IPv6 literal';
    host = authority.slice(1, close);
    rest = authority.slice(close + 1);
  } else {
    const colon = authority.lastIndexOf(':');
    host = colon < 0 ? authority : authority.slice(0, colon);
    rest = colon < 0 ? '' : authority.slice(colon);
  }
  if (host === '') return 'no host';
  if (rest !== '' && !rest.startsWith(':')) return `unexpected ${JSON.stringify(rest)} after the host`;
  // An empty port (`host:/`) counts as no port, as in URLs.
  const port = rest.length > 1 ? rest.slice(1) : undefined;
  return { transport, host, port };
}

/** A discovery controller taken from an NBFT, ready for Tid.from (defaults for the rest). */
export interface NbftDc {
  /** Where it comes from, for log messages: `<file> discovery entry <n>`. */
  source: string;
  tid: TidInput & { transport: 'tcp'; traddr: string; trsvcid: string; subsysnqn: string };
}

export interface NbftDcsResult {
  dcs: NbftDc[];
  /** Entries or fields dropped, with the reason (for the log). */
  warnings: string[];
}

/** The message of a validation failure, never anything else. */
function problem(check: () => void): string | undefined {
  try {
    check();
    return undefined;
  } catch (e) {
    if (e instanceof OptionValueError) return e.message;
    throw e;
  }
}

/**
 * The discovery controllers of the decoded tables (nvme-stas' NbftConf.dcs, with validation):
 * - transport, traddr and trsvcid from the URI (`nvme+tcp://host:port/`; IPv6 brackets removed). The NBFT defines
 *   NVMe/TCP only, so any other transport is dropped. The host must be an IP literal (no name resolution for
 *   firmware data). A URI without a port gets the NVMe/TCP discovery port 8009 — nvme-stas turned the missing port
 *   into the string `None`;
 * - subsysnqn: the entry's NQN, or the well-known discovery NQN when the entry has none;
 * - host-nqn: the table's host NQN only when the table flags it as administratively configured;
 * - host-iface: the interface whose MAC is the entry's HFI's MAC (none when no interface has it).
 * An entry with an unusable transport, address, port or NQN is dropped with a warning; an unusable host NQN or
 * interface name is left out (the system's host NQN / no interface binding) with a warning.
 */
export function nbftDiscoveryControllers(
  tables: readonly { path: string; table: NbftTable }[],
  links: readonly NetLink[],
): NbftDcsResult {
  const dcs: NbftDc[] = [];
  const warnings: string[] = [];
  for (const { path, table } of tables) {
    let hostNqn: string | undefined;
    if (table.host.host_nqn_configured) {
      const bad = problem(() => checkNqn('host-nqn', table.host.nqn));
      if (bad) warnings.push(`${path}: host NQN ignored: ${bad}`);
      else hostNqn = table.host.nqn;
    }
    table.discovery.forEach((d, i) => {
      const source = `${path} discovery entry ${i + 1}`;
      const uri = parseNbftUri(d.uri);
      if (typeof uri === 'string') {
        warnings.push(`${source} ignored: URI ${JSON.stringify(d.uri)}: ${uri}`);
        return;
      }
      const trsvcid = uri.port ?? TRANSPORTS.tcp.ports.discovery;
      const subsysnqn = d.nqn ?? WELL_KNOWN_DISC_NQN;
      const bad =
        (uri.transport === 'tcp' ? undefined : `transport ${JSON.stringify(uri.transport)} is not tcp`) ??
        problem(() => checkAddress('traddr', 'tcp', uri.host)) ??
        problem(() => checkServiceId('trsvcid', 'tcp', trsvcid)) ??
        problem(() => checkNqn('subsysnqn', subsysnqn));
      if (bad) {
        warnings.push(`${source} ignored: ${bad}`);
        return;
      }
      let hostIface: string | undefined;
      const hfi = d.hfi_index === undefined ? undefined : table.hfi[d.hfi_index];
      if (hfi) {
        const name = interfaceForMac(hfi.mac_addr, links);
        const badIface = name === undefined ? undefined : problem(() => checkInterface('host-iface', name));
        if (badIface) warnings.push(`${source}: host-iface ignored: ${badIface}`);
        else hostIface = name;
      }
      dcs.push({
        source,
        tid: {
          transport: 'tcp',
          traddr: uri.host,
          trsvcid,
          subsysnqn,
          ...(hostNqn !== undefined ? { hostNqn } : {}),
          ...(hostIface !== undefined ? { hostIface } : {}),
        },
      });
    });
  }
  return { dcs, warnings };
}
