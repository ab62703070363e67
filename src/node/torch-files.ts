/**
 * The two path-based functions: the only torch checkpoint code that touches
 * node:fs, so that the byte-level reader and writer bundle for the browser.
 */
import { ModelFileError, type SafetensorsEntry } from "../io/safetensors.js";
import { readRegularFile, writeFileAtomic } from "./files.js";
import { readTorchCheckpoint } from "../io/torch/read.js";
import { encodeTorchCheckpoint } from "../io/torch/write.js";

/** Reads a torch.save file's state dict (see readTorchCheckpoint). */
export function loadTorchCheckpoint(path: string): Map<string, SafetensorsEntry> {
  let bytes: Uint8Array;
  try {
    bytes = readRegularFile(path);
  } catch (e) {
    throw new ModelFileError(path, `cannot be read (${(e as Error).message})`);
  }
  return readTorchCheckpoint(bytes, path);
}

/** Writes tensors as a torch.save zip file, atomically (a temporary file renamed into place). */
export function saveTorchCheckpoint(path: string, entries: Map<string, SafetensorsEntry>): void {
  writeFileAtomic(path, encodeTorchCheckpoint(entries));
}
