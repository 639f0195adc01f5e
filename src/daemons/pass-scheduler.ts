/**
 * Edge-triggered reconciliation: when the daemon's inputs change (an AEN's log read, a stafd signal, a uevent,
 * SIGHUP, mDNS), `request()` starts a pass at once if none is running; every request that arrives while a pass runs
 * is coalesced into ONE trailing pass, started when that pass ends. Two pass starts are at least `minIntervalMs`
 * apart (a request sooner than that waits for the interval, still as one pass), so a storm of changes lasting T ms
 * costs at most T / minIntervalMs + 1 passes, whatever its rate. No soak: a single change is acted on with no delay.
 */
import { monotonicMs } from '../adapters/monotonic-clock.js';

/** The clock and timers (injected in tests). */
export interface SchedulerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The monotonic clock and unref()ed timers. */
export const systemClock: SchedulerClock = {
  now: monotonicMs,
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** The minimum interval between two pass starts of either daemon (as between two log reads of one DC). */
export const MIN_PASS_INTERVAL_MS = 250;

export interface PassSchedulerOptions {
  /** Least time between two pass starts (default MIN_PASS_INTERVAL_MS). */
  minIntervalMs?: number;
  clock?: SchedulerClock;
  /** A pass that threw (the services catch their own errors; this is the last resort). */
  onError?: (e: unknown) => void;
}

export class PassScheduler {
  private running = false;
  private trailing = false;
  private timer: unknown;
  private timerAt = 0;
  private lastStart = Number.NEGATIVE_INFINITY;
  private stopped = false;
  private readonly clock: SchedulerClock;
  readonly minIntervalMs: number;
  /** Passes started by this scheduler (tests, benchmarks). */
  started = 0;
  /** Requests received (tests, benchmarks). */
  requests = 0;

  constructor(
    private readonly run: () => Promise<unknown>,
    private readonly opts: PassSchedulerOptions = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.minIntervalMs = opts.minIntervalMs ?? MIN_PASS_INTERVAL_MS;
  }

  /** Whether a pass is running or due (requested and not yet started). */
  get busy(): boolean {
    return this.running || this.trailing || this.timer !== undefined;
  }

  /**
   * When busy, the ms until the next pass may start (0: running or starting now); undefined when idle. A trailing
   * pass waits for the running one, then for the interval from its start.
   */
  dueInMs(): number | undefined {
    if (this.timer !== undefined) return Math.max(0, this.timerAt - this.clock.now());
    if (this.trailing) return Math.max(0, this.lastStart + this.minIntervalMs - this.clock.now());
    return this.running ? 0 : undefined;
  }

  /** Something changed: a pass now, after the running one, or once the minimum interval has passed. */
  request(): void {
    if (this.stopped) return;
    this.requests++;
    this.schedule();
  }

  private schedule(): void {
    if (this.running) {
      this.trailing = true;
      return;
    }
    if (this.timer !== undefined) return; // the pass already due covers this change
    const now = this.clock.now();
    const wait = this.lastStart + this.minIntervalMs - now;
    if (wait <= 0) {
      this.start(now);
      return;
    }
    this.timerAt = now + wait;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.start(this.clock.now());
    }, wait);
  }

  private start(now: number): void {
    if (this.stopped) return;
    this.running = true;
    this.lastStart = now;
    this.started++;
    // A microtask, not a call: the requester (an event handler, a pass's own finally) is never re-entered.
    void Promise.resolve()
      .then(() => this.run())
      .catch((e: unknown) => this.opts.onError?.(e))
      .finally(() => {
        this.running = false;
        if (this.trailing) {
          this.trailing = false;
          if (!this.stopped) this.schedule();
        }
      });
  }

  /** No more passes (a running one finishes). */
  stop(): void {
    this.stopped = true;
    this.trailing = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
