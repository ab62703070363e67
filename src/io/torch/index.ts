/**
 * PyTorch's torch.save files, read without executing anything and written so
 * that torch.load(path, weights_only=True) reads them.
 */
export { readTorchCheckpoint } from "./read.js";
export { encodeTorchCheckpoint } from "./write.js";
