/**
 * The transports stas manages, as data: the one place that says what a transport is (its NVMe code, the kind of
 * address it takes, its default ports, which host fields and kernel options apply, how stafd reaches a DC on it,
 * how an existing kernel controller is reused). A new transport is a row here plus the adapter that carries it.
 * Also the NVMe name↔code tables of the transport and address family fields. Pure.
 */
import { parseIp } from './ipaddr.js';

/** What traddr (and host-traddr) hold: an IP literal, an FC WWN pair `nn-0x…:pn-0x…`, or nothing checked. */
export type AddressKind = 'ip' | 'fc' | 'none';

/** Transport-specific options stas writes to /dev/nvme-fabrics (the others apply to every transport). */
export type TransportKernelOption =
  | 'traddr'
  | 'trsvcid'
  | 'host_iface'
  | 'ctrl_loss_tmo'
  | 'hdr_digest'
  | 'data_digest';

/**
 * How an existing kernel controller with the same transport, address, port, subsystem and host NQN is reused
 * (src/core/match.ts): `source` compares the connection's source address with host-traddr/host-iface (tcp);
 * `host-traddr` requires equal host-traddr (case-insensitive); `host-traddr-if-named` compares it when the
 * candidate names one; `any` adopts it whatever the host fields.
 */
export type ReuseRule = 'source' | 'host-traddr' | 'host-traddr-if-named' | 'any';

export interface TransportInfo {
  /** NVMe TRTYPE code (discovery log entries, DIM, NBFT). */
  readonly trtype: number;
  readonly address: AddressKind;
  /** Default service IDs (IANA ports) for I/O and discovery controllers; none: trsvcid does not apply. */
  readonly ports?: { readonly io: string; readonly discovery: string };
  /** host-iface applies (an I/O or discovery controller inherits its DC's interface, mDNS sets it). */
  readonly hostIface: boolean;
  readonly kernelOptions: readonly TransportKernelOption[];
  readonly reuse: ReuseRule;
  /** stafd can host a DC on it itself (its userspace NVMe host) when kernel-discovery=false. */
  readonly userspaceHost: boolean;
  /** mDNS announces DCs on it with these TXT `p=` values (lower case); none: not announced. */
  readonly mdnsProtocols: readonly string[];
  /** stafd opens a TCP connection to an mDNS-announced DC before using it (nvme-stas' probe). */
  readonly reachabilityProbe: boolean;
  /** May be named in stacd.conf's disconnect-trtypes. */
  readonly disconnectAudit: boolean;
}

/** The transports, in the order they are listed in messages and documentation. */
export const TRANSPORTS = {
  tcp: {
    trtype: 3,
    address: 'ip',
    ports: { io: '4420', discovery: '8009' },
    hostIface: true,
    kernelOptions: ['traddr', 'trsvcid', 'host_iface', 'ctrl_loss_tmo', 'hdr_digest', 'data_digest'],
    reuse: 'source',
    userspaceHost: true,
    mdnsProtocols: ['tcp'],
    reachabilityProbe: true,
    disconnectAudit: true,
  },
  rdma: {
    trtype: 1,
    address: 'ip',
    ports: { io: '4420', discovery: '4420' },
    hostIface: false,
    kernelOptions: ['traddr', 'trsvcid', 'ctrl_loss_tmo'],
    reuse: 'host-traddr-if-named',
    userspaceHost: false,
    mdnsProtocols: ['roce', 'iwarp', 'rdma'],
    reachabilityProbe: false,
    disconnectAudit: true,
  },
  fc: {
    trtype: 2,
    address: 'fc',
    hostIface: false,
    kernelOptions: ['traddr', 'ctrl_loss_tmo'],
    reuse: 'host-traddr',
    userspaceHost: false,
    mdnsProtocols: [],
    reachabilityProbe: false,
    disconnectAudit: true,
  },
  loop: {
    trtype: 254,
    address: 'none',
    hostIface: false,
    kernelOptions: [],
    reuse: 'any',
    userspaceHost: false,
    mdnsProtocols: [],
    reachabilityProbe: false,
    disconnectAudit: false,
  },
} as const satisfies Record<string, TransportInfo>;

export type Transport = keyof typeof TRANSPORTS;

/** The fabrics transports stas manages. Anything else (pcie, typos) is never handed to the kernel. */
export const TRANSPORT_NAMES = Object.keys(TRANSPORTS) as readonly Transport[];

export function isTransport(t: string): t is Transport {
  return Object.hasOwn(TRANSPORTS, t);
}

/** The row of a transport name, or undefined for anything else. */
export function transportInfo(t: string): TransportInfo | undefined {
  return isTransport(t) ? TRANSPORTS[t] : undefined;
}

/** tcp and rdma: traddr and host-traddr are IP literals (compared as addresses), trsvcid a port. */
export function isIpTransport(t: string): boolean {
  return transportInfo(t)?.address === 'ip';
}

/** Whether the transport writes `option` to /dev/nvme-fabrics (see TransportKernelOption). */
export function takesKernelOption(t: string, option: TransportKernelOption): boolean {
  return transportInfo(t)?.kernelOptions.includes(option) ?? false;
}

/** Whether host-iface applies (tcp). */
export function takesHostIface(t: string): boolean {
  return transportInfo(t)?.hostIface ?? false;
}

/**
 * The trsvcid a controller named without one gets: the discovery port for every controller of an IP transport
 * (nvme-stas' default also for tcp controller= lines); '' where trsvcid does not apply.
 */
export function defaultServiceId(t: string): string {
  return transportInfo(t)?.ports?.discovery ?? '';
}

/** The mDNS TXT `p=` value (trimmed, case-insensitive) as a transport, or null. */
export function transportOfMdnsProtocol(p: string): MdnsTransport | null {
  const v = p.trim().toLowerCase();
  const t = TRANSPORT_NAMES.find((t) => (TRANSPORTS[t].mdnsProtocols as readonly string[]).includes(v));
  return (t as MdnsTransport | undefined) ?? null;
}

type TransportsWith<F extends keyof TransportInfo> = {
  [K in Transport]: (typeof TRANSPORTS)[K] extends { readonly [P in F]: true } ? K : never;
}[Transport];

/** Transports stacd.conf's disconnect-trtypes takes. */
export type DisconnectTrtype = TransportsWith<'disconnectAudit'>;
export const DISCONNECT_TRTYPES = TRANSPORT_NAMES.filter(
  (t) => TRANSPORTS[t].disconnectAudit,
) as readonly DisconnectTrtype[];

/** Transports mDNS announces DCs on (tcp, rdma). */
export type MdnsTransport = {
  [K in Transport]: (typeof TRANSPORTS)[K]['mdnsProtocols'] extends readonly [] ? never : K;
}[Transport];

// --- NVMe codes -------------------------------------------------------------------------------------------------

/** TRTYPE codes by transport name (discovery log entries, DIM, NBFT). */
export const TrType = Object.fromEntries(TRANSPORT_NAMES.map((t) => [t, TRANSPORTS[t].trtype])) as {
  readonly [K in Transport]: (typeof TRANSPORTS)[K]['trtype'];
};

/** ADRFAM codes. */
export const AdrFam = { ipv4: 1, ipv6: 2, ib: 3, fc: 4, loop: 254 } as const;

/** TRTYPE code → name as nvme-stas shows it (`unspecified` for 0); other codes are shown as numbers. */
export const TRTYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'unspecified',
  ...Object.fromEntries(TRANSPORT_NAMES.map((t) => [TRANSPORTS[t].trtype, t])),
};

/** ADRFAM code → name as nvme-stas shows it (libnvme's names; loop is shown as its number). */
export const ADRFAM_NAMES: Readonly<Record<number, string>> = {
  0: 'pci',
  [AdrFam.ipv4]: 'ipv4',
  [AdrFam.ipv6]: 'ipv6',
  [AdrFam.ib]: 'infiniband',
  [AdrFam.fc]: 'fc',
};

/** Transport name of a TRTYPE code, or undefined for codes stas does not manage. */
export function transportOfTrtype(code: number): Transport | undefined {
  return TRANSPORT_NAMES.find((t) => TRANSPORTS[t].trtype === code);
}

/** The TRTYPE and ADRFAM describing a connection on `transport` to `traddr` (DIM's registration entry). */
export function addressCodes(transport: string, traddr: string): { trtype: number; adrfam: number } {
  const trtype = isTransport(transport) ? TrType[transport] : TrType.tcp;
  const ip = parseIp(traddr);
  const adrfam = ip
    ? ip.family === 6
      ? AdrFam.ipv6
      : AdrFam.ipv4
    : (AdrFam[transport as keyof typeof AdrFam] ?? AdrFam.ipv4);
  return { trtype, adrfam };
}

/** Why a controller (transport, traddr) cannot be used, or undefined: unknown transport, not an IP literal, address family disabled. */
export function addressProblem(
  tid: { readonly transport: string; readonly traddr: string },
  ipFamily: { readonly ipv4: boolean; readonly ipv6: boolean },
): string | undefined {
  if (!isTransport(tid.transport)) return `Invalid transport ${tid.transport}`;
  if (!isIpTransport(tid.transport)) return undefined;
  const ip = parseIp(tid.traddr);
  if (!ip) return 'IP address is not valid';
  if (ip.family === 4 && !ipFamily.ipv4) return 'ignored because IPv4 is disabled';
  if (ip.family === 6 && !ipFamily.ipv6) return 'ignored because IPv6 is disabled';
  return undefined;
}
