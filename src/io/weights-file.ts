/**
 * Reading a weights file from disk for loadWeights: the Node-only part, kept
 * apart so that load-weights.ts itself works on bytes and Maps anywhere.
 */
import { ModelFileError, loadSafetensors, type SafetensorsEntry } from "./safetensors.js";

const TORCH_EXTENSIONS = [".pt", ".pth", ".bin"];

/** The tensors of a .safetensors or torch.save (.pt, .pth, .bin) file, by name. */
export function readWeightsFile(path: string): Map<string, SafetensorsEntry> {
  const lower = path.toLowerCase();
  if (lower.endsWith(".safetensors")) return loadSafetensors(path).tensors;
  if (TORCH_EXTENSIONS.some((e) => lower.endsWith(e))) {
    // MERGE: the torch.save reader (src/io/torch/checkpoint.ts, branch wt-torch) goes here:
    //   return readTorchCheckpoint(readBytes(path), path);
    // with readBytes = readFileSync wrapped in a ModelFileError, as loadSafetensors does.
    throw new ModelFileError(
      path,
      "PyTorch checkpoints (.pt, .pth, .bin) are not supported yet; save the state dict as safetensors " +
        "(safetensors.torch.save_file(model.state_dict(), 'weights.safetensors')) and load that",
    );
  }
  throw new ModelFileError(path, "is not a weights file loadWeights reads: use .safetensors (or .pt, .pth, .bin once supported)");
}
