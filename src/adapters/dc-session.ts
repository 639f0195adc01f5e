/**
 * What stafd's discovery controller runner needs from a connection to a discovery controller, whichever host
 * carries it: the userspace NVMe/TCP session (src/adapters/nvme-tcp/userspace-dc-session.ts) or a kernel controller
 * (src/adapters/kernel/kernel-dc-session.ts).
 */

import { errorText } from '../core/log.js';
import type { AsyncEvent, DimTask } from '../core/nvme/commands.js';
import type { DimHostRegistration } from '../core/nvme/dim.js';
import {
  type DiscoveryLog,
  DiscoveryLogChangingError,
  type DiscoveryLogReadOptions,
  DiscoveryLogTooLargeError,
} from '../core/nvme/discovery-log-read.js';
import type { IdentifyController } from '../core/nvme/identify.js';
import { ProtocolError } from '../core/nvme/pdu.js';
import type { SeqnumHistory } from '../core/nvme/seqnum-history.js';

/**
 * Why a DC session failed, whichever host carries it: the runner decides on `kind`, never on message text.
 * - `connect`: no connection was made (TCP connect refused or unreachable, the kernel refused the connect, the
 *   kernel has no NVMe over Fabrics host, kernel uevents are unavailable);
 * - `timeout`: the connection set-up or a command got no answer in time;
 * - `status`: the controller completed a command with an error status;
 * - `protocol`: the controller broke NVMe/TCP or the discovery log format (a bad PDU, a log cut short);
 * - `authentication`: DH-HMAC-CHAP failed or cannot be done;
 * - `changing`: the discovery log kept changing while it was read (GENCTR moved on every attempt);
 * - `io`: the host's own path failed (an admin passthrough ioctl error other than an NVMe status);
 * - `closed`: the session is closed (on request, by the peer, or after an error), or its controller is gone.
 */
export type DcSessionErrorKind =
  | 'connect'
  | 'timeout'
  | 'status'
  | 'protocol'
  | 'authentication'
  | 'changing'
  | 'io'
  | 'closed';

/** The one error family of DC sessions (both hosts); subclasses refine it, `kind` classifies it. */
export class DcSessionError extends Error {
  /** The errno name when a system call failed (`ECONNREFUSED`, `EALREADY`, …). */
  readonly code: string | undefined;
  constructor(
    readonly kind: DcSessionErrorKind,
    message: string,
    options: { cause?: unknown; code?: string | undefined } = {},
  ) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.code = options.code;
  }
}

/** `e` itself when it is a DcSessionError, else a DcSessionError of `kind` with its text, code and `e` as cause. */
export function asDcSessionError(e: unknown, kind: DcSessionErrorKind): DcSessionError {
  if (e instanceof DcSessionError) return e;
  const code = (e as { code?: unknown } | undefined)?.code;
  return new DcSessionError(kind, errorText(e), {
    cause: e,
    code: typeof code === 'string' ? code : undefined,
  });
}

/**
 * A failed consistent discovery-log read as a DcSessionError: a log that kept changing is `changing`, one that
 * breaks the format or the size limit `protocol`; a session's own errors pass as they are.
 */
export function logReadError(e: unknown): DcSessionError {
  if (e instanceof DiscoveryLogChangingError) return asDcSessionError(e, 'changing');
  if (e instanceof ProtocolError || e instanceof DiscoveryLogTooLargeError)
    return asDcSessionError(e, 'protocol');
  return asDcSessionError(e, 'io');
}

/** What opens a session to a discovery controller, whichever host carries it. */
export interface DcSessionOptions {
  traddr: string;
  trsvcid: string | number;
  /** Source address to bind (host-traddr). */
  hostTraddr?: string | undefined;
  /** Interface to bind the connection to (host-iface). */
  hostIface?: string | undefined;
  hostNqn: string;
  /** Host ID as a UUID string. */
  hostId: string;
  /** Discovery subsystem NQN (well-known or unique). */
  subsysnqn: string;
  /** Keep-alive timeout in ms (0 = no keep-alive: the controller keeps no timer either). */
  katoMs: number;
  /** Header and data digests (hdr-digest, data-digest). */
  hdrDigest?: boolean;
  dataDigest?: boolean;
  /**
   * DH-HMAC-CHAP secret of the host (`DHHC-1:…`, dhchap_secret): used when the controller requires authentication.
   * Never logged.
   */
  dhchapSecret?: string | undefined;
  /**
   * DH-HMAC-CHAP secret of the controller (dhchap_ctrl_secret): the controller must prove itself with it
   * (bidirectional authentication), or the session is refused. Never logged.
   */
  dhchapCtrlSecret?: string | undefined;
  /** Challenge sequence numbers answered for this controller: keep one across reconnects to refuse replays. */
  dhchapSeqnums?: SeqnumHistory | undefined;
}

export interface DcSessionEvents {
  /** An asynchronous event notice (the runner acts on discovery-log-change notices). */
  aen: [AsyncEvent];
  /** The connection is gone (undefined: closed on request). The runner reconnects. */
  close: [Error | undefined];
  /** The kernel re-established the connection by itself (NVME_EVENT=connected/rediscover): re-read the log. */
  reconnected: [];
}

/** A connection to a discovery controller. Its methods reject with DcSessionErrors only. */
export interface DcSession {
  /** Identify Controller data, available once the session is connected. */
  readonly identify: IdentifyController;
  readonly isClosed: boolean;
  /** The kernel device (`nvme3`) when the kernel carries the connection; undefined for the userspace host. */
  readonly device?: string | undefined;
  /** Kernel sessions: stafd created this controller (the only kind it may delete). */
  readonly created?: boolean | undefined;
  on<K extends keyof DcSessionEvents>(event: K, listener: (...args: DcSessionEvents[K]) => void): unknown;
  /** Asks for discovery-log-change notices (the kernel enables and re-arms them by itself). */
  enableDiscoveryChangeNotices(): Promise<void>;
  /** Supported Log Pages: the options word of the discovery log (EXTDLPES/PLEOS/ALLSUBES). */
  discoveryLogOptions(): Promise<number>;
  readDiscoveryLog(opts?: DiscoveryLogReadOptions): Promise<DiscoveryLog>;
  dim(task: (typeof DimTask)[keyof typeof DimTask], reg: DimHostRegistration): Promise<void>;
  /**
   * Ends the session. A userspace session shuts the connection down (deregistering from a CDC). A kernel session
   * deletes the kernel controller only if stafd created it; otherwise it leaves it in place.
   */
  close(): Promise<void>;
  /** Ends the session leaving the connection in place (persistent-connections); only kernel sessions have it. */
  release?(): Promise<void>;
}

/**
 * What the runner asks for: the session options plus the transport and kernel-only parameters. The DH-HMAC-CHAP
 * secrets of the `controller=` line (dhchapSecret / dhchapCtrlSecret) serve both hosts: the kernel gets them as
 * connect options, the userspace session authenticates with them itself.
 */
export interface DcConnectOptions extends DcSessionOptions {
  transport: string;
  /** Kernel device stafd created for this DC before (a restart, a reconnect): adopted as stafd's own. */
  ownedDevice?: string | undefined;
  ctrlLossTmo?: number | undefined;
  reconnectDelay?: number | undefined;
}

export type DcSessionFactory = (opts: DcConnectOptions) => Promise<DcSession>;
