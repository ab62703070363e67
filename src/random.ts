/**
 * One seeded pseudo-random generator for everything random in stride:
 * initialisation, dropout masks, shuffling and augmentation. The same seed
 * gives the same stream on every platform, and the state can be saved in a
 * checkpoint and restored so that a resumed run continues the same curve.
 *
 * The generator is xoshiro128** (32-bit state words, fast in JavaScript
 * because it needs no 64-bit arithmetic), seeded through splitmix32.
 */
export class Rng {
  private s = new Uint32Array(4);
  private spareNormal: number | null = null;

  constructor(seed = 42) {
    this.seed(seed);
  }

  /** Restarts the generator from a seed. */
  seed(seed: number): void {
    let z = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      // splitmix32: spreads a small integer seed over the whole state.
      z = (z + 0x9e3779b9) >>> 0;
      let t = z;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b);
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35);
      this.s[i] = (t ^ (t >>> 16)) >>> 0;
    }
    this.spareNormal = null;
  }

  /** A uniformly distributed 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A number uniform in [low, high). */
  uniform(low = 0, high = 1): number {
    return low + (high - low) * this.next();
  }

  /** A standard normal sample (Box-Muller, both values used). */
  normal(mean = 0, std = 1): number {
    if (this.spareNormal !== null) {
      const z = this.spareNormal;
      this.spareNormal = null;
      return mean + std * z;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return mean + std * r * Math.cos(2 * Math.PI * v);
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Shuffles in place (Fisher-Yates) and returns the array. */
  shuffle<T extends { length: number; [i: number]: any }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }

  /** The generator's state as 5 numbers (the last is NaN, null after JSON, when no spare normal is cached). */
  getState(): number[] {
    return [...this.s, this.spareNormal ?? NaN];
  }

  /** Restores a state from getState(). */
  setState(state: (number | null)[]): void {
    if (!Array.isArray(state) || state.length !== 5) {
      throw new Error(`Rng.setState: expected 5 numbers from getState(), got ${JSON.stringify(state)}`);
    }
    for (let i = 0; i < 4; i++) this.s[i] = Number(state[i]) >>> 0;
    const spare = state[4];
    this.spareNormal = spare === null || spare === undefined || Number.isNaN(spare) ? null : spare;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** The generator used when no other is given. */
export const globalRng = new Rng(42);

/** Reseeds the global generator, like torch.manual_seed. */
export function manualSeed(seed: number): void {
  globalRng.seed(seed);
}
