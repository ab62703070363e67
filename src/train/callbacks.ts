/**
 * Callbacks for fit(): early stopping, keeping the best model, and logging
 * every epoch to a file. Each is a plain object with onEpochEnd.
 */
import type { Callback, EpochLog, History } from "./trainer.js";

/** The epoch-log value a callback watches. */
export type Monitor = "valAccuracy" | "valLoss" | "trainAccuracy" | "trainLoss";

/** Higher is better for accuracies, lower for losses. */
export function better(monitor: Monitor, value: number, best: number, minDelta: number): boolean {
  return monitor.endsWith("Accuracy") ? value > best + minDelta : value < best - minDelta;
}

export function read(monitor: Monitor, log: EpochLog): number {
  const v = log[monitor];
  if (v === undefined) {
    throw new Error(`callback: the epoch log has no ${monitor}; pass validation data to fit() or monitor a training metric`);
  }
  return v;
}

const MONITORS: Monitor[] = ["valAccuracy", "valLoss", "trainAccuracy", "trainLoss"];

export function checkMonitor(where: string, monitor: unknown): Monitor {
  if (!MONITORS.includes(monitor as Monitor)) {
    throw new Error(`${where}: monitor = ${JSON.stringify(monitor)} is not valid; use ${MONITORS.join(", ")}`);
  }
  return monitor as Monitor;
}

/** Stops training when the monitored metric has not improved for `patience` epochs. */
export function earlyStopping(opts: { monitor?: Monitor; patience?: number; minDelta?: number } = {}): Callback & { bestEpoch: number } {
  const monitor = checkMonitor("earlyStopping", opts.monitor ?? "valAccuracy");
  const patience = opts.patience ?? 5;
  const minDelta = opts.minDelta ?? 0;
  if (!Number.isInteger(patience) || patience < 0) throw new Error(`earlyStopping: patience = ${patience} must be a whole number >= 0`);
  let best = monitor.endsWith("Accuracy") ? -Infinity : Infinity;
  let waited = 0;
  const cb = {
    bestEpoch: 0,
    onEpochEnd(log: EpochLog, history: History): void | "stop" {
      const v = read(monitor, log);
      if (better(monitor, v, best, minDelta)) {
        best = v;
        waited = 0;
        cb.bestEpoch = log.epoch;
        return;
      }
      if (++waited > patience) {
        history.stopReason = `early stopping: ${monitor} has not improved for ${patience} epochs (best ${best.toFixed(4)} at epoch ${cb.bestEpoch})`;
        return "stop";
      }
    },
  };
  return cb;
}
