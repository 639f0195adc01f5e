/**
 * stacd's copy of stafd's log pages, kept current by stafd's signals: a pass reads it instead of asking stafd
 * each time. Every change stafd announces (log_pages_changed, dc_removed, stafd (re)appearing or leaving the
 * bus) and every reload invalidates it and starts a new query at once; the pass that the change starts (at once
 * when none runs) awaits that query, so it connects what the change brought. A query that fails, and a copy older than `maxAgeMs`, are never served.
 */
import { monotonicMs } from '../../adapters/monotonic-clock.js';
import type { StafdView } from '../../core/stacd/plan.js';

export class StafdViewCache {
  private current: Promise<StafdView> | undefined;
  private askedAt = 0;
  /** Queries made (for tests and benchmarks). */
  queries = 0;

  constructor(
    private readonly ask: () => Promise<StafdView>,
    private readonly opts: { maxAgeMs?: number; now?: () => number } = {},
  ) {}

  /** The view: the cached answer if nothing changed since it was asked for, otherwise a new query. */
  get(): Promise<StafdView> {
    const now = this.opts.now?.() ?? monotonicMs();
    if (this.current && now - this.askedAt <= (this.opts.maxAgeMs ?? 60_000)) return this.current;
    this.askedAt = now;
    this.queries++;
    const asking = this.ask().catch((): StafdView => ({ answered: false }));
    this.current = asking;
    // Only an answer is kept: after a failure the next pass asks again.
    void asking.then((v) => {
      if (!v.answered && this.current === asking) this.current = undefined;
    });
    return asking;
  }

  /** Something changed: forget the copy and ask again now (a query already under way is not reused). */
  refresh(): void {
    this.current = undefined;
    void this.get();
  }
}
