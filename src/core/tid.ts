/** Transport ID (TID): the identity of a controller connection, its canonical forms and defaults. Pure. */
import { canonicalIp } from './ipaddr.js';
import {
  defaultServiceId,
  isIpTransport,
  isTransport,
  TRANSPORT_NAMES,
  type Transport,
} from './transport.js';

export type { Transport };

export const WELL_KNOWN_DISC_NQN = 'nqn.2014-08.org.nvmexpress.discovery';

/** Fabrics transports stas manages (src/core/transport.ts). Anything else (pcie, typos) is never handed to the kernel. */
export const FABRIC_TRANSPORTS = TRANSPORT_NAMES;
export const isFabricTransport = isTransport;

/** Input to TID construction: raw strings as found in a config line, a log page entry or D-Bus arguments. */
export interface TidInput {
  transport: string;
  traddr: string;
  trsvcid?: string | undefined;
  subsysnqn?: string | undefined;
  hostTraddr?: string | undefined;
  hostIface?: string | undefined;
  hostNqn?: string | undefined;
}

export interface TidOptions {
  /** System host NQN, used when the input names none. */
  defaultHostNqn: string;
  /** `ignore-iface=true`: the interface is not part of the identity and never passed to the kernel. */
  ignoreIface?: boolean;
}

/** Strings from the network or config: trim blanks and NUL padding. */
export function cleanString(s: string | undefined): string {
  if (s === undefined) return '';
  let end = s.length;
  while (end > 0 && (s.charCodeAt(end - 1) <= 0x20 || s.charCodeAt(end - 1) === 0x7f)) end--;
  let start = 0;
  while (start < end && s.charCodeAt(start) <= 0x20) start++;
  return s.slice(start, end);
}

/** Canonical address text for IP transports (RFC 5952 for IPv6); other text is only trimmed. */
function canonicalAddr(transport: string, addr: string): string {
  if (isIpTransport(transport)) return canonicalIp(addr) ?? addr;
  return addr;
}

/** The seven identity fields, after defaults and canonicalisation. */
export interface TidFields {
  readonly transport: string;
  readonly traddr: string;
  readonly trsvcid: string;
  readonly subsysnqn: string;
  readonly hostTraddr: string;
  readonly hostIface: string;
  readonly hostNqn: string;
}

export class Tid implements TidFields {
  readonly transport: string;
  readonly traddr: string;
  readonly trsvcid: string;
  readonly subsysnqn: string;
  readonly hostTraddr: string;
  readonly hostIface: string;
  readonly hostNqn: string;

  private constructor(f: TidFields) {
    this.transport = f.transport;
    this.traddr = f.traddr;
    this.trsvcid = f.trsvcid;
    this.subsysnqn = f.subsysnqn;
    this.hostTraddr = f.hostTraddr;
    this.hostIface = f.hostIface;
    this.hostNqn = f.hostNqn;
  }

  /**
   * Builds a TID with nvme-stas' defaults: trsvcid the transport's default (8009 for tcp, 4420 for rdma) when
   * empty, and always empty where trsvcid does not apply (fc, loop); host NQN defaults to the system's; host-iface dropped with ignore-iface. IP literals are
   * canonicalised so that one controller has one identity whatever text named it.
   */
  static from(input: TidInput, opts: TidOptions): Tid {
    const transport = cleanString(input.transport);
    const fallback = defaultServiceId(transport);
    const trsvcid = fallback ? cleanString(input.trsvcid) || fallback : '';
    return new Tid({
      transport,
      traddr: canonicalAddr(transport, cleanString(input.traddr)),
      trsvcid,
      subsysnqn: cleanString(input.subsysnqn),
      hostTraddr: canonicalAddr(transport, cleanString(input.hostTraddr)),
      hostIface: opts.ignoreIface ? '' : cleanString(input.hostIface),
      hostNqn: cleanString(input.hostNqn) || opts.defaultHostNqn,
    });
  }

  /**
   * From the seven D-Bus arguments (transport, traddr, trsvcid, subsysnqn, host_traddr, host_iface, host_nqn),
   * with the same defaults and canonicalisation, so that a caller's text finds the controller whatever its form.
   */
  static fromArgs(args: readonly string[], opts: TidOptions): Tid {
    const [transport = '', traddr = '', trsvcid, subsysnqn, hostTraddr, hostIface, hostNqn] = args;
    return Tid.from({ transport, traddr, trsvcid, subsysnqn, hostTraddr, hostIface, hostNqn }, opts);
  }

  /** The seven D-Bus arguments, in the order of fromArgs (nvme-stas' order of the identity fields). */
  args(): [string, string, string, string, string, string, string] {
    return [
      this.transport,
      this.traddr,
      this.trsvcid,
      this.subsysnqn,
      this.hostTraddr,
      this.hostIface,
      this.hostNqn,
    ];
  }

  /** Identity key: equal keys ⇔ same controller. */
  key(): string {
    return this.args().join('\u0000');
  }

  /** Printable form used as the prefix of log lines: `(tcp, 10.0.0.1, 8009, nqn…, eth0, 10.0.0.2)`. */
  toString(): string {
    const parts = [this.transport, this.traddr, this.trsvcid];
    if (this.subsysnqn) parts.push(this.subsysnqn);
    if (this.hostIface) parts.push(this.hostIface);
    if (this.hostTraddr) parts.push(this.hostTraddr);
    return `(${parts.join(', ')})`;
  }

  /**
   * The inverse of idDict: a TID from a controller dictionary (extra keys ignored, a value that is not a string
   * taken as empty), with the defaults of from(); undefined without a transport or traddr.
   */
  static fromIdDict(d: Readonly<Record<string, unknown>>, opts: TidOptions): Tid | undefined {
    const str = (v: unknown) => (typeof v === 'string' ? v : '');
    if (!str(d['transport']) || !str(d['traddr'])) return undefined;
    return Tid.from(
      {
        transport: str(d['transport']),
        traddr: str(d['traddr']),
        trsvcid: str(d['trsvcid']),
        subsysnqn: str(d['subsysnqn']),
        hostTraddr: str(d['host-traddr']),
        hostIface: str(d['host-iface']),
        hostNqn: str(d['host-nqn']),
      },
      opts,
    );
  }

  /** The D-Bus controller id dictionary, in nvme-stas' key order (without per-controller extras and device). */
  idDict(): Record<string, string> {
    return {
      traddr: this.traddr,
      trsvcid: this.trsvcid,
      transport: this.transport,
      subsysnqn: this.subsysnqn,
      'host-iface': this.hostIface,
      'host-traddr': this.hostTraddr,
      'host-nqn': this.hostNqn,
    };
  }
}
