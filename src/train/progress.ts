/**
 * Training progress: a live bar (cli-progress) with loss, accuracy, images/s
 * and ETA on a terminal; one plain line per epoch when the output is a file,
 * a pipe or CI; nothing at all if asked.
 */
import cliProgress from "cli-progress";
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

export function createProgress(mode: ProgressMode, o: { epochs: number; batchesPerEpoch: number; log: (line: string) => void }): Progress {
  const isTTY = typeof process !== "undefined" && Boolean(process.stderr?.isTTY) && !process.env.CI;
  const kind = mode === "auto" ? (isTTY ? "bar" : "lines") : mode;
  if (kind === "none") return { startEpoch() {}, batch() {}, endEpoch() {}, done() {} };
  if (kind === "lines") {
    return { startEpoch() {}, batch() {}, endEpoch: (log) => o.log(formatEpoch(log, o.epochs)), done() {} };
  }
  let bar: cliProgress.SingleBar | null = null;
  return {
    startEpoch(epoch) {
      bar = new cliProgress.SingleBar({
        format: `epoch ${epoch}/${o.epochs} {bar} {percentage}% | loss {loss} | acc {acc} | {ips} img/s | ETA {eta_formatted}`,
        hideCursor: true, clearOnComplete: true, etaBuffer: 50, stream: process.stderr,
      }, cliProgress.Presets.shades_classic);
      bar.start(o.batchesPerEpoch, 0, { loss: "-", acc: "-", ips: "-" });
    },
    batch(done, s) {
      bar?.update(done, { loss: s.loss.toFixed(4), acc: `${(100 * s.accuracy).toFixed(1)}%`, ips: Math.round(s.imagesPerSecond) });
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
