/**
 * importOnnx: an ONNX model file becomes a trainable stride Graph. The work
 * is in decode.ts (protobuf), tensors.ts (TensorProto), builder.ts and
 * ops.ts (the graph and its operators) and shapes.ts (constant shape
 * arithmetic); src/node/onnx-file.ts reads files in Node.
 */
import type { Layer } from "../../layers/layer.js";
import { ModelFileError } from "../safetensors.js";
import { decodeOnnxModel } from "./decode.js";
import { buildGraph, type ImportOptions } from "./builder.js";

export { decodeOnnxModel, decodeOnnxTensor } from "./decode.js";
export { tensorValues } from "./tensors.js";
export { SUPPORTED as SUPPORTED_ONNX_OPERATORS } from "./builder.js";
export type { ImportOptions } from "./builder.js";

/**
 * An ONNX model (opset 7 and newer) as a stride Graph, whose forward takes the
 * graph's one data input and returns its first output. `source` is a file
 * path (Node only; needed for external data) or the file's bytes. Graph
 * inputs named in `opts.initializers` are bound as constants first.
 * Throws ModelFileError for damaged files and for unsupported operators (all
 * of them listed at once).
 */
export function importOnnx(source: string | Uint8Array, opts: ImportOptions = {}): Layer {
  if (typeof source === "string") {
    throw new ModelFileError(source, "importOnnx: reading a file path needs Node (the browser entry of stride has no file system); pass the file's bytes (a Uint8Array) instead");
  }
  if (!(source instanceof Uint8Array)) {
    throw new ModelFileError("<onnx>", `importOnnx expects a file path or the file's bytes (a Uint8Array), got ${source === null ? "null" : typeof source}`);
  }
  return buildGraph(decodeOnnxModel(source, "<onnx bytes>"), "<onnx bytes>", opts);
}
