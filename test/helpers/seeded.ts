/** n floats in [-1, 1) from a linear congruential generator: the same numbers for the same seed on every run. */
export function seededFloats(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    a[i] = s / 2147483648 - 1;
  }
  return a;
}
