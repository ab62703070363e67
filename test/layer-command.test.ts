/**
 * `stride layer`: the notes' layer arithmetic from the command line, checked
 * against the notes' own worked numbers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { layerCommand, parseLayers } from "../src/cli/commands/layer.js";

function run(...argv: string[]): { code: number; out: string; err: string } {
  const out: string[] = [], err: string[] = [];
  const code = layerCommand(argv, { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

test("the notes' convolution demo: 5x5x3 input, two 3x3 filters, stride 2, padding 1 give 3x3x2", () => {
  const r = run("conv 3x3 s2 p1 n2", "--input", "3x5x5");
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /height and width: \(W - F \+ 2P\)\/S \+ 1 = \(5 - 3 \+ 2\)\/2 \+ 1 = 3/);
  assert.match(r.out, /output volume: 3x3x2 = 18 neurons/);
  assert.match(r.out, /parameters: \(3\*3\*3\)\*2 weights \+ 2 biases = 56/);
});

test("7x7 input, 3x3 filter: stride 1 gives 5x5, stride 2 gives 3x3, stride 3 does not fit", () => {
  assert.match(run("conv 3", "--input", "1x7x7").out, /= \(7 - 3 \+ 0\)\/1 \+ 1 = 5\n/);
  assert.match(run("conv 3/2", "--input", "1x7x7").out, /output volume: 3x3x1/);
  const s3 = run("conv 3 s3", "--input", "1x7x7");
  assert.equal(s3.code, 0);
  assert.match(s3.out, /= 2\.3333, not a whole number: floored to 2/);
});

test("AlexNet's first layer: 227x227x3, 96 filters of 11x11 at stride 4 give 55x55x96 = 290,400 neurons and 34,944 parameters", () => {
  const r = run("conv 11 s4 n96", "--input", "3x227x227");
  assert.match(r.out, /\(227 - 11 \+ 0\)\/4 \+ 1 = 55/);
  assert.match(r.out, /output volume: 55x55x96 = 290,400 neurons/);
  assert.match(r.out, /\(11\*11\*3\)\*96 weights \+ 96 biases = 34,944/);
  assert.match(r.out, /290,400 outputs x 363 each = 105,415,200/);
});

test("a stack: VGG's first two 3x3 layers, a pool and a classifier; three 3x3 convolutions see 7x7", () => {
  const r = run("conv 3 p1 n64, conv 3 p1 n64, pool 2, fc 10", "--input", "3x224x224");
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /\(3\*3\*3\)\*64 weights \+ 64 biases = 1,792/);
  assert.match(r.out, /pool3: pool 2 {2}on 224x224x64\n.*= 112\n {2}output volume: 112x112x64/);
  assert.match(r.out, /fc4: fc 10 {2}on 112x112x64\n {2}every output sees all 802,816 inputs/);
  const three = run("conv 3, conv 3, conv 3", "--input", "1x9x9").out;
  assert.match(three, /conv3: [^]*receptive field: 7x7, neighbouring outputs 1 apart/);
});

test("a 1-D convolution over a sentence: 7 words of 5 dimensions, 2 filters of 3 words", () => {
  const r = run("conv1d 3 n2", "--input", "5x7");
  assert.match(r.out, /length: \(L - F \+ 2P\)\/S \+ 1 = \(7 - 3 \+ 0\)\/1 \+ 1 = 5/);
  assert.match(r.out, /\(3\*5\)\*2 weights \+ 2 biases = 32/);
});

test("dilation enters the formula and the field", () => {
  const r = run("conv 3 d2", "--input", "1x9x9");
  assert.match(r.out, /\(9 \+ 0 - 2\*\(3 - 1\) - 1\)\/1 \+ 1 = 5/);
  assert.match(r.out, /receptive field: 5x5/);
});

test("bad layer lists and inputs are refused with what to write instead", () => {
  assert.throws(() => parseLayers("convv 3"), /unknown layer "convv"; use one of conv, conv1d/);
  assert.throws(() => parseLayers("conv 3 q2"), /option "q2" is not valid; use sS \(stride\)/);
  assert.throws(() => parseLayers("conv 3,,pool 2"), /empty layer/);
  assert.throws(() => parseLayers("pool 2 n4"), /pooling keeps the depth/);
  assert.throws(() => parseLayers("conv 0"), /size must be at least 1/);
  const tooBig = run("conv 9", "--input", "1x5x5");
  assert.equal(tooBig.code, 1);
  assert.match(tooBig.err, /larger than the padded input/);
  assert.equal(run("conv 3", "--input", "3xx5").code, 2);
  assert.equal(run("conv 3").code, 2);
  assert.match(run("fc 10, conv 3", "--input", "1x5x5").err, /a convolution needs positions/);
  assert.match(run("conv 3", "--input", "5x7").err, /conv needs an image input CxHxW; for a sequence CxL use conv1d/);
});
