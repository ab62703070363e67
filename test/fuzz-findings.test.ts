// What the fuzz suite found, one test each, so the fixes stay fixed without
// the fuzzer: topologies that cannot run, readers that hung on special files
// or allocated what a header claimed, and messages that quoted a file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import zlib from "node:zlib";
import { PNG } from "pngjs";
import * as s from "../src/index.js";
import { quoteValue } from "../src/stride-error.js";
import protobuf from "protobufjs/light.js";
import { onnxSchema } from "../src/io/onnx/schema.js";

const unix = process.platform !== "win32";

/** A small saved model (conv, batch norm, pool, linear) and its model.json as an object to edit. */
function smallModel(): { json: any; weights: Uint8Array } {
  s.manualSeed(3);
  const model = new s.Sequential([
    new s.Conv2d({ inChannels: 1, outChannels: 2, kernelSize: 3, name: "conv1" }),
    new s.BatchNorm2d({ numFeatures: 2, name: "bn1" }),
    new s.ReLU({ name: "relu" }),
    new s.MaxPool2d({ kernelSize: 2, name: "pool" }),
    new s.Flatten({ name: "flatten" }),
    new s.Linear({ inFeatures: 8, outFeatures: 3, name: "fc" }),
  ]);
  const enc = s.encodeModel(model, { inputShape: [1, 6, 6], classes: ["a", "b", "c"], normalization: { mean: [0.5], std: [0.2] } });
  return { json: JSON.parse(enc.json), weights: enc.weights };
}

/** The same model as a layer, to save. */
function smallModelLayer(): s.Layer {
  s.manualSeed(3);
  return new s.Sequential([
    new s.Conv2d({ inChannels: 1, outChannels: 2, kernelSize: 3, name: "conv1" }),
    new s.Flatten({ name: "flatten" }),
    new s.Linear({ inFeatures: 32, outFeatures: 3, name: "fc" }),
  ]);
}

const decode = (json: unknown, weights: Uint8Array) => s.decodeModel(typeof json === "string" ? json : JSON.stringify(json), weights, "m");

function refused(fn: () => unknown, file: string, problem: RegExp): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(e instanceof s.ModelFileError, `${e.name}: ${e.message}`);
    assert.ok(e.message.startsWith(file), e.message);
    assert.match(e.message, problem);
    return true;
  });
}

test('"normalization": null in model.json means none: the model loads and predicts', () => {
  const { json, weights } = smallModel();
  const { model, info } = decode({ ...json, normalization: null }, weights);
  assert.equal(info.normalization, undefined);
  const [top] = s.predict(model, s.Tensor.rand([1, 1, 6, 6], 1), { classes: info.classes, normalize: info.normalization, k: 3 });
  assert.deepEqual(top.map((p) => p.label).sort(), ["a", "b", "c"]);
});

test("a layer listed twice is refused: the two would share one set of weights", () => {
  const { json, weights } = smallModel();
  json.topology.layers.splice(1, 0, structuredClone(json.topology.layers[0]));
  refused(() => decode(json, weights), "m/model.json", /two layers hold a tensor named "conv1\.weight"/);
});

test("layers in reverse order are refused: they cannot run on inputShape", () => {
  const { json, weights } = smallModel();
  json.topology.layers.reverse();
  refused(() => decode(json, weights), "m/model.json", /cannot run on its "inputShape" \[1, 6, 6\]/);
});

test("an inputShape the layers do not fit is refused", () => {
  const { json, weights } = smallModel();
  refused(() => decode({ ...json, inputShape: [1, 9, 9] }, weights), "m/model.json", /cannot run on its "inputShape" \[1, 9, 9\]/);
  refused(() => decode({ ...json, inputShape: [3, 6, 6] }, weights), "m/model.json", /cannot run/);
});

test("class names must match the model's outputs one for one", () => {
  const { json, weights } = smallModel();
  refused(() => decode({ ...json, classes: ["a", "b"] }, weights), "m/model.json", /names 2 classes but the model gives 3 outputs/);
  refused(() => decode({ ...json, classes: ["a", "a", "b"] }, weights), "m/model.json", /names a class twice/);
});

test("normalization needs one mean and std per input channel", () => {
  const { json, weights } = smallModel();
  refused(() => decode({ ...json, normalization: { mean: [0.5, 0.5, 0.5], std: [1, 1, 1] } }, weights), "m/model.json", /3 means and stds but "inputShape" \[1, 6, 6\] has 1 channels/);
});

test("a huge padding that a later layer would hide is refused (every layer's output is checked)", () => {
  // Global pooling turns the Infinity x Infinity maps back into one value per channel.
  const model = new s.Sequential([
    new s.Conv2d({ inChannels: 1, outChannels: 2, kernelSize: 3, name: "conv1" }),
    new s.GlobalAvgPool2d({ name: "pool" }),
    new s.Flatten({ name: "flatten" }),
    new s.Linear({ inFeatures: 2, outFeatures: 3, name: "fc" }),
  ]);
  const enc = s.encodeModel(model, { inputShape: [1, 6, 6] });
  const json = JSON.parse(enc.json);
  json.topology.layers[0].config.padding = 2 ** 30;
  refused(() => decode(json, enc.weights), "m/model.json", /conv1 would output shape \[1, 2, 2147483652, 2147483652\], more than the 1073741824 values per example allowed/);
});

test("a number beyond 2^31 - 1 in the topology is refused (a stride of 2^32 wrapped to 0 in the wasm kernel)", () => {
  const { json, weights } = smallModel();
  json.topology.layers[0].config.stride = [1, 2 ** 32];
  // The layer's own check refuses it now (with the range); decodeModel's scan of every number stays behind it.
  refused(() => decode(json, weights), "m/model.json", /conv1: stride = \[1,4294967296\] is not valid; it must be a whole number from 1 to 2,147,483,647/);
});

test("a negative batch-norm running variance is refused instead of giving NaN outputs", () => {
  const { json } = smallModel();
  s.manualSeed(3);
  const model = decode(json, smallModel().weights).model;
  const bn = s.findLayer(model, "bn1") as s.BatchNorm2d;
  const variance = s.namedBuffers(bn).find(([n]) => n.endsWith("runningVar"))![1];
  variance.value.data[1] = -0.5;
  const enc = s.encodeModel(model, { inputShape: [1, 6, 6], classes: ["a", "b", "c"] });
  refused(() => decode(enc.json, enc.weights), "m/weights.safetensors", /"bn1\.runningVar" holds the variance -0\.5 at index 1/);
});

test("deep nesting in model.json is refused before anything recurses over it", () => {
  const { json, weights } = smallModel();
  const text = JSON.stringify({ ...json, extra: { x: "@" } }).replace('"@"', "[".repeat(20000) + "]".repeat(20000));
  refused(() => decode(text, weights), "m/model.json", /nests objects or arrays deeper than 64 levels/);
});

test("a model.json that is a link to another file does not quote that file", { skip: !unix && "needs symlinks" }, () => {
  const dir = mkdtempSync(join(tmpdir(), "stride-leak-"));
  const secret = join(dir, "secret.txt");
  writeFileSync(secret, "token=SHOULD-NOT-APPEAR-8d1e\n");
  const folder = join(dir, "model");
  const { weights } = smallModel();
  s.saveModel(decode(smallModel().json, weights).model, folder);
  const jsonPath = join(folder, "model.json");
  unlinkSync(jsonPath);
  symlinkSync(secret, jsonPath);
  assert.throws(() => s.loadModel(folder), (e: Error) => e instanceof s.ModelFileError && /is not valid JSON/.test(e.message) && !e.message.includes("SHOULD-NOT-APPEAR"));
});

test("a gzipped IDX file whose trailer claims 4 GB is refused before decompressing", () => {
  const dir = mkdtempSync(join(tmpdir(), "stride-idx-"));
  const file = zlib.gzipSync(s.encodeIdxUbyte([2, 2, 2], new Uint8Array(8)));
  new DataView(file.buffer, file.byteOffset).setUint32(file.length - 4, 0xffffffff, true);
  const path = join(dir, "images-idx3-ubyte.gz");
  writeFileSync(path, file);
  assert.throws(() => s.readIdxFile(path), (e: Error) => e instanceof s.IdxFormatError && e.message.startsWith(path) && /its trailer claims it expands from \d+ to 4294967295 bytes/.test(e.message));
});

test("maxBytes caps what a gzipped IDX file may decompress to, and raising it reads the file", () => {
  const idx = s.encodeIdxUbyte([10, 10, 10], new Uint8Array(1000), { gzip: true });
  assert.throws(() => s.parseIdx(idx, "small.gz", { maxBytes: 500 }), (e: Error) => e instanceof s.IdxFormatError && /above the limit of 500 bytes/.test(e.message));
  assert.deepEqual(s.parseIdx(idx, "small.gz", { maxBytes: 2000 }).dims, [10, 10, 10]);
});

test("a safetensors header listing more than maxTensors tensors is refused; the limit can be raised", () => {
  const parts = Array.from({ length: 1001 }, (_, i) => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`);
  const header = new TextEncoder().encode(`{${parts.join(",")}}`);
  const bytes = new Uint8Array(8 + header.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
  bytes.set(header, 8);
  assert.throws(() => s.decodeSafetensors(bytes, "w.safetensors", { maxTensors: 1000 }), (e: Error) => e instanceof s.ModelFileError && /lists more than 1000 tensors/.test(e.message));
  assert.equal(s.decodeSafetensors(bytes, "w.safetensors", { maxTensors: 1001 }).tensors.size, 1001);
  assert.equal(s.DEFAULT_MAX_TENSORS, 100_000);
});

test("torch, ONNX, IDX and CIFAR readers refuse /dev/zero at once instead of reading forever", { skip: !unix && "needs /dev/zero" }, () => {
  const dir = mkdtempSync(join(tmpdir(), "stride-zero-"));
  const link = (name: string) => {
    const path = join(dir, name);
    symlinkSync("/dev/zero", path);
    return path;
  };
  const device = /a device, not a regular file/;
  const pt = link("w.pt");
  assert.throws(() => s.loadTorchCheckpoint(pt), (e: Error) => e instanceof s.ModelFileError && e.message.startsWith(pt) && device.test(e.message));
  const onnx = link("m.onnx");
  assert.throws(() => s.importOnnx(onnx), (e: Error) => e instanceof s.ModelFileError && e.message.startsWith(onnx) && device.test(e.message));
  const idx = link("images-idx3-ubyte");
  assert.throws(() => s.readIdxFile(idx), (e: Error) => e instanceof s.IdxFormatError && e.message.startsWith(idx) && device.test(e.message));
  const bin = link("data_batch_1.bin");
  assert.throws(() => s.loadCifar10Files([bin]), (e: Error) => e instanceof s.CifarFormatError && e.message.startsWith(bin) && device.test(e.message));
});

test("a truncated PNG gets a message about the file, not the decoder's internal state", () => {
  const png = new PNG({ width: 8, height: 8 });
  png.data.fill(200);
  const bytes = PNG.sync.write(png);
  const cut = bytes.subarray(0, bytes.length - 20);
  assert.throws(() => s.decodeImage(cut, "cut.png"), (e: Error) => e instanceof s.ImageReadError && e.message.startsWith("cut.png") && !/waitng/.test(e.message));
});

test("a damaged value is quoted in a few dozen characters, or described when it is nested too deep to quote", () => {
  // weights.file as an array nested 3,000 deep was copied whole into the message (7 KB);
  // at 17,029 deep, JSON.stringify and String() overflowed the stack (a bare RangeError).
  const dir = mkdtempSync(join(tmpdir(), "stride-quote-"));
  s.saveModel(smallModelLayer(), dir);
  const path = join(dir, "model.json");
  const json = JSON.parse(readFileSync(path, "utf8"));
  const withFile = (file: string) => JSON.stringify({ ...json, weights: { ...json.weights, file: "@" } }).replace('"@"', file);
  for (const [depth, shown] of [[3000, /got \[{60}…; restore model\.json/], [20000, /got an array too deep to show; restore model\.json/]] as const) {
    writeFileSync(path, withFile("[".repeat(depth) + "]".repeat(depth)));
    refused(() => s.loadModel(dir), path, shown);
    assert.throws(() => s.loadModel(dir), (e: Error) => e.message.length < 400);
  }
  assert.equal(quoteValue("x".repeat(100)).length, 61);
});

test("names from a file or the command line never find Object.prototype's members", () => {
  // An ONNX node whose op_type is "valueOf" passed the supported-operator check ("in" sees
  // inherited members) and was then skipped: it must be refused like any unknown operator.
  const model = new s.Sequential([new s.Flatten({ name: "flat" }), new s.Linear({ inFeatures: 4, outFeatures: 2, name: "fc" })]);
  const dir = mkdtempSync(join(tmpdir(), "stride-proto-"));
  const onnx = join(dir, "m.onnx");
  s.saveOnnx(model, [1, 2, 2], onnx);
  const bytes = readFileSync(onnx);
  const at = bytes.indexOf("Flatten");
  assert.ok(at > 0, "the exported graph has a Flatten node");
  bytes.write("valueOf", at); // same length: the protobuf stays valid
  writeFileSync(onnx, bytes);
  refused(() => s.importOnnx(onnx), onnx, /cannot import: "flat" \(valueOf\)/);
  // A safetensors dtype "constructor" is an unknown dtype.
  const header = new TextEncoder().encode('{"t":{"dtype":"constructor","shape":[1],"data_offsets":[0,4]}}');
  const st = new Uint8Array(8 + header.length + 4);
  new DataView(st.buffer).setBigUint64(0, BigInt(header.length), true);
  st.set(header, 8);
  refused(() => s.decodeSafetensors(st, "w.safetensors"), "w.safetensors", /dtype "constructor" is not supported/);
  // Options named after Object.prototype's members are unknown options.
  assert.throws(() => s.estimateMemory(smallModelLayer(), [1, 6, 6], { batchSize: 2, optimizer: "toString" as never }), /optimizer = "toString" is not valid/);
  const params = smallModelLayer().params();
  assert.throws(() => new s.SGD(params, { lr: 0.1, constructor: 1 } as never), /SGD: unknown option "constructor"/);
  assert.throws(() => new s.ReduceLROnPlateau(new s.SGD(params, { lr: 0.1 }), { toString: 1 } as never), /unknown option "toString"/);
});

test("an ONNX name longer than any exporter writes is refused with its length, not quoted whole", () => {
  // Node, value and tensor names go into the importer's errors: a crafted 100,000-character
  // name made one error 100 KB long.
  const root = protobuf.Root.fromJSON(onnxSchema as unknown as protobuf.INamespace);
  const Model = root.lookupType("onnx.ModelProto");
  const info = (name: string) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 4 }] } } } });
  const model = (nodeName: string) => Model.encode(Model.fromObject({
    irVersion: 8, opsetImport: [{ domain: "", version: 17 }],
    graph: { name: "g", node: [{ name: nodeName, opType: "Relu", input: ["x"], output: ["y"] }], input: [info("x")], output: [info("y")] },
  })).finish();
  const dir = mkdtempSync(join(tmpdir(), "stride-onnx-name-"));
  const ok = join(dir, "ok.onnx"), long = join(dir, "long.onnx");
  writeFileSync(ok, model("relu"));
  writeFileSync(long, model("n".repeat(100_000)));
  assert.deepEqual(Array.from(s.importOnnx(ok).forward(new s.Tensor([1, 4], Float32Array.from([-1, 2, -3, 4]))).data), [0, 2, 0, 4]);
  refused(() => s.importOnnx(long), long, /a node's name "n{59}… is 100000 characters long, more than the 4096/);
  assert.throws(() => s.importOnnx(long), (e: Error) => e.message.length < 400);
});

test("a safetensors tensor name of any length is quoted short in errors", () => {
  const name = "w".repeat(100_000);
  const header = new TextEncoder().encode(`{"${name}":{"dtype":"F99","shape":[1],"data_offsets":[0,4]}}`);
  const st = new Uint8Array(8 + header.length + 4);
  new DataView(st.buffer).setBigUint64(0, BigInt(header.length), true);
  st.set(header, 8);
  refused(() => s.decodeSafetensors(st, "w.safetensors"), "w.safetensors", /tensor "w{59}…: dtype "F99" is not supported/);
  assert.throws(() => s.decodeSafetensors(st, "w.safetensors"), (e: Error) => e.message.length < 400);
});
