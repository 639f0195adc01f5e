/**
 * Discovery controllers carried by the kernel's NVMe host (every transport by default; tcp goes to stafd's userspace
 * host only with kernel-discovery=false), behind the same session interface as stafd's userspace NVMe/TCP host:
 *
 * - connect: adopt an existing kernel discovery controller to the same DC (one sysfs scan, nvme-stas' reuse
 *   rules) or write a discovery connect to /dev/nvme-fabrics (validated option string, with keep_alive_tmo so the
 *   kernel keeps the DC alive and receives its AENs) and claim it in the ownership registry;
 * - Identify, Supported Log Pages and the consistent discovery log read through the admin passthrough ioctl (the
 *   read ends with RAE cleared, so the controller sends the next change notice);
 * - DIM (register with a CDC) through the same ioctl, data host-to-controller; a registration is withdrawn
 *   (deregister) before stafd deletes the controller, and stays while the controller is kept;
 * - change notices from the kernel's uevents (`NVME_AEN=0x70f002` on nvmeN, sent by nvme_aen_uevent() once
 *   nvme_handle_aen_notice() saw a Discovery Log Page Change); `NVME_EVENT=connected|rediscover` (the kernel
 *   reconnected by itself) asks for a re-read; `remove` (or a device gone after an event overflow) ends the
 *   session so the runner reconnects;
 * - close: delete the controller only if stafd created it; release: leave it in place (persistent-connections).
 */
import { EventEmitter } from 'node:events';
import type { ConnectRequest } from '../../core/connect-options.js';
import type { KernelController } from '../../core/kernel-controller.js';
import { errorText, type LogFn } from '../../core/log.js';
import type { InterfaceMap } from '../../core/match.js';
import { DimTask, parseAsyncEvent } from '../../core/nvme/commands.js';
import { type DimHostRegistration, encodeDimRegistration } from '../../core/nvme/dim.js';
import {
  type DiscoveryLog,
  type DiscoveryLogReadOptions,
  discoveryLogOptions,
  type LogPageRead,
  readDiscoveryLogOf,
} from '../../core/nvme/discovery-log-read.js';
import type { IdentifyController } from '../../core/nvme/identify.js';
import { findKernelDc } from '../../core/stafd/kernel-dc.js';
import type { NvmeEvent } from '../../core/uevent.js';
import {
  asDcSessionError,
  type DcConnectOptions,
  type DcSession,
  DcSessionError,
  type DcSessionEvents,
  logReadError,
} from '../dc-session.js';
import { localInterfaces } from '../net-interfaces.js';
import { type Connected, KernelConnectError, KernelFabrics, NoFabricsError } from './fabrics.js';
import { identifyController, kernelDim, kernelGetLogPage, PassthroughStatusError } from './passthrough.js';
import { ownershipRegistry, STAS_OWNER } from './registry.js';
import { readController, scanControllers } from './sysfs.js';
import { UeventMonitor } from './uevents.js';

/** The kernel as the kernel DC host uses it (tests substitute a fake). */
export interface KernelDcPorts {
  scan(): Promise<KernelController[]>;
  /** One controller (undefined once it is gone). */
  controller(device: string): Promise<KernelController | undefined>;
  connect(req: ConnectRequest): Promise<Connected>;
  disconnect(device: string): Promise<void>;
  owners(): Promise<ReadonlyMap<string, string>>;
  claim(device: string): Promise<void>;
  release(device: string): Promise<void>;
  identify(device: string): Promise<IdentifyController>;
  getLogPage(device: string, lid: number, read: LogPageRead): Promise<Uint8Array>;
  /** Discovery Information Management: `payload` host-to-controller. */
  dim(device: string, task: (typeof DimTask)[keyof typeof DimTask], payload: Uint8Array): Promise<void>;
  /** Starts delivering kernel uevents; throws when they are unavailable. Returns the stop function. */
  watch(handlers: {
    event: (e: NvmeEvent) => void;
    overflow: () => void;
    error: (e: Error) => void;
  }): () => void;
  ifaces(): InterfaceMap;
}

/** Loads a kernel module with modprobe (bounded; its error text on failure). */
export function modprobe(module: string, timeoutMs = 10_000): () => Promise<void> {
  return () =>
    new Promise((resolve, reject) =>
      // node:child_process (and the dgram it loads) only when a module must be loaded: ~0.5 MiB less idle RSS.
      process
        .getBuiltinModule('node:child_process')
        .execFile('modprobe', [module], { timeout: timeoutMs }, (e, _out, err) =>
          e ? reject(new Error(String(err).trim() || e.message)) : resolve(),
        ),
    );
}

/**
 * A kernel DC's connect error as stafd reports it: without an NVMe over Fabrics host in the kernel, a tcp DC is told
 * where the userspace host is (kernel-discovery = false). Other errors are returned as they are.
 */
export function explainKernelDcError(e: unknown, transport: string): unknown {
  if (!(e instanceof NoFabricsError) || transport !== 'tcp') return e;
  return new DcSessionError(
    'connect',
    `${e.message}; for stafd's userspace NVMe/TCP host instead, set kernel-discovery = false in [Discovery controller connection management]`,
    { cause: e, code: e.code },
  );
}

/**
 * The errnos with which a kernel refuses a connect whose DH-HMAC-CHAP authentication failed (later kernels; 6.1
 * says EIO, as for a host the subsystem does not allow: a connect failure).
 */
const AUTH_ERRNOS = new Set(['EKEYREJECTED', 'EACCES']);

/** A failed kernel connect as a DcSessionError (its text unchanged). */
export function kernelConnectError(e: unknown, transport: string): DcSessionError {
  const explained = explainKernelDcError(e, transport);
  const auth = e instanceof KernelConnectError && AUTH_ERRNOS.has(e.code);
  return asDcSessionError(explained, auth ? 'authentication' : 'connect');
}

/** A failed admin passthrough command: an NVMe status, else the host's I/O path (ETIMEDOUT: a timeout). */
function passthroughError(e: unknown): DcSessionError {
  if (e instanceof PassthroughStatusError) return asDcSessionError(e, 'status');
  return asDcSessionError(e, (e as { code?: unknown })?.code === 'ETIMEDOUT' ? 'timeout' : 'io');
}

/** The real kernel: /dev/nvme-fabrics, /sys/class/nvme, /run/nvme/registry, passthrough, netlink uevents. */
export function systemKernelDcPorts(
  opts: { registryDir?: string; fabrics?: KernelFabrics } = {},
): KernelDcPorts {
  // No /dev/nvme-fabrics: stafd loads nvme-fabrics once (the transport modules load on connect).
  const fabrics = opts.fabrics ?? new KernelFabrics({ loadModule: modprobe('nvme-fabrics') });
  return {
    scan: () => scanControllers(),
    controller: (device) => readController(device),
    connect: (req) => fabrics.connect(req),
    disconnect: (device) => fabrics.disconnect(device),
    ...ownershipRegistry(opts.registryDir),
    identify: (device) => identifyController(device),
    getLogPage: (device, lid, read) => kernelGetLogPage(device, lid, read),
    dim: (device, task, payload) => kernelDim(device, task, payload),
    watch: (h) => {
      const m = new UeventMonitor();
      m.on('nvme', h.event);
      m.on('overflow', h.overflow);
      m.on('error', h.error);
      m.start();
      return () => m.stop();
    },
    ifaces: localInterfaces,
  };
}

/** States of a controller that is on its way out. */
const GOING = new Set(['deleting', 'deleting (no IO)', 'dead']);

/** Kernel DC sessions of one stafd, sharing one uevent watch. */
export class KernelDcHost {
  private readonly sessions = new Map<string, KernelDcSession>();
  private stopWatch: (() => void) | undefined;

  constructor(
    readonly ports: KernelDcPorts,
    private readonly log: LogFn = () => {},
  ) {}

  /** Devices with a session now (for tests and status). */
  get devices(): string[] {
    return [...this.sessions.keys()];
  }

  private startWatching(): void {
    if (this.stopWatch) return;
    try {
      this.stopWatch = this.ports.watch({
        event: (e) => this.sessions.get(e.device)?.onKernelEvent(e),
        overflow: () => void this.resync(),
        error: (e) => {
          this.log('error', `kernel uevents stopped: ${e.message}`);
          this.stopWatching();
          for (const s of [...this.sessions.values()]) s.lost('kernel uevents stopped');
        },
      });
    } catch (e) {
      throw new DcSessionError('connect', `kernel uevents unavailable: ${errorText(e)}`, {
        cause: e,
      });
    }
  }

  private stopWatching(): void {
    this.stopWatch?.();
    this.stopWatch = undefined;
  }

  /** After lost events: every session whose controller is gone ends. */
  private async resync(): Promise<void> {
    const present = new Map((await this.ports.scan()).map((c) => [c.device, c]));
    for (const [dev, s] of [...this.sessions]) {
      const c = present.get(dev);
      if (!c || GOING.has(c.state)) s.lost(`controller ${dev} is gone`);
    }
  }

  /** @internal the session is over. */
  forget(s: KernelDcSession): void {
    if (this.sessions.get(s.device) === s) this.sessions.delete(s.device);
    if (this.sessions.size === 0) this.stopWatching();
  }

  /** Adopts the kernel's controller to this DC if it has one, else connects one. */
  async connect(opts: DcConnectOptions): Promise<KernelDcSession> {
    this.startWatching();
    try {
      return await this.open(opts);
    } catch (e) {
      throw asDcSessionError(e, 'connect');
    } finally {
      if (this.sessions.size === 0) this.stopWatching();
    }
  }

  private async open(opts: DcConnectOptions): Promise<KernelDcSession> {
    const tid = {
      transport: opts.transport,
      traddr: opts.traddr,
      trsvcid: String(opts.trsvcid),
      subsysnqn: opts.subsysnqn,
      hostTraddr: opts.hostTraddr ?? '',
      hostIface: opts.hostIface ?? '',
      hostNqn: opts.hostNqn,
    };
    const inUse = new Set(this.sessions.keys());
    const kernel = (await this.ports.scan()).filter((c) => !inUse.has(c.device));
    const found = findKernelDc(tid, kernel, this.ports.ifaces(), opts.ownedDevice);
    let device: string;
    let created: boolean;
    let fresh = false;
    if (found) {
      device = found.device;
      const owner = (await this.ports.owners()).get(device);
      // stafd's own only if it made this very device (its record) and the registry still says so.
      created = device === opts.ownedDevice && owner === STAS_OWNER;
      this.log(
        'info',
        `Adopting kernel discovery controller ${device} (${created ? 'created by stafd' : `owner ${owner ?? 'unknown'}: never deleted by stafd`})`,
      );
    } else {
      const c = await this.ports
        .connect({
          transport: opts.transport,
          traddr: opts.traddr,
          trsvcid: String(opts.trsvcid),
          nqn: opts.subsysnqn,
          hostNqn: opts.hostNqn,
          hostId: opts.hostId,
          hostTraddr: opts.hostTraddr,
          hostIface: opts.hostIface,
          discovery: true,
          kato: Math.round(opts.katoMs / 1000),
          ctrlLossTmo: opts.ctrlLossTmo,
          reconnectDelay: opts.reconnectDelay,
          hdrDigest: opts.hdrDigest,
          dataDigest: opts.dataDigest,
          dhchapSecret: opts.dhchapSecret,
          dhchapCtrlSecret: opts.dhchapCtrlSecret,
        })
        .catch((e: unknown) => {
          throw kernelConnectError(e, opts.transport);
        });
      device = c.device;
      created = true;
      fresh = true;
      try {
        await this.ports.claim(device);
      } catch (e) {
        this.log('warning', `registry: cannot record ${device} as stas': ${errorText(e)}`);
      }
    }
    const session = new KernelDcSession(this, device, created);
    this.sessions.set(device, session);
    try {
      session.identify = await this.ports.identify(device);
    } catch (e) {
      // A controller this attempt made is not left behind; an adopted one is left as it is.
      if (fresh) await session.close().catch(() => {});
      else await session.release();
      const cause = passthroughError(e);
      throw new DcSessionError(cause.kind, `Identify through ${device} failed: ${cause.message}`, {
        cause: e,
        code: cause.code,
      });
    }
    return session;
  }
}

/** One discovery controller carried by the kernel (/dev/nvmeN). */
export class KernelDcSession extends EventEmitter<DcSessionEvents> implements DcSession {
  identify!: IdentifyController;
  private closed = false;
  /** What this host registered with the CDC (DIM), withdrawn before stafd deletes the controller. */
  private registration: DimHostRegistration | undefined;

  constructor(
    private readonly host: KernelDcHost,
    readonly device: string,
    /** stafd created this controller (it may delete it). */
    readonly created: boolean,
  ) {
    super();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** @internal a uevent of this device. */
  onKernelEvent(e: NvmeEvent): void {
    if (this.closed) return;
    if (e.kind === 'aen') this.emit('aen', parseAsyncEvent(e.aen));
    else if (e.kind === 'event' && (e.event === 'connected' || e.event === 'rediscover'))
      this.emit('reconnected');
    else if (e.kind === 'remove') this.lost(`kernel controller ${this.device} removed`);
  }

  /** @internal the controller is gone: the session ends (its registry entry with it). */
  lost(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.host.forget(this);
    if (this.created) void this.host.ports.release(this.device).catch(() => {});
    this.emit('close', new DcSessionError('closed', reason));
  }

  /** A failed command: if the controller is gone, the session ends; the error goes to the caller either way. */
  private async check(e: unknown): Promise<never> {
    const c = await this.host.ports.controller(this.device).catch(() => undefined);
    if (!c || GOING.has(c.state)) this.lost(`kernel controller ${this.device} is gone`);
    throw passthroughError(e);
  }

  private closedError(): DcSessionError {
    return new DcSessionError('closed', `session of ${this.device} is closed`);
  }

  private async getLogPage(lid: number, read: LogPageRead): Promise<Uint8Array> {
    if (this.closed) throw this.closedError();
    try {
      return await this.host.ports.getLogPage(this.device, lid, read);
    } catch (e) {
      return this.check(e);
    }
  }

  /** The kernel enables the discovery-log-change notice at connect and re-arms the AER itself. */
  async enableDiscoveryChangeNotices(): Promise<void> {}

  async discoveryLogOptions(): Promise<number> {
    return discoveryLogOptions((lid, r) => this.getLogPage(lid, r)).catch((e: unknown) => {
      throw logReadError(e);
    });
  }

  /** The whole discovery log, read consistently. */
  readDiscoveryLog(opts: DiscoveryLogReadOptions = {}): Promise<DiscoveryLog> {
    return readDiscoveryLogOf((lid, r) => this.getLogPage(lid, r), this.identify?.mdts ?? 0, opts).catch(
      (e: unknown) => {
        throw logReadError(e);
      },
    );
  }

  /** Discovery Information Management (TP8010) through the passthrough ioctl, as nvme-cli's `nvme dim` sends it. */
  async dim(task: (typeof DimTask)[keyof typeof DimTask], reg: DimHostRegistration): Promise<void> {
    if (this.closed) throw this.closedError();
    try {
      await this.host.ports.dim(this.device, task, encodeDimRegistration(reg));
    } catch (e) {
      return this.check(e);
    }
    this.registration = task === DimTask.Deregister ? undefined : reg;
  }

  private detach(): boolean {
    if (this.closed) return false;
    this.closed = true;
    this.host.forget(this);
    return true;
  }

  /** Ends the session; deletes the kernel controller only if stafd created it (deregistering first). */
  async close(): Promise<void> {
    if (this.created && this.registration && !this.closed) {
      try {
        await this.dim(DimTask.Deregister, this.registration);
      } catch {
        // The CDC ages the registration out; closing goes on.
      }
    }
    if (!this.detach()) return;
    try {
      if (this.created) {
        await this.host.ports.disconnect(this.device).catch((e: unknown) => {
          throw asDcSessionError(e, 'io');
        });
        await this.host.ports.release(this.device).catch(() => {});
      }
    } finally {
      this.emit('close', undefined);
    }
  }

  /** Ends the session and leaves the kernel controller (and stafd's claim on it) in place. */
  async release(): Promise<void> {
    if (this.detach()) this.emit('close', undefined);
  }
}
