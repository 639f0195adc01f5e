/**
 * Test helper: wait FOR a condition. The deadline is only a bound on a hung test (generous: the suite runs on a
 * loaded 2-core machine, and STAS_LAB_SLOW scales it); no test's correctness depends on how long anything takes.
 * The one polling wait of the unit, integration and lab tests.
 */
import { scaled } from './slow.js';

/**
 * Polls `cond` every `everyMs` until it holds; throws naming `what` after `ms` (scaled), with the last error `cond`
 * threw (a condition may throw while what it reads is not there yet) and what `why()` tells of the state then.
 */
export async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  ms = 30_000,
  everyMs = 10,
  why?: () => string,
): Promise<void> {
  const limit = scaled(ms);
  const end = Date.now() + limit;
  let last: unknown;
  for (;;) {
    try {
      if (await cond()) return;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      const cause = last ? `: ${last instanceof Error ? last.message : String(last)}` : '';
      throw new Error(`timed out after ${limit} ms waiting for ${what}${cause}${why ? `\n${why()}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
