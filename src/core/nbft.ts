/**
 * The ACPI NBFT (NVMe Boot Firmware Table, NVM Express Boot Specification 1.0/1.1) decoded into the dictionary
 * shape nvme-stas gets from libnvme's `nbft_get` (host, hfi, discovery, subsystem). Pure: bytes in, object out.
 *
 * Layout (all integers little-endian; offsets are from byte 0 of the table):
 * - header (64 bytes): the 36-byte ACPI header (signature `NBFT`, length, revision, checksum, OEM ids, creator),
 *   then heap offset/length, the driver signature heap reference and the minor revision;
 * - control descriptor (64 bytes, right after the header): where the host descriptor is and, for each of the HFI,
 *   SSNS, security and discovery descriptor lists, offset, per-descriptor length, version and count;
 * - descriptors, each starting with a structure id, then index and flags (bit 0 = valid);
 * - the heap: variable-size objects (strings, HFI transport info, SSNS extended info) referenced by
 *   (u32 offset, u16 length) pairs that must lie inside the heap.
 *
 * A table that cannot be trusted as a whole (too short, wrong signature, bad checksum, unknown major revision,
 * header, control or host descriptor out of bounds) is an error value; a single bad descriptor is skipped with a
 * warning. Nothing is read outside the table and nothing throws.
 */

import { errorText } from './log.js';
import { TrType } from './transport.js';

/** Structure ids (the first byte of every descriptor). */
export const NbftDesc = {
  control: 1,
  host: 2,
  hfi: 3,
  ssns: 4,
  security: 5,
  discovery: 6,
  hfiTransport: 7,
  ssnsExtendedInfo: 9,
} as const;

/** Transport type of HFIs and SSNS descriptors: only NVMe/TCP is defined. */
export const NBFT_TRTYPE_TCP = TrType.tcp;

/** Fixed sizes of the revision 1.0 structures (a list may declare longer descriptors, never shorter ones). */
export const NbftSize = {
  header: 64,
  control: 64,
  host: 32,
  hfi: 32,
  hfiTcpInfo: 128,
  ssns: 128,
  ssnsExtendedInfo: 18,
  security: 64,
  discovery: 32,
} as const;

export type PrimaryAdminHostFlag = 'not indicated' | 'unselected' | 'selected' | 'reserved';

export interface NbftHost {
  nqn: string;
  /** Host ID as a UUID string (the 16 bytes in table order). */
  id: string;
  host_id_configured: boolean;
  host_nqn_configured: boolean;
  primary_admin_host_flag: PrimaryAdminHostFlag;
}

/** A host fabric interface (TCP is the only transport the specification defines). */
export interface NbftHfi {
  trtype: 'tcp';
  /** PCI segment:bus:device.function, hexadecimal (`0:40:0.0`). */
  pcidev: string;
  /** `aa:bb:cc:dd:ee:ff`, lower case. */
  mac_addr: string;
  vlan: number;
  ip_origin: number;
  ipaddr: string;
  subnet_mask_prefix: number;
  gateway_ipaddr: string;
  route_metric: number;
  primary_dns_ipaddr: string;
  secondary_dns_ipaddr: string;
  /** Empty unless `dhcp_override`. */
  dhcp_server_ipaddr: string;
  host_name?: string;
  this_hfi_is_default_route: boolean;
  dhcp_override: boolean;
}

export interface NbftDiscovery {
  /** Position in `hfi` of the HFI this entry uses (libnvme: HFI descriptor index − 1); absent if not found. */
  hfi_index?: number;
  /** Index of the security profile descriptor, when the entry names one that exists. */
  security_index?: number;
  /** Discovery controller URI, e.g. `nvme+tcp://100.71.103.50:8009/`. */
  uri: string;
  /** Discovery controller NQN; absent means the well-known discovery NQN. */
  nqn?: string;
}

export interface NbftSubsystem {
  trtype: 'tcp';
  traddr: string;
  trsvcid: string;
  subsys_nqn: string;
  /** Positions in `hfi` of the primary HFI then the secondary ones (duplicates and unknown ones dropped). */
  hfi_indexes: number[];
  nsid: number;
  nid_type?: 'eui64' | 'nguid' | 'uuid';
  nid?: string;
  controller_id: number;
  asqsz: number;
  pdu_header_digest_required: boolean;
  data_digest_required: boolean;
  subsys_port_id: number;
  dhcp_root_path_string?: string;
}

export interface NbftTable {
  host: NbftHost;
  hfi: NbftHfi[];
  discovery: NbftDiscovery[];
  subsystem: NbftSubsystem[];
}

export type NbftResult =
  | { ok: true; table: NbftTable; warnings: string[] }
  | { ok: false; error: string; warnings: string[] };

/** The table as nvme-stas shows it: the decoded dictionary, or `{}` when the table cannot be decoded. */
export function nbftDict(result: NbftResult): NbftTable | Record<string, never> {
  return result.ok ? result.table : {};
}

/** Internal: a reason why a structure cannot be decoded. Never escapes this module. */
class NbftFormatError extends Error {}

interface HeapRef {
  offset: number;
  length: number;
}

/** Bounds-checked little-endian reads inside the table's declared length. */
class TableReader {
  constructor(
    readonly bytes: Uint8Array,
    readonly length: number,
    readonly heapStart: number,
    readonly heapEnd: number,
  ) {}

  private need(at: number, size: number, what: string): void {
    if (!Number.isInteger(at) || at < 0 || size < 0 || at + size > this.length)
      throw new NbftFormatError(
        `${what}: bytes ${at}..${at + size} lie outside the table (${this.length} bytes)`,
      );
  }

  u8(at: number, what = 'field'): number {
    this.need(at, 1, what);
    return this.bytes[at]!;
  }

  u16(at: number, what = 'field'): number {
    this.need(at, 2, what);
    return this.bytes[at]! | (this.bytes[at + 1]! << 8);
  }

  u32(at: number, what = 'field'): number {
    this.need(at, 4, what);
    return (
      (this.bytes[at]! |
        (this.bytes[at + 1]! << 8) |
        (this.bytes[at + 2]! << 16) |
        (this.bytes[at + 3]! << 24)) >>>
      0
    );
  }

  slice(at: number, size: number, what = 'field'): Uint8Array {
    this.need(at, size, what);
    return this.bytes.subarray(at, at + size);
  }

  /** A heap reference (u32 offset, u16 length) stored at `at`. */
  ref(at: number, what: string): HeapRef {
    return { offset: this.u32(at, what), length: this.u16(at + 4, what) };
  }

  /** The bytes a heap reference designates; undefined when the reference is empty (length 0). */
  heap(ref: HeapRef, what: string): Uint8Array | undefined {
    if (ref.length === 0) return undefined;
    if (ref.offset < this.heapStart || ref.offset + ref.length > this.heapEnd)
      throw new NbftFormatError(
        `${what}: heap object ${ref.offset}+${ref.length} lies outside the heap (${this.heapStart}..${this.heapEnd})`,
      );
    return this.bytes.subarray(ref.offset, ref.offset + ref.length);
  }

  /** A heap string: up to the first NUL inside the object (the length may or may not count a terminator). */
  string(ref: HeapRef, what: string): string | undefined {
    const b = this.heap(ref, what);
    if (!b) return undefined;
    const nul = b.indexOf(0);
    return Buffer.from(nul < 0 ? b : b.subarray(0, nul)).toString('latin1');
  }
}

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

function uuidText(b: Uint8Array): string {
  const h = Array.from(b, hex2).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** A 16-byte address field: IPv4-mapped addresses as dotted quads, others as RFC 5952 IPv6 text. */
function ipText(b: Uint8Array): string {
  let mapped = b[10] === 0xff && b[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) if (b[i] !== 0) mapped = false;
  if (mapped) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[i * 2]! << 8) | b[i * 2 + 1]!);
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i >= 2 && j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

const PRIMARY_ADMIN: readonly PrimaryAdminHostFlag[] = [
  'not indicated',
  'unselected',
  'selected',
  'reserved',
];

/** One descriptor list of the control descriptor. */
interface DescList {
  name: string;
  offset: number;
  length: number;
  count: number;
}

interface RawHfi {
  index: number;
  hfi: NbftHfi;
}

interface RawDiscovery {
  index: number;
  hfiIndex: number;
  secIndex: number;
  uri: string;
  nqn: string | undefined;
}

interface RawSsns {
  index: number;
  primaryHfi: number;
  secondaryHfis: number[];
  secIndex: number;
  sub: Omit<NbftSubsystem, 'hfi_indexes'>;
}

/** The descriptor start offsets of a list, after checking that the whole list lies inside the table. */
function listOffsets(r: TableReader, list: DescList, minLength: number): number[] {
  if (list.count === 0) return [];
  if (list.length < minLength)
    throw new NbftFormatError(
      `${list.name} descriptors are ${list.length} bytes long (at least ${minLength})`,
    );
  if (list.offset < NbftSize.header + NbftSize.control || list.offset + list.count * list.length > r.length)
    throw new NbftFormatError(
      `${list.name} descriptor list (${list.count} × ${list.length} bytes at ${list.offset}) lies outside the table`,
    );
  return Array.from({ length: list.count }, (_, i) => list.offset + i * list.length);
}

function expectId(r: TableReader, at: number, id: number, what: string): void {
  const got = r.u8(at, what);
  if (got !== id) throw new NbftFormatError(`${what}: structure id ${got} (expected ${id})`);
}

function readHfi(r: TableReader, at: number): RawHfi | undefined {
  const flags = r.u8(at + 2);
  if ((flags & 1) === 0) return undefined; // not valid: reserved slot
  expectId(r, at, NbftDesc.hfi, 'HFI descriptor');
  const index = r.u8(at + 1);
  const what = `HFI ${index}`;
  const trtype = r.u8(at + 3);
  if (trtype !== NBFT_TRTYPE_TCP) throw new NbftFormatError(`${what}: unsupported transport type ${trtype}`);
  const ref = r.ref(at + 16, what);
  const info = r.heap(ref, `${what} transport info`);
  if (!info) throw new NbftFormatError(`${what}: no transport info`);
  if (info.length < NbftSize.hfiTcpInfo)
    throw new NbftFormatError(
      `${what}: transport info is ${info.length} bytes (at least ${NbftSize.hfiTcpInfo})`,
    );
  // The heap object is inside the table: read it through the same bounds-checked reader.
  const t = ref.offset;
  if (r.u8(t) !== NbftDesc.hfiTransport)
    throw new NbftFormatError(
      `${what}: transport info structure id ${r.u8(t)} (expected ${NbftDesc.hfiTransport})`,
    );
  if (r.u8(t + 1) !== 1)
    throw new NbftFormatError(`${what}: transport info version ${r.u8(t + 1)} (expected 1)`);
  const tflags = r.u8(t + 6);
  if ((tflags & 1) === 0) throw new NbftFormatError(`${what}: transport info not valid`);
  const sbdf = r.u32(t + 7);
  const dhcpOverride = (tflags & 4) !== 0;
  const hostName = r.string(r.ref(t + 104, `${what} host name`), `${what} host name`);
  const hfi: NbftHfi = {
    trtype: 'tcp',
    pcidev: `${(sbdf >>> 16).toString(16)}:${((sbdf >>> 8) & 0xff).toString(16)}:${((sbdf >>> 3) & 0x1f).toString(16)}.${(sbdf & 7).toString(16)}`,
    mac_addr: Array.from(r.slice(t + 11, 6), hex2).join(':'),
    vlan: r.u16(t + 17),
    ip_origin: r.u8(t + 19),
    ipaddr: ipText(r.slice(t + 20, 16)),
    subnet_mask_prefix: r.u8(t + 36),
    gateway_ipaddr: ipText(r.slice(t + 37, 16)),
    route_metric: r.u16(t + 54),
    primary_dns_ipaddr: ipText(r.slice(t + 56, 16)),
    secondary_dns_ipaddr: ipText(r.slice(t + 72, 16)),
    dhcp_server_ipaddr: dhcpOverride ? ipText(r.slice(t + 88, 16)) : '',
    ...(hostName !== undefined ? { host_name: hostName } : {}),
    this_hfi_is_default_route: (tflags & 2) !== 0,
    dhcp_override: dhcpOverride,
  };
  return { index, hfi };
}

function readSecurity(r: TableReader, at: number): number | undefined {
  const flags = r.u16(at + 2);
  if ((flags & 1) === 0) return undefined;
  expectId(r, at, NbftDesc.security, 'security descriptor');
  return r.u8(at + 1);
}

function readDiscovery(r: TableReader, at: number): RawDiscovery | undefined {
  const flags = r.u8(at + 1);
  if ((flags & 1) === 0) return undefined;
  expectId(r, at, NbftDesc.discovery, 'discovery descriptor');
  const index = r.u8(at + 2);
  const what = `discovery descriptor ${index}`;
  const uri = r.string(r.ref(at + 6, what), `${what} URI`);
  if (uri === undefined) throw new NbftFormatError(`${what}: no URI`);
  const nqn = r.string(r.ref(at + 12, what), `${what} NQN`);
  return { index, hfiIndex: r.u8(at + 3), secIndex: r.u8(at + 4), uri, nqn };
}

const NID_TYPES: Record<number, { name: 'eui64' | 'nguid' | 'uuid'; text: (b: Uint8Array) => string }> = {
  1: { name: 'eui64', text: (b) => Array.from(b.subarray(0, 8), hex2).join('') },
  2: { name: 'nguid', text: (b) => Array.from(b, hex2).join('') },
  3: { name: 'uuid', text: uuidText },
};

function readSsns(r: TableReader, at: number): RawSsns | undefined {
  const flags = r.u16(at + 3);
  if ((flags & 1) === 0) return undefined;
  expectId(r, at, NbftDesc.ssns, 'SSNS descriptor');
  const index = r.u16(at + 1);
  const what = `SSNS ${index}`;
  const trtype = r.u8(at + 5);
  if (trtype !== NBFT_TRTYPE_TCP) throw new NbftFormatError(`${what}: unsupported transport type ${trtype}`);
  const trflags = r.u16(at + 6);
  const addr = r.heap(r.ref(at + 10, what), `${what} transport address`);
  if (!addr || addr.length < 16) throw new NbftFormatError(`${what}: transport address missing or short`);
  const trsvcid = r.string(r.ref(at + 16, what), `${what} transport service id`);
  if (trsvcid === undefined) throw new NbftFormatError(`${what}: no transport service id`);
  const nqn = r.string(r.ref(at + 54, what), `${what} NQN`);
  if (nqn === undefined) throw new NbftFormatError(`${what}: no subsystem NQN`);
  const secondary = r.heap(r.ref(at + 48, what), `${what} secondary HFIs`);
  const nidt = NID_TYPES[r.u8(at + 28)];
  const nid = r.slice(at + 29, 16);
  const sub: Omit<NbftSubsystem, 'hfi_indexes'> = {
    trtype: 'tcp',
    traddr: ipText(addr),
    trsvcid,
    subsys_nqn: nqn,
    nsid: r.u32(at + 24),
    ...(nidt ? { nid_type: nidt.name, nid: nidt.text(nid) } : {}),
    controller_id: 0,
    asqsz: 0,
    pdu_header_digest_required: (trflags & 2) !== 0,
    data_digest_required: (trflags & 4) !== 0,
    subsys_port_id: r.u16(at + 22),
  };
  if (flags & 0x10) {
    const ref = r.ref(at + 60, what);
    const ext = r.heap(ref, `${what} extended info`);
    // The extended info is optional: when it is unusable the namespace keeps its defaults.
    if (
      ext &&
      ext.length >= NbftSize.ssnsExtendedInfo &&
      r.u8(ref.offset) === NbftDesc.ssnsExtendedInfo &&
      r.u8(ref.offset + 1) === 1 &&
      r.u16(ref.offset + 2) === index
    ) {
      const eflags = r.u32(ref.offset + 4);
      if (eflags & 1) {
        sub.controller_id = r.u16(ref.offset + 8);
        if (eflags & 2) sub.asqsz = r.u16(ref.offset + 10);
        const root = r.string(r.ref(ref.offset + 12, what), `${what} DHCP root path`);
        if (root !== undefined) sub.dhcp_root_path_string = root;
      }
    }
  }
  return {
    index,
    primaryHfi: r.u8(at + 46),
    secondaryHfis: secondary ? Array.from(secondary) : [],
    secIndex: (flags & 4) !== 0 ? r.u8(at + 45) : 0,
    sub,
  };
}

/** Reads every descriptor of a list; a descriptor that cannot be decoded is skipped with a warning. */
function readAll<T>(
  r: TableReader,
  list: DescList,
  minLength: number,
  read: (r: TableReader, at: number) => T | undefined,
  warnings: string[],
): T[] {
  const out: T[] = [];
  for (const at of listOffsets(r, list, minLength)) {
    try {
      const d = read(r, at);
      if (d !== undefined) out.push(d);
    } catch (e) {
      if (!(e instanceof NbftFormatError)) throw e;
      warnings.push(`${list.name} descriptor at offset ${at} skipped: ${e.message}`);
    }
  }
  return out;
}

function byIndex<T extends { index: number }>(items: T[]): T[] {
  return [...items].sort((a, b) => a.index - b.index);
}

function parse(bytes: Uint8Array, warnings: string[]): NbftTable {
  const min = NbftSize.header + NbftSize.control;
  if (bytes.length < min) throw new NbftFormatError(`table is ${bytes.length} bytes long (at least ${min})`);
  const sig = String.fromCharCode(bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!);
  if (sig !== 'NBFT') throw new NbftFormatError(`signature ${JSON.stringify(sig)} is not "NBFT"`);
  const hdr = new TableReader(bytes, min, 0, 0);
  const length = hdr.u32(4);
  if (length < min) throw new NbftFormatError(`header length ${length} is too short (at least ${min})`);
  if (length > bytes.length)
    throw new NbftFormatError(
      `header length ${length} exceeds the ${bytes.length} bytes available (truncated)`,
    );
  let sum = 0;
  for (let i = 0; i < length; i++) sum = (sum + bytes[i]!) & 0xff;
  if (sum !== 0) throw new NbftFormatError('invalid checksum');
  const major = hdr.u8(8);
  if (major !== 1) throw new NbftFormatError(`unsupported major revision ${major}`);
  const minor = hdr.u8(50);
  if (minor > 1) warnings.push(`minor revision ${minor} is newer than 1: reading the fields of revision 1.x`);
  const heapStart = hdr.u32(36);
  const heapLength = hdr.u32(40);
  if (heapStart + heapLength > length)
    throw new NbftFormatError(
      `heap (${heapLength} bytes at ${heapStart}) exceeds the table length ${length}`,
    );
  const r = new TableReader(bytes, length, heapStart, heapStart + heapLength);

  const c = NbftSize.header;
  if ((r.u8(c + 6) & 1) === 0) throw new NbftFormatError('control descriptor not valid');
  expectId(r, c, NbftDesc.control, 'control descriptor');
  const list = (name: string, at: number): DescList => ({
    name,
    offset: r.u32(at),
    length: r.u16(at + 4),
    count: r.u8(at + 7),
  });

  const h = r.u32(c + 8, 'host descriptor reference');
  if (h < min || h + NbftSize.host > length)
    throw new NbftFormatError(`host descriptor at ${h} lies outside the table`);
  expectId(r, h, NbftDesc.host, 'host descriptor');
  const hflags = r.u8(h + 1);
  if ((hflags & 1) === 0) throw new NbftFormatError('host descriptor not valid');
  const nqn = r.string(r.ref(h + 18, 'host NQN'), 'host NQN');
  if (nqn === undefined) throw new NbftFormatError('host descriptor has no host NQN');
  const host: NbftHost = {
    nqn,
    id: uuidText(r.slice(h + 2, 16)),
    host_id_configured: (hflags & 2) !== 0,
    host_nqn_configured: (hflags & 4) !== 0,
    primary_admin_host_flag: PRIMARY_ADMIN[(hflags >> 3) & 3]!,
  };

  const hfis = byIndex(readAll(r, list('HFI', c + 16), NbftSize.hfi, readHfi, warnings));
  const ssnsList = byIndex(readAll(r, list('SSNS', c + 24), NbftSize.ssns, readSsns, warnings));
  const security = new Set(readAll(r, list('security', c + 32), NbftSize.security, readSecurity, warnings));
  const discs = byIndex(readAll(r, list('discovery', c + 40), NbftSize.discovery, readDiscovery, warnings));

  const hfiPos = (index: number): number | undefined => {
    const i = hfis.findIndex((x) => x.index === index);
    return i < 0 ? undefined : i;
  };

  const discovery: NbftDiscovery[] = discs.map((d) => {
    const pos = hfiPos(d.hfiIndex);
    if (pos === undefined) warnings.push(`discovery descriptor ${d.index}: HFI ${d.hfiIndex} not found`);
    if (d.secIndex && !security.has(d.secIndex))
      warnings.push(`discovery descriptor ${d.index}: security descriptor ${d.secIndex} not found`);
    return {
      ...(pos !== undefined ? { hfi_index: pos } : {}),
      ...(d.secIndex && security.has(d.secIndex) ? { security_index: d.secIndex } : {}),
      uri: d.uri,
      ...(d.nqn !== undefined ? { nqn: d.nqn } : {}),
    };
  });

  const subsystem: NbftSubsystem[] = [];
  for (const s of ssnsList) {
    const primary = hfiPos(s.primaryHfi);
    if (primary === undefined) {
      warnings.push(`SSNS ${s.index} skipped: primary HFI ${s.primaryHfi} not found`);
      continue;
    }
    const positions = [primary];
    for (const idx of s.secondaryHfis) {
      const pos = hfiPos(idx);
      if (pos === undefined) {
        if (idx !== 0) warnings.push(`SSNS ${s.index}: secondary HFI ${idx} not found`);
      } else if (!positions.includes(pos)) positions.push(pos);
    }
    if (s.secIndex && !security.has(s.secIndex))
      warnings.push(`SSNS ${s.index}: security descriptor ${s.secIndex} not found`);
    subsystem.push({ ...s.sub, hfi_indexes: positions });
  }

  return { host, hfi: hfis.map((x) => x.hfi), discovery, subsystem };
}

/**
 * Decodes an NBFT. The result is the table (with warnings about skipped descriptors) or an error value; never an
 * exception, whatever the bytes.
 */
export function parseNbft(bytes: Uint8Array): NbftResult {
  const warnings: string[] = [];
  try {
    return { ok: true, table: parse(bytes, warnings), warnings };
  } catch (e) {
    if (e instanceof NbftFormatError) return { ok: false, error: e.message, warnings };
    return { ok: false, error: `internal error: ${errorText(e)}`, warnings };
  }
}
