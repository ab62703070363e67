/**
 * A small line chart on a canvas: a few named series over a shared x axis
 * (epochs, numbered), redrawn whole. The y axis is linear, or logarithmic
 * for the loss (see axes.ts for why); an empty chart says what will appear.
 */
import { wholeTicks, logAxis, tickLabel } from "./axes.js";

export interface Series {
  label: string;
  color: string;
  points: [number, number][];
  /** Draw points as dots (epoch values) rather than a line. */
  dots?: boolean;
}

export interface ChartOptions {
  title: string;
  yMin?: number;
  yMax?: number;
  /** A log y axis (the loss); yMin and yMax are then ignored. */
  logY?: boolean;
  xLabel: string;
  /** The x axis runs to at least this, so that charts side by side line up. */
  xEnd?: number;
  format: (y: number) => string;
  /** What the chart will show, written in it while it has no points. */
  empty: string;
}

export function drawChart(canvas: HTMLCanvasElement, series: Series[], o: ChartOptions): void {
  const ratio = window.devicePixelRatio || 1;
  const cssW = canvas.clientWidth || 420;
  const cssH = canvas.clientHeight || 220;
  if (canvas.width !== Math.round(cssW * ratio)) canvas.width = Math.round(cssW * ratio);
  if (canvas.height !== Math.round(cssH * ratio)) canvas.height = Math.round(cssH * ratio);
  const g = canvas.getContext("2d")!;
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, cssW, cssH);
  const pad = { left: 46, right: 12, top: 22, bottom: 34 };
  const w = cssW - pad.left - pad.right;
  const h = cssH - pad.top - pad.bottom;
  const all = series.flatMap((s) => s.points);

  // The axis runs to the next whole epoch after the data, so a run stopped early still fills the chart.
  const xTicks = wholeTicks(Math.max(1, o.xEnd ?? 0, ...all.map((p) => p[0])), Math.max(2, Math.floor(w / 40)));
  const xMax = xTicks[xTicks.length - 1];
  const px = (x: number) => pad.left + (x / xMax) * w;

  let py: (y: number) => number;
  let yTicks: number[];
  let label: (y: number) => string = o.format;
  if (o.logY) {
    const axis = logAxis(all.map((p) => p[1]), Math.max(3, Math.floor(h / 24)));
    const span = Math.log(axis.hi / axis.lo);
    py = (y) => pad.top + (1 - Math.log(Math.max(y, axis.lo) / axis.lo) / span) * h;
    yTicks = axis.ticks;
    label = tickLabel;
  } else {
    let yMin = o.yMin ?? Math.min(...all.map((p) => p[1]), Infinity);
    let yMax = o.yMax ?? Math.max(...all.map((p) => p[1]), -Infinity);
    if (!Number.isFinite(yMin) || !Number.isFinite(yMax)) [yMin, yMax] = [0, 1];
    if (yMax - yMin < 1e-9) yMax = yMin + 1;
    py = (y) => pad.top + (1 - (y - yMin) / (yMax - yMin)) * h;
    yTicks = [0, 1, 2, 3, 4].map((i) => yMin + ((yMax - yMin) * i) / 4);
  }

  g.font = "12px system-ui, sans-serif";
  g.fillStyle = "#ddd";
  g.fillText(o.title, pad.left, 14);
  g.strokeStyle = "#444";
  g.fillStyle = "#aaa";
  g.lineWidth = 1;
  for (const y of yTicks) {
    g.beginPath();
    g.moveTo(pad.left, py(y));
    g.lineTo(pad.left + w, py(y));
    g.stroke();
    g.fillText(label(y), 4, py(y) + 4);
  }
  // The epoch axis: a tick and a number at every labelled epoch.
  for (const x of xTicks) {
    g.beginPath();
    g.moveTo(px(x), pad.top + h);
    g.lineTo(px(x), pad.top + h + 4);
    g.stroke();
    const text = String(x);
    g.fillText(text, px(x) - g.measureText(text).width / 2, pad.top + h + 16);
  }
  g.fillText(o.xLabel, pad.left + w - g.measureText(o.xLabel).width, cssH - 3);

  if (all.length === 0) {
    g.fillStyle = "#888";
    const lines = o.empty.split("\n");
    lines.forEach((line, i) => g.fillText(line, pad.left + 10, pad.top + h / 2 + (i - (lines.length - 1) / 2) * 16));
  }

  let legendX = pad.left + g.measureText(o.title).width + 16;
  for (const s of series) {
    g.strokeStyle = s.color;
    g.fillStyle = s.color;
    g.lineWidth = 1.5;
    g.beginPath();
    s.points.forEach(([x, y], i) => (i ? g.lineTo(px(x), py(y)) : g.moveTo(px(x), py(y))));
    g.stroke();
    if (s.dots) {
      for (const [x, y] of s.points) {
        g.beginPath();
        g.arc(px(x), py(y), 3, 0, 2 * Math.PI);
        g.fill();
      }
    }
    g.fillRect(legendX, 6, 10, 10);
    g.fillStyle = "#ddd";
    g.fillText(s.label, legendX + 14, 15);
    legendX += 22 + g.measureText(s.label).width;
  }
}
