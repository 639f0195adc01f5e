/**
 * Test-side NBFT writer: an ACPI NBFT (NVM Express Boot Specification 1.0 layout) from a plain description, with
 * a valid checksum. Strings go to the heap NUL-terminated (the heap reference's length excludes the NUL, as
 * firmware commonly writes them). Knobs let tests produce invalid tables (flags, ids, versions, raw references).
 * The unit tests decode what it writes; the lab writes its NBFT with it (nbft-fixture.ts).
 */
import { parseIp } from '../../src/core/ipaddr.js';

export interface HfiSpec {
  index: number;
  /** Valid flag (default true). */
  valid?: boolean;
  trtype?: number;
  mac: string;
  vlan?: number;
  ipOrigin?: number;
  ipaddr?: string;
  prefix?: number;
  gateway?: string;
  routeMetric?: number;
  primaryDns?: string;
  secondaryDns?: string;
  dhcpServer?: string;
  hostName?: string;
  defaultRoute?: boolean;
  dhcpOverride?: boolean;
  pciSbdf?: number;
  /** Transport info: valid flag, structure id, version (defaults true, 7, 1). */
  infoValid?: boolean;
  infoId?: number;
  infoVersion?: number;
  /** Length of the transport info heap object (default 128). */
  infoLength?: number;
  /** No transport info reference at all. */
  noInfo?: boolean;
}

export interface DiscoverySpec {
  index: number;
  valid?: boolean;
  id?: number;
  hfiIndex: number;
  secIndex?: number;
  /** Omitted: no URI reference. */
  uri?: string;
  /** Omitted: no NQN reference (the well-known discovery NQN applies). */
  nqn?: string;
}

export interface SsnsExtSpec {
  cntlid: number;
  asqsz?: number;
  adminAsqsz?: boolean;
  rootPath?: string;
  valid?: boolean;
  /** SSNS index written in the extended info (default: the SSNS's). */
  ssnsIndex?: number;
}

export interface SsnsSpec {
  index: number;
  valid?: boolean;
  trtype?: number;
  traddr: string;
  trsvcid: string;
  nqn: string;
  primaryHfi: number;
  secondaryHfis?: number[];
  nsid?: number;
  nidType?: number;
  nid?: Uint8Array;
  hdgst?: boolean;
  ddgst?: boolean;
  portId?: number;
  /** Security profile index (sets the "use security" flag). */
  security?: number;
  ext?: SsnsExtSpec;
}

export interface SecuritySpec {
  index: number;
  valid?: boolean;
}

export interface NbftSpec {
  host: {
    nqn?: string;
    /** UUID text. */
    id: string;
    idConfigured?: boolean;
    nqnConfigured?: boolean;
    /** Primary administrative host flag, 0..3. */
    primary?: number;
    valid?: boolean;
  };
  hfi?: HfiSpec[];
  discovery?: DiscoverySpec[];
  ssns?: SsnsSpec[];
  security?: SecuritySpec[];
  major?: number;
  minor?: number;
  controlValid?: boolean;
  /** Per-descriptor lengths of the lists (default: the 1.0 sizes). */
  hfiLength?: number;
  discoveryLength?: number;
}

const HEADER = 64;
const CONTROL = 64;
const HOST = 32;

/** 16-byte address field: IPv4 as IPv4-mapped IPv6. */
export function ip16(text: string | undefined): Buffer {
  const out = Buffer.alloc(16);
  if (!text) return out;
  const ip = parseIp(text);
  if (!ip) throw new Error(`not an IP: ${text}`);
  if (ip.family === 4) {
    out[10] = 0xff;
    out[11] = 0xff;
    Buffer.from(ip.bytes).copy(out, 12);
  } else Buffer.from(ip.bytes).copy(out);
  return out;
}

function uuidBytes(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`not a UUID: ${uuid}`);
  return Buffer.from(hex, 'hex');
}

/** Sets the checksum byte (offset 9) so that all `length` bytes sum to 0 modulo 256. */
export function fixChecksum(table: Buffer): Buffer {
  const length = Math.min(table.readUInt32LE(4), table.length);
  table[9] = 0;
  let sum = 0;
  for (let i = 0; i < length; i++) sum = (sum + table[i]!) & 0xff;
  table[9] = (256 - sum) & 0xff;
  return table;
}

export function buildNbft(spec: NbftSpec): Buffer {
  const hfis = spec.hfi ?? [];
  const discs = spec.discovery ?? [];
  const ssnss = spec.ssns ?? [];
  const secs = spec.security ?? [];
  const hfiLen = spec.hfiLength ?? 32;
  const discLen = spec.discoveryLength ?? 32;
  const hostAt = HEADER + CONTROL;
  const hfiAt = hostAt + HOST;
  const ssnsAt = hfiAt + hfis.length * hfiLen;
  const secAt = ssnsAt + ssnss.length * 128;
  const discAt = secAt + secs.length * 64;
  const heapAt = discAt + discs.length * discLen;

  const heap: Buffer[] = [];
  let heapSize = 0;
  /** Appends an object to the heap; returns its (offset, length) reference bytes. */
  const put = (data: Buffer, length = data.length): Buffer => {
    const ref = Buffer.alloc(6);
    ref.writeUInt32LE(heapAt + heapSize, 0);
    ref.writeUInt16LE(length, 4);
    heap.push(data);
    heapSize += data.length;
    return ref;
  };
  const str = (s: string | undefined): Buffer =>
    s === undefined
      ? Buffer.alloc(6)
      : put(Buffer.concat([Buffer.from(s, 'latin1'), Buffer.alloc(1)]), s.length);

  const body: Buffer[] = [];
  // Host descriptor.
  const host = Buffer.alloc(HOST);
  host[0] = 2;
  host[1] =
    (spec.host.valid === false ? 0 : 1) |
    (spec.host.idConfigured ? 2 : 0) |
    (spec.host.nqnConfigured ? 4 : 0) |
    ((spec.host.primary ?? 0) << 3);
  uuidBytes(spec.host.id).copy(host, 2);
  str(spec.host.nqn).copy(host, 18);
  body.push(host);

  for (const h of hfis) {
    const d = Buffer.alloc(hfiLen);
    d[0] = 3;
    d[1] = h.index;
    d[2] = h.valid === false ? 0 : 1;
    d[3] = h.trtype ?? 3;
    if (!h.noInfo) {
      const info = Buffer.alloc(Math.max(h.infoLength ?? 128, 128));
      info[0] = h.infoId ?? 7;
      info[1] = h.infoVersion ?? 1;
      info[2] = 3;
      info[3] = 1;
      info.writeUInt16LE(h.index, 4);
      info[6] = (h.infoValid === false ? 0 : 1) | (h.defaultRoute ? 2 : 0) | (h.dhcpOverride ? 4 : 0);
      info.writeUInt32LE(h.pciSbdf ?? 0, 7);
      Buffer.from(h.mac.split(':').map((x) => Number.parseInt(x, 16))).copy(info, 11);
      info.writeUInt16LE(h.vlan ?? 0, 17);
      info[19] = h.ipOrigin ?? 0;
      ip16(h.ipaddr).copy(info, 20);
      info[36] = h.prefix ?? 0;
      ip16(h.gateway).copy(info, 37);
      info.writeUInt16LE(h.routeMetric ?? 0, 54);
      ip16(h.primaryDns).copy(info, 56);
      ip16(h.secondaryDns).copy(info, 72);
      ip16(h.dhcpServer).copy(info, 88);
      // The host name goes to the heap after the transport info; patch the reference once it is known.
      const ref = put(info, h.infoLength ?? 128);
      ref.copy(d, 16);
      str(h.hostName).copy(info, 104);
    }
    body.push(d);
  }

  for (const s of ssnss) {
    const d = Buffer.alloc(128);
    d[0] = 4;
    d.writeUInt16LE(s.index, 1);
    d.writeUInt16LE((s.valid === false ? 0 : 1) | (s.security !== undefined ? 4 : 0) | (s.ext ? 0x10 : 0), 3);
    d[5] = s.trtype ?? 3;
    d.writeUInt16LE(1 | (s.hdgst ? 2 : 0) | (s.ddgst ? 4 : 0), 6);
    put(ip16(s.traddr)).copy(d, 10);
    str(s.trsvcid).copy(d, 16);
    d.writeUInt16LE(s.portId ?? 0, 22);
    d.writeUInt32LE(s.nsid ?? 1, 24);
    d[28] = s.nidType ?? 0;
    if (s.nid) Buffer.from(s.nid).copy(d, 29, 0, 16);
    d[45] = s.security ?? 0;
    d[46] = s.primaryHfi;
    if (s.secondaryHfis?.length) put(Buffer.from(s.secondaryHfis)).copy(d, 48);
    str(s.nqn).copy(d, 54);
    if (s.ext) {
      const e = Buffer.alloc(18);
      e[0] = 9;
      e[1] = 1;
      e.writeUInt16LE(s.ext.ssnsIndex ?? s.index, 2);
      e.writeUInt32LE((s.ext.valid === false ? 0 : 1) | (s.ext.adminAsqsz ? 2 : 0), 4);
      e.writeUInt16LE(s.ext.cntlid, 8);
      e.writeUInt16LE(s.ext.asqsz ?? 0, 10);
      put(e).copy(d, 60);
      str(s.ext.rootPath).copy(e, 12);
    }
    body.push(d);
  }

  for (const s of secs) {
    const d = Buffer.alloc(64);
    d[0] = 5;
    d[1] = s.index;
    d.writeUInt16LE(s.valid === false ? 0 : 1, 2);
    body.push(d);
  }

  for (const x of discs) {
    const d = Buffer.alloc(discLen);
    d[0] = x.id ?? 6;
    d[1] = x.valid === false ? 0 : 1;
    d[2] = x.index;
    d[3] = x.hfiIndex;
    d[4] = x.secIndex ?? 0;
    str(x.uri).copy(d, 6);
    str(x.nqn).copy(d, 12);
    body.push(d);
  }

  const length = heapAt + heapSize;
  const header = Buffer.alloc(HEADER);
  header.write('NBFT', 0, 'latin1');
  header.writeUInt32LE(length, 4);
  header[8] = spec.major ?? 1;
  header.write('STASLB', 10, 'latin1');
  header.write('NBFTTEST', 16, 'latin1');
  header.writeUInt32LE(1, 24);
  header.write('STAS', 28, 'latin1');
  header.writeUInt32LE(1, 32);
  header.writeUInt32LE(heapAt, 36);
  header.writeUInt32LE(heapSize, 40);
  header[50] = spec.minor ?? 0;

  const control = Buffer.alloc(CONTROL);
  control[0] = 1;
  control[1] = 1;
  control.writeUInt16LE(CONTROL, 4);
  control[6] = spec.controlValid === false ? 0 : 1;
  control.writeUInt32LE(hostAt, 8);
  control.writeUInt16LE(HOST, 12);
  control[14] = 1;
  const list = (at: number, offset: number, len: number, count: number) => {
    control.writeUInt32LE(count ? offset : 0, at);
    control.writeUInt16LE(count ? len : 0, at + 4);
    control[at + 6] = count ? 1 : 0;
    control[at + 7] = count;
  };
  list(16, hfiAt, hfiLen, hfis.length);
  list(24, ssnsAt, 128, ssnss.length);
  list(32, secAt, 64, secs.length);
  list(40, discAt, discLen, discs.length);

  return fixChecksum(Buffer.concat([header, control, ...body, ...heap]));
}
