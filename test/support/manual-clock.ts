/** Test helper: a manual clock and timers for PassScheduler (time moves only when the test advances it). */
import type { SchedulerClock } from '../../src/daemons/pass-scheduler.js';

/** A manual clock: time moves only when the test advances it; due timers fire in order. */
export class ManualClock implements SchedulerClock {
  t = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }
  get armed(): number {
    return this.timers.length;
  }
  /** Advances time to `t + ms`, firing due timers (and letting the microtasks they start run). */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await flush(); // what is already started runs at the current time
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
      await flush();
    }
    this.t = end;
    await flush();
  }
}

/** Lets queued microtasks and promise chains run. */
export const flush = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};
