/**
 * `stride visualize <model-dir> <image> --out DIR [--scale N] [--k N]`: the
 * browser app's pictures for a person without a browser. It writes, as PNG:
 *
 *   DIR/input.png                     the image as the model sees it
 *   DIR/activations/NN-<layer>.png    every layer's output volume, depth slices in rows
 *   DIR/filters-<layer>.png           the first convolution's filters
 *
 * and prints the top-k predictions. The drawing is src/viz's, the same code
 * the page uses.
 */
import { parseArgs } from "node:util";
import { printable } from "../printable.js";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PNG } from "pngjs";
import { ModelFileError } from "../../io/model-file.js";
import { loadModelWithInfo } from "../../node/files.js";
import { ImageReadError } from "../../data/image-folder.js";
import { loadImage } from "../../node/data.js";
import { normalizeTensor } from "../../data/normalize.js";
import { Tensor } from "../../tensor.js";
import { ShapeError } from "../../shape.js";
import { softmax } from "../../train/trainer.js";
import { topK } from "../../train/metrics.js";
import { traceActivations } from "../../viz/activations.js";
import { renderVolume, renderFilters, renderInput, type RgbaImage } from "../../viz/render.js";
import { firstConvWeights } from "../../viz/filters.js";

const USAGE = "usage: stride visualize <model-dir> <image> --out DIR [--scale N] [--k N]";

class ArgError extends Error {}

export interface VisualizeIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

const defaultIo: VisualizeIo = {
  out: (t) => process.stdout.write(t + "\n"),
  err: (t) => process.stderr.write(t + "\n"),
};

function wholeNumber(flag: string, text: string | undefined, fallback: number | undefined, max: number): number | undefined {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > max) throw new ArgError(`--${flag} ${text} is not valid; give a whole number from 1 to ${max}`);
  return n;
}

/** A layer path as a file name: dots and other separators kept readable, nothing a file system refuses. */
export function fileNameOf(index: number, name: string, count: number): string {
  const width = String(count).length;
  return `${String(index + 1).padStart(Math.max(2, width), "0")}-${name.replace(/[^\w.-]+/g, "_")}.png`;
}

function writePng(path: string, img: RgbaImage): void {
  const png = new PNG({ width: img.width, height: img.height });
  png.data = Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  writeFileSync(path, PNG.sync.write(png));
}

/** Returns 0 on success, 2 for bad arguments or unreadable files. */
export async function visualizeCommand(argv: string[], io: VisualizeIo = defaultIo): Promise<number> {
  let positionals: string[];
  let values: { out?: string; scale?: string; k?: string; help?: boolean };
  try {
    ({ values, positionals } = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: { out: { type: "string" }, scale: { type: "string" }, k: { type: "string" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (e) {
    io.err(`stride visualize: ${(e as Error).message}; ${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(USAGE);
    return 0;
  }
  try {
    if (positionals.length !== 2) throw new ArgError(`give a saved model's folder and one image (got ${positionals.length} arguments); ${USAGE}`);
    if (values.out === undefined || values.out === "") throw new ArgError(`--out DIR is required: the folder the PNG files go to; ${USAGE}`);
    const scale = wholeNumber("scale", values.scale, undefined, 32);
    const k = wholeNumber("k", values.k, 5, 1000)!;
    const [dir, imagePath] = positionals;
    const out = values.out;

    const { model, info } = loadModelWithInfo(dir);
    if (!info.inputShape || info.inputShape.length !== 3 || (info.inputShape[0] !== 1 && info.inputShape[0] !== 3)) {
      throw new ArgError(`${dir}: the model does not record an image input shape [1 or 3, H, W] in model.json, so an image file cannot be fed to it`);
    }
    const [c, h, w] = info.inputShape;
    const image = loadImage(imagePath, { size: [h, w], channels: c as 1 | 3 });
    const x = new Tensor(image.shape, image.data.slice());
    if (info.normalization) normalizeTensor(x, info.normalization);
    const trace = traceActivations(model, x, info.inputShape);

    mkdirSync(join(out, "activations"), { recursive: true });
    const grid = { scale };
    writePng(join(out, "input.png"), renderInput(image.data, info.inputShape, grid));
    trace.layers.forEach((layer, i) => {
      writePng(join(out, "activations", fileNameOf(i, layer.name, trace.layers.length)), renderVolume(layer.values, layer.shape, grid));
    });
    const filters = firstConvWeights(model);
    if (filters) writePng(join(out, `filters-${filters.layer.replace(/[^\w.-]+/g, "_")}.png`), renderFilters(filters.values, filters.shape, grid));

    const probs = softmax(new Tensor([1, trace.scores.length], trace.scores));
    const top = topK(probs, 0, Math.min(k, trace.scores.length)).map((j) => `${printable(info.classes?.[j] ?? String(j))} ${(100 * probs.data[j]).toFixed(1)}%`);
    io.out(`${imagePath}: ${top.join(", ")}`);
    io.out(`wrote ${out}/input.png, ${trace.layers.length} activation volumes in ${out}/activations/` +
      (filters ? `, and the ${filters.shape[0]} filters of ${filters.layer} in ${out}/filters-${filters.layer}.png` : " (the model has no convolution, so no filters)"));
    return 0;
  } catch (e) {
    if (e instanceof ArgError || e instanceof ModelFileError || e instanceof ImageReadError || e instanceof ShapeError) {
      io.err(`stride visualize: ${e.message}`);
      return 2;
    }
    throw e;
  }
}
