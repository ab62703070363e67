/** Paths inside a saved model folder, for tests that damage or inspect its files. */
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The weights file a folder's model.json names (each save gives its version a fresh one). */
export function weightsFileOf(dir: string): string {
  const meta = JSON.parse(readFileSync(join(dir, "model.json"), "utf8")) as { weights: { file: string } };
  return join(dir, meta.weights.file);
}
