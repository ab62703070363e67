/**
 * Training to a time budget instead of an epoch count: fit measures its own
 * pace (seconds per training batch, seconds per evaluated example) and plans
 * how many whole epochs, each with its validation pass, still fit in the
 * budget with the final test evaluation reserved at the end. The plan is made
 * after the first few batches and made again after every epoch from the pace
 * measured so far, so a machine that slows down shortens the run.
 */
import { StrideError } from "../stride-error.js";

/** fit's timeBudget option. */
export interface TimeBudget {
  /** Wall-clock seconds for training, per-epoch validation and the final evaluation. */
  seconds: number;
  /** Examples evaluated after fit returns (the test set): their time is kept free at the end. Default 0. */
  finalEvalExamples?: number;
  /** The time in seconds (default performance.now() / 1000); tests pass a fake clock. */
  clock?: () => number;
}

/** What the plan is computed from: the budget, the time spent, and the pace measured so far. */
export interface PlanInput {
  budgetSeconds: number;
  elapsedSeconds: number;
  epochsDone: number;
  /** Upper bound on epochs (fit's epochs option). */
  maxEpochs: number;
  batchesPerEpoch: number;
  secondsPerBatch: number;
  /** Seconds to evaluate one example (forward pass only). */
  secondsPerEvalExample: number;
  validationExamples: number;
  finalEvalExamples: number;
}

/** The planned number of epochs, in [max(epochsDone, 1), maxEpochs]: as many whole epochs as fit in what is left. */
export function planEpochs(p: PlanInput): number {
  const perEpoch = p.batchesPerEpoch * p.secondsPerBatch + p.validationExamples * p.secondsPerEvalExample;
  const left = p.budgetSeconds - p.elapsedSeconds - p.finalEvalExamples * p.secondsPerEvalExample;
  const more = perEpoch > 0 ? Math.floor(left / perEpoch) : p.maxEpochs;
  return Math.min(p.maxEpochs, Math.max(p.epochsDone + Math.max(0, more), p.epochsDone, 1));
}

/** Batches timed in the first epoch before the first plan: a tenth of the epoch, at least 3 (fewer only if the epoch is shorter). */
export function probeBatches(batchesPerEpoch: number): number {
  return Math.min(batchesPerEpoch, Math.max(3, Math.ceil(batchesPerEpoch / 10)));
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600 };

/** Parses a duration such as "60m", "90s", "1.5h" (or a bare number of seconds) into seconds. */
export function parseDuration(text: string, what = "duration"): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([smh]?)\s*$/.exec(String(text));
  const seconds = m ? Number(m[1]) * UNITS[m[2] || "s"] : NaN;
  if (!(seconds > 0) || !Number.isFinite(seconds)) {
    throw new StrideError(`${what} ${JSON.stringify(text)} is not a duration; write a positive number with s, m or h, e.g. 90s, 60m or 1.5h`);
  }
  return seconds;
}

/** Checks fit's timeBudget option; returns it with defaults filled in. */
export function checkTimeBudget(b: TimeBudget): Required<TimeBudget> {
  if (!b || typeof b !== "object" || typeof b.seconds !== "number" || !(b.seconds > 0) || !Number.isFinite(b.seconds)) {
    throw new StrideError(`fit: timeBudget must be { seconds } with a number of seconds > 0, got ${JSON.stringify(b)}`);
  }
  const finalEvalExamples = b.finalEvalExamples ?? 0;
  if (!Number.isInteger(finalEvalExamples) || finalEvalExamples < 0) {
    throw new StrideError(`fit: timeBudget.finalEvalExamples = ${finalEvalExamples} must be a whole number >= 0 (the test set's size)`);
  }
  if (b.clock !== undefined && typeof b.clock !== "function") throw new StrideError("fit: timeBudget.clock must be a function returning seconds");
  return { seconds: b.seconds, finalEvalExamples, clock: b.clock ?? (() => performance.now() / 1000) };
}
