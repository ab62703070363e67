/**
 * Reading a weights file from disk for loadWeights: the Node-only part, kept
 * apart so that load-weights.ts itself works on bytes and Maps anywhere.
 */
import { ModelFileError, type SafetensorsEntry } from "../io/safetensors.js";
import { loadSafetensors } from "./files.js";
import { loadTorchCheckpoint } from "./torch-files.js";

const TORCH_EXTENSIONS = [".pt", ".pth", ".bin", ".ckpt", ".tar"];

/** The tensors of a .safetensors or torch.save (.pt, .pth, .bin) file, by name. */
export function readWeightsFile(path: string): Map<string, SafetensorsEntry> {
  const lower = path.toLowerCase();
  if (lower.endsWith(".safetensors")) return loadSafetensors(path).tensors;
  if (TORCH_EXTENSIONS.some((e) => lower.endsWith(e))) return loadTorchCheckpoint(path);
  throw new ModelFileError(path, `is not a weights file loadWeights reads: use .safetensors or a torch.save file (${TORCH_EXTENSIONS.join(", ")})`);
}
