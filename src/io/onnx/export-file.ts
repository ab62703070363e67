/**
 * saveOnnx: exportOnnx to a file. The only Node-only part of the export
 * (node:fs, through writeFileAtomic), so that exportOnnx stays browser-clean.
 */
import type { Layer } from "../../layers/layer.js";
import { writeFileAtomic } from "../safetensors.js";
import { exportOnnx, type OnnxExportOptions } from "./export.js";

/**
 * Writes the model as an ONNX file at `path` (written to a temporary file
 * first and renamed, so a failed export leaves no half-written model).
 * inputShape and opts as for exportOnnx.
 */
export function saveOnnx(model: Layer, inputShape: number[], path: string, opts: OnnxExportOptions = {}): void {
  writeFileAtomic(path, exportOnnx(model, inputShape, opts));
}
