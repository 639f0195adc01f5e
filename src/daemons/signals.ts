/**
 * The daemons' signal handling: exactly one listener per signal (SIGTERM, SIGINT, SIGHUP) for the whole life of
 * the process, installed by src/cli/daemon-signals.ts before the program's modules load. The listener hands each
 * signal to the callbacks the program registers once it runs; until then a stop or a reload is remembered and
 * delivered at registration, so none is lost and none kills the daemon by its default action.
 *
 * Listeners are never swapped: when Node removes the last listener of a signal it restores the default action
 * (a SIGTERM then kills the process), and a signal libuv has already caught for the removed listener is dropped
 * (a SIGTERM then goes unanswered until SIGKILL).
 *
 * No imports: this module is loaded before everything else, and must be cheap to load.
 */

export type StopSignal = 'SIGTERM' | 'SIGINT';
export type DaemonSignal = StopSignal | 'SIGHUP';

export const DAEMON_SIGNALS: readonly DaemonSignal[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

/** A stop asked for during a start-up that does not complete within this time ends the process (status 0). */
export const EARLY_STOP_GRACE_MS = 5000;

/** What the program does with signals once it runs. */
export interface SignalCallbacks {
  /** SIGTERM/SIGINT: called for every one (the program ignores repeats). */
  stop: (signal: StopSignal) => void;
  /** SIGHUP. */
  reload: () => void;
}

/** Where the signals come from: `process`, or an EventEmitter in tests. */
export interface SignalSource {
  on(signal: DaemonSignal, listener: () => void): unknown;
}

export interface SignalRouterOptions {
  graceMs?: number;
  /** Ends the process once the grace time of an early stop is over (default process.exit). */
  exit?: (code: number) => void;
  /** Where the notes of start-up time go (default stderr: the logger does not exist yet). */
  write?: (text: string) => void;
  /** Runs `fn` after `ms`; returns the cancel function (default setTimeout). */
  schedule?: (fn: () => void, ms: number) => () => void;
}

export class SignalRouter {
  private callbacks: SignalCallbacks | undefined;
  private pendingStop: StopSignal | undefined;
  private pendingReload = false;
  private cancelGrace: (() => void) | undefined;
  private readonly graceMs: number;
  private readonly exit: (code: number) => void;
  private readonly write: (text: string) => void;
  private readonly schedule: (fn: () => void, ms: number) => () => void;

  constructor(source: SignalSource, opts: SignalRouterOptions = {}) {
    this.graceMs = opts.graceMs ?? EARLY_STOP_GRACE_MS;
    this.exit = opts.exit ?? ((code) => process.exit(code));
    this.write = opts.write ?? ((text) => void process.stderr.write(text));
    this.schedule =
      opts.schedule ??
      ((fn, ms) => {
        const t = setTimeout(fn, ms);
        return () => clearTimeout(t);
      });
    for (const sig of DAEMON_SIGNALS) source.on(sig, () => this.deliver(sig));
  }

  /** The stop asked for while the program has not registered yet (start-up may then cut itself short). */
  get stopRequested(): StopSignal | undefined {
    return this.callbacks ? undefined : this.pendingStop;
  }

  /**
   * From now on signals go to `callbacks`. A stop asked for before is delivered at once (a reload asked for
   * before is then moot), otherwise a reload asked for before. Only one registration per process.
   */
  register(callbacks: SignalCallbacks): void {
    if (this.callbacks) throw new Error('signal callbacks are already registered');
    this.callbacks = callbacks;
    this.cancelGrace?.();
    this.cancelGrace = undefined;
    const stop = this.pendingStop;
    const reload = this.pendingReload;
    this.pendingStop = undefined;
    this.pendingReload = false;
    if (stop) callbacks.stop(stop);
    else if (reload) callbacks.reload();
  }

  private deliver(sig: DaemonSignal): void {
    const cb = this.callbacks;
    if (cb) {
      if (sig === 'SIGHUP') cb.reload();
      else cb.stop(sig);
      return;
    }
    if (sig === 'SIGHUP') {
      this.pendingReload = true;
      return;
    }
    if (this.pendingStop) return;
    this.pendingStop = sig;
    this.write(`${sig} received while starting: stopping once started\n`);
    this.cancelGrace = this.schedule(() => {
      this.write(`${sig}: start-up did not complete within ${this.graceMs / 1000} s; exiting\n`);
      this.exit(0);
    }, this.graceMs);
  }
}

let processRouter: SignalRouter | undefined;

/** The process' router, installed on `process` at the first call (src/cli/daemon-signals.ts makes that early). */
export function daemonSignals(): SignalRouter {
  processRouter ??= new SignalRouter(process);
  return processRouter;
}
