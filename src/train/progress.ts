/**
 * Training progress: a live bar with loss, accuracy, images/s and ETA on a
 * terminal; one plain line per epoch when the output is a file, a pipe, CI or
 * a browser; nothing at all if asked. The bar itself is terminal code, so the
 * Node entry registers it (src/node/progress-bar.ts); without it "bar" and
 * "auto" print lines.
 */
import type { EpochLog } from "./trainer.js";

/** How fit reports progress: "auto" (a live bar on a terminal, a line per epoch otherwise), "bar", "lines" or "none". */
export type ProgressMode = "auto" | "bar" | "lines" | "none";

export interface Progress {
  startEpoch(epoch: number): void;
  batch(done: number, stats: { loss: number; accuracy: number; imagesPerSecond: number }): void;
  endEpoch(log: EpochLog): void;
  done(): void;
}

export function formatEpoch(log: EpochLog, epochs: number): string {
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  const parts = [
    `epoch ${String(log.epoch).padStart(String(epochs).length)}/${epochs}`,
    `loss ${log.trainLoss.toFixed(4)}`,
    `acc ${pct(log.trainAccuracy)}`,
  ];
  if (log.valAccuracy !== undefined) parts.push(`val loss ${log.valLoss!.toFixed(4)}`, `val acc ${pct(log.valAccuracy)}`);
  parts.push(`lr ${Number(log.lr.toPrecision(3))}`, `${Math.round(log.imagesPerSecond)} img/s`, `${log.seconds.toFixed(1)}s`);
  return parts.join("  ");
}

/** A terminal's live bar for one epoch. */
export interface EpochBar {
  update(done: number, stats: { loss: number; accuracy: number; imagesPerSecond: number }): void;
  stop(): void;
}

export interface Terminal {
  /** Whether a live bar can be drawn (an interactive terminal, not CI). */
  interactive(): boolean;
  startBar(epoch: number, epochs: number, batches: number): EpochBar;
}

let terminal: Terminal | null = null;

/** Sets the terminal that draws progress bars (the Node entry sets stderr's). */
export function setProgressTerminal(t: Terminal | null): void {
  terminal = t;
}

export function createProgress(mode: ProgressMode, o: { epochs: number; batchesPerEpoch: number; log: (line: string) => void }): Progress {
  const term = terminal;
  const kind = mode === "auto" ? (term?.interactive() ? "bar" : "lines") : mode;
  if (kind === "none") return { startEpoch() {}, batch() {}, endEpoch() {}, done() {} };
  if (kind === "lines" || !term) {
    return { startEpoch() {}, batch() {}, endEpoch: (log) => o.log(formatEpoch(log, o.epochs)), done() {} };
  }
  let bar: EpochBar | null = null;
  return {
    startEpoch(epoch) {
      bar = term.startBar(epoch, o.epochs, o.batchesPerEpoch);
    },
    batch(done, s) {
      bar?.update(done, s);
    },
    endEpoch(log) {
      bar?.stop();
      bar = null;
      o.log(formatEpoch(log, o.epochs));
    },
    done() {
      bar?.stop();
    },
  };
}
