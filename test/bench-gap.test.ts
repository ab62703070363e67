/**
 * The inference-gap profile (bench/profile-gap.mjs) puts each library's
 * layers into kinds and divides the spec's multiply-adds by their times. Its
 * arithmetic is checked here: the per-kind multiply-adds add up to the
 * bench's count, the zoo's ResNet-50 and VGG-16 (what stride's profile times)
 * have the spec's layers kind by kind, and the table's ratios and shares of
 * the gap come out of the medians as documented. No time is measured.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { models } from "../src/index.js";
import type { Module } from "../src/layers/layer.js";
import { Conv2d } from "../src/layers/conv.js";
import { Linear } from "../src/layers/dense.js";

const root = resolve(fileURLToPath(import.meta.url), "../../..");
const load = (p: string) => import(pathToFileURL(resolve(root, p)).href);

type ByKind = Record<string, number>;

test("per-kind multiply-adds add up to the bench's count for every net", async () => {
  const { specByKind } = await load("bench/gap/kinds.mjs");
  const { NETS, analyse } = await load("bench/workloads.mjs");
  for (const [name, make] of Object.entries(NETS as Record<string, () => unknown>)) {
    const { macs } = specByKind(make()) as { macs: ByKind };
    const sum = Object.values(macs).reduce((a, b) => a + b, 0);
    assert.equal(sum, analyse(make()).macs, name);
  }
});

test("the zoo's ResNet-50 and VGG-16 have the spec's layers, kind by kind", async () => {
  const { specByKind, convKind, countMismatches } = await load("bench/gap/kinds.mjs");
  const { NETS } = await load("bench/workloads.mjs");
  const counts = (m: Module, out: ByKind = {}): ByKind => {
    const kids = m.children();
    for (const c of kids) counts(c, out);
    let kind: string | null = null;
    if (kids.length === 0 && m instanceof Conv2d) kind = convKind(m.kernelSize[0], m.stride[0]);
    if (kids.length === 0 && m instanceof Linear) kind = "fc";
    if (kind) out[kind] = (out[kind] ?? 0) + 1;
    return out;
  };
  const zoo: Record<string, Module> = {
    resnet50: models.resnet(50, { numClasses: 1000, inputShape: [3, 224, 224] }),
    vgg16: models.vgg16({ numClasses: 1000, inputShape: [3, 224, 224] }),
  };
  for (const [name, model] of Object.entries(zoo)) {
    const { layers } = specByKind(NETS[name]()) as { layers: ByKind };
    assert.deepEqual(countMismatches(counts(model), layers), [], name);
  }
  const resnet = specByKind(NETS.resnet50()).layers as ByKind;
  assert.deepEqual(resnet, { conv7x7s2: 1, conv1x1: 33, conv3x3: 13, conv3x3s2: 3, conv1x1s2: 3, fc: 1 });
  // A misread kind is reported, not tabulated.
  assert.deepEqual(countMismatches({ ...resnet, conv3x3: 16, conv3x3s2: 0 }, resnet), [
    "16 conv 3x3 stride 1 layers where the spec has 13",
    "0 conv 3x3 stride 2 layers where the spec has 3",
  ]);
});

test("the gap table: medians per kind, time ratios, GFLOP/s and each kind's share of the gap", async () => {
  const { summarise, netTable } = await load("bench/gap/table.mjs");
  const run = (conv: number, fc: number) => ({ byKind: { conv3x3: conv, fc }, totalMs: conv + fc });
  const stride2 = summarise({ threads: 2, runs: [run(30, 20), run(90, 20), run(32, 20)] });
  assert.deepEqual(stride2.byKind, { conv3x3: 32, fc: 20 });
  assert.equal(stride2.totalMs, 52);
  const ort2 = summarise({ threads: 2, runs: [run(12, 10)] });
  const md: string = netTable("t", { stride2, ort2 }, { conv3x3: 1e9, fc: 1e6 });
  const row = md.split("\n").find((l) => l.startsWith("| conv 3x3 stride 1 "))!.split(" | ");
  // 2 GFLOP in 32 ms and 12 ms; 32/12; (32 - 12) / (52 - 22) of the gap.
  assert.equal(row[8], "62.5 / 166.7 / —");
  assert.equal(row[9], "2.67×");
  assert.equal(row[11].replace(/ \|$/, ""), "67%");
  // When stride is the faster one there is no gap to share out.
  const faster = netTable("t", { stride2: ort2, ort2: stride2 }, { conv3x3: 1e9, fc: 1e6 });
  assert.match(faster.split("\n").find((l: string) => l.startsWith("| conv 3x3 stride 1 "))!, /\| — \|$/);
});

test("the Machine section's tuning line shows the numbers and where they came from", async () => {
  const { formatTuning } = await load("bench/machine.mjs");
  const line = formatTuning({ mc: 120, kc: 256, nc: 1024, chunksPerThread: 4, source: "cache sizes", machine: { caches: { l2: 2097152 } } });
  assert.equal(line, "mc 120, kc 256, nc 1024, chunksPerThread 4 (cache sizes)");
});
