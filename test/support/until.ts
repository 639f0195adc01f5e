/**
 * Test helper: wait FOR a condition. The deadline is only a bound on a hung test (generous: the suite runs on a
 * loaded 2-core machine, and STAS_LAB_SLOW scales it); no test's correctness depends on how long anything takes.
 */
import { scaled } from './slow.js';

/** Polls `cond` every `everyMs` until it holds; throws naming `what` after `ms` (scaled). */
export async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  ms = 30_000,
  everyMs = 10,
): Promise<void> {
  const limit = scaled(ms);
  const end = Date.now() + limit;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${limit} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
