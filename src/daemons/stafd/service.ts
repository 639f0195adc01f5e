/**
 * The stafd service: keeps the set of discovery controllers in line with the configuration, mDNS and referrals
 * (edge-triggered reconciliation: a change starts a pass at once, changes during a pass make one trailing pass, two
 * passes start at least 250 ms apart), runs each one, persists the last-known configuration, and answers the
 * org.nvmexpress.staf D-Bus API. No D-Bus, Avahi or process concerns here: those are wired by the program.
 */
import { LkcWriter, loadLkc, type SavedDc } from '../../adapters/lkc-file.js';
import { type Resolver, systemResolver } from '../../adapters/resolver.js';
import type { ControllerEntry } from '../../core/config/controller-line.js';
import { DC_BOUNDS } from '../../core/config/schema.js';
import type { StafdConfig } from '../../core/config/service-config.js';
import { dlpeToDict, logPagesRecord } from '../../core/dlpe-dict.js';
import { EventLog } from '../../core/events.js';
import type { ExcludeFields } from '../../core/exclude.js';
import type { HostIdentity } from '../../core/host-identity.js';
import { parseIp } from '../../core/ipaddr.js';
import { errorText, type LogFn } from '../../core/log.js';
import { type PyValue, pyJsonDumps } from '../../core/pprint.js';
import {
  type BoundHit,
  type CurrentDc,
  type DcCandidate,
  type DcOrigin,
  diffDiscoveryControllers,
  HOST_EXCLUDED,
  planDiscoveryControllers,
} from '../../core/stafd/dc-plan.js';
import type { NbftDc } from '../../core/stafd/nbft-dcs.js';
import { Tid, type TidOptions, WELL_KNOWN_DISC_NQN } from '../../core/tid.js';
import { isIpTransport } from '../../core/transport.js';
import { PassScheduler, type SchedulerClock, systemClock } from '../pass-scheduler.js';
import {
  asctime,
  commonProcessInfo,
  gtimerText,
  operationText,
  pyBool,
  type SYSFS_ATTRIBUTES,
  sysfsAttributes,
} from '../process-info.js';
import { type DcTiming, DiscoveryControllerRunner, type SessionFactory } from './discovery-controller.js';

export type TidArgs = [string, string, string, string, string, string, string];

export interface StafdSignals {
  logPagesChanged(tid: TidArgs, device: string): void;
  dcRemoved(): void;
}

export interface StafdServiceOptions {
  config: StafdConfig;
  confFile: string;
  identity: HostIdentity;
  connect: SessionFactory;
  log: LogFn;
  signals: StafdSignals;
  lkcPath?: string | undefined;
  /** Least time between two reconciliation pass starts (default MIN_PASS_INTERVAL_MS, 250 ms). */
  minPassIntervalMs?: number;
  /** Clock and timers of the pass scheduler (tests). */
  schedulerClock?: SchedulerClock;
  /** Wall clock (epoch ms) and timers of the mDNS persistence span (tests; default Date.now and setTimeout). */
  wallClock?: SchedulerClock;
  timing?: DcTiming;
  /** Host name resolution for `controller=` lines naming a host (default: the system resolver). */
  resolver?: Resolver;
  /** Discovery controllers of the firmware's NBFTs (read once at start-up): configured DCs like controller= lines. */
  nbft?: readonly NbftDc[];
  /** The host-wide exclusion list, read for every pass (default: none). */
  hostExclusions?: () => Promise<ExcludeFields[]>;
  /** sysfs class of NVMe controllers, for the attributes of kernel DCs (default /sys/class/nvme). */
  sysClassNvme?: string;
  /** Sees every DC runner as it is created (the metrics count their events). */
  onRunner?: (r: DiscoveryControllerRunner) => void;
  /** A bound (stafd.conf max-*) kept something out (the metrics count them). */
  onBoundHit?: (bound: string) => void;
}

/** Bounds and their option names, for messages. */
type BoundName = BoundHit['bound'] | 'max-cached-log-entries';

/** Values of per-controller options as nvme-stas shows them in controller dictionaries. */
function entryExtras(entry: ControllerEntry | undefined): Record<string, string> {
  if (!entry) return {};
  const out: Record<string, string> = {};
  const o = entry.overrides;
  const put = (k: string, v: boolean | number | undefined) => {
    if (v === undefined) return;
    out[k] = typeof v === 'boolean' ? (v ? 'True' : 'False') : String(v);
  };
  put('hdr-digest', o.hdrDigest);
  put('data-digest', o.dataDigest);
  put('kato', o.kato);
  put('reconnect-delay', o.reconnectDelay);
  put('ctrl-loss-tmo', o.ctrlLossTmo);
  put('disable-sqflow', o.disableSqflow);
  put('queue-size', o.queueSize);
  // Secrets are never shown over D-Bus (nvme-stas printed them to any local user).
  if (entry.dhchapSecret) out['dhchap-secret'] = '<redacted>';
  if (entry.dhchapCtrlSecret) out['dhchap-ctrl-secret'] = '<redacted>';
  return out;
}

export class StafdService {
  private config: StafdConfig;
  private readonly dcs = new Map<string, DiscoveryControllerRunner>();
  private discovered: Tid[] = [];
  /** mDNS-discovered DCs no longer announced: since when (epoch ms). */
  private readonly lostSince = new Map<string, number>();
  /** Reconciliation passes: at once on a change when idle, one trailing pass for what arrives during a pass. */
  private readonly scheduler: PassScheduler;
  /**
   * The mDNS side's state for process_info (`avahi`: wake-up timer, service types, services), set while zeroconf
   * runs; without it, what nvme-stas shows with zeroconf disabled.
   */
  avahiInfo: (() => Record<string, PyValue>) | undefined;
  private reconciling = false;
  private again = false;
  private stopped = false;
  /** Bound hits already reported (bound and cause), until the bound no longer bites for that cause. */
  private reportedHits = new Set<string>();
  /** DCs whose last log was refused by max-cached-log-entries (reported once until one is admitted). */
  private readonly cacheRefused = new Set<string>();
  /** Refused candidates already warned about (TID key and reason), until they are no longer refused. */
  private warnedDrops = new Set<string>();
  /** The last-known config: written at most once a second, off the event loop, the latest state each time. */
  private readonly lkc: LkcWriter | undefined;
  private readonly wall: SchedulerClock;
  tron: boolean;
  /** Recent history for `stafctl events`. */
  readonly events = new EventLog();

  constructor(private readonly opts: StafdServiceOptions) {
    this.config = opts.config;
    this.tron = opts.config.tron;
    this.wall = opts.wallClock ?? { ...systemClock, now: () => Date.now() };
    this.scheduler = new PassScheduler(() => this.reconcile(), {
      ...(opts.minPassIntervalMs !== undefined ? { minIntervalMs: opts.minPassIntervalMs } : {}),
      ...(opts.schedulerClock ? { clock: opts.schedulerClock } : {}),
      onError: (e) => opts.log('error', `Reconciliation pass failed: ${errorText(e)}`),
    });
    this.lkc = opts.lkcPath ? new LkcWriter(opts.lkcPath, { log: opts.log }) : undefined;
  }

  /** Completed writes of the last-known config (metrics). */
  get lkcWrites(): number {
    return this.lkc?.writes ?? 0;
  }

  /** The system host NQN (TIDs without their own host NQN use it). */
  get hostNqn(): string {
    return this.opts.identity.hostNqn;
  }

  private get tidOpts(): TidOptions {
    return { defaultHostNqn: this.opts.identity.hostNqn, ignoreIface: this.config.ignoreIface };
  }

  /** Restores the last-known DCs with their cached logs, then reconciles at once. */
  start(): void {
    if (this.opts.lkcPath) {
      const { dcs, problem } = loadLkc(this.opts.lkcPath);
      if (problem) this.opts.log('warning', `Last known config not loaded: ${problem}`);
      for (const saved of dcs) {
        const tid = Tid.from(saved.tid, this.tidOpts);
        if (this.dcs.has(tid.key())) continue;
        const r = this.addRunner({ tid, origin: saved.origin });
        r.restore(saved.logPages);
        r.ownedDevice = saved.kernelDevice;
      }
      if (dcs.length)
        this.opts.log('info', `Restored ${dcs.length} discovery controller(s) from ${this.opts.lkcPath}`);
    }
    this.changed();
  }

  /** New configuration (SIGHUP): applies to new connections; controllers removed or excluded go at once. */
  reload(config: StafdConfig): void {
    this.config = config;
    this.tron = config.tron;
    for (const r of this.dcs.values()) r.resync();
    this.changed();
  }

  /** mDNS view: the reachable DCs Avahi currently announces. */
  setDiscovered(tids: Tid[]): void {
    this.discovered = tids;
    this.changed();
  }

  /** An input changed: a pass at once when none runs, else one trailing pass (see PassScheduler). */
  private changed(): void {
    if (this.stopped) return;
    this.scheduler.request();
  }

  /** Passes started by changes (tests, benchmarks). */
  get changePasses(): number {
    return this.scheduler.started;
  }

  private async resolveConfigured(): Promise<{ tid: Tid; entry?: ControllerEntry }[]> {
    const fam = this.config.ipFamily;
    const resolver = this.opts.resolver ?? systemResolver;
    const out: { tid: Tid; entry: ControllerEntry }[] = [];
    await Promise.all(
      this.config.controllers.map(async (entry) => {
        let traddr = entry.traddr;
        if (isIpTransport(entry.transport) && !parseIp(traddr)) {
          try {
            const [first] = await resolver.resolve(traddr, fam.ipv4 ? 4 : fam.ipv6 ? 6 : undefined);
            if (first === undefined) throw new Error('no address');
            traddr = first;
          } catch (e) {
            this.opts.log(
              'error',
              `Cannot resolve "${entry.traddr}" (${this.opts.confFile}:${entry.line}): ${errorText(e)}`,
            );
            return;
          }
        }
        out.push({
          tid: Tid.from(
            { ...entry, traddr, subsysnqn: entry.subsysnqn ?? WELL_KNOWN_DISC_NQN },
            this.tidOpts,
          ),
          entry,
        });
      }),
    );
    // Keep file order (resolution finishes in any order); the first line wins for duplicates.
    out.sort((a, b) => a.entry.line - b.entry.line);
    // Then the nBFT discovery entries (a controller= line naming the same DC wins with its options).
    return [...out, ...(this.opts.nbft ?? []).map((dc) => ({ tid: Tid.from(dc.tid, this.tidOpts) }))];
  }

  private currentView(): Map<string, CurrentDc> {
    const now = this.wall.now();
    const persist = this.config.zeroconfConnectionsPersistence;
    const announced = new Set(this.discovered.map((t) => t.key()));
    const view = new Map<string, CurrentDc>();
    for (const [key, r] of this.dcs) {
      let expired = false;
      if (r.origin === 'discovered' && !announced.has(key) && !r.connected) {
        const since = this.lostSince.get(key) ?? now;
        if (!this.lostSince.has(key)) {
          this.lostSince.set(key, now);
          if (persist >= 0) {
            this.opts.log(
              'warning',
              `${r.tid.toString()} | ${r.device ?? 'nvme?'} - Controller is not responding. Will be removed by ${asctime(new Date(now + persist * 1000))} unless restored`,
            );
            this.wall.setTimeout(() => this.changed(), persist * 1000);
          } else
            this.opts.log(
              'warning',
              `${r.tid.toString()} | ${r.device ?? 'nvme?'} - Controller not responding. Retrying...`,
            );
        }
        expired = persist >= 0 && now - since >= persist * 1000;
      } else this.lostSince.delete(key);
      view.set(key, { origin: r.origin, expired });
    }
    return view;
  }

  /** One reconciliation pass (coalesced: a pass requested while one runs runs once more afterwards). */
  async reconcile(): Promise<void> {
    if (this.stopped) return;
    if (this.reconciling) {
      this.again = true;
      return;
    }
    this.reconciling = true;
    try {
      const configured = await this.resolveConfigured();
      const hostExclusions = (await this.opts.hostExclusions?.()) ?? [];
      if (this.stopped) return;
      const plan = planDiscoveryControllers({
        configured,
        referrals: new Map([...this.dcs].map(([key, r]) => [key, r.referrals])),
        current: new Set(this.dcs.keys()),
        bounds: this.config.bounds,
        discovered: this.config.zeroconf ? this.discovered : [],
        excludes: this.config.excludes.map((e) => e.fields),
        hostExclusions,
        ipFamily: this.config.ipFamily,
      });
      // Each refused candidate is reported once while it stays refused (referrals come back with every read).
      const warned = new Set<string>();
      for (const d of plan.dropped) {
        const k = `${d.tid.key()}\u0000${d.reason}`;
        const quiet = d.reason === 'excluded' || d.reason === HOST_EXCLUDED || this.warnedDrops.has(k);
        warned.add(k);
        this.opts.log(quiet ? 'debug' : 'warning', `${d.tid.toString()} ${d.reason}`);
      }
      this.warnedDrops = warned;
      this.reportHits(plan.hits);
      const diff = diffDiscoveryControllers(this.currentView(), plan);
      const stopping: Promise<void>[] = [];
      for (const { key, reason } of diff.remove) {
        const r = this.dcs.get(key)!;
        this.dcs.delete(key);
        this.lostSince.delete(key);
        this.cacheRefused.delete(key);
        this.opts.log(
          'info',
          `${r.tid.toString()} | ${r.device ?? 'nvme?'} - Removing discovery controller: ${reason}`,
        );
        this.events.add(new Date(), { kind: 'dc-removed', controller: r.tid.toString(), detail: reason });
        stopping.push(r.stop());
      }
      // Signalled as soon as the DCs are off the list (a client that sees the list shrink has the signal
      // already), then their sessions are closed.
      if (diff.remove.length) this.opts.signals.dcRemoved();
      await Promise.all(stopping);
      for (const { key, origin } of diff.origin) this.dcs.get(key)!.origin = origin;
      for (const [key, c] of plan.desired)
        if (c.entry && this.dcs.has(key)) this.dcs.get(key)!.entry = c.entry;
      for (const c of diff.add) {
        this.events.add(new Date(), {
          kind: 'dc-added',
          controller: c.tid.toString(),
          detail: `origin ${c.origin}`,
        });
        this.addRunner(c).start();
      }
      // Runners restored from the last-known config start with the first pass.
      for (const r of this.dcs.values()) if (r.state === 'idle') r.start();
      this.saveLkc();
    } finally {
      this.reconciling = false;
      if (this.again) {
        this.again = false;
        this.changed();
      }
    }
  }

  /** One warning, one event and one metric count per bound and cause, until the bound stops biting for it. */
  private reportHits(hits: readonly BoundHit[]): void {
    const now = new Set<string>();
    for (const h of hits) {
      const k = `${h.bound}\u0000${h.by?.key() ?? h.origin}`;
      now.add(k);
      if (this.reportedHits.has(k)) continue;
      const value = this.config.bounds[DC_BOUNDS.find((b) => b.key === h.bound)!.prop];
      const what =
        h.by !== undefined
          ? `${h.refused} referral(s) of ${h.by.toString()} not followed`
          : `${h.refused} ${h.origin === 'configured' ? 'configured' : 'mDNS-discovered'} discovery controller(s) not started`;
      this.boundHit(h.bound, `${what}: ${h.bound} (${value}) reached`, h.by);
    }
    this.reportedHits = now;
  }

  private boundHit(bound: BoundName, message: string, by: Tid | undefined): void {
    this.opts.log('warning', message);
    this.events.add(new Date(), {
      kind: 'bound',
      ...(by ? { controller: by.toString() } : {}),
      detail: message,
    });
    this.opts.onBoundHit?.(bound);
  }

  /** The cache bound (max-cached-log-entries): whether `r`'s new log of `n` entries fits with the others'. */
  private admitLog(r: DiscoveryControllerRunner, n: number): boolean {
    let others = 0;
    for (const o of this.dcs.values()) if (o !== r) others += o.logPages.length;
    const max = this.config.bounds.maxCachedLogEntries;
    const key = r.tid.key();
    if (others + n <= max) {
      this.cacheRefused.delete(key);
      return true;
    }
    if (!this.cacheRefused.has(key)) {
      this.cacheRefused.add(key);
      this.boundHit(
        'max-cached-log-entries',
        `${r.tid.toString()} | Log page of ${n} entries not cached (${others} cached for other controllers): max-cached-log-entries (${max}) reached; the previous log page is kept`,
        r.tid,
      );
    }
    return false;
  }

  private addRunner(c: Pick<DcCandidate, 'tid' | 'origin' | 'entry'>): DiscoveryControllerRunner {
    const cfg = this.config;
    const r = new DiscoveryControllerRunner(c.tid, c.origin, c.entry, {
      connect: this.opts.connect,
      identity: this.opts.identity,
      kato: cfg.connect.kato ?? 30,
      hdrDigest: cfg.connect.hdrDigest ?? false,
      dataDigest: cfg.connect.dataDigest ?? false,
      kernel: { reconnectDelay: cfg.connect.reconnectDelay, ctrlLossTmo: cfg.connect.ctrlLossTmo },
      pleo: cfg.pleo,
      log: this.opts.log,
      tidOpts: this.tidOpts,
      maxLogEntries: cfg.bounds.maxCachedLogEntries,
      admitLog: (runner, n) => this.admitLog(runner, n),
      ...(this.opts.timing ? { timing: this.opts.timing } : {}),
    });
    let lastReferrals = r.referrals.map((t) => t.key()).join('\n');
    r.on('logPages', (pages) => {
      this.events.add(new Date(), {
        kind: 'log-pages',
        controller: r.tid.toString(),
        detail: `${pages.length} entries`,
      });
      this.opts.signals.logPagesChanged(r.tid.args(), r.device ?? 'nvme?');
      // The referral graph changes only when this DC's referrals do: only then is a pass needed.
      const refs = r.referrals.map((t) => t.key()).join('\n');
      if (refs !== lastReferrals) {
        lastReferrals = refs;
        this.changed();
      }
      this.saveLkc();
    });
    r.on('state', (state) => {
      if (state === 'connected')
        this.events.add(new Date(), { kind: 'connected', controller: r.tid.toString() });
      else if (state === 'waiting' && r.lastError)
        this.events.add(new Date(), {
          kind: 'connect-failed',
          controller: r.tid.toString(),
          detail: r.lastError,
        });
      else if (state === 'waiting')
        this.events.add(new Date(), { kind: 'connection-lost', controller: r.tid.toString() });
      if (r.origin === 'discovered') this.changed();
    });
    this.dcs.set(c.tid.key(), r);
    this.opts.onRunner?.(r);
    return r;
  }

  /** The state changed: the last-known config will be written (coalesced). */
  private saveLkc(): void {
    this.lkc?.schedule(() => this.savedDcs());
  }

  private savedDcs(): SavedDc[] {
    return [...this.dcs.values()].map((r) => ({
      tid: {
        transport: r.tid.transport,
        traddr: r.tid.traddr,
        trsvcid: r.tid.trsvcid,
        subsysnqn: r.tid.subsysnqn,
        hostTraddr: r.tid.hostTraddr,
        hostIface: r.tid.hostIface,
        hostNqn: r.tid.hostNqn,
      },
      origin: r.origin,
      logPages: r.logPages,
      ...(r.ownedDevice ? { kernelDevice: r.ownedDevice } : {}),
    }));
  }

  /**
   * Stops every DC and saves the last-known config. Userspace sessions close (CDC registrations are withdrawn);
   * kernel DC connections stay with persistent-connections, otherwise those stafd created are deleted.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.scheduler.stop();
    const keep = this.config.persistentConnections;
    await Promise.all([...this.dcs.values()].map((r) => r.stop({ keep })));
    // After the stops: a deleted kernel DC is no longer recorded as stafd's.
    this.saveLkc();
    await this.lkc?.flush();
  }

  private find(args: TidArgs): DiscoveryControllerRunner | undefined {
    return this.dcs.get(Tid.fromArgs(args, this.tidOpts).key());
  }

  // ---- org.nvmexpress.staf API ----

  private idDict(r: DiscoveryControllerRunner): Record<string, string> {
    const id = r.tid.idDict();
    const { 'host-nqn': hostNqn, ...head } = id;
    return { ...head, ...entryExtras(r.entry), 'host-nqn': hostNqn!, device: r.device ?? 'nvme?' };
  }

  /**
   * nvme-stas' controller info (keys, order, value formats), then stas' own `state` and `last error`. Timers show
   * the seconds left while they run; the operations (`connect operation`, `register operation`, `get supported
   * log page operation`, `get log page operation`) are shown while they exist in nvme-stas: a connect in progress,
   * the others for the life of a connection.
   */
  private info(r: DiscoveryControllerRunner): Record<string, string> {
    const retry = r.retryIntervalMsValue;
    const now = Date.now();
    const d: Record<string, string> = {
      ...this.idDict(r),
      'connect attempts': String(r.connectAttempts),
      'retry connect timer':
        retry === undefined || r.retryDueAt === undefined
          ? gtimerText(60)
          : gtimerText(retry / 1000, (r.retryDueAt - now) / 1000),
    };
    if (r.state === 'connecting') d['connect operation'] = operationText({ failCount: 0, completed: false });
    d['origin'] = r.origin;
    if (r.origin === 'discovered') {
      const persist = this.config.zeroconfConnectionsPersistence;
      const since = this.lostSince.get(r.tid.key());
      d['unresponsive timer'] =
        since !== undefined && persist >= 0
          ? gtimerText(persist, (since + persist * 1000 - now) / 1000)
          : gtimerText(0);
      d['unresponsive timeout'] = persist >= 0 ? `${persist} sec` : 'forever';
      d['unresponsive time'] = since !== undefined ? asctime(new Date(since)) : '---';
    }
    if (r.connected) {
      if (r.dctype === 'cdc')
        d['register operation'] = operationText({
          failCount: r.dimFailures,
          completed: true,
          ...(r.dimFailures ? { retry: { intervalSec: 5 } } : {}),
          ...(r.dimError !== undefined ? { error: r.dimError } : {}),
        });
      if (this.config.pleo && r.dctype === 'ddc')
        d['get supported log page operation'] = operationText({ failCount: 0, completed: true });
      d['get log page operation'] = operationText({
        failCount: r.readFailures,
        completed: !r.reading,
        ...(r.readFailures
          ? { retry: { intervalSec: 20, remainingSec: Math.max(0, (r.readNotBefore - now) / 1000) } }
          : {}),
        ...(r.readError !== undefined ? { error: r.readError } : {}),
      });
    }
    d['state'] = r.state;
    if (r.lastError) d['last error'] = r.lastError;
    return d;
  }

  listControllers(detailed: boolean): Record<string, string>[] {
    return [...this.dcs.values()].map((r) =>
      detailed ? { ...this.info(r), ...this.attributes(r), connected: pyBool(r.connected) } : this.idDict(r),
    );
  }

  /**
   * The sysfs attributes nvme-stas adds to a detailed dictionary: those of the kernel device; for a userspace
   * session (no device) what the same attributes would show, from the session (Identify, the host identity).
   */
  private attributes(r: DiscoveryControllerRunner): Record<(typeof SYSFS_ATTRIBUTES)[number], string> {
    if (r.device) return sysfsAttributes(r.device, this.opts.sysClassNvme);
    const session = r.connected;
    return {
      hostid: session ? this.opts.identity.hostId : '',
      hostnqn: session ? r.tid.hostNqn : '',
      model: r.model,
      serial: r.serial,
      dctype: r.dctype,
      cntrltype: session ? 'discovery' : '',
    };
  }

  getLogPages(...tid: TidArgs): Record<string, string>[] {
    return (this.find(tid)?.logPages ?? []).map(dlpeToDict);
  }

  getAllLogPages(detailed: boolean): string {
    const dcs = this.listControllers(detailed);
    return pyJsonDumps([...this.dcs.values()].map((r, i) => logPagesRecord(dcs[i]!, r.logPages)));
  }

  /** nvme-stas' process_info (json.dumps form, its keys in its order), then stas' `discovery controllers`. */
  processInfo(): string {
    // 'config soak timer': stas has no soak; the minimum interval between two pass starts, and while a pass runs
    // or is due, the seconds until it may start.
    const due = this.scheduler.dueInMs();
    const soak = gtimerText(this.scheduler.minIntervalMs / 1000, due === undefined ? undefined : due / 1000);
    return pyJsonDumps({
      ...commonProcessInfo(this.tron, this.opts.identity, this.opts.lkcPath, soak),
      avahi: this.avahiInfo?.() ?? {
        'avahi wake up timer': gtimerText(60),
        'service types': [],
        services: {},
      },
      'discovery controllers': String(this.dcs.size),
    });
  }

  eventsJson(): string {
    return JSON.stringify(this.events.list());
  }

  controllerInfo(...tid: TidArgs): string {
    const r = this.find(tid);
    return pyJsonDumps(r ? this.info(r) : {});
  }

  /** For status and tests: current DCs and their origins. */
  snapshot(): { tid: Tid; origin: DcOrigin; state: string; pages: number }[] {
    return [...this.dcs.values()].map((r) => ({
      tid: r.tid,
      origin: r.origin,
      state: r.state,
      pages: r.logPages.length,
    }));
  }
}
