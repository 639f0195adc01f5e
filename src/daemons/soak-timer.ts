/**
 * The soak before a reconciliation pass: `schedule(ms)` runs `fire` `ms` after the latest call, so a burst of
 * changes makes one pass. A burst (a pass that connects hundreds of controllers brings two uevents each) moves a
 * deadline: the timer is re-armed only when the deadline comes sooner than the armed timer.
 */
export class SoakTimer {
  private timer: NodeJS.Timeout | undefined;
  /** When the armed timer fires, and when `fire` is due (performance.now() ms). */
  private firesAt = 0;
  private due = 0;

  constructor(private readonly fire: () => void) {}

  /** Whether a run is pending. */
  get pending(): boolean {
    return this.timer !== undefined;
  }

  schedule(ms: number): void {
    const now = performance.now();
    this.due = now + ms;
    if (this.timer && this.firesAt <= this.due) return;
    this.cancel();
    this.arm(ms, now);
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number, now: number): void {
    this.firesAt = now + ms;
    this.timer = setTimeout(() => {
      const t = performance.now();
      if (t < this.due) return this.arm(this.due - t, t);
      this.timer = undefined;
      this.fire();
    }, ms);
    this.timer.unref?.();
  }
}
