/**
 * stride's core: convolutional neural networks in TypeScript that run (and
 * bundle) anywhere. Nothing here touches files, the terminal or `process`;
 * package.json maps "stride" here for browsers and bundlers, and to index.ts
 * (this plus the file functions) for Node.
 */
export { Tensor, TensorError, withFloat64, withMeta, MetaTensorError, shapeSize, formatShape } from "./tensor.js";
export { Rng, manualSeed, globalRng } from "./random.js";
export { StrideError } from "./stride-error.js";
export { ShapeError } from "./shape.js";
export type { Conv2dGeometry, Pool2dGeometry, Padding2d } from "./shape.js";
export type { Backend, MatmulOptions, ActivationKind } from "./kernels/backend.js";
export { getBackend, setBackend, registerBackend, listBackends, describeBackend } from "./kernels/index.js";

export { Layer, MergeLayer, Module } from "./layers/layer.js";
export type { Param, Buffer, ForwardContext, ShapeInfo, ShapeOptions } from "./layers/layer.js";
export { Conv2d, Conv1d, LocallyConnected2d } from "./layers/conv.js";
export { MaxPool2d, AvgPool2d, LPPool2d, GlobalAvgPool2d, GlobalMaxPool1d, AdaptiveAvgPool2d } from "./layers/pool.js";
export { BatchNorm1d, BatchNorm2d, LocalResponseNorm } from "./layers/norm.js";
export { Linear, Embedding } from "./layers/dense.js";
export { ReLU, LeakyReLU, ELU, Tanh, Sigmoid, Softmax } from "./layers/activation.js";
export { Dropout } from "./layers/dropout.js";
export { Flatten } from "./layers/reshape.js";
export { Concat, Add } from "./layers/merge.js";
export { Reshape, Pad, GlobalMaxPool2d, BiasAdd, AxisSoftmax, ConstantScale, Transpose, IndexSelect, Identity } from "./layers/tensor-ops.js";
export { softmaxCrossEntropy, multiClassHinge } from "./layers/loss.js";
export type { LossResult, CrossEntropyOptions } from "./layers/loss.js";
export { initWeight, initBias, theanoFanOut } from "./layers/init.js";
export type { InitName } from "./layers/init.js";

export { Sequential } from "./models/sequential.js";
export { Graph } from "./models/graph.js";
export type { GraphNode, GraphOptions } from "./models/graph.js";
export { toSpec, fromSpec, registerLayer } from "./models/registry.js";
export type { LayerSpec } from "./models/registry.js";
export { namedParams, namedBuffers, namedModules, findLayer, freeze, unfreeze } from "./models/named.js";
export type { FreezeOptions } from "./models/named.js";

// The zoo and the arithmetic of architectures.
/** The model zoo: LeNet-5, AlexNet, ZFNet, VGG, GoogLeNet, ResNets, the all-convolutional net, AlphaGo's policy net, a text CNN and the torchvision variants. */
export * as models from "./models/zoo/index.js";
export { MaskedConv2d, PositionBias, ShortcutPad } from "./models/zoo/layers.js";
export { summary } from "./models/summary.js";
export type { ModelSummary, SummaryRow, SummaryOptions } from "./models/summary.js";
export { receptiveField } from "./models/receptive-field.js";
export type { ReceptiveField, ReceptiveFieldRow } from "./models/receptive-field.js";
export { estimateMemory, fitBatchSize } from "./models/memory.js";
export type { MemoryEstimate, MemoryOptions } from "./models/memory.js";
export { toFullyConvolutional } from "./models/fully-conv.js";
// The networks `stride train --model NAME` builds, by the same names (the browser app uses them too).
export { buildModel, MODEL_NAMES } from "./cli/models.js";
export type { BuildOptions } from "./cli/models.js";
// Pictures of a model: activations, filters and inputs as RGBA images (stride visualize, the app).
export { traceActivations } from "./viz/activations.js";
export type { ActivationTrace, LayerActivation } from "./viz/activations.js";
export { renderVolume, renderFilters, renderInput } from "./viz/render.js";
export type { RgbaImage, GridOptions } from "./viz/render.js";
export { firstConvWeights, convWeights } from "./viz/filters.js";
export type { FilterWeights } from "./viz/filters.js";
export { volumeOf } from "./models/summary.js";
// The notes' convolution demo (5x5x3 input, two 3x3x3 filters, stride 2) and its im2col form, computed by Conv2d.
export { convolutionDemo, demoCell, demoCellCount, demoIm2col } from "./viz/conv-demo.js";
export type { ConvolutionDemo, DemoCell, Im2col } from "./viz/conv-demo.js";

// Training.
export { Optimizer, SGD, Adagrad, RMSprop, Adam, AdamW, decayGroups } from "./train/optimizers.js";
export type { ParamGroup, BaseOptions, SGDOptions, AdagradOptions, RMSpropOptions, AdamOptions, OptimizerState, OptimizerMeta } from "./train/optimizers.js";
export { Schedule, StepLR, MultiStepLR, CosineAnnealingLR, ReduceLROnPlateau, LinearWarmup, OneCycleLR, hasHorizon } from "./train/schedules.js";
export type { ScheduleState, ReduceLROnPlateauOptions, OneCycleLROptions, HorizonSchedule } from "./train/schedules.js";
export { planEpochs, parseDuration } from "./train/time-budget.js";
export type { TimeBudget, PlanInput } from "./train/time-budget.js";
export { clipGradNorm, clipGradValue } from "./train/clip.js";
export { fit, evaluate, predict, softmax, checkModelFits, TrainingDivergedError } from "./train/trainer.js";
export type { FitOptions, EpochLog, History, Callback, EvaluateOptions, EvaluateResult, Prediction, LossName } from "./train/trainer.js";
export { ClassificationMeter, topK, formatConfusion } from "./train/metrics.js";
export { earlyStopping } from "./train/callbacks.js";
export { replaceHead, replaceLayer, fineTune, extractFeatures, featureDataset, linearClassifier, linearProbe } from "./train/transfer.js";
export type { ReplaceHeadOptions, FineTuneOptions, FineTuneResult, FeatureDatasetOptions, LinearProbeOptions, LinearProbeResult } from "./train/transfer.js";
export { ensembleProbabilities, predictEnsemble, evaluateEnsemble } from "./train/ensemble.js";
export type { EnsembleMember, EnsembleEvaluation } from "./train/ensemble.js";
export type { Monitor } from "./train/callbacks.js";

// Data and files.
export * from "./data/index.js";
export { ModelFileError, encodeSafetensors, decodeSafetensors, toFloat32Tensor, DEFAULT_MAX_TENSORS } from "./io/safetensors.js";
export type { SafetensorsLimits } from "./io/safetensors.js";
// PyTorch's torch.save files (the zip format of torch >= 1.6 and the legacy format), read
// without executing anything: only the pickle globals a tensor dict needs are accepted
// (as torch.load(weights_only=True) does); any other global throws ModelFileError naming it.
// A bare state dict, or one nested under "state_dict" / "model" / "model_state_dict".
export { readTorchCheckpoint, encodeTorchCheckpoint } from "./io/torch/index.js";
export type { SafetensorsEntry, TypedTensor, Dtype } from "./io/safetensors.js";
export { encodeModel, decodeModel, DEFAULT_MAX_INPUT_ELEMENTS } from "./io/model-file.js";
export type { Model, ModelInfo, EncodedModel, DecodeModelOptions } from "./io/model-file.js";
export { loadWeights } from "./io/load-weights.js";
// A pretrained model's file (.pth/.pt/.bin or .safetensors state dict) as bytes -> model + info; browser-clean.
export { importModelBytes } from "./io/import-model.js";
export type { ImportModelOptions, ImportedModel, ImportedFormat } from "./io/import-model.js";
export type { LoadWeightsOptions, LoadWeightsResult, WeightNames } from "./io/load-weights.js";
export { torchvisionNames, googlenetTransformInput } from "./models/zoo/torchvision-names.js";
export type { TorchvisionNames, TorchvisionFamily } from "./models/zoo/torchvision-names.js";
export { importOnnx } from "./io/onnx/index.js";
export type { ImportOptions as OnnxImportOptions } from "./io/onnx/index.js";
// A stride model as an ONNX model (saveOnnx, in the Node entry, writes the file).
export { exportOnnx } from "./io/onnx/export.js";
export type { OnnxExportOptions } from "./io/onnx/export.js";
export { setThreads, getThreads, prepareThreads } from "./kernels/wasm/index.js";
// The GEMM's cache blocking for this machine: what is in use, a short self-tuning run, and overrides.
export { getTuning, setTuning, saveMachineTuning, tuneBlocking, fmaCeiling, blockingFromCaches, TuningError, BUILT_IN_BLOCKING } from "./kernels/wasm/index.js";
export type { GemmBlocking, KernelTuning, MachineInfo, TuneOptions, TuneResult, TunedCandidate } from "./kernels/wasm/index.js";
// Stride models for PyTorch: state dicts under PyTorch's names, model.py / train.py generation.
export { stateDictNames, fromStateDictNames, stateDictToStride, torchStateDict, generateModelPy, PytorchExportError, pytorchFiles, trainingRecipe, randomErasingRecipe } from "./io/pytorch/index.js";
export type { TrainingRecipe, AugmentationRecipe, RandomErasingRecipe } from "./io/pytorch/index.js";

// Types the exported API refers to (layer and function options), exported so they can be named
// and so the API reference documents them (scripts/api-docs).
export type { Conv2dOptions, Conv1dOptions, LocallyConnected2dOptions } from "./layers/conv.js";
export type { MaxPool2dOptions, AvgPool2dOptions, LPPool2dOptions, PoolPadding } from "./layers/pool.js";
export type { BatchNormOptions, LocalResponseNormOptions } from "./layers/norm.js";
export type { LinearOptions, EmbeddingOptions } from "./layers/dense.js";
export type { MaskedConv2dOptions } from "./models/zoo/layers.js";
export type { Pair, IntOrPair } from "./shape.js";
export type { ClipOptions } from "./train/clip.js";
export type { FullyConvOptions } from "./models/fully-conv.js";
export type { TrainingMemory, InferenceMemory, OptimizerName } from "./models/memory.js";
export type { ProgressMode } from "./train/progress.js";
export type { ScheduledOptimizer } from "./train/schedules.js";
export type { SafetensorsContents } from "./io/safetensors.js";
export type { ExternalReader } from "./io/onnx/tensors.js";
