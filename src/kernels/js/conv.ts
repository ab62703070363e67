/**
 * Convolution as the notes describe it: stretch every receptive field into a
 * column (im2col), then one matrix multiply per image and group does the dot
 * products of all filters with all fields at once.
 */
import type { Conv2dGeometry } from "../../shape.js";
import { allocFloats } from "../../tensor.js";
import { matmul } from "./matmul.js";

/** col[(c*kH + i)*kW + j, oh*outW + ow] = x[c, oh*S - P + i*D, ow*S - P + j*D] (0 in the padding). */
export function im2col(x: Float32Array, xOffset: number, col: Float32Array, g: Conv2dGeometry): void {
  const { inChannels: C, inH: H, inW: W, kH, kW, strideH, strideW, padTop, padLeft, dilationH, dilationW, outH, outW } = g;
  const plane = outH * outW;
  let row = 0;
  for (let c = 0; c < C; c++) {
    const xc = xOffset + c * H * W;
    for (let i = 0; i < kH; i++) {
      for (let j = 0; j < kW; j++, row++) {
        const base = row * plane;
        for (let oh = 0; oh < outH; oh++) {
          const h = oh * strideH - padTop + i * dilationH;
          const o = base + oh * outW;
          if (h < 0 || h >= H) {
            col.fill(0, o, o + outW);
            continue;
          }
          const xr = xc + h * W;
          for (let ow = 0; ow < outW; ow++) {
            const w = ow * strideW - padLeft + j * dilationW;
            col[o + ow] = w >= 0 && w < W ? x[xr + w] : 0;
          }
        }
      }
    }
  }
}

/** The adjoint of im2col: dx[c, h, w] += every column entry that was read from it. */
export function col2im(col: Float32Array, dx: Float32Array, dxOffset: number, g: Conv2dGeometry): void {
  const { inChannels: C, inH: H, inW: W, kH, kW, strideH, strideW, padTop, padLeft, dilationH, dilationW, outH, outW } = g;
  const plane = outH * outW;
  let row = 0;
  for (let c = 0; c < C; c++) {
    const xc = dxOffset + c * H * W;
    for (let i = 0; i < kH; i++) {
      for (let j = 0; j < kW; j++, row++) {
        const base = row * plane;
        for (let oh = 0; oh < outH; oh++) {
          const h = oh * strideH - padTop + i * dilationH;
          if (h < 0 || h >= H) continue;
          const o = base + oh * outW;
          const xr = xc + h * W;
          for (let ow = 0; ow < outW; ow++) {
            const w = ow * strideW - padLeft + j * dilationW;
            if (w >= 0 && w < W) dx[xr + w] += col[o + ow];
          }
        }
      }
    }
  }
}

/** A 1x1, stride 1, unpadded convolution needs no im2col: the image is already the column matrix. */
export function isPointwise(g: Conv2dGeometry): boolean {
  return g.kH === 1 && g.kW === 1 && g.strideH === 1 && g.strideW === 1 &&
    g.padTop === 0 && g.padLeft === 0 && g.padBottom === 0 && g.padRight === 0;
}

/** The column matrix of one group of one image: im2col into col, or, for a pointwise convolution (col null), the image itself. */
function columns(x: Float32Array, xOffset: number, col: Float32Array | null, gg: Conv2dGeometry, size: number): Float32Array {
  if (!col) return x.subarray(xOffset, xOffset + size);
  im2col(x, xOffset, col, gg);
  return col;
}

/** The geometry of one group of one image, as im2col sees it. */
function groupGeometry(g: Conv2dGeometry): Conv2dGeometry {
  return { ...g, batch: 1, inChannels: g.inChannels / g.groups, outChannels: g.outChannels / g.groups };
}

export function conv2d(
  x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, g: Conv2dGeometry, relu = false,
  scale: Float32Array | null = null, _weightVersion?: number, residual: Float32Array | null = null,
): void {
  const gg = groupGeometry(g);
  const cg = gg.inChannels, kg = gg.outChannels;
  const rows = cg * g.kH * g.kW; // length of one stretched receptive field
  const plane = g.outH * g.outW;
  const pointwise = isPointwise(g);
  const col = pointwise ? null : allocFloats(rows * plane);
  for (let n = 0; n < g.batch; n++) {
    for (let grp = 0; grp < g.groups; grp++) {
      const source = columns(x, (n * g.inChannels + grp * cg) * g.inH * g.inW, col, gg, rows * plane);
      const wg = w.subarray(grp * kg * rows, (grp + 1) * kg * rows);
      const yOff = (n * g.outChannels + grp * kg) * plane;
      matmul(wg, source, y.subarray(yOff, yOff + kg * plane), kg, plane, rows);
    }
  }
  finishOutput(y, bias, g.batch, g.outChannels, plane, relu, scale, residual);
}

/**
 * Scales each channel (a folded batch norm), adds the bias (one value per
 * channel) and the residual (shaped like y), and applies a fused ReLU. With a
 * residual, the sum before it is rounded to float32 first, as storing it and
 * then running `add` would.
 */
export function finishOutput(
  y: Float32Array, bias: Float32Array | null, batch: number, channels: number, plane: number, relu: boolean,
  scale: Float32Array | null = null, residual: Float32Array | null = null,
): void {
  if (!bias && !relu && !scale && !residual) return;
  for (let n = 0; n < batch; n++) {
    for (let k = 0; k < channels; k++) {
      const b = bias ? bias[k] : 0;
      const s = scale ? scale[k] : 1;
      const o = (n * channels + k) * plane;
      for (let p = 0; p < plane; p++) {
        let v = y[o + p] * s + b;
        if (residual) v = Math.fround(v) + residual[o + p];
        y[o + p] = relu && !(v > 0) ? (Number.isNaN(v) ? v : 0) : v;
      }
    }
  }
}

export function conv2dBackwardData(dy: Float32Array, w: Float32Array, dx: Float32Array, g: Conv2dGeometry): void {
  const gg = groupGeometry(g);
  const cg = gg.inChannels, kg = gg.outChannels;
  const rows = cg * g.kH * g.kW;
  const plane = g.outH * g.outW;
  const pointwise = isPointwise(g);
  const dcol = allocFloats(rows * plane);
  dx.fill(0, 0, g.batch * g.inChannels * g.inH * g.inW);
  for (let n = 0; n < g.batch; n++) {
    for (let grp = 0; grp < g.groups; grp++) {
      const wg = w.subarray(grp * kg * rows, (grp + 1) * kg * rows);
      const dyg = dy.subarray((n * g.outChannels + grp * kg) * plane, (n * g.outChannels + (grp + 1) * kg) * plane);
      // dcol[rows, plane] = Wg^T [rows, kg] * dy_g [kg, plane]
      matmul(wg, dyg, dcol, rows, plane, kg, { transA: true });
      const dxOff = (n * g.inChannels + grp * cg) * g.inH * g.inW;
      if (pointwise) {
        for (let i = 0; i < rows * plane; i++) dx[dxOff + i] += dcol[i];
      } else {
        col2im(dcol, dx, dxOff, gg);
      }
    }
  }
}

export function conv2dBackwardFilter(
  x: Float32Array, dy: Float32Array, dw: Float32Array, dbias: Float32Array | null, g: Conv2dGeometry,
): void {
  const gg = groupGeometry(g);
  const cg = gg.inChannels, kg = gg.outChannels;
  const rows = cg * g.kH * g.kW;
  const plane = g.outH * g.outW;
  const pointwise = isPointwise(g);
  const col = pointwise ? null : allocFloats(rows * plane);
  for (let n = 0; n < g.batch; n++) {
    for (let grp = 0; grp < g.groups; grp++) {
      const source = columns(x, (n * g.inChannels + grp * cg) * g.inH * g.inW, col, gg, rows * plane);
      const dyg = dy.subarray((n * g.outChannels + grp * kg) * plane, (n * g.outChannels + (grp + 1) * kg) * plane);
      const dwg = dw.subarray(grp * kg * rows, (grp + 1) * kg * rows);
      // dWg[kg, rows] += dy_g [kg, plane] * col^T [plane, rows]
      matmul(dyg, source, dwg, kg, rows, plane, { transB: true, accumulate: true });
    }
  }
  if (dbias) {
    for (let n = 0; n < g.batch; n++) {
      for (let k = 0; k < g.outChannels; k++) {
        const o = (n * g.outChannels + k) * plane;
        let s = 0;
        for (let p = 0; p < plane; p++) s += dy[o + p];
        dbias[k] += s;
      }
    }
  }
}
