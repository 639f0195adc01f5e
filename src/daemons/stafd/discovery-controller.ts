/**
 * One discovery controller as stafd runs it: connect (userspace NVMe/TCP, or the kernel for rdma/fc/loop and
 * kernel-discovery=true), register with a CDC (DIM, userspace only), choose PLEO, read and cache the log, re-read on
 * every change notice and after every reconnect, reconnect with fast-then-slow backoff. The cached log survives
 * reconnects (nvme-stas 2.3 fixed losing it).
 */
import { EventEmitter } from 'node:events';
import { hostname, release, type } from 'node:os';
import type { DcSession, DcSessionFactory } from '../../adapters/dc-session.js';
import type { ControllerEntry } from '../../core/config/controller-line.js';
import type { ConnectOptions } from '../../core/config/schema.js';
import type { HostIdentity } from '../../core/host-identity.js';
import { parseIp } from '../../core/ipaddr.js';
import { DimTask, isDiscoveryLogChange } from '../../core/nvme/commands.js';
import { AdrFam, type DiscoveryLogEntry } from '../../core/nvme/discovery-log.js';
import { DcType } from '../../core/nvme/identify.js';
import type { DcOrigin } from '../../core/stafd/dc-plan.js';
import { hasUsableAddress } from '../../core/stafd/dlpe.js';
import type { Tid } from '../../core/tid.js';

/** Retry intervals (nvme-stas §5.8), in ms. */
export interface DcTiming {
  fastRetryMs: number;
  slowRetryMs: number;
  dimRetryMs: number;
  logRetryMs: number;
}

export const DEFAULT_DC_TIMING: DcTiming = {
  fastRetryMs: 3000,
  slowRetryMs: 60000,
  dimRetryMs: 5000,
  logRetryMs: 20000,
};

export type SessionFactory = DcSessionFactory;

export interface DcDeps {
  connect: SessionFactory;
  identity: HostIdentity;
  /** Keep-alive timeout for DC connections, seconds ([Global] kato / per-controller kato). */
  kato: number;
  hdgst: boolean;
  ddgst: boolean;
  /** [Global] reconnect-delay and ctrl-loss-tmo (kernel DCs only; per-controller values override them). */
  kernel?: Pick<ConnectOptions, 'reconnectDelay' | 'ctrlLossTmo'>;
  /** pleo=enabled: ask DDCs for Port Local Entries Only when they support it. */
  pleo: boolean;
  timing?: DcTiming;
  log: (level: 'debug' | 'info' | 'warning' | 'error', message: string) => void;
}

export type DcState = 'idle' | 'connecting' | 'connected' | 'waiting' | 'stopped';

export interface DcEvents {
  /** The log was (re)read: emitted after every successful read, as nvme-stas does. */
  logPages: [DiscoveryLogEntry[]];
  state: [DcState];
  /** An asynchronous event notice arrived (any kind; a discovery log change makes a re-read). */
  aen: [];
  /** A DIM registration with a CDC succeeded (true) or failed (false). */
  dim: [boolean];
}

export class DiscoveryControllerRunner extends EventEmitter<DcEvents> {
  state: DcState = 'idle';
  /** Cached log entries with a usable address; kept across reconnects. */
  logPages: DiscoveryLogEntry[] = [];
  connectAttempts = 0;
  lastError: string | undefined;
  /** 'cdc' | 'ddc' | '' once identified. */
  dctype = '';
  /** Identify Controller model and serial number, once connected. */
  model = '';
  serial = '';
  registered = false;
  /** Epoch ms of the last successful log read. */
  lastRead: number | undefined;
  /** Kernel device of the current session (kernel-hosted DCs), undefined otherwise. */
  device: string | undefined;
  /**
   * Kernel device stafd created for this DC and still owns (kept across reconnects and, through the last-known
   * config, restarts): the only kernel DC stafd may delete.
   */
  ownedDevice: string | undefined;
  private session: DcSession | undefined;
  private dimSkipLogged = false;
  private timer: NodeJS.Timeout | undefined;
  private retryIntervalMs: number | undefined;
  private readonly timing: DcTiming;
  private usePleo = false;

  constructor(
    readonly tid: Tid,
    public origin: DcOrigin,
    public entry: ControllerEntry | undefined,
    private readonly deps: DcDeps,
  ) {
    super();
    this.timing = deps.timing ?? DEFAULT_DC_TIMING;
  }

  /** `(tcp, 10.0.0.1, 8009, …)` prefix for log lines. */
  private say(level: 'debug' | 'info' | 'warning' | 'error', msg: string): void {
    this.deps.log(level, `${this.tid.toString()} | ${msg}`);
  }

  private setState(s: DcState): void {
    this.state = s;
    this.emit('state', s);
  }

  get connected(): boolean {
    return this.state === 'connected';
  }

  /** Remaining ms of the retry timer, for status output. */
  get retryIntervalMsValue(): number | undefined {
    return this.retryIntervalMs;
  }

  start(): void {
    if (this.state !== 'idle') return;
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.state === 'stopped') return;
    if (this.timer) clearTimeout(this.timer);
    this.setState(ms === 0 ? 'connecting' : 'waiting');
    this.retryIntervalMs = ms || undefined;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.attempt();
    }, ms);
    this.timer.unref?.();
  }

  private async attempt(): Promise<void> {
    if (this.state === 'stopped') return;
    this.setState('connecting');
    this.connectAttempts++;
    const o = this.entry?.overrides;
    const kato = o?.kato ?? this.deps.kato;
    let session: DcSession;
    try {
      session = await this.deps.connect({
        transport: this.tid.transport,
        ownedDevice: this.ownedDevice,
        ctrlLossTmo: o?.ctrlLossTmo ?? this.deps.kernel?.ctrlLossTmo,
        reconnectDelay: o?.reconnectDelay ?? this.deps.kernel?.reconnectDelay,
        dhchapSecret: this.entry?.dhchapSecret,
        dhchapCtrlSecret: this.entry?.dhchapCtrlSecret,
        traddr: this.tid.traddr,
        trsvcid: this.tid.trsvcid,
        hostTraddr: this.tid.hostTraddr || undefined,
        hostIface: this.tid.hostIface || undefined,
        hostNqn: this.tid.hostNqn,
        hostId: this.deps.identity.hostId,
        subsysnqn: this.tid.subsysnqn,
        katoMs: kato * 1000,
        hdgst: this.entry?.overrides.hdrDigest ?? this.deps.hdgst,
        ddgst: this.entry?.overrides.dataDigest ?? this.deps.ddgst,
      });
    } catch (e) {
      this.onConnectFailure(e);
      return;
    }
    if ((this.state as DcState) === 'stopped') {
      // stop() ran meanwhile; what it decided for the session it had applies to this one too.
      await (this.keepOnStop && session.release ? session.release() : session.close()).catch(() => {});
      return;
    }
    this.session = session;
    this.device = session.device;
    if (session.device) this.ownedDevice = session.created ? session.device : undefined;
    this.connectAttempts = 0;
    this.lastError = undefined;
    this.retryIntervalMs = undefined;
    this.setState('connected');
    this.say('info', 'Connection established!');
    session.on('close', (err) => {
      if (this.session !== session) return;
      this.session = undefined;
      this.device = undefined;
      // A kernel controller that went away is no longer stafd's.
      if (session.device && this.ownedDevice === session.device) this.ownedDevice = undefined;
      if (this.state === 'stopped') return;
      this.say('warning', `Connection lost${err ? `: ${err.message}` : ''}`);
      this.schedule(this.timing.fastRetryMs);
    });
    session.on('aen', (ev) => {
      this.emit('aen');
      if (!isDiscoveryLogChange(ev)) return;
      this.say('info', 'Received AEN: discovery log page changed');
      void this.readLog(session);
    });
    session.on('reconnected', () => {
      this.say('info', 'The kernel reconnected the controller: re-reading the log');
      void this.readLog(session);
    });
    const id = session.identify;
    this.model = id.model;
    this.serial = id.serial;
    this.dctype = id.dctype === DcType.cdc ? 'cdc' : id.dctype === DcType.ddc ? 'ddc' : '';
    if (this.dctype === 'cdc' && session.dimUnsupported) {
      if (!this.dimSkipLogged) this.say('warning', `Not registering with the CDC: ${session.dimUnsupported}`);
      this.dimSkipLogged = true;
    } else if (this.dctype === 'cdc') await this.register(session);
    this.usePleo = false;
    if (this.deps.pleo && this.dctype !== 'cdc') {
      try {
        this.usePleo = ((await session.discoveryLogOptions()) & 0x2) !== 0;
      } catch (e) {
        this.say('debug', `Supported Log Pages not available: ${(e as Error).message}`);
      }
    }
    try {
      await session.enableDiscoveryChangeNotices();
    } catch (e) {
      this.say('warning', `Discovery log change notices not enabled: ${(e as Error).message}`);
    }
    await this.readLog(session);
  }

  private onConnectFailure(e: unknown): void {
    const msg = e instanceof Error ? e.message : String(e);
    // Log the first failure and every new kind of failure; repeat failures only at debug level.
    this.say(this.lastError === msg ? 'debug' : 'error', `Failed to connect to controller. ${msg}`);
    this.lastError = msg;
    this.schedule(this.connectAttempts <= 1 ? this.timing.fastRetryMs : this.timing.slowRetryMs);
  }

  private dimRegistration() {
    const ip = parseIp(this.tid.traddr);
    return {
      hostNqn: this.tid.hostNqn,
      hostId: Buffer.from(this.deps.identity.hostId.replace(/-/g, ''), 'hex'),
      symname: this.deps.identity.symname,
      ename: hostname(),
      ever: `${type()} ${release()}`,
      trtype: 3,
      adrfam: ip?.family === 6 ? AdrFam.ipv6 : AdrFam.ipv4,
    };
  }

  private async register(session: DcSession): Promise<void> {
    try {
      await session.dim(DimTask.Register, this.dimRegistration());
      this.registered = true;
      this.emit('dim', true);
      this.say('info', 'Registered with Central Discovery Controller');
    } catch (e) {
      this.registered = false;
      this.emit('dim', false);
      this.say('warning', `Registration error. ${(e as Error).message}.`);
      const t = setTimeout(() => {
        if (this.session === session && !session.isClosed) void this.register(session);
      }, this.timing.dimRetryMs);
      t.unref?.();
    }
  }

  private async readLog(session: DcSession): Promise<void> {
    try {
      const log = await session.readDiscoveryLog({ pleo: this.usePleo });
      this.logPages = log.entries.filter(hasUsableAddress);
      this.lastRead = Date.now();
      this.say('info', `Received discovery log pages (num records=${this.logPages.length}).`);
      this.emit('logPages', this.logPages);
    } catch (e) {
      if (this.session !== session || session.isClosed) return; // the reconnect path re-reads
      this.say('error', `Failed to retrieve log pages. ${(e as Error).message}`);
      const t = setTimeout(() => {
        if (this.session === session && !session.isClosed) void this.readLog(session);
      }, this.timing.logRetryMs);
      t.unref?.();
    }
  }

  /** Re-reads the log now (SIGHUP, or a kernel reconnect event). */
  resync(): void {
    if (this.session && !this.session.isClosed) void this.readLog(this.session);
    else if (this.state === 'waiting') this.schedule(0);
  }

  private keepOnStop = false;

  /**
   * Stops retrying and ends the session. A userspace session closes (deregistering from a CDC). A kernel session
   * with `keep` (stafd exits with persistent-connections) leaves the kernel controller in place; without it the
   * controller is deleted if stafd created it (a controller someone else made is always left alone).
   */
  async stop(opts: { keep?: boolean } = {}): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.keepOnStop = opts.keep ?? false;
    const s = this.session;
    this.session = undefined;
    this.device = undefined;
    this.setState('stopped');
    if (!s) return;
    try {
      if (this.keepOnStop && s.release) await s.release();
      else {
        await s.close();
        if (s.device && this.ownedDevice === s.device) this.ownedDevice = undefined;
      }
    } catch (e) {
      this.say('error', `Disconnect failed: ${(e as Error).message}`);
    }
  }
}
