/**
 * The wasm backend's planning (src/kernels/wasm/plan.ts), without running a
 * kernel: the algorithms chosen for known layers, and the invariants of every
 * plan over a spread of layers, batches and thread counts: no more threads
 * than given, a work item for every thread, bands within what there is to
 * cut, unfolded columns cache-sized, the batch cut into slices within the
 * budget, and filter gradients summed in an order the thread count does not change.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Conv2dGeometry } from "../src/shape.js";
import {
  type ConvPass, type FilterGradientPlan, chooseConvKernel, isPointwise, batchSlices, convImageBytes, convFlopsPerImage, directShape,
  planGemmConv, planGemmFilter, planDirect, planDirectFilter, planWinograd, planWinogradFilter,
  COL_BAND_BYTES, CONV_BUDGET_BYTES, PARALLEL_WORK, MAX_REDUCTION_SLOTS, REDUCTION_BYTES, GEMM_MIN_COLUMNS,
} from "../src/kernels/wasm/plan.js";

/** A square convolution: channels in and out, input size, kernel, stride, padding, batch (and groups). */
function conv(cin: number, cout: number, size: number, k: number, stride: number, pad: number, batch: number, groups = 1): Conv2dGeometry {
  const out = Math.floor((size + 2 * pad - k) / stride) + 1;
  return {
    batch, inChannels: cin, inH: size, inW: size, outChannels: cout, kH: k, kW: k, strideH: stride, strideW: stride,
    padTop: pad, padBottom: pad, padLeft: pad, padRight: pad, dilationH: 1, dilationW: 1, groups, outH: out, outW: out,
  };
}

const LAYERS: Record<string, Conv2dGeometry> = {
  "LeNet-5 c1 (1->6, 5x5, 32x32)": conv(1, 6, 32, 5, 1, 0, 64),
  "LeNet-5 c3 (6->16, 5x5, 14x14)": conv(6, 16, 14, 5, 1, 0, 64),
  "VGG-16 conv1_2 (64->64, 3x3, 224x224)": conv(64, 64, 224, 3, 1, 1, 1),
  "VGG-16 conv5_1 (512->512, 3x3, 14x14)": conv(512, 512, 14, 3, 1, 1, 1),
  "ResNet-50 1x1 (256->64, 56x56)": conv(256, 64, 56, 1, 1, 0, 1),
  "ResNet-50 1x1 stride 2 (256->512, 56x56)": conv(256, 512, 56, 1, 2, 0, 1),
  "ResNet-20 3x3 (16->16, 32x32)": conv(16, 16, 32, 3, 1, 1, 64),
  "AlexNet conv1 (3->64, 11x11 stride 4, 224x224)": conv(3, 64, 224, 11, 4, 2, 1),
  "grouped 3x3 (32->32, 4 groups, 28x28)": conv(32, 32, 28, 3, 1, 1, 8, 4),
  "tiny (2->2, 3x3, 5x5)": conv(2, 2, 5, 3, 1, 1, 1),
  "resnet8-wide stride 2 (64->128, 3x3, 7x7)": conv(64, 128, 7, 3, 2, 1, 128),
  "resnet8-wide stride 2 (32->64, 3x3, 14x14)": conv(32, 64, 14, 3, 2, 1, 128),
};

const PASSES: ConvPass[] = ["forward", "data", "filter"];

test("small output planes run several images per GEMM; large ones, grouped and 1x1 layers one", () => {
  const small = LAYERS["resnet8-wide stride 2 (64->128, 3x3, 7x7)"], mid = LAYERS["resnet8-wide stride 2 (32->64, 3x3, 14x14)"];
  // 16 and 49 columns an image: 16 and 6 images make 256 and 294 columns.
  assert.equal(planGemmConv(small, "forward", 128, 1).images, 16);
  assert.equal(planGemmConv(mid, "data", 128, 2).images, 6);
  assert.equal(planGemmFilter(small, 128, 128 * 64 * 9, 2).images, 16);
  // Fewer images than threads x group: the group shrinks so that every thread has one.
  assert.equal(planGemmConv(small, "forward", 5, 2).images, 3);
  assert.equal(planGemmConv(LAYERS["ResNet-20 3x3 (16->16, 32x32)"], "forward", 64, 2).images, 1);
  assert.equal(planGemmConv(LAYERS["grouped 3x3 (32->32, 4 groups, 28x28)"], "forward", 8, 1).images, 1);
  assert.equal(planGemmConv(conv(64, 64, 7, 1, 1, 0, 32), "forward", 32, 1).images, 1);
});

test("the algorithms chosen for known layers", () => {
  const pick = (name: string) => PASSES.map((p) => chooseConvKernel(LAYERS[name], p, "auto"));
  // LeNet's first layer: 28-pixel rows fill the direct kernel's vectors; its single input
  // channel would leave 3 of 4 lanes of the backward-data kernel empty.
  assert.deepEqual(pick("LeNet-5 c1 (1->6, 5x5, 32x32)"), ["direct", "gemm", "direct"]);
  // 3x3 stride 1 with many channels and tiles: Winograd F(4x4) everywhere.
  assert.deepEqual(pick("VGG-16 conv1_2 (64->64, 3x3, 224x224)"), ["winograd4", "winograd4", "winograd4"]);
  assert.deepEqual(pick("ResNet-20 3x3 (16->16, 32x32)"), ["winograd4", "winograd4", "winograd4"]);
  // 512x512 filters on 14x14 at batch 1: F(4x4)'s 36 filter matrices (37 MB) are too many to
  // re-pack for 16 tiles, so F(2x2); the filter gradient's partial sums likewise.
  assert.deepEqual(pick("VGG-16 conv5_1 (512->512, 3x3, 14x14)"), ["winograd", "winograd", "winograd"]);
  // 1x1 (pointwise, or strided) and large strided kernels: im2col + GEMM.
  assert.deepEqual(pick("ResNet-50 1x1 (256->64, 56x56)"), ["gemm", "gemm", "gemm"]);
  assert.deepEqual(pick("ResNet-50 1x1 stride 2 (256->512, 56x56)"), ["gemm", "gemm", "gemm"]);
  assert.deepEqual(pick("AlexNet conv1 (3->64, 11x11 stride 4, 224x224)"), ["gemm", "gemm", "gemm"]);
  // Grouped convolutions have only the GEMM kernels.
  assert.deepEqual(pick("grouped 3x3 (32->32, 4 groups, 28x28)"), ["gemm", "gemm", "gemm"]);
});

test("a forced algorithm is used where its kernel applies, and the GEMM elsewhere", () => {
  const vgg = LAYERS["VGG-16 conv1_2 (64->64, 3x3, 224x224)"], alex = LAYERS["AlexNet conv1 (3->64, 11x11 stride 4, 224x224)"];
  for (const p of PASSES) {
    assert.equal(chooseConvKernel(vgg, p, "gemm"), "gemm");
    assert.equal(chooseConvKernel(vgg, p, "direct"), "direct");
    assert.equal(chooseConvKernel(vgg, p, "winograd"), "winograd");
    assert.equal(chooseConvKernel(vgg, p, "winograd4"), "winograd4");
    // Winograd needs 3x3 stride 1, direct stride 1.
    assert.equal(chooseConvKernel(alex, p, "winograd4"), "gemm");
    assert.equal(chooseConvKernel(alex, p, "direct"), "gemm");
  }
});

test("small jobs stay on the calling thread, large ones use every thread", () => {
  const tiny = LAYERS["tiny (2->2, 3x3, 5x5)"];
  assert.ok(convFlopsPerImage(tiny) < PARALLEL_WORK);
  assert.equal(planGemmConv(tiny, "forward", 1, 4).threads, 1);
  assert.equal(planGemmConv(LAYERS["ResNet-50 1x1 (256->64, 56x56)"], "forward", 1, 4).threads, 4);
});

/** The invariants of a filter gradient's reduction split: items for its threads, and the slots' buffers within their budget. */
function checkFilterSplit(at: string, p: FilterGradientPlan, units: number, partFloats: number, threads: number): void {
  assert.ok(p.threads >= 1 && p.threads <= threads, `${at}: ${p.threads} threads`);
  assert.ok(p.slots >= 1 && p.slots <= Math.min(units, MAX_REDUCTION_SLOTS), `${at}: ${p.slots} slots for ${units}`);
  assert.ok(p.slots * p.kBlocks >= p.threads, `${at}: ${p.slots * p.kBlocks} items for ${p.threads} threads`);
  assert.ok((p.slots - 1) * partFloats * 4 <= REDUCTION_BYTES, `${at}: ${p.slots - 1} extra parts of ${partFloats} floats`);
}

/** Images per GEMM only where planes are small, never for grouped or 1x1 layers, and their buffers about L2-sized. */
function checkImages(at: string, g: Conv2dGeometry, images: number, batch: number): void {
  assert.ok(Number.isInteger(images) && images >= 1 && images <= batch, `${at}: ${images} images per GEMM of ${batch}`);
  if (images === 1) return;
  assert.ok(g.groups === 1 && !isPointwise(g), `${at}: images side by side in a grouped or 1x1 layer`);
  const plane = g.outH * g.outW;
  assert.ok(plane < GEMM_MIN_COLUMNS && (images - 1) * plane < GEMM_MIN_COLUMNS, `${at}: ${images} images of ${plane} columns`);
  assert.ok((g.inChannels * g.kH * g.kW + g.outChannels) * plane * images * 4 <= COL_BAND_BYTES, `${at}: image group buffers over L2`);
}

/** Checks every plan of every pass of g on `batch` images with `threads` threads. */
function checkPlans(name: string, g: Conv2dGeometry, batch: number, threads: number): void {
  const at = `${name}, batch ${batch}, ${threads} threads`;
  const flops = convFlopsPerImage(g);
  const pairs = batch * g.groups;
  const cg = g.inChannels / g.groups, kg = g.outChannels / g.groups;
  const rowBytes = cg * g.kH * g.kW * g.outW * 4; // one output row's unfolded columns
  const dwFloats = g.outChannels * cg * g.kH * g.kW;
  for (const pass of ["forward", "data"] as const) {
    const p = planGemmConv(g, pass, batch, threads);
    assert.ok(p.threads >= 1 && p.threads <= threads, `${at}, ${pass}: ${p.threads} threads`);
    // Bands cut what there is: output rows (forward) or the group's input channels (data).
    const limit = pass === "data" ? cg : g.outH;
    assert.ok(p.bands >= 1 && p.bands <= limit, `${at}, ${pass}: ${p.bands} bands of ${limit}`);
    assert.ok(p.rowBands >= 1 && p.rowBands <= g.outH, `${at}, ${pass}: ${p.rowBands} row bands`);
    assert.ok(p.kBlocks >= 1 && p.kBlocks <= Math.max(1, Math.floor(kg / 4)), `${at}, ${pass}: ${p.kBlocks} blocks of ${kg} filters`);
    checkImages(`${at}, ${pass}`, g, p.images, batch);
    if (p.images > 1) {
      // Images side by side: one item per group of them, and a group for every thread.
      assert.deepEqual([p.bands, p.rowBands, p.kBlocks], [1, 1, 1], `${at}, ${pass}: image groups are not also cut`);
      assert.ok(Math.ceil(batch / p.images) >= p.threads, `${at}, ${pass}: ${p.images} images per item for ${p.threads} threads`);
      continue;
    }
    // A work item for every thread, and every thread where there are enough rows (or channels) to cut.
    const items = pairs * p.bands * p.kBlocks;
    assert.ok(items >= p.threads, `${at}, ${pass}: ${items} items for ${p.threads} threads`);
    if (flops * batch >= PARALLEL_WORK && pairs * limit >= threads) assert.equal(p.threads, threads, `${at}, ${pass}: threads left idle`);
    if (pass === "forward" && p.kBlocks === 1 && !isPointwise(g)) {
      // One band's unfolded columns (a pointwise layer has none) about fit L2: at most COL_BAND_BYTES and one more row.
      const bandBytes = Math.ceil(g.outH / p.bands) * rowBytes;
      assert.ok(bandBytes <= COL_BAND_BYTES + rowBytes || p.bands === g.outH, `${at}, ${pass}: ${bandBytes} bytes of columns per band`);
    }
  }
  for (const bias of [0, g.outChannels]) {
    const f = planGemmFilter(g, batch, dwFloats + bias, threads);
    checkFilterSplit(`${at}, filter`, f, batch, dwFloats + bias, threads);
    assert.ok(f.bands >= 1 && f.bands <= g.outH, `${at}, filter: ${f.bands} bands`);
    if (!isPointwise(g)) assert.ok(Math.ceil(g.outH / f.bands) * rowBytes <= COL_BAND_BYTES + rowBytes || f.bands === g.outH);
    // The sums' order (bands, slots) depends on the shape alone, never on the threads: the same bits on any machine.
    const one = planGemmFilter(g, batch, dwFloats + bias, 1);
    assert.deepEqual([f.bands, f.slots, f.images], [one.bands, one.slots, one.images], `${at}, filter: the split depends on the threads`);
    checkImages(`${at}, filter`, g, f.images, Math.ceil(batch / f.slots));
  }
  if (g.strideH === 1 && g.strideW === 1 && g.groups === 1) {
    for (const pass of ["forward", "data"] as const) {
      const d = directShape(g, pass, batch);
      const dp = planDirect(d, flops, threads);
      assert.ok(dp.bands >= 1 && dp.bands <= d.outH, `${at}, ${pass}: direct ${dp.bands} bands`);
      assert.ok(d.batch * dp.bands >= dp.threads, `${at}, ${pass}: direct items`);
    }
    const f = planDirectFilter(directShape(g, "filter", batch), flops, dwFloats, threads);
    checkFilterSplit(`${at}, direct filter`, f, batch, dwFloats, threads);
    assert.equal(f.slots, planDirectFilter(directShape(g, "filter", batch), flops, dwFloats, 1).slots);
  }
  if (g.kH === 3 && g.kW === 3 && g.strideH === 1 && g.strideW === 1 && g.groups === 1) {
    for (const m of [2, 4] as const) {
      for (const pass of ["forward", "data"] as const) {
        const d = directShape(g, pass, batch);
        const totalRows = d.batch * Math.ceil(d.outH / m);
        const w = planWinograd(d, m, threads);
        assert.ok(w.runRows >= 1 && w.runRows <= totalRows, `${at}, ${pass}: F(${m}) runs of ${w.runRows}`);
        const items = Math.ceil(totalRows / w.runRows) * w.kBlocks;
        assert.ok(items >= w.threads, `${at}, ${pass}: F(${m}) ${items} items for ${w.threads} threads`);
        assert.ok(w.kBlocks === 1 || w.kBlocks * 16 <= d.cout, `${at}, ${pass}: F(${m}) ${w.kBlocks} channel blocks of ${d.cout}`);
        assert.ok(w.filterThreads >= 1 && w.filterThreads <= threads);
      }
      const d = directShape(g, "filter", batch);
      const totalRows = d.batch * Math.ceil(d.outH / m);
      const partFloats = (m + 2) * (m + 2) * d.cout * d.cin; // about S's size (the kernels pad each matrix a little)
      const w = planWinogradFilter(d, m, partFloats, threads);
      assert.ok(w.runRows >= 1 && w.runRows <= totalRows, `${at}: F(${m}) filter runs of ${w.runRows}`);
      checkFilterSplit(`${at}, F(${m}) filter`, w, Math.ceil(totalRows / w.runRows), partFloats, threads);
      assert.ok(w.outThreads >= 1 && w.outThreads <= threads);
      const one = planWinogradFilter(d, m, partFloats, 1);
      assert.deepEqual([w.runRows, w.slots], [one.runRows, one.slots], `${at}: F(${m}) filter split depends on the threads`);
    }
  }
}

test("every plan gives each thread work, keeps bands within limits and never uses more threads than given", () => {
  for (const [name, g] of Object.entries(LAYERS)) {
    for (const batch of [1, 3, 64]) {
      for (const threads of [1, 2, 4, 7]) checkPlans(name, { ...g, batch }, batch, threads);
    }
  }
});

test("batch slices cover the batch in order and keep within the memory budget", () => {
  for (const [name, g] of Object.entries(LAYERS)) {
    for (const batch of [1, 5, 64, 1000]) {
      const per = convImageBytes({ ...g, batch });
      for (const budget of [CONV_BUDGET_BYTES, 3 * per, per, per / 2]) {
        const slices = batchSlices(batch, per, budget);
        let next = 0;
        for (const [n0, n1] of slices) {
          assert.equal(n0, next, `${name}: slices must follow each other`);
          assert.ok(n1 > n0);
          assert.ok((n1 - n0) * per <= budget || n1 - n0 === 1, `${name}: ${n1 - n0} images of ${per} bytes over ${budget}`);
          next = n1;
        }
        assert.equal(next, batch, `${name}: slices end at the batch`);
      }
    }
  }
  // VGG-16's first layer at batch 64: 64 * 12.8 MB is over 512 MB, so more than one slice.
  const vgg = LAYERS["VGG-16 conv1_2 (64->64, 3x3, 224x224)"];
  assert.ok(batchSlices(64, convImageBytes(vgg)).length > 1);
});
