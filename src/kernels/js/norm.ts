/**
 * Batch normalisation over features laid out as [N, C, spatial]: each of
 * the C features is normalised over its N * spatial values (per feature map
 * for convolutions, per activation for fully connected layers).
 * Sums run in float64 (plain JS numbers) so that statistics of large
 * batches do not drift.
 */
export function batchNormTrain(
  x: Float32Array, gamma: Float32Array | null, beta: Float32Array | null, y: Float32Array,
  mean: Float32Array, invStd: Float32Array, n: number, c: number, spatial: number, eps: number, relu = false,
): void {
  const count = n * spatial;
  for (let ch = 0; ch < c; ch++) {
    let s = 0;
    for (let b = 0; b < n; b++) {
      const o = (b * c + ch) * spatial;
      for (let p = 0; p < spatial; p++) s += x[o + p];
    }
    const mu = s / count;
    let v = 0;
    for (let b = 0; b < n; b++) {
      const o = (b * c + ch) * spatial;
      for (let p = 0; p < spatial; p++) {
        const d = x[o + p] - mu;
        v += d * d;
      }
    }
    mean[ch] = mu;
    invStd[ch] = 1 / Math.sqrt(v / count + eps);
  }
  batchNormApply(x, gamma, beta, y, mean, invStd, n, c, spatial, relu);
}

export function batchNormApply(
  x: Float32Array, gamma: Float32Array | null, beta: Float32Array | null, y: Float32Array,
  mean: Float32Array, invStd: Float32Array, n: number, c: number, spatial: number, relu = false,
): void {
  for (let ch = 0; ch < c; ch++) {
    const scale = (gamma ? gamma[ch] : 1) * invStd[ch];
    const shift = (beta ? beta[ch] : 0) - mean[ch] * scale;
    for (let b = 0; b < n; b++) {
      const o = (b * c + ch) * spatial;
      for (let p = 0; p < spatial; p++) {
        const v = x[o + p] * scale + shift;
        // A fused ReLU keeps NaN, as the ReLU layer does.
        y[o + p] = relu && !(v > 0) && !Number.isNaN(v) ? 0 : v;
      }
    }
  }
}

export function batchNormBackward(
  x: Float32Array, dy: Float32Array, mean: Float32Array, invStd: Float32Array, gamma: Float32Array | null,
  dx: Float32Array, dgamma: Float32Array | null, dbeta: Float32Array | null,
  n: number, c: number, spatial: number, batchStats: boolean, reluOutput: Float32Array | null = null,
): void {
  const count = n * spatial;
  // The gradient reaching the normalisation: through the fused ReLU's mask first.
  const grad = reluOutput ? (i: number) => (reluOutput[i] > 0 ? dy[i] : 0) : (i: number) => dy[i];
  for (let ch = 0; ch < c; ch++) {
    const mu = mean[ch], is = invStd[ch];
    // sum(dy) and sum(dy * xhat) are all the backward pass needs.
    let sumDy = 0, sumDyXhat = 0;
    for (let b = 0; b < n; b++) {
      const o = (b * c + ch) * spatial;
      for (let p = 0; p < spatial; p++) {
        const d = grad(o + p);
        sumDy += d;
        sumDyXhat += d * (x[o + p] - mu) * is;
      }
    }
    if (dgamma) dgamma[ch] += sumDyXhat;
    if (dbeta) dbeta[ch] += sumDy;
    const g = (gamma ? gamma[ch] : 1) * is;
    if (!batchStats) {
      for (let b = 0; b < n; b++) {
        const o = (b * c + ch) * spatial;
        for (let p = 0; p < spatial; p++) dx[o + p] = grad(o + p) * g;
      }
      continue;
    }
    // dx = gamma * invStd / M * (M * dy - sum(dy) - xhat * sum(dy * xhat))
    const meanDy = sumDy / count, meanDyXhat = sumDyXhat / count;
    for (let b = 0; b < n; b++) {
      const o = (b * c + ch) * spatial;
      for (let p = 0; p < spatial; p++) {
        const xhat = (x[o + p] - mu) * is;
        dx[o + p] = g * (grad(o + p) - meanDy - xhat * meanDyXhat);
      }
    }
  }
}
