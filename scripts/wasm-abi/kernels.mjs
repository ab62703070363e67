// The boundary between the TypeScript loader (src/kernels/wasm/) and the
// AssemblyScript kernels (wasm/assembly/), declared once. generate.mjs turns
// it into wasm/assembly/abi.generated.ts (job ids, the job block's layout and
// a typed reader per field) and src/kernels/wasm/generated/abi.ts (the same
// ids and layout, and a writer per job and record taking named fields).
//
// Field types:
//   ptr   a byte address in wasm memory, 0 for "none" where the doc says so
//   size  a byte count (read as usize, like ptr)
//   i32   a signed 32-bit integer
//   f32   a float
//   bool  0 or 1 (the TypeScript writer takes a boolean)
// Every field is one 4-byte slot, in the order listed.

/**
 * The job block every thread reads (byte offsets from its start): control
 * slots (written by the runtime and the workers, see worker.ts), the GEMM
 * blocking (four i32: MC, KC, NC, work items per thread; 0 = unset), which
 * each thread applies to its own instance before a job, the job's
 * argument slots, the threads' busy-time tallies (float64), then the work
 * counter (work.ts) on a cache line of its own. Two more lines stay empty
 * after it, as the loader's old layout had them: CPUs fetch lines in pairs,
 * and the resident heap starts at the block's end, so without them a
 * parameter array would share the counter's pair while every thread
 * increments it (a difference this shared machine could not resolve: within
 * 2% either way on 2-thread LeNet-5 training).
 */
export const jobBlock = {
  idByte: 8,
  threadsByte: 12,
  blockingByte: 32,
  argsByte: 64,
  argSlots: 48,
  counterByte: 512,
  bytes: 704,
};

/** Geometry records: i32 fields a kernel reads through a pointer argument. */
export const records = [
  {
    name: "conv",
    doc: "A convolution as the im2col + GEMM kernels (conv.ts) take it.",
    fields: [
      ["batch", "i32"], ["inChannels", "i32"], ["inH", "i32"], ["inW", "i32"], ["outChannels", "i32"],
      ["kH", "i32"], ["kW", "i32"], ["strideH", "i32"], ["strideW", "i32"], ["padTop", "i32"], ["padLeft", "i32"],
      ["dilationH", "i32"], ["dilationW", "i32"], ["groups", "i32"], ["outH", "i32"], ["outW", "i32"],
      ["pointwise", "bool", "1x1, stride 1, no padding: the input is the GEMM's B as it is (no im2col)"],
      ["bands", "i32", "work items per (image, group): bands of output rows (forward, filter) or of input channels (data)"],
      ["rowBands", "i32", "backward data: bands of output rows inside a channel band, so the unfolded gradient stays cache-sized"],
      ["kBlocks", "i32", "forward: blocks of output channels per band (threads that split the filters instead of the pixels); filter gradient: per reduction slot"],
      ["slots", "i32", "filter gradient: fixed ranges of images, each summed in order into its own part"],
      ["images", "i32", "images unfolded side by side into one GEMM (small output planes; groups 1, bands 1); 1: image by image"],
    ],
  },
  {
    name: "direct",
    doc: "A stride-1, ungrouped convolution as the direct (direct.ts) and Winograd kernels take it.",
    fields: [
      ["batch", "i32"], ["cin", "i32"], ["hin", "i32"], ["win", "i32"], ["cout", "i32"], ["kH", "i32"], ["kW", "i32"],
      ["dH", "i32"], ["dW", "i32"],
      ["offH", "i32", "padded[hp][wp] = input[hp - offH][wp - offW]: the top padding (negative crops)"],
      ["offW", "i32", "the left padding (negative crops)"],
      ["outH", "i32"], ["outW", "i32"],
      ["bands", "i32", "direct: bands of output rows per image; Winograd: tile rows per work item"],
      ["flip", "bool", "w is stored [cin][cout][kH][kW] and used rotated by 180 degrees (backward data)"],
      ["slots", "i32", "filter gradients: fixed ranges of images (or runs of tile rows), each summed in order into its own part"],
      ["kBlocks", "i32", "filter gradients: blocks of output channels per slot, so that few slots still give every thread work"],
    ],
  },
  {
    name: "pool",
    doc: "A 2-d pooling window (pool.ts).",
    fields: [
      ["batch", "i32"], ["channels", "i32"], ["inH", "i32"], ["inW", "i32"], ["kH", "i32"], ["kW", "i32"],
      ["strideH", "i32"], ["strideW", "i32"], ["padTop", "i32"], ["padLeft", "i32"], ["padBottom", "i32"], ["padRight", "i32"],
      ["dilationH", "i32"], ["dilationW", "i32"], ["outH", "i32"], ["outW", "i32"],
    ],
  },
];

/** Per-thread scratch: thread t's block starts at scratch + t * scratchStride. */
const scratch = [["scratch", "ptr", "thread 0's scratch block"], ["scratchStride", "size", "bytes between two threads' blocks"]];
/** A filter gradient's reduction parts (slot s > 0, or every slot for Winograd, has one), partStride bytes apart. */
const parts = [["parts", "ptr", "the first reduction slot's part"], ["partStride", "size", "bytes between two slots' parts"]];

/**
 * The jobs runJob (index.ts) dispatches, by id. Ids are part of the
 * boundary only; keep them stable so that diffs of the generated files stay small.
 */
export const jobs = [
  {
    id: 1, name: "gemm", doc: "C (+)= op(A) op(B), row-major (gemm.ts).",
    fields: [
      ["m", "i32"], ["n", "i32"], ["k", "i32"],
      ["a", "ptr"], ["lda", "i32"], ["transA", "bool"],
      ["b", "ptr"], ["ldb", "i32"], ["transB", "bool"],
      ["c", "ptr"], ["ldc", "i32"], ["accumulate", "bool"],
      ["packedA", "ptr", "all of op(A) packed by gemmPackA (packedAOffset's layout), used when the product is split by columns; 0: each work item packs its own"],
      ...scratch,
    ],
  },
  {
    id: 2, name: "convForward", doc: "y = conv(x, w) * scale + bias + residual, then ReLU, by im2col + GEMM.",
    fields: [
      ["geom", "ptr", "conv record"], ["x", "ptr"], ["w", "ptr"], ["bias", "ptr", "0: none"], ["y", "ptr"],
      ["relu", "bool"], ["scale", "ptr", "0: none (a folded batch norm's per-channel scale)"],
      ["residual", "ptr", "0: none; else an array shaped like y, added before the ReLU (a residual sum run in the epilogue)"],
      ["packedW", "ptr", "0: w is packed by each work item; else w packed once (packedAOffset layout, group after group, mPad x rows floats each)"],
      ...scratch,
    ],
  },
  {
    id: 3, name: "convBackwardData", doc: "dx = conv_transpose(dy, w) by GEMM + col2im.",
    fields: [["geom", "ptr", "conv record"], ["dy", "ptr"], ["w", "ptr"], ["dx", "ptr"], ...scratch],
  },
  {
    id: 4, name: "convBackwardFilter",
    doc: "dw += dy * im2col(x)^T (and db += the sums of dy); slot 0 into dw and db, slot s > 0 into part s - 1, added by REDUCE in slot order.",
    fields: [["geom", "ptr", "conv record"], ["x", "ptr"], ["dy", "ptr"], ["dw", "ptr"], ["db", "ptr", "0: none"], ...scratch, ...parts],
  },
  {
    id: 5, name: "reduce", doc: "dst[0..n) += the sum of `count` parts, `partStride` bytes apart from `parts`.",
    fields: [["dst", "ptr"], ["parts", "ptr"], ["partStride", "size"], ["count", "i32"], ["n", "i32"]],
  },
  { id: 6, name: "maxPool", doc: "Max pooling forward, with each output's argmax.", fields: [["geom", "ptr", "pool record"], ["x", "ptr"], ["y", "ptr"], ["argmax", "ptr"]] },
  {
    id: 7, name: "maxPoolBackward", doc: "dx = the gradients of dy routed to the argmax positions.",
    fields: [["geom", "ptr", "pool record"], ["dy", "ptr"], ["argmax", "ptr"], ["dx", "ptr"]],
  },
  {
    id: 8, name: "avgPool", doc: "Average pooling forward.",
    fields: [["geom", "ptr", "pool record"], ["x", "ptr"], ["y", "ptr"], ["countIncludePad", "bool"]],
  },
  {
    id: 9, name: "avgPoolBackward", doc: "Average pooling backward.",
    fields: [["geom", "ptr", "pool record"], ["dy", "ptr"], ["dx", "ptr"], ["countIncludePad", "bool"]],
  },
  {
    id: 10, name: "batchNormTrain", doc: "Batch statistics, then y = (x - mean) * invStd * gamma + beta (ReLU).",
    fields: [
      ["x", "ptr"], ["gamma", "ptr", "0: none"], ["beta", "ptr", "0: none"], ["y", "ptr"], ["mean", "ptr"], ["invStd", "ptr"],
      ["n", "i32"], ["c", "i32"], ["spatial", "i32"], ["eps", "f32"], ["relu", "bool"], ...scratch,
    ],
  },
  {
    id: 11, name: "batchNormApply", doc: "y = (x - mean) * invStd * gamma + beta (ReLU) with given statistics.",
    fields: [
      ["x", "ptr"], ["gamma", "ptr", "0: none"], ["beta", "ptr", "0: none"], ["y", "ptr"], ["mean", "ptr"], ["invStd", "ptr"],
      ["n", "i32"], ["c", "i32"], ["spatial", "i32"], ["relu", "bool"],
    ],
  },
  {
    id: 12, name: "batchNormBackward", doc: "dx, dgamma += and dbeta += of a batch norm (through its ReLU when y is given).",
    fields: [
      ["x", "ptr"], ["dy", "ptr"], ["mean", "ptr"], ["invStd", "ptr"], ["gamma", "ptr", "0: none"], ["dx", "ptr"],
      ["dgamma", "ptr", "0: none"], ["dbeta", "ptr", "0: none"], ["n", "i32"], ["c", "i32"], ["spatial", "i32"],
      ["batchStats", "bool"], ["y", "ptr", "the fused ReLU's output, 0: no ReLU"], ...scratch,
    ],
  },
  { id: 13, name: "im2col", doc: "The unfolded columns of one image (one thread).", fields: [["geom", "ptr", "conv record"], ["x", "ptr"], ["col", "ptr"]] },
  { id: 14, name: "col2im", doc: "dx += the adjoint of im2col for one image (one thread).", fields: [["geom", "ptr", "conv record"], ["col", "ptr"], ["dx", "ptr"]] },
  { id: 15, name: "relu", doc: "y = max(0, x), NaN kept.", fields: [["x", "ptr"], ["y", "ptr"], ["n", "i32"]] },
  { id: 16, name: "reluBackward", doc: "dx = dy where y > 0.", fields: [["y", "ptr"], ["dy", "ptr"], ["dx", "ptr"], ["n", "i32"]] },
  {
    id: 17, name: "directForward", doc: "y = conv(x, w) * scale + bias, then ReLU, by the direct kernel (direct.ts).",
    fields: [
      ["geom", "ptr", "direct record"], ["x", "ptr"], ["w", "ptr"], ["bias", "ptr", "0: none"], ["y", "ptr"],
      ["relu", "bool"], ["scale", "ptr", "0: none"], ...scratch,
    ],
  },
  {
    id: 18, name: "directFilter",
    doc: "dw += and db += of a stride-1 convolution by the direct kernel; slots as CONV_BACKWARD_FILTER.",
    fields: [["geom", "ptr", "direct record"], ["x", "ptr"], ["dy", "ptr"], ["dw", "ptr"], ["db", "ptr", "0: none"], ...scratch, ...parts],
  },
  {
    id: 19, name: "winogradFilters", doc: "U = G w G^T for every filter, packed for the GEMM (winograd.ts).",
    fields: [["w", "ptr"], ["u", "ptr"], ["cout", "i32"], ["cin", "i32"], ["flip", "bool"], ["m", "i32", "output tile: 2 or 4"]],
  },
  {
    id: 20, name: "winograd", doc: "A 3x3, stride-1 convolution by Winograd F(m x m, 3x3) with transformed filters u.",
    fields: [
      ["geom", "ptr", "direct record, bands = tile rows per work item"], ["x", "ptr"], ["u", "ptr"], ["bias", "ptr", "0: none"],
      ["y", "ptr"], ["relu", "bool"], ["scale", "ptr", "0: none"], ...scratch,
      ["m", "i32", "output tile: 2 or 4"], ["kBlocks", "i32", "blocks of output channels per run of tile rows"],
    ],
  },
  { id: 21, name: "add", doc: "y = a + b, then ReLU.", fields: [["a", "ptr"], ["b", "ptr"], ["y", "ptr"], ["n", "i32"], ["relu", "bool"]] },
  {
    id: 22, name: "winogradFilterGrad",
    doc: "Each slot's transformed filter gradient S (and bias gradient) over its runs of tile rows, into its part (winograd-filter.ts).",
    fields: [
      ["geom", "ptr", "direct record, bands = tile rows per run"], ["x", "ptr"], ["dy", "ptr"], ...scratch, ...parts,
      ["hasBias", "bool"], ["m", "i32", "output tile: 2 or 4"],
    ],
  },
  {
    id: 23, name: "winogradFilterOut", doc: "dw += the transform back of S (and db += the bias part that follows it).",
    fields: [["s", "ptr"], ["dw", "ptr"], ["db", "ptr", "0: none"], ["cout", "i32"], ["cin", "i32"], ["m", "i32", "output tile: 2 or 4"]],
  },
  {
    id: 24, name: "sgdMomentum", doc: "buf = keep * buf + take * g; w -= lr * buf (in place).",
    fields: [["w", "ptr"], ["g", "ptr"], ["buf", "ptr"], ["n", "i32"], ["lr", "f32"], ["keep", "f32"], ["take", "f32"]],
  },
  {
    id: 25, name: "activation",
    doc: "y = tanh(x) (kind 0), the logistic sigmoid (1), LeakyReLU (2: x > 0 ? x : param x) or ELU (3: x <= 0 ? param (e^x - 1) : x), NaN kept.",
    fields: [["x", "ptr"], ["y", "ptr"], ["n", "i32"], ["kind", "i32", "0: tanh, 1: sigmoid, 2: LeakyReLU, 3: ELU"],
      ["param", "f32", "LeakyReLU's negative slope, ELU's alpha"]],
  },
  {
    id: 26, name: "activationBackward",
    doc: "dx = dy times the derivative, from what the layer kept: the output y for tanh (1 - y^2), the sigmoid (y (1 - y)) and ELU (y <= 0 ? y + param : 1), the input x for LeakyReLU (x > 0 ? 1 : param).",
    fields: [["saved", "ptr", "y, or x for LeakyReLU"], ["dy", "ptr"], ["dx", "ptr"], ["n", "i32"],
      ["kind", "i32", "as for activation"], ["param", "f32", "as for activation"]],
  },
  {
    id: 27, name: "gemmPackA", doc: "Packs all of op(A) (m x k) into packedAOffset's layout at dst, for a gemm job split by columns (gemm.ts packAPart).",
    fields: [["m", "i32"], ["k", "i32"], ["a", "ptr"], ["lda", "i32"], ["transA", "bool"], ["dst", "ptr"]],
  },
];

/**
 * The module's exported functions besides runJob's job table: what the loader
 * calls directly. Scratch sizes are computed here, in the kernels' language,
 * from the record the loader wrote, so no formula is mirrored in TypeScript.
 * [name, params, result, doc]; the test checks each is exported with that many parameters.
 */
export const functions = [
  ["runJob", [["job", "ptr"], ["tid", "i32"]], "void", "Runs thread tid's share of the job in the job block."],
  ["heapBase", [], "ptr", "Where the module's static data ends: the job block goes after it."],
  ["zeroBytes", [["dst", "ptr"], ["n", "size"]], "void", "Zeroes n bytes (memory.fill)."],
  ["fmaProbe", [["rounds", "i32"]], "f32", "rounds x 12 four-lane multiply-adds with no memory traffic: the build's ceiling on one core."],
  ["gemmScratchBytes", [], "size", "Bytes of one thread's GEMM packing area (depends on the blocking)."],
  ["gemmSharedPackFloats", [["m", "i32"], ["n", "i32"], ["k", "i32"], ["threads", "i32"]], "i32",
    "Floats of A packed once for a gemm job on that many threads (gemmPackA first), or 0 when each work item packs its own (one thread, one work item, rows split, or a gemv)."],
  ["setBlocking", [["mc", "i32"], ["kc", "i32"], ["nc", "i32"], ["chunks", "i32"]], "void", "Sets the calling instance's GEMM blocking (workers take it from the job block)."],
  ["gemmBlocking", [["which", "i32"]], "i32", "The blocking in use: 0 MC, 1 KC, 2 NC, 3 work items per thread, 4 MR, 5 NR."],
  ["convForwardScratchBytes", [["geom", "ptr"]], "size", "Bytes of one thread's scratch for CONV_FORWARD on this conv record."],
  ["convBackwardDataScratchBytes", [["geom", "ptr"]], "size", "Bytes of one thread's scratch for CONV_BACKWARD_DATA."],
  ["convBackwardFilterScratchBytes", [["geom", "ptr"]], "size", "Bytes of one thread's scratch for CONV_BACKWARD_FILTER."],
  ["directForwardScratchBytes", [["geom", "ptr"]], "size", "Bytes of one thread's scratch for DIRECT_FORWARD on this direct record."],
  ["directFilterScratchBytes", [["geom", "ptr"]], "size", "Bytes of one thread's scratch for DIRECT_FILTER."],
  ["winogradFilterFloats", [["cout", "i32"], ["cin", "i32"], ["m", "i32"]], "i32", "Floats of the transformed filters U that WINOGRAD_FILTERS writes."],
  ["winogradGradFloats", [["cout", "i32"], ["cin", "i32"], ["m", "i32"]], "i32", "Floats of the transformed filter gradient S in a WINOGRAD_FILTER_GRAD part (the bias gradient follows it)."],
  ["winogradConvScratchBytes", [["geom", "ptr"], ["m", "i32"]], "size", "Bytes of one thread's scratch for WINOGRAD on this direct record."],
  ["winogradGradScratchBytes", [["geom", "ptr"], ["m", "i32"]], "size", "Bytes of one thread's scratch for WINOGRAD_FILTER_GRAD."],
  ["batchNormScratchBytes", [["c", "i32"]], "size", "Bytes of one thread's scratch for BATCH_NORM_TRAIN and BATCH_NORM_BACKWARD with c channels."],
];
