/**
 * LocallyConnected2d and LPPool2d compute through the Backend interface, like
 * every other layer: a backend registered in place of the default sees their
 * calls, and the wasm backend gives the js backend's numbers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { JsBackend } from "../src/kernels/js/index.js";
import { getBackend, setBackend, registerBackend } from "../src/kernels/index.js";
import { LocallyConnected2d } from "../src/layers/conv.js";
import { LPPool2d } from "../src/layers/pool.js";
import { Tensor } from "../src/tensor.js";
import { Rng } from "../src/random.js";
import { wasmSupported } from "../src/kernels/wasm/index.js";
import type { Layer } from "../src/layers/layer.js";

/** The js backend, counting the calls of the four kernels these layers use. */
class CountingBackend extends JsBackend {
  override readonly name = "counting";
  calls: Record<string, number> = {};
  private count(name: string): void {
    this.calls[name] = (this.calls[name] ?? 0) + 1;
  }
  override lpPool2d: JsBackend["lpPool2d"] = (...a) => (this.count("lpPool2d"), new JsBackend().lpPool2d(...a));
  override lpPool2dBackward: JsBackend["lpPool2dBackward"] = (...a) => (this.count("lpPool2dBackward"), new JsBackend().lpPool2dBackward(...a));
  override locallyConnected2d: JsBackend["locallyConnected2d"] = (...a) => (this.count("locallyConnected2d"), new JsBackend().locallyConnected2d(...a));
  override locallyConnected2dBackward: JsBackend["locallyConnected2dBackward"] = (...a) =>
    (this.count("locallyConnected2dBackward"), new JsBackend().locallyConnected2dBackward(...a));
}

/** Runs forward and backward of a fresh layer under backend `name`; returns y, dx and the parameter gradients. */
function run(name: string, make: () => Layer, x: Tensor, dy: (shape: number[]) => Tensor): Float32Array[] {
  const previous = getBackend().name;
  setBackend(name);
  try {
    const layer = make();
    const y = layer.forward(x);
    const dx = layer.backward(dy(y.shape));
    return [y.data, dx.data, ...layer.params().map((p) => p.grad.data)].map((a) => Float32Array.from(a));
  } finally {
    setBackend(previous);
  }
}

const LAYERS: [string, () => Layer, number[]][] = [
  ["LocallyConnected2d", () => new LocallyConnected2d({ inChannels: 3, outChannels: 4, inputSize: 7, kernelSize: 3, stride: 2, padding: 1, rng: new Rng(5) }), [2, 3, 7, 7]],
  ["LPPool2d", () => new LPPool2d({ normType: 3, kernelSize: 3, stride: 2, ceilMode: true }), [2, 3, 8, 8]],
];

test("LocallyConnected2d and LPPool2d call the backend in use, forward and backward", () => {
  const counting = new CountingBackend();
  registerBackend(counting);
  for (const [name, make, shape] of LAYERS) {
    counting.calls = {};
    const x = Tensor.rand(shape, 7, 0.1, 1.1); // LP pooling of positive inputs
    const [y] = run("counting", make, x, (s) => Tensor.randn(s, 8));
    const kernel = name === "LPPool2d" ? "lpPool2d" : "locallyConnected2d";
    assert.equal(counting.calls[kernel], 1, `${name} forward`);
    assert.equal(counting.calls[`${kernel}Backward`], 1, `${name} backward`);
    assert.deepEqual(run("js", make, x, (s) => Tensor.randn(s, 8))[0], y, `${name}: the same numbers as the js backend`);
  }
});

test("LocallyConnected2d and LPPool2d give the js backend's numbers on the wasm backend", { skip: !wasmSupported() }, () => {
  for (const [name, make, shape] of LAYERS) {
    const x = Tensor.rand(shape, 11, 0.1, 1.1);
    const js = run("js", make, x, (s) => Tensor.randn(s, 12));
    const wasm = run("wasm", make, x, (s) => Tensor.randn(s, 12));
    assert.equal(wasm.length, js.length);
    js.forEach((a, i) => assert.deepEqual(wasm[i], a, `${name}: array ${i}`));
  }
});
