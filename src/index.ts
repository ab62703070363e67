/**
 * stride for Node: the core (browser.ts, which runs and bundles anywhere)
 * plus everything that reads or writes files or draws on the terminal.
 * package.json's "node" condition maps "stride" here.
 */
export * from "./browser.js";
// Registers fit()'s file checkpoints and the stderr progress bar.
export { saveBest, jsonLinesLogger, loadCheckpoint } from "./node/train.js";
export { saveSafetensors, loadSafetensors, saveModel, loadModel, loadModelWithInfo } from "./node/files.js";
export { loadTorchCheckpoint, saveTorchCheckpoint } from "./node/torch-files.js";
// loadWeights and importOnnx also take file paths here (they shadow the core's byte-only forms).
export { loadWeights, importOnnx, exportPytorch, saveTorchStateDict, saveOnnx } from "./node/io.js";
// Dataset files and the built-in digits (the `mnist` package, installed separately).
export {
  readIdxFile, loadIdxDataset, loadFashionMnist, loadMnistIdx, FASHION_MNIST_DIR,
  readCifarClassNames, loadCifar10Files, loadCifar10, decodeImage, loadImage, loadImageFolder,
} from "./node/data.js";
export type { IdxDatasetOptions, IdxSplitOptions, CifarOptions, ImageFolderOptions, ImageFolderDataset } from "./node/data.js";
export { loadMnistDigits, mnistDigitsSplit } from "./node/mnist.js";
// Sentences: the Austen sentences that ship with stride, and word-vector files.
export { loadAustenSentences, loadWordVectors, AUSTEN_SENTENCES_FILE } from "./node/text.js";
export type { MnistSplitOptions } from "./node/mnist.js";
