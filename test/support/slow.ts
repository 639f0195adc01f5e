/**
 * One factor that scales every wait of the lab suite and of the host-side test helpers: STAS_LAB_SLOW=2 doubles
 * every deadline (readiness, conditions, D-Bus client calls) for a machine that is slower or busier than usual
 * (lab/vm-run.sh passes it into the guest). Deadlines only bound a hung test: no test's correctness depends on
 * them, so a larger factor makes a failing run slower to report, never a passing one wrong.
 */
function factor(text: string | undefined): number {
  const f = Number(text);
  return Number.isFinite(f) && f >= 1 ? f : 1;
}

/** The factor (1 unless STAS_LAB_SLOW is a number >= 1). */
export const SLOW = factor(process.env['STAS_LAB_SLOW']);

/** `ms` scaled by {@link SLOW}. */
export function scaled(ms: number): number {
  return Math.round(ms * SLOW);
}
