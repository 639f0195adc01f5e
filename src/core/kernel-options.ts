/**
 * Validation of every value that may reach /dev/nvme-fabrics. The kernel splits its option string on ',' and
 * newlines, so a hostile log page or TXT record could otherwise inject options (`traddr=1.2.3.4,hostnqn=evil`).
 * Pure.
 */
import { parseIp } from './ipaddr.js';
import { isTransport, transportInfo } from './transport.js';

export class OptionValueError extends Error {
  constructor(
    readonly option: string,
    reason: string,
  ) {
    super(`invalid value for ${option}: ${reason}`);
    this.name = 'OptionValueError';
  }
}

/** NVMe NQNs are at most 223 bytes (NVMe Base Specification, NQN definition). */
export const NQN_MAX_BYTES = 223;

/** Options whose values are secrets: never echoed in an error. */
const SECRET_OPTIONS = new Set(['dhchap_secret', 'dhchap_ctrl_secret', 'tls_key', 'keyring']);

/** DH-HMAC-CHAP secret representation: `DHHC-1:<hash id 00..03>:<base64 key+crc>:` (NVMe Base 2.0, 8.13.5.8). */
const DHCHAP_SECRET_RE = /^DHHC-1:0[0-3]:[A-Za-z0-9+/]{4,}={0,2}:$/;

/** Interface names: at most 15 bytes (IFNAMSIZ-1), no '/', no whitespace, not '.' or '..'. */
const IFNAME_RE = /^[A-Za-z0-9_.:@-]{1,15}$/;

function describe(option: string, value: string): string {
  return SECRET_OPTIONS.has(option) ? '<redacted>' : JSON.stringify(value);
}

/**
 * Generic check applied to every string option: no separator (','), no key/value delimiter ('='), no white space
 * at the ends, no control characters, printable ASCII only, not empty.
 */
export function checkPlainValue(option: string, value: string): void {
  if (value === '') throw new OptionValueError(option, 'empty value');
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) {
      throw new OptionValueError(
        option,
        `${describe(option, value)} contains a control, blank or non-ASCII character at offset ${i}`,
      );
    }
  }
  if (value.includes(',')) throw new OptionValueError(option, `${describe(option, value)} contains ','`);
  if (value.includes('=') && !SECRET_OPTIONS.has(option)) {
    throw new OptionValueError(option, `${describe(option, value)} contains '='`);
  }
}

export function checkNqn(option: string, nqn: string): void {
  checkPlainValue(option, nqn);
  if (!nqn.startsWith('nqn.'))
    throw new OptionValueError(option, `${JSON.stringify(nqn)} does not start with "nqn."`);
  if (Buffer.byteLength(nqn) > NQN_MAX_BYTES) {
    throw new OptionValueError(option, `NQN is ${Buffer.byteLength(nqn)} bytes long (max ${NQN_MAX_BYTES})`);
  }
}

export function checkTransport(option: string, t: string): void {
  checkPlainValue(option, t);
  if (!isTransport(t)) throw new OptionValueError(option, `unsupported transport ${JSON.stringify(t)}`);
}

/**
 * traddr / host_traddr, by the transport's address kind: an IP literal (tcp, rdma); an FC `nn-0x…:pn-0x…`; loop
 * (and an unknown transport) takes no address constraint.
 */
export function checkAddress(option: string, transport: string, addr: string): void {
  checkPlainValue(option, addr);
  const kind = transportInfo(transport)?.address;
  if (kind === 'ip') {
    if (!parseIp(addr)) throw new OptionValueError(option, `${JSON.stringify(addr)} is not an IP address`);
  } else if (kind === 'fc') {
    if (!/^nn-0x[0-9a-fA-F]{16}:pn-0x[0-9a-fA-F]{16}$/.test(addr)) {
      throw new OptionValueError(option, `${JSON.stringify(addr)} is not an FC address (nn-0x…:pn-0x…)`);
    }
  }
}

/** trsvcid: a decimal port 1..65535 where the service ID is a port (tcp, rdma). */
export function checkServiceId(option: string, transport: string, trsvcid: string): void {
  checkPlainValue(option, trsvcid);
  if (transportInfo(transport)?.ports) {
    if (!/^[0-9]{1,5}$/.test(trsvcid) || Number(trsvcid) < 1 || Number(trsvcid) > 65535) {
      throw new OptionValueError(option, `${JSON.stringify(trsvcid)} is not a port number (1..65535)`);
    }
  }
}

export function checkInterface(option: string, iface: string): void {
  checkPlainValue(option, iface);
  if (!IFNAME_RE.test(iface) || iface === '.' || iface === '..') {
    throw new OptionValueError(option, `${JSON.stringify(iface)} is not a valid interface name`);
  }
}

/** Host ID: a UUID (the kernel rejects anything else). */
export function checkHostId(option: string, id: string): void {
  checkPlainValue(option, id);
  if (!/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(id)) {
    throw new OptionValueError(option, `${JSON.stringify(id)} is not a UUID`);
  }
}

export function checkDhchapSecret(option: string, secret: string): void {
  checkPlainValue(option, secret);
  if (!DHCHAP_SECRET_RE.test(secret)) {
    throw new OptionValueError(option, '<redacted> is not a DH-HMAC-CHAP secret (DHHC-1:<hh>:<base64>:)');
  }
}

/** Integer options with the bounds the kernel accepts. */
export function checkInteger(option: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new OptionValueError(option, `${value} is not an integer within ${min}..${max}`);
  }
}
