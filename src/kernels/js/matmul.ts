import type { MatmulOptions } from "../backend.js";

/**
 * C[M, N] (+)= op(A)[M, K] * op(B)[K, N], row-major, plain loops. Each
 * variant keeps its innermost loop on contiguous memory, which is what makes
 * plain JavaScript tolerable here; the wasm backend is the fast one.
 */
export function matmul(
  a: Float32Array, b: Float32Array, c: Float32Array,
  m: number, n: number, k: number, opts: MatmulOptions = {},
): void {
  const { transA = false, transB = false, accumulate = false } = opts;
  if (!accumulate) c.fill(0, 0, m * n);
  if (!transA && !transB) {
    // C[i, :] += A[i, p] * B[p, :]
    for (let i = 0; i < m; i++) {
      const ci = i * n;
      const ai = i * k;
      for (let p = 0; p < k; p++) {
        const av = a[ai + p];
        const bp = p * n;
        for (let j = 0; j < n; j++) c[ci + j] += av * b[bp + j];
      }
    }
  } else if (!transA && transB) {
    // C[i, j] = dot(A[i, :], B[j, :])
    for (let i = 0; i < m; i++) {
      const ai = i * k;
      for (let j = 0; j < n; j++) {
        const bj = j * k;
        let s = 0;
        for (let p = 0; p < k; p++) s += a[ai + p] * b[bj + p];
        c[i * n + j] += s;
      }
    }
  } else if (transA && !transB) {
    // C[i, :] += A[p, i] * B[p, :]
    for (let p = 0; p < k; p++) {
      const ap = p * m;
      const bp = p * n;
      for (let i = 0; i < m; i++) {
        const av = a[ap + i];
        const ci = i * n;
        for (let j = 0; j < n; j++) c[ci + j] += av * b[bp + j];
      }
    }
  } else {
    // C[i, j] += A[p, i] * B[j, p]
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a[p * m + i] * b[j * k + p];
        c[i * n + j] += s;
      }
    }
  }
}
