/** A small line chart on a canvas: a few named series over a shared x axis, redrawn whole. */
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
  xLabel: string;
  format: (y: number) => string;
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
  const pad = { left: 46, right: 10, top: 22, bottom: 24 };
  const w = cssW - pad.left - pad.right;
  const h = cssH - pad.top - pad.bottom;
  const all = series.flatMap((s) => s.points);
  const xMax = Math.max(1, ...all.map((p) => p[0]));
  let yMin = o.yMin ?? Math.min(...all.map((p) => p[1]), Infinity);
  let yMax = o.yMax ?? Math.max(...all.map((p) => p[1]), -Infinity);
  if (!Number.isFinite(yMin) || !Number.isFinite(yMax)) [yMin, yMax] = [0, 1];
  if (yMax - yMin < 1e-9) yMax = yMin + 1;
  const px = (x: number) => pad.left + (x / xMax) * w;
  const py = (y: number) => pad.top + (1 - (y - yMin) / (yMax - yMin)) * h;

  g.font = "12px system-ui, sans-serif";
  g.fillStyle = "#ddd";
  g.fillText(o.title, pad.left, 14);
  g.strokeStyle = "#444";
  g.fillStyle = "#aaa";
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = yMin + ((yMax - yMin) * i) / 4;
    g.beginPath();
    g.moveTo(pad.left, py(y));
    g.lineTo(pad.left + w, py(y));
    g.stroke();
    g.fillText(o.format(y), 4, py(y) + 4);
  }
  g.fillText(o.xLabel, pad.left + w - g.measureText(o.xLabel).width, cssH - 6);

  let legendX = pad.left + g.measureText(o.title).width + 16;
  for (const s of series) {
    g.strokeStyle = s.color;
    g.fillStyle = s.color;
    g.lineWidth = 1.5;
    if (s.dots) {
      g.beginPath();
      s.points.forEach(([x, y], i) => (i ? g.lineTo(px(x), py(y)) : g.moveTo(px(x), py(y))));
      g.stroke();
      for (const [x, y] of s.points) {
        g.beginPath();
        g.arc(px(x), py(y), 3, 0, 2 * Math.PI);
        g.fill();
      }
    } else {
      g.beginPath();
      s.points.forEach(([x, y], i) => (i ? g.lineTo(px(x), py(y)) : g.moveTo(px(x), py(y))));
      g.stroke();
    }
    g.fillRect(legendX, 6, 10, 10);
    g.fillStyle = "#ddd";
    g.fillText(s.label, legendX + 14, 15);
    legendX += 22 + g.measureText(s.label).width;
  }
}
