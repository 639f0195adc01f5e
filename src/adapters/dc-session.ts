/**
 * What stafd's discovery controller runner needs from a connection to a discovery controller, whichever host
 * carries it: the userspace NVMe/TCP session (src/adapters/nvme-tcp/userspace-dc-session.ts) or a kernel controller
 * (src/adapters/kernel/kernel-dc-session.ts).
 */
import type { AsyncEvent, DimTask } from '../core/nvme/commands.js';
import type { DimHostRegistration } from '../core/nvme/dim.js';
import type { DiscoveryLog, DiscoveryLogReadOptions } from '../core/nvme/discovery-log-read.js';
import type { IdentifyController } from '../core/nvme/identify.js';
import type { SessionOptions } from './nvme-tcp/userspace-dc-session.js';

export interface DcSessionEvents {
  /** An asynchronous event notice (the runner acts on discovery-log-change notices). */
  aen: [AsyncEvent];
  /** The connection is gone (undefined: closed on request). The runner reconnects. */
  close: [Error | undefined];
  /** The kernel re-established the connection by itself (NVME_EVENT=connected/rediscover): re-read the log. */
  reconnected: [];
}

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
 * What the runner asks for: the userspace session's options plus the transport and kernel-only parameters. The
 * DH-HMAC-CHAP secrets of the `controller=` line (SessionOptions dhchapSecret / dhchapCtrlSecret) serve both hosts:
 * the kernel gets them as connect options, the userspace session authenticates with them itself.
 */
export interface DcConnectOptions extends SessionOptions {
  transport: string;
  /** Kernel device stafd created for this DC before (a restart, a reconnect): adopted as stafd's own. */
  ownedDevice?: string | undefined;
  ctrlLossTmo?: number | undefined;
  reconnectDelay?: number | undefined;
}

export type DcSessionFactory = (opts: DcConnectOptions) => Promise<DcSession>;
