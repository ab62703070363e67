/**
 * Where a chart's axes put their numbers, as plain functions (the tests
 * check them without a browser): whole epochs along x, and a log scale for
 * the loss, because the first batches' loss (2.3 for ten classes) is many
 * times the rest and would squash them flat on a linear axis.
 */

/** Whole-number ticks from 0 to at least xMax in at most maxTicks equal steps, each step 1, 2 or 5 times a power of ten. */
export function wholeTicks(xMax: number, maxTicks = 10): number[] {
  const end = Math.max(1, Math.ceil(xMax));
  let step = 1;
  for (let scale = 1; ; scale *= 10) {
    const fit = [1, 2, 5].map((m) => m * scale).find((s) => end / s <= maxTicks);
    if (fit !== undefined) {
      step = fit;
      break;
    }
  }
  const ticks: number[] = [];
  for (let t = 0; t < end + step; t += step) ticks.push(t);
  return ticks;
}

/**
 * A log axis over positive values: the range (a little beyond the data) and
 * the ticks inside it, at 1-2-5 steps, or at powers of ten when those would
 * be more than maxTicks.
 */
export function logAxis(values: number[], maxTicks = 8): { lo: number; hi: number; ticks: number[] } {
  const positive = values.filter((v) => v > 0 && Number.isFinite(v));
  if (positive.length === 0) return { lo: 0.1, hi: 10, ticks: [0.1, 1, 10] };
  let lo = Math.min(...positive) / 1.15;
  let hi = Math.max(...positive) * 1.15;
  // A flat series still gets a decade's worth of axis.
  if (hi / lo < 3) {
    const mid = Math.sqrt(lo * hi);
    lo = mid / Math.sqrt(3);
    hi = mid * Math.sqrt(3);
  }
  const within = (mantissas: number[]): number[] => {
    const ticks: number[] = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const m of mantissas) {
        const t = Number((m * 10 ** e).toPrecision(6));
        if (t >= lo && t <= hi) ticks.push(t);
      }
    }
    return ticks;
  };
  const coarse = within([1, 2, 5]);
  if (coarse.length > maxTicks) return { lo, hi, ticks: within([1]) };
  return { lo, hi, ticks: coarse.length >= 3 ? coarse : within([1, 2, 3, 4, 5, 6, 7, 8, 9]) };
}

/** A tick label: no more digits than the number needs (0.05, 0.2, 1, 2). */
export function tickLabel(v: number): string {
  return String(Number(v.toPrecision(3)));
}
