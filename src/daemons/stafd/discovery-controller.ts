/**
 * One discovery controller as stafd runs it: connect (userspace NVMe/TCP, or the kernel for rdma/fc/loop and
 * kernel-discovery=true), register with a CDC (DIM, userspace only), choose PLEO, read and cache the log, re-read on
 * change notices and after every reconnect, reconnect with exponential backoff. The cached log survives
 * reconnects (nvme-stas 2.3 fixed losing it).
 *
 * What a remote DC can make it do is bounded: at most one log read in flight and one pending, at least
 * `minReadIntervalMs` between the starts of two reads, exponential backoff for a log that never stabilises and for
 * connections that keep failing or dropping; entries with unusable fields are refused (one warning per read).
 */
import { EventEmitter } from 'node:events';
import { hostname, release, type } from 'node:os';
import { type DcSession, DcSessionError, type DcSessionFactory } from '../../adapters/dc-session.js';
import type { ControllerEntry } from '../../core/config/controller-line.js';
import type { ConnectOptions } from '../../core/config/schema.js';
import type { HostIdentity } from '../../core/host-identity.js';
import { errorText, type LogFn, type LogLevel } from '../../core/log.js';
import { classifyLog, sameEntries } from '../../core/log-entry.js';
import { type AsyncEvent, DimTask, isDiscoveryLogChange } from '../../core/nvme/commands.js';
import { type DiscoveryLogEntry, DlpOptions } from '../../core/nvme/discovery-log.js';
import { DcType } from '../../core/nvme/identify.js';
import { SeqnumHistory } from '../../core/nvme/seqnum-history.js';
import type { DcOrigin } from '../../core/stafd/dc-plan.js';
import type { Tid, TidOptions } from '../../core/tid.js';
import { addressCodes } from '../../core/transport.js';

/** Retry intervals (nvme-stas §5.8) and read pacing, in ms. */
export interface DcTiming {
  /** First reconnect delay; it doubles with each failure up to slowRetryMs. */
  fastRetryMs: number;
  slowRetryMs: number;
  dimRetryMs: number;
  /** First re-read delay after a failed log read; it doubles with each failure up to slowRetryMs. */
  logRetryMs: number;
  /** Least time between the starts of two log reads of one DC (change notices in between are coalesced). */
  minReadIntervalMs?: number;
}

export const DEFAULT_DC_TIMING: DcTiming = {
  fastRetryMs: 3000,
  slowRetryMs: 60000,
  dimRetryMs: 5000,
  logRetryMs: 20000,
  minReadIntervalMs: 250,
};

/** Refused log entries described in detail in the one warning of a read (the rest are counted). */
const REFUSED_SHOWN = 8;

/** An asynchronous event as the kernel's NVME_AEN uevent shows it (`0x70f002`: discovery log page changed). */
export function aenText(e: AsyncEvent): string {
  return `0x${(((e.logPage << 16) | (e.info << 8) | e.type) >>> 0).toString(16)}`;
}

/** Exponential backoff: `first` after the first failure, doubling, at most `max`. */
export function backoffMs(failures: number, first: number, max: number): number {
  return Math.min(first * 2 ** Math.max(0, Math.min(failures - 1, 30)), Math.max(first, max));
}

export type SessionFactory = DcSessionFactory;

export interface DcDeps {
  connect: SessionFactory;
  identity: HostIdentity;
  /** Keep-alive timeout for DC connections, seconds ([Global] kato / per-controller kato). */
  kato: number;
  hdrDigest: boolean;
  dataDigest: boolean;
  /** [Global] reconnect-delay and ctrl-loss-tmo (kernel DCs only; per-controller values override them). */
  kernel?: Pick<ConnectOptions, 'reconnectDelay' | 'ctrlLossTmo'>;
  /** pleo=enabled: ask DDCs for Port Local Entries Only when they support it. */
  pleo: boolean;
  timing?: DcTiming;
  log: LogFn;
  /** How referrals and I/O controllers of the log inherit the host NQN (default: the identity's). */
  tidOpts?: TidOptions;
  /** Largest log page read (entries); a larger NUMREC fails the read. */
  maxLogEntries?: number;
  /**
   * Asked before a log with `entries` entries replaces this DC's cache (the global cache bound); false keeps the
   * previous log.
   */
  admitLog?: (runner: DiscoveryControllerRunner, entries: number) => boolean;
}

export type DcState = 'idle' | 'connecting' | 'connected' | 'waiting' | 'stopped';

export interface DcEvents {
  /** The cached log changed (or was read for the first time by this runner). */
  logPages: [DiscoveryLogEntry[]];
  /** A log read succeeded (changed or not). */
  logRead: [];
  state: [DcState];
  /** An asynchronous event notice arrived (any kind; a discovery log change makes a re-read). */
  aen: [];
  /** A DIM registration with a CDC succeeded (true) or failed (false). */
  dim: [boolean];
}

export class DiscoveryControllerRunner extends EventEmitter<DcEvents> {
  state: DcState = 'idle';
  /** Cached log entries (I/O controllers, referrals, the DC's own entry); kept across reconnects. */
  logPages: DiscoveryLogEntry[] = [];
  /** The referrals of the cached log, as TIDs of other DCs. */
  referrals: Tid[] = [];
  connectAttempts = 0;
  lastError: string | undefined;
  /** 'cdc' | 'ddc' | '' once identified. */
  dctype = '';
  /** Identify Controller model and serial number, once connected. */
  model = '';
  serial = '';
  registered = false;
  /** Kernel device of the current session (kernel-hosted DCs), undefined otherwise. */
  device: string | undefined;
  /**
   * Kernel device stafd created for this DC and still owns (kept across reconnects and, through the last-known
   * config, restarts): the only kernel DC stafd may delete.
   */
  ownedDevice: string | undefined;
  private session: DcSession | undefined;
  private timer: NodeJS.Timeout | undefined;
  private retryIntervalMs: number | undefined;
  /** When the scheduled reconnect is due (epoch ms), for status output. */
  retryDueAt: number | undefined;
  private readonly timing: DcTiming;
  private usePleo = false;
  /** Connection failures (failed connects and dropped sessions) since the last stable session. */
  private failures = 0;
  /** Log read pacing: a read in flight, one pending, when the last one started, the timer of the next. */
  reading = false;
  private readPending = false;
  private lastReadStart = Number.NEGATIVE_INFINITY;
  private readTimer: NodeJS.Timeout | undefined;
  /** Failed log reads in a row (backoff), and whether an unstable log was reported. */
  readFailures = 0;
  readNotBefore = 0;
  /** The last failed log read's error, until a read succeeds (status output). */
  readError: string | undefined;
  /** Failed DIM registrations in a row and the last error (status output). */
  dimFailures = 0;
  dimError: string | undefined;
  private unstableReported = false;
  /** A log read succeeded since this runner started (the first one is always announced). */
  private announced = false;
  private lastRefused = '';
  /** DH-HMAC-CHAP sequence numbers this DC used (a replayed challenge is refused across reconnects). */
  private readonly seqnums = new SeqnumHistory();

  constructor(
    readonly tid: Tid,
    public origin: DcOrigin,
    public entry: ControllerEntry | undefined,
    private readonly deps: DcDeps,
  ) {
    super();
    this.timing = deps.timing ?? DEFAULT_DC_TIMING;
  }

  /** nvme-stas' prefix for log lines: `(tcp, 10.0.0.1, 8009, …) | nvme3 - ` (`nvme?` without a kernel device). */
  private say(level: LogLevel, msg: string): void {
    this.deps.log(level, `${this.tid.toString()} | ${this.device ?? 'nvme?'} - ${msg}`);
  }

  private setState(s: DcState): void {
    this.state = s;
    this.emit('state', s);
  }

  /** Sets the cache (restored from the last-known config): entries are classified as if just read. */
  restore(entries: readonly DiscoveryLogEntry[]): void {
    const c = classifyLog(this.tid, entries, this.tidOpts);
    this.logPages = c.kept;
    this.referrals = c.referrals;
  }

  private get tidOpts(): TidOptions {
    return this.deps.tidOpts ?? { defaultHostNqn: this.deps.identity.hostNqn };
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
    this.retryIntervalMs = ms || undefined;
    this.retryDueAt = ms ? Date.now() + ms : undefined;
    this.setState(ms === 0 ? 'connecting' : 'waiting');
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
        // The controller= line's secret, else the host's (sys.conf key), as stacd does for I/O controllers.
        dhchapSecret: this.entry?.dhchapSecret ?? this.deps.identity.hostKey,
        dhchapCtrlSecret: this.entry?.dhchapCtrlSecret,
        dhchapSeqnums: this.seqnums,
        traddr: this.tid.traddr,
        trsvcid: this.tid.trsvcid,
        hostTraddr: this.tid.hostTraddr || undefined,
        hostIface: this.tid.hostIface || undefined,
        hostNqn: this.tid.hostNqn,
        hostId: this.deps.identity.hostId,
        subsysnqn: this.tid.subsysnqn,
        katoMs: kato * 1000,
        hdrDigest: this.entry?.overrides.hdrDigest ?? this.deps.hdrDigest,
        dataDigest: this.entry?.overrides.dataDigest ?? this.deps.dataDigest,
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
    const connectedAt = Date.now();
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
      this.cancelRead();
      if (this.state === 'stopped') return;
      // A session that lasted is a fresh start; one that keeps dropping backs off like a failing connect.
      if (Date.now() - connectedAt >= this.timing.slowRetryMs) this.failures = 0;
      this.failures++;
      const delay = backoffMs(this.failures, this.timing.fastRetryMs, this.timing.slowRetryMs);
      this.say(
        this.failures > 1 ? 'debug' : 'warning',
        `Connection lost${err ? `: ${err.message}` : ''}. Retrying in ${(delay / 1000).toFixed(1)}s`,
      );
      this.schedule(delay);
    });
    session.on('aen', (ev) => {
      this.emit('aen');
      if (!isDiscoveryLogChange(ev)) {
        this.say('debug', `Received AEN: ${aenText(ev)}`);
        return;
      }
      // Said when it brings a read; notices coalesced into a read already due are not worth a line each.
      const coalesced = this.reading || this.readTimer !== undefined;
      this.say(coalesced ? 'debug' : 'info', `Received AEN: ${aenText(ev)} (discovery log page changed)`);
      this.requestRead(session);
    });
    session.on('reconnected', () => {
      this.say('info', 'The kernel reconnected the controller: re-reading the log');
      this.requestRead(session);
    });
    const id = session.identify;
    this.model = id.model;
    this.serial = id.serial;
    // As the kernel's sysfs dctype attribute (and so nvme-stas) shows it.
    this.dctype = id.dctype === DcType.cdc ? 'cdc' : id.dctype === DcType.ddc ? 'ddc' : 'none';
    if (this.dctype === 'cdc') await this.register(session);
    this.usePleo = false;
    if (this.deps.pleo && this.dctype !== 'cdc') {
      try {
        this.usePleo = ((await session.discoveryLogOptions()) & DlpOptions.PLEOS) !== 0;
      } catch (e) {
        this.say('debug', `Supported Log Pages not available: ${errorText(e)}`);
      }
    }
    try {
      await session.enableDiscoveryChangeNotices();
    } catch (e) {
      this.say('warning', `Discovery log change notices not enabled: ${errorText(e)}`);
    }
    this.requestRead(session);
  }

  private onConnectFailure(e: unknown): void {
    const msg = errorText(e);
    // Log the first failure and every new kind of failure; repeat failures only at debug level. nvme-stas' text
    // (no device part).
    this.deps.log(
      this.lastError === msg ? 'debug' : 'error',
      `${this.tid.toString()} Failed to connect to controller. ${msg}`,
    );
    this.lastError = msg;
    this.failures++;
    this.schedule(backoffMs(this.failures, this.timing.fastRetryMs, this.timing.slowRetryMs));
  }

  private dimRegistration() {
    return {
      hostNqn: this.tid.hostNqn,
      hostId: Buffer.from(this.deps.identity.hostId.replace(/-/g, ''), 'hex'),
      symname: this.deps.identity.symname,
      ename: hostname(),
      ever: `${type()} ${release()}`,
      // The connection to the CDC: tcp, or another transport through a kernel DC.
      ...addressCodes(this.tid.transport, this.tid.traddr),
    };
  }

  private async register(session: DcSession): Promise<void> {
    try {
      await session.dim(DimTask.Register, this.dimRegistration());
      this.registered = true;
      this.dimFailures = 0;
      this.dimError = undefined;
      this.emit('dim', true);
      this.say('info', 'Registered with Central Discovery Controller');
    } catch (e) {
      this.registered = false;
      this.dimFailures++;
      this.dimError = errorText(e);
      this.emit('dim', false);
      this.say('warning', `Registration error. ${errorText(e)}.`);
      const t = setTimeout(() => {
        if (this.session === session && !session.isClosed) void this.register(session);
      }, this.timing.dimRetryMs);
      t.unref?.();
    }
  }

  /**
   * Asks for a log read of the session: at once when none ran lately, otherwise when the minimum interval (or the
   * backoff after failed reads) has passed. Requests made while a read runs are coalesced into one more read.
   */
  private requestRead(session: DcSession): void {
    if (this.session !== session || session.isClosed) return;
    if (this.reading) {
      this.readPending = true;
      return;
    }
    if (this.readTimer) return; // a read is already scheduled
    const notBefore = Math.max(this.lastReadStart + (this.timing.minReadIntervalMs ?? 0), this.readNotBefore);
    const wait = notBefore - Date.now();
    if (wait <= 0) {
      void this.readLog(session);
      return;
    }
    this.readTimer = setTimeout(() => {
      this.readTimer = undefined;
      void this.readLog(session);
    }, wait);
    this.readTimer.unref?.();
  }

  private cancelRead(): void {
    if (this.readTimer) clearTimeout(this.readTimer);
    this.readTimer = undefined;
    this.readPending = false;
  }

  private async readLog(session: DcSession): Promise<void> {
    if (this.session !== session || session.isClosed) return;
    this.reading = true;
    this.lastReadStart = Date.now();
    try {
      const log = await session.readDiscoveryLog({
        pleo: this.usePleo,
        ...(this.deps.maxLogEntries ? { maxEntries: this.deps.maxLogEntries } : {}),
      });
      if (this.session !== session) return;
      this.readFailures = 0;
      this.readNotBefore = 0;
      this.readError = undefined;
      if (this.unstableReported) this.say('info', 'The discovery log page is stable again');
      this.unstableReported = false;
      this.accept(log.entries);
    } catch (e) {
      if (this.session !== session || session.isClosed) return; // the reconnect path re-reads
      this.readFailures++;
      this.readError = errorText(e);
      const delay = backoffMs(this.readFailures, this.timing.logRetryMs, this.timing.slowRetryMs);
      this.readNotBefore = Date.now() + delay;
      const unstable = e instanceof DcSessionError && e.kind === 'changing';
      // Said once per episode (an unstable log or repeated failures are not worth a line each time).
      const quiet = this.readFailures > 1 && (!unstable || this.unstableReported);
      this.say(
        quiet ? 'debug' : unstable ? 'warning' : 'error',
        `Failed to retrieve log pages. ${errorText(e)}. Retrying in ${(delay / 1000).toFixed(1)}s` +
          (unstable ? ' (backing off while the log keeps changing)' : ''),
      );
      if (unstable) this.unstableReported = true;
      this.readPending = true;
    } finally {
      this.reading = false;
      if (this.readPending && this.session === session) {
        this.readPending = false;
        this.requestRead(session);
      }
    }
  }

  /** A log read: classify, report refused entries, and cache it if it changed and the cache bound admits it. */
  private accept(entries: readonly DiscoveryLogEntry[]): void {
    this.emit('logRead');
    const c = classifyLog(this.tid, entries, this.tidOpts);
    const refused = c.refused.map((r) => `entry ${r.index}: ${r.reason}`);
    const refusedText = refused.join('; ');
    if (refused.length) {
      // One line per read, bounded: every field concerned, the first few entries in detail.
      const fields = [...new Set(c.refused.map((r) => r.field))].join(', ');
      const n = refused.length;
      this.say(
        refusedText === this.lastRefused ? 'debug' : 'warning',
        `${n} log page entr${n === 1 ? 'y' : 'ies'} refused (${fields}): ${refused.slice(0, REFUSED_SHOWN).join('; ')}${n > REFUSED_SHOWN ? `; … (${n - REFUSED_SHOWN} more)` : ''}`,
      );
    }
    this.lastRefused = refusedText;
    const changed = !this.announced || !sameEntries(this.logPages, c.kept);
    if (!changed) {
      this.say('debug', `Received discovery log pages (num records=${c.kept.length}): unchanged.`);
      return;
    }
    if (this.deps.admitLog && !this.deps.admitLog(this, c.kept.length)) return;
    this.announced = true;
    this.logPages = c.kept;
    this.referrals = c.referrals;
    this.say('info', `Received discovery log pages (num records=${this.logPages.length}).`);
    this.emit('logPages', this.logPages);
  }

  /** Re-reads the log now (SIGHUP, or a kernel reconnect event). */
  resync(): void {
    if (this.session && !this.session.isClosed) this.requestRead(this.session);
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
    this.cancelRead();
    this.keepOnStop = opts.keep ?? false;
    const s = this.session;
    this.session = undefined;
    this.device = undefined;
    this.setState('stopped');
    if (!s) return;
    try {
      if (this.keepOnStop && s.release) await s.release();
      else {
        // A userspace session ends; a kernel DC is deleted only when stafd made it (close() leaves others).
        if (!s.device || this.ownedDevice === s.device)
          this.deps.log('info', `${this.tid.toString()} | ${s.device ?? 'nvme?'} - Disconnect initiated`);
        await s.close();
        if (s.device && this.ownedDevice === s.device) this.ownedDevice = undefined;
      }
    } catch (e) {
      this.say('error', `Disconnect failed: ${errorText(e)}`);
    }
  }
}
