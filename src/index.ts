/** stride: convolutional neural networks in TypeScript, for Node and the browser. */
export { Tensor, withFloat64, shapeSize, formatShape } from "./tensor.js";
export { Rng, manualSeed, globalRng } from "./random.js";
export { ShapeError } from "./shape.js";
export type { Conv2dGeometry, Pool2dGeometry, Padding2d } from "./shape.js";
export type { Backend, MatmulOptions } from "./kernels/backend.js";
export { getBackend, setBackend, registerBackend, listBackends } from "./kernels/index.js";

export { Layer, MergeLayer, Module } from "./layers/layer.js";
export type { Param, Buffer, ForwardContext, ShapeInfo, ShapeOptions } from "./layers/layer.js";
export { Conv2d, Conv1d, LocallyConnected2d } from "./layers/conv.js";
export { MaxPool2d, AvgPool2d, LPPool2d, GlobalAvgPool2d, GlobalMaxPool1d } from "./layers/pool.js";
export { BatchNorm1d, BatchNorm2d, LocalResponseNorm } from "./layers/norm.js";
export { Linear, Embedding } from "./layers/dense.js";
export { ReLU, LeakyReLU, ELU, Tanh, Sigmoid, Softmax } from "./layers/activation.js";
export { Dropout } from "./layers/dropout.js";
export { Flatten } from "./layers/reshape.js";
export { Concat, Add } from "./layers/merge.js";
export { softmaxCrossEntropy, multiClassHinge } from "./layers/loss.js";
export type { LossResult } from "./layers/loss.js";
export { initWeight, initBias } from "./layers/init.js";
export type { InitName } from "./layers/init.js";

export { Sequential } from "./models/sequential.js";
export { Graph } from "./models/graph.js";
export type { GraphNode, GraphOptions } from "./models/graph.js";
export { toSpec, fromSpec, registerLayer } from "./models/registry.js";
export type { LayerSpec } from "./models/registry.js";
