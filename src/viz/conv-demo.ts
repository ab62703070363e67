/**
 * The notes' convolution demo as numbers: a 5x5x3 input zero-padded to
 * 7x7x3 (P = 1), two 3x3x3 filters W0 and W1 with biases 1 and 0, stride 2,
 * a 3x3x2 output. The values are small integers from a fixed seed, as in the
 * notes (inputs 0..2, weights -1..1), and the output is computed by the
 * library's own Conv2d, so the page that draws this also checks the layer.
 * Also the same convolution as one matrix product (im2col).
 */
import { Conv2d } from "../layers/conv.js";
import { Rng } from "../random.js";
import { Tensor } from "../tensor.js";
import { StrideError } from "../stride-error.js";

/** The demo's numbers; every volume is [channel][row][column]. */
export interface ConvolutionDemo {
  /** Input side W (5), channels (3), padding P (1), filter side F (3), stride S (2), filter count K (2), output side (3). */
  size: number;
  channels: number;
  padding: number;
  kernel: number;
  stride: number;
  filters: number;
  outputSize: number;
  /** The 5x5x3 input. */
  input: number[][][];
  /** The input with its zero border: 7x7x3. */
  padded: number[][][];
  /** weights[k] is filter Wk, [channel][row][column]. */
  weights: number[][][][];
  /** b0 = 1, b1 = 0. */
  biases: number[];
  /** output[k] is the k-th depth slice of Conv2d's output, 3x3. */
  output: number[][][];
}

/** One output cell of the demo with everything that went into it. */
export interface DemoCell {
  /** 0..17, filter by filter, row by row. */
  index: number;
  filter: number;
  row: number;
  col: number;
  /** Top-left corner of the receptive field in the padded input (stride times row and col). */
  top: number;
  left: number;
  /** window[c][i][j]: the padded input under the filter. */
  window: number[][][];
  /** channelSums[c] = the products of channel c, summed. */
  channelSums: number[];
  bias: number;
  /** What Conv2d computed for this cell. */
  value: number;
  /** Each channel's nine products written out, one line per channel. */
  productLines: string[];
  /** The whole sum: "x·w (channel 0) + x·w (channel 1) + x·w (channel 2) + b = 2 + (-1) + 3 + 1 = 5". */
  sumText: string;
}

/** The same convolution as a matrix product: W_row [K, F·F·C] times X_col [F·F·C, cells], plus the biases. */
export interface Im2col {
  /** K rows, one stretched filter each. */
  filterRows: number[][];
  /** F·F·C rows (channel, then row, then column of the window), one column per output position. */
  columns: number[][];
  /** K rows, one per filter: W_row · X_col + b, the output depth slices flattened row by row. */
  product: number[][];
}

const SIZE = 5, CHANNELS = 3, PADDING = 1, KERNEL = 3, STRIDE = 2, FILTERS = 2;
const BIASES = [1, 0];

const volume = (c: number, h: number, w: number, value: (c: number, y: number, x: number) => number): number[][][] =>
  Array.from({ length: c }, (_, ci) => Array.from({ length: h }, (_, y) => Array.from({ length: w }, (_, x) => value(ci, y, x))));

/** The demo's numbers from a seed (the same seed gives the same demo everywhere); the output from Conv2d. */
export function convolutionDemo(seed = 1): ConvolutionDemo {
  if (!Number.isInteger(seed)) throw new StrideError(`convolutionDemo: seed = ${seed} must be a whole number`);
  const rng = new Rng(seed);
  const input = volume(CHANNELS, SIZE, SIZE, () => rng.int(3));
  const weights = Array.from({ length: FILTERS }, () => volume(CHANNELS, KERNEL, KERNEL, () => rng.int(3) - 1));
  const padded = volume(CHANNELS, SIZE + 2 * PADDING, SIZE + 2 * PADDING, (c, y, x) => input[c][y - PADDING]?.[x - PADDING] ?? 0);

  const conv = new Conv2d({ inChannels: CHANNELS, outChannels: FILTERS, kernelSize: KERNEL, stride: STRIDE, padding: PADDING, rng: new Rng(seed) });
  conv.weight.value.data.set(weights.flat(3));
  conv.bias!.value.data.set(BIASES);
  const y = conv.forward(new Tensor([1, CHANNELS, SIZE, SIZE], Float32Array.from(input.flat(2))), { noGrad: true });
  const outputSize = y.shape[2];
  const output = volume(FILTERS, outputSize, outputSize, (k, r, c) => y.data[(k * outputSize + r) * outputSize + c]);
  return {
    size: SIZE, channels: CHANNELS, padding: PADDING, kernel: KERNEL, stride: STRIDE, filters: FILTERS, outputSize,
    input, padded, weights, biases: BIASES.slice(), output,
  };
}

/** How many output cells the demo steps through (18). */
export function demoCellCount(demo: ConvolutionDemo): number {
  return demo.filters * demo.outputSize * demo.outputSize;
}

// A negative number in a sum is bracketed so that "+ (-1)" reads as arithmetic.
const term = (v: number): string => (v < 0 ? `(${v})` : String(v));

/** Output cell `index` (0..17, filter by filter, row by row): its window, its products and its sum. */
export function demoCell(demo: ConvolutionDemo, index: number): DemoCell {
  const count = demoCellCount(demo);
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new StrideError(`demoCell: cell ${index} does not exist; the demo has ${count} output cells, 0 to ${count - 1}`);
  }
  const n = demo.outputSize;
  const filter = Math.floor(index / (n * n));
  const row = Math.floor((index % (n * n)) / n);
  const col = index % n;
  const top = row * demo.stride;
  const left = col * demo.stride;
  const f = demo.kernel;
  const window = demo.padded.map((plane) => plane.slice(top, top + f).map((r) => r.slice(left, left + f)));
  const w = demo.weights[filter];
  const channelSums: number[] = [];
  const productLines: string[] = [];
  window.forEach((plane, c) => {
    const products: string[] = [];
    let sum = 0;
    plane.forEach((r, i) => r.forEach((x, j) => {
      products.push(`${x}·${term(w[c][i][j])}`);
      sum += x * w[c][i][j];
    }));
    channelSums.push(sum);
    productLines.push(`channel ${c}: ${products.join(" + ")} = ${sum}`);
  });
  const bias = demo.biases[filter];
  const value = demo.output[filter][row][col];
  const names = channelSums.map((_, c) => `x·w (channel ${c})`).join(" + ");
  const sumText = `${names} + b = ${[...channelSums, bias].map(term).join(" + ")} = ${value}`;
  return { index, filter, row, col, top, left, window, channelSums, bias, value, productLines, sumText };
}

/**
 * im2col: every receptive field stretched into a column (27 values: channel
 * by channel, row by row), every filter into a row, and one matrix product
 * computing all 18 outputs at once.
 */
export function demoIm2col(demo: ConvolutionDemo): Im2col {
  const n = demo.outputSize;
  const f = demo.kernel;
  const filterRows = demo.weights.map((w) => w.flat(2));
  const positions = Array.from({ length: n * n }, (_, p) => ({ top: Math.floor(p / n) * demo.stride, left: (p % n) * demo.stride }));
  const columns: number[][] = [];
  for (let c = 0; c < demo.channels; c++) {
    for (let i = 0; i < f; i++) {
      for (let j = 0; j < f; j++) columns.push(positions.map((p) => demo.padded[c][p.top + i][p.left + j]));
    }
  }
  const product = filterRows.map((w, k) => positions.map((_, p) => w.reduce((s, v, r) => s + v * columns[r][p], demo.biases[k])));
  return { filterRows, columns, product };
}
