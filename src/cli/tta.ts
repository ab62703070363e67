/**
 * `--tta`: the test-time augmentation of `stride train`'s final test and of
 * `stride eval`. "flip" averages each image's logits with its mirror's;
 * "ten-crop[:P]" averages the softmax of ten views the size of the input:
 * the image padded by P pixels (default 1) cropped at its four corners and
 * centre, and their mirrors, which for a model trained on crops of the padded
 * image are the image, its four diagonal shifts by P and their mirrors.
 */
import { CliError } from "./errors.js";
import type { EvaluateOptions } from "../train/trainer.js";

export type TestTimeAugmentation = { kind: "flip" } | { kind: "ten-crop"; padding: number };

/** Padding beyond this is not a shift of the image any more (and costs a lot of views' pixels). */
const MAX_TEN_CROP_PADDING = 64;

/** Parses --tta: undefined when absent. */
export function parseTestTimeAugmentation(value: string | undefined): TestTimeAugmentation | undefined {
  if (value === undefined) return undefined;
  if (value === "flip") return { kind: "flip" };
  const m = /^ten-crop(?::(\d{1,3}))?$/.exec(value);
  if (m) {
    const padding = m[1] === undefined ? 1 : Number(m[1]);
    if (padding > MAX_TEN_CROP_PADDING) throw new CliError(`--tta ${value}: a padding of ${padding} pixels is more than ${MAX_TEN_CROP_PADDING}; use a few pixels, as the training crops' padding`);
    return { kind: "ten-crop", padding };
  }
  throw new CliError(
    `--tta ${value} is not valid; use --tta flip (average each image's logits with its mirror's) or --tta ten-crop[:P] ` +
      "(average ten views: the image padded by P pixels, default 1, cropped at its corners and centre, and their mirrors)",
  );
}

/** The evaluate options for inputs of [C, H, W]; refuses ten-crop for inputs that are not images. */
export function ttaEvaluateOptions(tta: TestTimeAugmentation | undefined, inputShape: readonly number[]): Pick<EvaluateOptions, "flip" | "tenCrop" | "tenCropPadding"> {
  if (tta === undefined) return {};
  if (tta.kind === "flip") return { flip: true };
  if (inputShape.length !== 3) throw new CliError(`--tta ten-crop takes image inputs [C, H, W]; this model's inputs are ${JSON.stringify(inputShape)}`);
  return { tenCrop: [inputShape[1], inputShape[2]], tenCropPadding: tta.padding };
}

/** How many forward passes of each test image it takes. */
export function ttaViews(tta: TestTimeAugmentation | undefined): number {
  return tta === undefined ? 1 : tta.kind === "flip" ? 2 : 10;
}

/** What the recipe (and `stride export --format pytorch`'s train.py) records. */
export function ttaRecipe(tta: TestTimeAugmentation | undefined): string | undefined {
  return tta === undefined ? undefined : tta.kind === "flip" ? "flip" : `ten-crop:${tta.padding}`;
}

/** For the run's header line: "test-time flips", "test-time ten crops of the image padded by 1". */
export function describeTta(tta: TestTimeAugmentation): string {
  return tta.kind === "flip" ? "test-time flips" : `test-time ten crops of the image padded by ${tta.padding}`;
}

/** For the test accuracy line: " with flips", " with ten crops (padding 1)". */
export function ttaSuffix(tta: TestTimeAugmentation | undefined): string {
  return tta === undefined ? "" : tta.kind === "flip" ? " with flips" : ` with ten crops (padding ${tta.padding})`;
}
