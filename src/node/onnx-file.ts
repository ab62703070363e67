/**
 * The Node-only part of the ONNX import: reading the model file and its
 * external-data files. Kept apart so that the decoder and the importer stay
 * browser-clean (they take bytes).
 */
import { closeSync, openSync, readSync, realpathSync, statSync } from "node:fs";
import { dirname, resolve, sep } from "node:path";
import { ModelFileError } from "../io/safetensors.js";
import type { ExternalReader } from "../io/onnx/tensors.js";
import { readRegularFile } from "./files.js";

/** The model's bytes, and a reader for external data relative to its folder. */
export function readOnnxFile(path: string): { bytes: Uint8Array; readExternal: ExternalReader } {
  let bytes: Uint8Array;
  try {
    bytes = readRegularFile(path);
  } catch (e) {
    throw new ModelFileError(path, `cannot read the file: ${(e as Error).message}`);
  }
  const folder = realpathSync(dirname(resolve(path)));
  const readExternal: ExternalReader = (location, offset, length, tensor) => {
    const fail = (problem: string): never => {
      throw new ModelFileError(path, `tensor "${tensor}": external data "${location}": ${problem}`);
    };
    let file: string;
    try {
      file = realpathSync(resolve(folder, location));
    } catch (e) {
      return fail(`cannot open it (${(e as Error).message}); it must sit in the model's folder ${folder}`);
    }
    // Symbolic links may not lead out of the folder either.
    if (!file.startsWith(folder + sep)) fail(`it resolves to ${file}, outside the model's folder ${folder}; refusing to read it`);
    const size = statSync(file).size;
    const n = length ?? size - offset;
    if (offset > size || n < 0 || offset + n > size) fail(`offset ${offset} and length ${n} reach past its end (${size} bytes)`);
    const out = new Uint8Array(n);
    const fd = openSync(file, "r");
    try {
      let got = 0;
      while (got < n) {
        const k = readSync(fd, out, got, n - got, offset + got);
        if (k === 0) fail(`ended after ${got} of ${n} bytes`);
        got += k;
      }
    } finally {
      closeSync(fd);
    }
    return out;
  };
  return { bytes, readExternal };
}
