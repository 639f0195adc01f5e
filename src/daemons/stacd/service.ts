/**
 * The stacd service: reconciliation passes (edge-triggered: a change starts one at once, changes during a pass
 * make one trailing pass; see PassScheduler) that scan the kernel once, ask stafd, plan, and execute the plan with
 * bounded concurrency; ownership marked in the NVMe registry; retries with
 * fast-then-slow backoff; the org.nvmexpress.stac API data. Process, D-Bus and udev wiring live in main.ts.
 */

import { type Connected, KernelConnectError } from '../../adapters/kernel/fabrics.js';
import type { OwnershipRegistry } from '../../adapters/kernel/registry.js';
import { loadOwned, saveOwned } from '../../adapters/lkc-file.js';
import { monotonicMs } from '../../adapters/monotonic-clock.js';
import type { StacdConfig } from '../../core/config/service-config.js';
import { effectiveConnectOptions } from '../../core/config/service-config.js';
import type { ConnectRequest } from '../../core/connect-options.js';
import { dlpeToDict } from '../../core/dlpe-dict.js';
import { EventLog } from '../../core/events.js';
import type { ExcludeFields } from '../../core/exclude.js';
import type { HostIdentity } from '../../core/host-identity.js';
import { canonicalIp } from '../../core/ipaddr.js';
import type { KernelController } from '../../core/kernel-controller.js';
import { errorText, type LogFn } from '../../core/log.js';
import type { InterfaceMap } from '../../core/match.js';
import { EFlags } from '../../core/nvme/discovery-log.js';
import { pyJsonDumps } from '../../core/pprint.js';
import {
  type DesiredIoc,
  type Plan,
  type PlanItem,
  planIoControllers,
  planToJson,
  type StafdView,
} from '../../core/stacd/plan.js';
import { Tid, type TidOptions } from '../../core/tid.js';
import { PassScheduler, type SchedulerClock, systemClock } from '../pass-scheduler.js';
import {
  commonProcessInfo,
  dlpeRepr,
  gtimerText,
  operationText,
  pyBool,
  sysfsAttributes,
} from '../process-info.js';
import type { TidArgs } from '../stafd/service.js';

/** The kernel as stacd uses it: controllers, connects, and the ownership registry (tests substitute a fake). */
export interface KernelPort extends OwnershipRegistry {
  scan(): Promise<KernelController[]>;
  connect(req: ConnectRequest): Promise<Connected>;
  disconnect(device: string): Promise<void>;
}

export interface StacdServiceOptions {
  config: StacdConfig;
  identity: HostIdentity;
  /** stafd's log pages, or { answered: false } when stafd does not answer. */
  stafd: () => Promise<StafdView>;
  kernel: KernelPort;
  ifaces: () => InterfaceMap;
  log: LogFn;
  lkcPath?: string | undefined;
  /** Least time between two pass starts that changes cause (default MIN_PASS_INTERVAL_MS, 250 ms). */
  minPassIntervalMs?: number;
  /** Clock and timers of the pass scheduler (tests). */
  schedulerClock?: SchedulerClock;
  retry?: { fastMs: number; slowMs: number };
  /** Timers of the connect retries (tests; default unref()ed setTimeout). */
  retryClock?: Pick<SchedulerClock, 'setTimeout' | 'clearTimeout'>;
  /** Monotonic clock in ms for pass durations and retry times (default monotonicMs). */
  monotonicMs?: () => number;
  /** Called after every pass with its duration in seconds (the metrics histogram). */
  onPass?: (seconds: number) => void;
  /** The host-wide exclusion list, read for every pass (default: none). */
  hostExclusions?: () => Promise<ExcludeFields[]>;
  /** sysfs class of NVMe controllers, for the attributes of detailed listings (default /sys/class/nvme). */
  sysClassNvme?: string;
}

/**
 * The errnos with which a kernel refuses a connect whose DH-HMAC-CHAP authentication failed: 6.1 returns EIO (the
 * NVMe status AUTH_REQUIRED, as for a host the subsystem does not allow); later kernels EKEYREJECTED or EACCES.
 */
const AUTH_FAILURE_CODES = new Set(['EIO', 'EKEYREJECTED', 'EACCES', 'EPERM']);

/**
 * Why a connect with DH-HMAC-CHAP secrets failed, for the log: names where the secrets come from, never shows them.
 * `fromLine`: the host secret is the controller= line's dhchap-secret (else the sys.conf host key).
 */
function authFailureText(code: string, fromLine: boolean, ctrlSecret: boolean): string {
  const secrets = [
    fromLine ? "the controller= line's dhchap-secret" : 'the host key of sys.conf',
    ...(ctrlSecret ? ['dhchap-ctrl-secret'] : []),
  ].join(', and ');
  // Each secret's name is followed by punctuation: the log redacts the word after a secret's name.
  return (
    `DH-HMAC-CHAP authentication failed (${code}): the kernel refused the connection made with the secrets ` +
    `configured for it (${secrets}). Either the target does not accept the host's secret, the controller could ` +
    'not prove its identity, or the subsystem does not allow this host; the kernel log says which ("qid 0: ' +
    'authentication failed", "controller authentication failed"). Retried with backoff.'
  );
}

export const IOC_STATES = ['connected', 'connecting', 'failed', 'skipped', 'excluded'] as const;
export type IocState = (typeof IOC_STATES)[number];

/** What must not change for a device to still be the controller stacd claimed. */
export function controllerIdentity(
  c: Pick<KernelController, 'transport' | 'traddr' | 'trsvcid' | 'subsysnqn' | 'hostNqn'>,
): string {
  return [c.transport, canonicalIp(c.traddr) ?? c.traddr, c.trsvcid, c.subsysnqn, c.hostNqn].join('|');
}

function requestIdentity(item: PlanItem): string {
  const t = item.tid;
  return controllerIdentity({
    transport: t.transport,
    traddr: t.traddr,
    trsvcid: t.trsvcid,
    subsysnqn: t.subsysnqn,
    hostNqn: t.hostNqn,
  });
}

export class StacdService {
  private config: StacdConfig;
  /** Controllers stacd made or adopted: device → identity when it was claimed. */
  private owned = new Map<string, string>();
  private currentPass: Promise<unknown> | undefined;
  private readonly attempts = new Map<string, number>();
  /**
   * Failed connects: when the next attempt is due (monotonic ms) and the kind of failure last logged as an error
   * (one error per kind, not per retry). A pass started by a change (uevents, stafd's signals) leaves a
   * controller alone until its retry is due: every failed connect brings an add and a remove uevent of its own,
   * which would otherwise start the next attempt at once.
   */
  private readonly failed = new Map<string, { retryAt: number; kind: string }>();
  /** Connects refused with EALREADY since the last pass that kept the controller (a race, not a failure). */
  private readonly raced = new Set<string>();
  private previousDiscovered: DesiredIoc[] = [];
  /** Passes that changes start: at once when idle, one trailing pass for what arrives during a pass. */
  private readonly scheduler: PassScheduler;
  private retryTimer: unknown;
  private running = false;
  private again = false;
  private stopped = false;
  lastPlan: Plan | undefined;
  lastPlanAt: Date | undefined;
  /** Number of /sys/class/nvme scans, for benchmarks: one per pass. */
  sysfsScans = 0;
  passes = 0;
  /** Kernel connects made, failed, and disconnects made since start (metrics). */
  connects = 0;
  connectFailures = 0;
  disconnects = 0;
  /** TID keys whose connect is in flight. */
  private readonly connecting = new Set<string>();
  /** Duration of the last pass that connected or disconnected something (scan, stafd query, plan, execution). */
  lastWorkingPassMs: number | undefined;
  /** Its phases: inputs (sysfs scan, registry, stafd query), plan, execution. */
  lastWorkingPassPhases = '';
  tron: boolean;
  /** Recent history for `stacctl events`. */
  readonly events = new EventLog();

  constructor(private readonly opts: StacdServiceOptions) {
    this.config = opts.config;
    this.tron = opts.config.tron;
    this.scheduler = new PassScheduler(() => this.reconcile({ backoff: true }), {
      ...(opts.minPassIntervalMs !== undefined ? { minIntervalMs: opts.minPassIntervalMs } : {}),
      ...(opts.schedulerClock ? { clock: opts.schedulerClock } : {}),
      onError: (e) => opts.log('error', `Reconciliation pass failed: ${errorText(e)}`),
    });
    if (opts.lkcPath) this.owned = loadOwned(opts.lkcPath);
  }

  private now(): number {
    return (this.opts.monotonicMs ?? monotonicMs)();
  }

  private get tidOpts(): TidOptions {
    return { defaultHostNqn: this.opts.identity.hostNqn, ignoreIface: this.config.ignoreIface };
  }

  start(): void {
    this.changed();
  }

  reload(config: StacdConfig): void {
    this.config = config;
    this.tron = config.tron;
    // The new configuration may have fixed what failed (a secret): retry at the next pass.
    for (const f of this.failed.values()) f.retryAt = 0;
    this.changed();
  }

  /**
   * Something changed (stafd signal, uevent, SIGHUP, the host exclusion list): a pass at once when none runs, else
   * one trailing pass (see PassScheduler). Such passes leave a failed connect alone until its retry is due.
   */
  changed(): void {
    if (this.stopped) return;
    this.scheduler.request();
  }

  /** Passes started by changes (tests, benchmarks). */
  get changePasses(): number {
    return this.scheduler.started;
  }

  private async inputs() {
    this.sysfsScans++;
    const [kernel, owners, stafd, hostExclusions] = await Promise.all([
      this.opts.kernel.scan(),
      this.opts.kernel.owners(),
      this.opts.stafd(),
      this.opts.hostExclusions?.() ?? [],
    ]);
    return { kernel, owners, stafd, hostExclusions };
  }

  /** The plan a pass would execute now, without executing it (`stacctl plan`). */
  async dryRun(): Promise<Plan> {
    const { kernel, owners, stafd, hostExclusions } = await this.inputs();
    return this.plan(kernel, owners, stafd, hostExclusions);
  }

  private plan(
    kernel: KernelController[],
    owners: Map<string, string>,
    stafd: StafdView,
    hostExclusions: readonly ExcludeFields[],
  ): Plan {
    return planIoControllers({
      config: this.config,
      tidOpts: this.tidOpts,
      stafd,
      kernel,
      ifaces: this.opts.ifaces(),
      owners,
      ours: new Set(this.owned.keys()),
      attempts: this.attempts,
      previousDiscovered: this.previousDiscovered,
      hostExclusions,
    });
  }

  /**
   * One pass: scan, plan, execute. Coalesced: a pass requested during one runs once afterwards. With `backoff`
   * (the passes a change starts), a connect that failed is not tried again before its retry is due.
   */
  async reconcile(opts: { backoff?: boolean } = {}): Promise<Plan | undefined> {
    if (this.stopped) return undefined;
    if (this.running) {
      this.again = true;
      return undefined;
    }
    this.running = true;
    let finish: (() => void) | undefined;
    this.currentPass = new Promise<void>((r) => {
      finish = r;
    });
    const clock = () => this.now();
    const started = clock();
    try {
      this.passes++;
      const { kernel, owners, stafd, hostExclusions } = await this.inputs();
      const gotInputs = clock();
      if (!stafd.answered)
        this.opts.log('debug', 'stafd is not answering: no discovered controller will be removed');
      const stale = this.forgetRecycled(kernel, owners);
      const plan = this.plan(kernel, owners, stafd, hostExclusions);
      if (stafd.answered) this.previousDiscovered = plan.discovered;
      this.lastPlan = plan;
      this.lastPlanAt = new Date();
      const planned = clock();
      await this.execute(plan, owners, kernel, opts.backoff === true ? clock() : undefined);
      // Stale registry entries go after the connects: nothing in the plan depends on the files.
      await Promise.all(stale.map((dev) => this.opts.kernel.release(dev).catch(() => {})));
      if (plan.items.some((i) => i.action === 'connect' || i.action === 'disconnect')) {
        const done = clock();
        const ms = (a: number, b: number) => (b - a).toFixed(1);
        this.lastWorkingPassMs = done - started;
        this.lastWorkingPassPhases = `inputs ${ms(started, gotInputs)} ms, plan ${ms(gotInputs, planned)} ms, execution ${ms(planned, done)} ms`;
      }
      if (this.opts.lkcPath) {
        try {
          saveOwned(this.opts.lkcPath, this.owned);
        } catch (e) {
          this.opts.log('error', `Unable to save last known config: ${errorText(e)}`);
        }
      }
      return plan;
    } finally {
      this.running = false;
      this.opts.onPass?.(Math.max(0, clock() - started) / 1000);
      finish?.();
      if (this.again) {
        this.again = false;
        this.changed();
      }
    }
  }

  /**
   * Device names are recycled: a controller stacd made may vanish (nvme disconnect, ctrl-loss-tmo) and its name
   * go to a controller someone else makes. Ownership holds only while the device still has the identity it had
   * when stacd claimed it; stale `stas` registry entries are released, and a `stas` entry stacd cannot vouch for
   * is not taken as proof of ownership. Returns the stale entries of devices that are gone, to be released.
   */
  private forgetRecycled(kernel: KernelController[], owners: Map<string, string>): string[] {
    const stale: string[] = [];
    const byDev = new Map(kernel.map((c) => [c.device, c]));
    for (const [dev, id] of this.owned) {
      const c = byDev.get(dev);
      if (!c || controllerIdentity(c) !== id) this.owned.delete(dev);
    }
    for (const [dev, owner] of owners) {
      if (owner !== 'stas' || this.owned.has(dev)) continue;
      owners.delete(dev);
      if (!byDev.has(dev)) stale.push(dev);
    }
    return stale;
  }

  private connectRequest(item: PlanItem, desired: DesiredIoc | undefined): ConnectRequest {
    const entry = desired?.entry;
    const o = effectiveConnectOptions(this.config.connect, entry?.overrides ?? {});
    const t = item.tid;
    return {
      transport: t.transport,
      traddr: t.traddr,
      trsvcid: t.trsvcid,
      nqn: t.subsysnqn,
      hostNqn: t.hostNqn,
      hostId: this.opts.identity.hostId,
      hostTraddr: t.hostTraddr || undefined,
      hostIface: t.hostIface || undefined,
      kato: o.kato,
      ctrlLossTmo: o.ctrlLossTmo,
      reconnectDelay: o.reconnectDelay,
      nrIoQueues: o.nrIoQueues,
      nrWriteQueues: o.nrWriteQueues,
      nrPollQueues: o.nrPollQueues,
      queueSize: o.queueSize,
      hdrDigest: o.hdrDigest,
      dataDigest: o.dataDigest,
      disableSqflow: o.disableSqflow,
      // A per-controller secret wins over the host key (nvme-stas documents it so; libnvme did the opposite).
      dhchapSecret: entry?.dhchapSecret ?? this.opts.identity.hostKey,
      dhchapCtrlSecret: entry?.dhchapCtrlSecret,
    };
  }

  /** `backoffNow`: the time of a pass that must leave failed connects alone until their retry is due. */
  private async execute(
    plan: Plan,
    owners: Map<string, string>,
    kernel: KernelController[],
    backoffNow?: number,
  ): Promise<void> {
    const kernelById = new Map(kernel.map((k) => [k.device, k]));
    let failures = 0;
    await Promise.all(
      plan.items.map(async (item) => {
        const key = item.tid.key();
        if (item.action === 'keep' && item.device && item.desired) {
          // Adopted (e.g. made by nvme connect or the udev rule): claim it unless someone else did.
          const k = kernelById.get(item.device);
          if (k) this.owned.set(item.device, controllerIdentity(k));
          if (!owners.has(item.device)) await this.opts.kernel.claim(item.device).catch(() => {});
          this.attempts.delete(key);
          this.failed.delete(key);
          this.raced.delete(key);
        } else if (item.action === 'connect') {
          const retryAt = this.failed.get(key)?.retryAt ?? 0;
          if (backoffNow !== undefined && retryAt > backoffNow) return; // the retry timer's pass tries it
          this.connecting.add(key);
          const req = this.connectRequest(item, item.desired);
          try {
            const c = await this.opts.kernel.connect(req);
            this.connects++;
            this.owned.set(c.device, requestIdentity(item));
            this.raced.delete(key);
            await this.opts.kernel
              .claim(c.device)
              .catch((e: Error) => this.opts.log('warning', `registry: ${e.message}`));
            this.attempts.delete(key);
            this.failed.delete(key);
            this.opts.log('info', `${item.tid.toString()} | ${c.device} - Connection established!`);
            this.events.add(new Date(), {
              kind: 'connected',
              controller: item.tid.toString(),
              device: c.device,
              detail: item.reason,
            });
          } catch (e) {
            const code = e instanceof KernelConnectError ? e.code : '';
            if (code === 'EALREADY' && !this.raced.has(key)) {
              // Another program (nvme-cli's udev rule reacting to the same AEN, an admin) connected it between
              // the scan and the write: not a failure. The next pass adopts it. A second EALREADY in a row means
              // the kernel sees a duplicate that the matching rules do not: a failure, with the usual backoff.
              this.raced.add(key);
              this.opts.log(
                'info',
                `${item.tid.toString()} | Connected by another program meanwhile (nvme-cli's udev rule?): adopting it`,
              );
              this.events.add(new Date(), { kind: 'connect-raced', controller: item.tid.toString() });
              this.changed(); // the next pass adopts it
              return;
            }
            failures++;
            this.connectFailures++;
            const n = (this.attempts.get(key) ?? 0) + 1;
            this.attempts.set(key, n);
            const auth = req.dhchapSecret !== undefined && AUTH_FAILURE_CODES.has(code);
            const detail = auth
              ? authFailureText(code, item.desired?.entry?.dhchapSecret !== undefined, !!req.dhchapCtrlSecret)
              : errorText(e);
            // One error per kind of failure, not per retry: a new kind (the target is back, but refuses the
            // secret) is shown again.
            const kind = auth ? `authentication ${code}` : code || (e instanceof Error ? e.name : 'error');
            const first = this.failed.get(key)?.kind !== kind;
            const retry = n === 1 ? (this.opts.retry?.fastMs ?? 3000) : (this.opts.retry?.slowMs ?? 60_000);
            this.failed.set(key, { retryAt: this.now() + retry, kind });
            this.opts.log(
              first ? 'error' : 'debug',
              `${item.tid.toString()} Failed to connect to controller. ${detail}`,
            );
            if (first)
              this.events.add(new Date(), {
                kind: 'connect-failed',
                controller: item.tid.toString(),
                detail,
              });
          } finally {
            this.connecting.delete(key);
          }
        } else if (item.action === 'disconnect' && item.device) {
          try {
            this.opts.log(
              'info',
              `${item.tid.toString()} | ${item.device} - Disconnect initiated (${item.reason})`,
            );
            await this.opts.kernel.disconnect(item.device);
            this.disconnects++;
            this.owned.delete(item.device);
            await this.opts.kernel.release(item.device).catch(() => {});
            this.opts.log('info', `${item.tid.toString()} | ${item.device} - Disconnected (${item.reason})`);
            this.events.add(new Date(), {
              kind: 'disconnected',
              controller: item.tid.toString(),
              device: item.device,
              detail: item.reason,
            });
          } catch (e) {
            this.opts.log(
              'error',
              `${item.tid.toString()} | ${item.device} - Failed to disconnect: ${errorText(e)}`,
            );
          }
        }
      }),
    );
    if (failures > 0) this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== undefined || this.stopped) return;
    const anyRetried = [...this.attempts.values()].some((n) => n > 1);
    const ms = anyRetried ? (this.opts.retry?.slowMs ?? 60_000) : (this.opts.retry?.fastMs ?? 3000);
    this.retryTimer = (this.opts.retryClock ?? systemClock).setTimeout(() => {
      this.retryTimer = undefined;
      void this.reconcile();
    }, ms);
  }

  /** Stops reconciling; connections are left in place (stacd never tears them down on exit). */
  async stop(): Promise<void> {
    this.stopped = true;
    // A pass in progress finishes first: a connection it makes is claimed and remembered.
    this.scheduler.stop();
    await this.currentPass;
    if (this.retryTimer !== undefined) (this.opts.retryClock ?? systemClock).clearTimeout(this.retryTimer);
    if (this.opts.lkcPath) {
      try {
        saveOwned(this.opts.lkcPath, this.owned);
      } catch {
        // already reported by the passes
      }
    }
  }

  // ---- org.nvmexpress.stac API ----

  private idDict(item: PlanItem): Record<string, string> {
    const { 'host-nqn': hostNqn, ...head } = item.tid.idDict();
    return { ...head, 'host-nqn': hostNqn!, device: item.device ?? 'nvme?' };
  }

  /**
   * nvme-stas' controller info: the ID, `connect attempts`, `retry connect timer` (stas retries failed connects
   * with the next passes: 3 s after the first failure, then 60 s) and `connect operation` while a connect runs.
   */
  private info(item: PlanItem): Record<string, string> {
    const key = item.tid.key();
    const n = this.attempts.get(key) ?? 0;
    const failed = this.failed.get(key);
    const d: Record<string, string> = {
      ...this.idDict(item),
      'connect attempts': String(n),
      'retry connect timer': failed
        ? gtimerText(
            (n > 1 ? (this.opts.retry?.slowMs ?? 60_000) : (this.opts.retry?.fastMs ?? 3000)) / 1000,
            Math.max(0, (failed.retryAt - this.now()) / 1000),
          )
        : gtimerText(60),
    };
    if (this.connecting.has(key)) d['connect operation'] = operationText({ failCount: 0, completed: false });
    return d;
  }

  /** nvme-stas' detailed dictionary (info, the device's sysfs attributes, dlpe), then stas' `plan`. */
  private detailed(item: PlanItem): Record<string, string> {
    const dlpe = this.lastPlan?.discovered.find((x) => x.tid.key() === item.tid.key())?.dlpe;
    return {
      ...this.info(item),
      ...sysfsAttributes(item.device, this.opts.sysClassNvme),
      connected: pyBool(item.action === 'keep' && !!item.device),
      dlpe: dlpeRepr(dlpe ? dlpeToDict(dlpe) : undefined),
      'dlpe.eflags.ncc': pyBool(!!dlpe && (dlpe.eflags & EFlags.NCC) !== 0),
      plan: `${item.action}: ${item.reason}`,
    };
  }

  /**
   * The wanted I/O controllers of the last plan by state (metrics): `connected` (kept, or connected by that
   * pass), `connecting` (connect in flight), `failed` (the last attempt failed; retried), `skipped` (given up on
   * NCC), `excluded` (refused by exclude=, the host exclusion list or a disabled address family).
   */
  iocStates(): Record<IocState, number> {
    const n: Record<IocState, number> = { connected: 0, connecting: 0, failed: 0, skipped: 0, excluded: 0 };
    for (const i of this.lastPlan?.items ?? []) {
      if (!i.desired) continue;
      const key = i.tid.key();
      if (i.action === 'keep') n.connected++;
      else if (i.action === 'skip') n.skipped++;
      else if (i.action === 'connect')
        n[
          this.connecting.has(key) ? 'connecting' : (this.attempts.get(key) ?? 0) > 0 ? 'failed' : 'connected'
        ]++;
    }
    n.excluded = this.lastPlan?.refused.length ?? 0;
    return n;
  }

  /** IOCs stacd manages (wanted ones and its own connections). */
  listControllers(detailed: boolean): Record<string, string>[] {
    // The wanted ones (connected, to connect, given up on NCC): what nvme-stas lists as its IOCs.
    return (this.lastPlan?.items ?? [])
      .filter((i) => i.desired)
      .map((i) => (detailed ? this.detailed(i) : this.idDict(i)));
  }

  controllerInfo(...tid: TidArgs): string {
    const key = Tid.fromArgs(tid, this.tidOpts).key();
    const item = this.lastPlan?.items.find((i) => i.tid.key() === key);
    return pyJsonDumps(item ? { ...this.info(item), plan: `${item.action}: ${item.reason}` } : {});
  }

  /** nvme-stas' process_info (json.dumps form, its keys in its order), then stas' own keys. */
  processInfo(): string {
    // 'config soak timer': stas has no soak; the minimum interval between two pass starts, and while a pass runs
    // or is due, the seconds until it may start.
    const due = this.scheduler.dueInMs();
    const soak = gtimerText(this.scheduler.minIntervalMs / 1000, due === undefined ? undefined : due / 1000);
    return pyJsonDumps({
      ...commonProcessInfo(this.tron, this.opts.identity, this.opts.lkcPath, soak),
      'reconcile passes': String(this.passes),
      'sysfs scans': String(this.sysfsScans),
      'last working pass':
        this.lastWorkingPassMs === undefined ? '' : `${this.lastWorkingPassMs.toFixed(1)} ms`,
      'last working pass phases': this.lastWorkingPassPhases,
      'last plan': this.lastPlanAt?.toISOString() ?? '',
    });
  }

  eventsJson(): string {
    return JSON.stringify(this.events.list());
  }

  /** JSON: the plan a pass would execute now. */
  async planJson(): Promise<string> {
    return planToJson(await this.dryRun());
  }
}
