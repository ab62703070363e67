export { Tensor, withFloat64 } from "./tensor.js";
export { Rng, manualSeed, globalRng } from "./random.js";
export { ShapeError } from "./shape.js";
export type { Backend } from "./kernels/backend.js";
export { getBackend, setBackend, registerBackend, listBackends } from "./kernels/index.js";
export { Layer, MergeLayer, Module } from "./layers/layer.js";
export type { Param, Buffer, ForwardContext } from "./layers/layer.js";
export { Conv2d, Conv1d, LocallyConnected2d } from "./layers/conv.js";
