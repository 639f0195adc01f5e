/**
 * The option string written to /dev/nvme-fabrics to create a controller, built from typed fields in libnvme's
 * order, every value validated first (a hostile log page entry cannot inject options). Pure.
 */
import {
  checkAddress,
  checkDhchapSecret,
  checkHostId,
  checkInteger,
  checkInterface,
  checkNqn,
  checkPlainValue,
  checkServiceId,
  checkTransport,
  OptionValueError,
} from './kernel-options.js';
import { WELL_KNOWN_DISC_NQN } from './tid.js';
import { takesKernelOption } from './transport.js';

export interface ConnectRequest {
  transport: string;
  traddr: string;
  trsvcid?: string | undefined;
  /** Subsystem NQN (for a discovery controller: the well-known or its unique NQN). */
  nqn: string;
  hostNqn: string;
  hostId: string;
  hostTraddr?: string | undefined;
  hostIface?: string | undefined;
  /** A discovery controller: no I/O queues; `discovery` flag for a unique discovery NQN. */
  discovery?: boolean;
  /** Keep-alive timeout in seconds. */
  kato?: number | undefined;
  ctrlLossTmo?: number | undefined;
  reconnectDelay?: number | undefined;
  fastIoFailTmo?: number | undefined;
  nrIoQueues?: number | undefined;
  nrWriteQueues?: number | undefined;
  nrPollQueues?: number | undefined;
  queueSize?: number | undefined;
  tos?: number | undefined;
  hdrDigest?: boolean | undefined;
  dataDigest?: boolean | undefined;
  disableSqflow?: boolean | undefined;
  duplicateConnect?: boolean | undefined;
  /** Host DH-HMAC-CHAP secret. Secret: never logged. */
  dhchapSecret?: string | undefined;
  /** Controller DH-HMAC-CHAP secret (bidirectional authentication). Secret. */
  dhchapCtrlSecret?: string | undefined;
  /** NVMe/TCP TLS (kernel ≥ 6.7). */
  tls?: boolean | undefined;
  /** Key serial numbers in the kernel keyring. */
  keyring?: string | undefined;
  tlsKey?: string | undefined;
}

/** Options the kernel can be asked about (`cat /dev/nvme-fabrics`); others are omitted if unsupported. */
export type SupportedOptions = ReadonlySet<string>;

/**
 * Builds `transport=tcp,traddr=…,…`. Throws OptionValueError naming the first invalid field. When `supported`
 * is given, an option the kernel does not know is an error (silently dropping e.g. `host_iface` would make a
 * different connection than the one asked for), except `discovery`, which older kernels lack and which only
 * matters for unique discovery NQNs.
 */
export function buildConnectOptions(req: ConnectRequest, supported?: SupportedOptions): string {
  const parts: string[] = [];
  const add = (name: string, value?: string | number) => {
    if (supported && !supported.has(name)) {
      if (name === 'discovery') return;
      throw new OptionValueError(name, 'not supported by this kernel');
    }
    parts.push(value === undefined ? name : `${name}=${value}`);
  };
  const int = (name: string, v: number | undefined, min: number, max: number) => {
    if (v === undefined) return;
    checkInteger(name, v, min, max);
    add(name, v);
  };

  checkTransport('transport', req.transport);
  const t = req.transport;
  checkNqn('nqn', req.nqn);
  add('nqn', req.nqn);
  add('transport', t);
  if (takesKernelOption(t, 'traddr')) {
    checkAddress('traddr', t, req.traddr);
    add('traddr', req.traddr);
  }
  if (req.hostTraddr) {
    checkAddress('host_traddr', t, req.hostTraddr);
    add('host_traddr', req.hostTraddr);
  }
  if (req.hostIface) {
    if (!takesKernelOption(t, 'host_iface')) throw new OptionValueError('host_iface', 'only applies to tcp');
    checkInterface('host_iface', req.hostIface);
    add('host_iface', req.hostIface);
  }
  if (req.trsvcid && takesKernelOption(t, 'trsvcid')) {
    checkServiceId('trsvcid', t, req.trsvcid);
    add('trsvcid', req.trsvcid);
  }
  checkNqn('hostnqn', req.hostNqn);
  add('hostnqn', req.hostNqn);
  checkHostId('hostid', req.hostId);
  add('hostid', req.hostId);
  if (req.discovery && req.nqn !== WELL_KNOWN_DISC_NQN) add('discovery');
  if (req.dhchapSecret) {
    checkDhchapSecret('dhchap_secret', req.dhchapSecret);
    add('dhchap_secret', req.dhchapSecret);
  }
  if (req.dhchapCtrlSecret) {
    checkDhchapSecret('dhchap_ctrl_secret', req.dhchapCtrlSecret);
    add('dhchap_ctrl_secret', req.dhchapCtrlSecret);
  }
  if (!req.discovery) {
    int('nr_io_queues', req.nrIoQueues, 1, 65535);
    int('nr_write_queues', req.nrWriteQueues, 0, 65535);
    int('nr_poll_queues', req.nrPollQueues, 0, 65535);
    int('queue_size', req.queueSize, 16, 1024);
  }
  int('keep_alive_tmo', req.kato, 0, 65535);
  int('reconnect_delay', req.reconnectDelay, 1, 65535);
  if (takesKernelOption(t, 'ctrl_loss_tmo')) int('ctrl_loss_tmo', req.ctrlLossTmo, -1, 2 ** 31 - 1);
  int('fast_io_fail_tmo', req.fastIoFailTmo, -1, 2 ** 31 - 1);
  int('tos', req.tos, 0, 255);
  if (req.duplicateConnect) add('duplicate_connect');
  if (req.disableSqflow) add('disable_sqflow');
  if (req.hdrDigest && takesKernelOption(t, 'hdr_digest')) add('hdr_digest');
  if (req.dataDigest && takesKernelOption(t, 'data_digest')) add('data_digest');
  if (req.tls) add('tls');
  for (const [name, v] of [
    ['keyring', req.keyring],
    ['tls_key', req.tlsKey],
  ] as const) {
    if (v === undefined) continue;
    checkPlainValue(name, v);
    if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(v))
      throw new OptionValueError(name, '<redacted> is not a key serial number');
    add(name, v);
  }
  return parts.join(',');
}

/** The options a kernel supports, from the first line of `/dev/nvme-fabrics` (`instance=-1,cntlid=-1,transport=%s,…`). */
export function parseSupportedOptions(text: string): Set<string> {
  const first = text.split('\n')[0] ?? '';
  const out = new Set<string>();
  for (const tok of first.split(',')) {
    const name = tok.split('=')[0]!.trim();
    if (name) out.add(name);
  }
  return out;
}

/** `instance=3,cntlid=1\n` → { instance: 3, cntlid: 1 }; null if the kernel's answer does not have that form. */
export function parseConnectReply(text: string): { instance: number; cntlid: number } | null {
  const m = /^instance=(\d+),cntlid=(\d+)\s*$/.exec(text.replace(/\0+$/, ''));
  if (!m) return null;
  return { instance: Number(m[1]), cntlid: Number(m[2]) };
}

/** For logs: the option string with secret values replaced. */
export function redactConnectOptions(options: string): string {
  return options.replace(/\b(dhchap_secret|dhchap_ctrl_secret|tls_key|keyring)=[^,]*/g, '$1=<redacted>');
}
