/**
 * The convolution demo on the page: the notes' input volume, filters and
 * output as grids of numbers, one output cell at a time (its window in the
 * input and its filter highlighted, its sum written out), and the same
 * numbers as im2col's matrix product on a canvas. The numbers come from the
 * worker (src/viz/conv-demo.ts, computed by Conv2d); this only draws them.
 */
import type { FromWorker } from "./protocol.js";

type DemoMessage = Extract<FromWorker, { type: "demo" }>;

const byId = (id: string): HTMLElement => document.getElementById(id)!;

let demo: DemoMessage | null = null;
let current = 0;
let timer: number | undefined;

/** A grid of numbers, one span per value, row by row. */
function grid(values: number[][], name: string): HTMLElement {
  const el = document.createElement("div");
  el.className = "num-grid";
  el.dataset.name = name;
  el.style.gridTemplateColumns = `repeat(${values[0].length}, var(--cell))`;
  values.forEach((row, y) => row.forEach((v, x) => {
    const cell = document.createElement("span");
    cell.textContent = String(v);
    cell.dataset.y = String(y);
    cell.dataset.x = String(x);
    el.append(cell);
  }));
  return el;
}

/** A titled group of depth slices, e.g. the input volume's three. */
function group(title: string, slices: HTMLElement[], extra = ""): HTMLElement {
  const el = document.createElement("div");
  el.className = "conv-group";
  const h = document.createElement("div");
  h.className = "title";
  h.textContent = title;
  const row = document.createElement("div");
  row.className = "slices";
  row.append(...slices);
  el.append(h, row);
  if (extra) {
    const p = document.createElement("div");
    p.className = "extra";
    p.textContent = extra;
    el.append(p);
  }
  return el;
}

function slice(label: string, values: number[][], name: string, padding = 0): HTMLElement {
  const el = document.createElement("div");
  el.className = "slice";
  const g = grid(values, name);
  if (padding) {
    const n = values.length;
    for (const cell of g.children as HTMLCollectionOf<HTMLElement>) {
      const y = Number(cell.dataset.y), x = Number(cell.dataset.x);
      if (y < padding || x < padding || y >= n - padding || x >= n - padding) cell.classList.add("pad");
    }
  }
  const caption = document.createElement("div");
  caption.className = "caption";
  caption.textContent = label;
  el.append(g, caption);
  return el;
}

/** Builds the grids once, when the worker sends the numbers. */
export function showDemo(m: DemoMessage): void {
  demo = m;
  const d = m.demo;
  const input = group(`Input volume (+pad ${d.padding}): ${d.size + 2 * d.padding}x${d.size + 2 * d.padding}x${d.channels}`,
    d.padded.map((p, c) => slice(`x[:,:,${c}]`, p, `x${c}`, d.padding)));
  const filters = d.weights.map((w, k) => {
    const g = group(`Filter W${k}: ${d.kernel}x${d.kernel}x${d.channels}`, w.map((p, c) => slice(`w${k}[:,:,${c}]`, p, `w${k}-${c}`)), `bias b${k} = ${d.biases[k]}`);
    g.dataset.filter = String(k);
    return g;
  });
  const blank = (): number[][] => Array.from({ length: d.outputSize }, () => new Array(d.outputSize).fill(0));
  const output = group(`Output volume: ${d.outputSize}x${d.outputSize}x${d.filters}`, d.output.map((_, k) => slice(`o[:,:,${k}]`, blank(), `o${k}`)));
  byId("conv-grids").replaceChildren(input, ...filters, output);
  render();
}

/** Moves to the previous (-1) or next (+1) output cell, wrapping around. */
export function stepDemo(by: number): void {
  if (!demo) return;
  current = (current + by + demo.cells.length) % demo.cells.length;
  render();
}

function render(): void {
  if (!demo) return;
  const d = demo.demo;
  const cell = demo.cells[current];
  const root = byId("conv-grids");
  // The window under the filter, in every input channel.
  for (let c = 0; c < d.channels; c++) {
    for (const el of root.querySelectorAll<HTMLElement>(`.num-grid[data-name="x${c}"] span`)) {
      const y = Number(el.dataset.y), x = Number(el.dataset.x);
      el.classList.toggle("window", y >= cell.top && y < cell.top + d.kernel && x >= cell.left && x < cell.left + d.kernel);
    }
  }
  for (const g of root.querySelectorAll<HTMLElement>(".conv-group[data-filter]")) g.classList.toggle("active", g.dataset.filter === String(cell.filter));
  // The outputs computed so far, in the order the demo visits them; the current one marked.
  demo.cells.forEach((c) => {
    const el = root.querySelector<HTMLElement>(`.num-grid[data-name="o${c.filter}"] span[data-y="${c.row}"][data-x="${c.col}"]`)!;
    el.textContent = c.index <= current ? String(c.value) : "";
    el.classList.toggle("current", c.index === current);
  });
  byId("conv-where").textContent = `output cell ${current + 1} of ${demo.cells.length}: o[${cell.row},${cell.col},${cell.filter}], ` +
    `filter W${cell.filter} over rows ${cell.top}–${cell.top + d.kernel - 1}, columns ${cell.left}–${cell.left + d.kernel - 1} of the padded input`;
  const sum = byId("conv-sum");
  sum.textContent = cell.sumText;
  sum.dataset.value = String(cell.value);
  sum.dataset.cell = String(current);
  sum.dataset.filter = String(cell.filter);
  sum.dataset.row = String(cell.row);
  sum.dataset.col = String(cell.col);
  byId("conv-products").replaceChildren(...cell.productLines.map((line) => {
    const div = document.createElement("div");
    div.textContent = line;
    return div;
  }));
  drawIm2col(cell.filter, cell.row * d.outputSize + cell.col);
}

// ---------------------------------------------------------------------------
// im2col as a picture: X_col above the product, W_row to its left (the way a
// product is laid out by hand), every entry a small numbered square.

const CELL = 16;
const GAP = 14;
const LABEL = 16;

function drawIm2col(filter: number, position: number): void {
  if (!demo) return;
  const { filterRows, columns, product } = demo.im2col;
  const canvas = byId("im2col") as HTMLCanvasElement;
  const rowsW = filterRows.length, inner = columns.length, cols = columns[0].length;
  const left = inner * CELL + GAP;
  const top = LABEL + inner * CELL + GAP + LABEL;
  const width = left + cols * CELL + 230;
  const height = top + rowsW * CELL + 4;
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const g = canvas.getContext("2d")!;
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  g.textAlign = "center";
  g.textBaseline = "middle";

  const matrix = (values: number[][], x0: number, y0: number, lit: (r: number, c: number) => boolean): void => {
    values.forEach((row, r) => row.forEach((v, c) => {
      const x = x0 + c * CELL, y = y0 + r * CELL;
      // Negative entries bluish, positive orange, zero dark; the entries that make the current cell light up.
      g.fillStyle = v < 0 ? "#2d4763" : v > 0 ? "#5e4526" : "#33363a";
      g.fillRect(x, y, CELL - 1, CELL - 1);
      if (lit(r, c)) {
        g.strokeStyle = "#ffd866";
        g.lineWidth = 1.5;
        g.strokeRect(x + 0.5, y + 0.5, CELL - 2, CELL - 2);
      }
      g.fillStyle = "#eee";
      g.font = "10px system-ui, sans-serif";
      g.fillText(String(v), x + CELL / 2, y + CELL / 2 + 1);
    }));
  };
  const caption = (text: string, x: number, y: number): void => {
    g.textAlign = "left";
    g.fillStyle = "#aaa";
    g.font = "12px system-ui, sans-serif";
    g.fillText(text, x, y);
    g.textAlign = "center";
  };
  caption(`X_col: ${inner}x${cols}, a column per receptive field`, left, LABEL / 2);
  matrix(columns, left, LABEL, (_, c) => c === position);
  caption(`W_row: ${rowsW}x${inner}, a row per filter`, 0, top - LABEL / 2);
  matrix(filterRows, 0, top, (r) => r === filter);
  caption(`W_row · X_col + b: ${rowsW}x${cols}`, left, top - LABEL / 2);
  matrix(product, left, top, (r, c) => r === filter && c === position);
  caption("= o[:,:,0] and o[:,:,1], row by row", left + cols * CELL + 8, top + CELL);
}

byId("conv-prev").addEventListener("click", () => stepDemo(-1));
byId("conv-next").addEventListener("click", () => stepDemo(1));
byId("conv-play").addEventListener("click", () => {
  const button = byId("conv-play");
  if (timer !== undefined) {
    window.clearInterval(timer);
    timer = undefined;
    button.textContent = "Play";
    return;
  }
  button.textContent = "Stop";
  timer = window.setInterval(() => stepDemo(1), 900);
});
