/**
 * The js backend: the readable reference every other backend is tested
 * against. Plain loops, no tricks beyond contiguous inner loops.
 */
import type { Backend } from "../backend.js";
import { matmul } from "./matmul.js";
import { conv2d, conv2dBackwardData, conv2dBackwardFilter, im2col, col2im } from "./conv.js";
import { maxPool2d, maxPool2dBackward, avgPool2d, avgPool2dBackward, lpPool2d, lpPool2dBackward } from "./pool.js";
import { locallyConnected2d, locallyConnected2dBackward } from "./local.js";
import { batchNormTrain, batchNormApply, batchNormBackward } from "./norm.js";
import { activation, activationBackward } from "./activation.js";

export class JsBackend implements Backend {
  readonly name: string = "js";
  matmul = matmul;
  conv2d = conv2d;
  conv2dBackwardData = conv2dBackwardData;
  conv2dBackwardFilter = conv2dBackwardFilter;
  im2col = im2col;
  col2im = col2im;
  maxPool2d = maxPool2d;
  maxPool2dBackward = maxPool2dBackward;
  avgPool2d = avgPool2d;
  avgPool2dBackward = avgPool2dBackward;
  lpPool2d = lpPool2d;
  lpPool2dBackward = lpPool2dBackward;
  locallyConnected2d = locallyConnected2d;
  locallyConnected2dBackward = locallyConnected2dBackward;
  batchNormTrain = batchNormTrain;
  batchNormApply = batchNormApply;
  batchNormBackward = batchNormBackward;
  activation = activation;
  activationBackward = activationBackward;

  relu(x: Float32Array, y: Float32Array): void {
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      y[i] = v > 0 || Number.isNaN(v) ? v : 0;
    }
  }

  add(a: Float32Array, b: Float32Array, y: Float32Array, relu = false): void {
    for (let i = 0; i < y.length; i++) {
      const v = a[i] + b[i];
      y[i] = !relu || v > 0 || Number.isNaN(v) ? v : 0;
    }
  }

  reluBackward(y: Float32Array, dy: Float32Array, dx: Float32Array): void {
    for (let i = 0; i < y.length; i++) dx[i] = y[i] > 0 ? dy[i] : 0;
  }
}
