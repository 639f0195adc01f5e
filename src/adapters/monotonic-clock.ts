/**
 * The process' monotonic clock in milliseconds, for intervals only (its origin is arbitrary). process.hrtime rather
 * than performance.now: the `performance` global loads node:perf_hooks and its seven internal modules on first
 * use, ~0.3 MiB of an idle daemon's RSS (issue 14 §3).
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
