/**
 * Turns stafd's mDNS side on and off as the configuration's zeroconf says (at start-up and on each SIGHUP), loading
 * its code (src/daemons/stafd/zeroconf.ts: the Avahi browser, mDNS, the TCP probe) on first use: an stafd with
 * zeroconf off never loads it (issue 14 §3, idle RSS).
 *
 * The load takes a moment: a switch that comes meanwhile only changes what is wanted, and the outcome follows the
 * last word: on → off → on while loading starts once; on → off leaves it off; stop() while loading starts nothing.
 * At most one instance runs at any time.
 */
import { errorText, type LogFn } from '../../core/log.js';
import type { Zeroconf } from './zeroconf.js';

export interface ZeroconfSwitchOptions {
  /** Loads the mDNS side and returns its start (called once; a failed load is tried again on the next switch on). */
  load: () => Promise<() => Zeroconf>;
  /** After a running instance stopped because zeroconf was turned off (not on stop()): forget what it found. */
  off: () => void;
  log: LogFn;
}

export interface ZeroconfSwitch {
  /** Zeroconf on or off. The promise settles once this switch took effect (tests; the daemon need not wait). */
  apply(on: boolean): Promise<void>;
  /** For good: stops a running instance; a load under way starts nothing; later applies do nothing. */
  stop(): void;
  /** Whether an instance is running. */
  readonly running: boolean;
}

export function zeroconfSwitch(opts: ZeroconfSwitchOptions): ZeroconfSwitch {
  let wanted = false;
  let stopped = false;
  let instance: Zeroconf | undefined;
  let start: (() => Zeroconf) | undefined;
  /** The load under way, if any. */
  let loading: Promise<void> | undefined;

  /** Brings the running state in line with `wanted` once the code is here. */
  const settle = () => {
    if (stopped) return;
    if (wanted && !instance && start) instance = start();
    else if (!wanted && instance) {
      instance.stop();
      instance = undefined;
      opts.off();
    }
  };

  const load = (): Promise<void> =>
    (loading ??= opts
      .load()
      .then(
        (s) => {
          start = s;
        },
        (e: unknown) => {
          if (!stopped) opts.log('error', `zeroconf: cannot load the mDNS browser: ${errorText(e)}`);
        },
      )
      .finally(() => {
        loading = undefined;
      }));

  return {
    apply(on) {
      if (stopped) return Promise.resolve();
      wanted = on;
      if (on && !start) return load().then(settle);
      settle();
      return loading ?? Promise.resolve();
    },
    stop() {
      stopped = true;
      instance?.stop();
      instance = undefined;
    },
    get running() {
      return instance !== undefined;
    },
  };
}
