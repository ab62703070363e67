/**
 * The arrays of one model step (activations, their gradients, max-pooling
 * switches) inside wasm memory, so that kernels read and write them in place
 * instead of copying each operand in and each result out. Measured on a
 * LeNet-5 training step (one thread, `node --cpu-prof`): the copies were 17%
 * of the step and zeroing fresh arrays another 7%.
 *
 * A bump allocator over chunks of resident memory. A container (Sequential,
 * Graph) resets it when an outermost forward pass begins: by then the last
 * step's arrays are dead, because layers replace what they cached and the
 * container copied what it returned into an ordinary array
 * (models/step-memory.ts). The chunks stay for the next step, like PyTorch's
 * caching allocator; arenas are pooled per backend and handed from model to
 * model, so their number stays small however many models come and go.
 */
import type { WasmRuntime } from "./runtime.js";
import type { StepArena } from "../backend.js";

/** The first chunk; later ones are at least as large as what they must hold. */
const FIRST_CHUNK_FLOATS = 1 << 21; // 8 MB
/** Allocations are aligned to 64 bytes (a cache line, and whole SIMD vectors). */
const ALIGN_FLOATS = 16;

export class WasmStepArena implements StepArena {
  private chunks: Float32Array[] = [];
  /** The chunk being filled, and how many floats of it are taken. */
  private current = 0;
  private used = 0;
  /** Floats handed out since the last reset (all chunks), to size one chunk that holds a whole step. */
  private stepFloats = 0;
  /** The most floats this step may take; past it arrays are ordinary ones. */
  private limitFloats = Infinity;

  /**
   * Tests set this to fill arrays asked for without zeroing with NaN, so that
   * a kernel that leaves part of such an output unwritten shows.
   */
  static poisonUninitialized = false;

  constructor(private readonly rt: WasmRuntime) {}

  reset(limitBytes = Infinity): void {
    // A step that spilled over several chunks gets one chunk of its whole size next time.
    if (this.chunks.length > 1 && this.current > 0) {
      const want = Math.max(this.stepFloats, this.chunks[0].length);
      for (const chunk of this.chunks) this.rt.freeResident(chunk); // now: the collector may not run for a long time
      this.chunks = [];
      const one = this.rt.allocResident(want);
      if (one) this.chunks.push(one);
    }
    this.current = 0;
    this.used = 0;
    this.stepFloats = 0;
    this.limitFloats = limitBytes / 4;
  }

  floats(n: number, zero = true): Float32Array | null {
    const at = this.take(n);
    if (at === null) return null;
    const chunk = this.chunks[this.current];
    const view = new Float32Array(chunk.buffer, chunk.byteOffset + at * 4, n);
    // A tensor starts at zero (this memory held the last step's arrays), unless its kernel overwrites it all.
    if (zero) this.rt.exports.zeroBytes(view.byteOffset, n * 4);
    else if (WasmStepArena.poisonUninitialized) view.fill(NaN);
    return view;
  }

  ints(n: number): Int32Array | null {
    const at = this.take(n);
    if (at === null) return null;
    const chunk = this.chunks[this.current];
    const view = new Int32Array(chunk.buffer, chunk.byteOffset + at * 4, n);
    this.rt.exports.zeroBytes(view.byteOffset, n * 4);
    return view;
  }

  isResident(a: Float32Array | Int32Array): boolean {
    return this.rt.isResident(a);
  }

  /** The float offset of n floats in the current chunk (moving to the next chunk, or a new one, if needed); null if memory is out. */
  private take(n: number): number | null {
    const size = Math.ceil(Math.max(1, n) / ALIGN_FLOATS) * ALIGN_FLOATS;
    if (this.stepFloats + size > this.limitFloats) return null;
    while (this.current < this.chunks.length) {
      if (this.used + size <= this.chunks[this.current].length) {
        const at = this.used;
        this.used += size;
        this.stepFloats += size;
        return at;
      }
      this.current++;
      this.used = 0;
    }
    const chunk = this.rt.allocResident(Math.max(size, FIRST_CHUNK_FLOATS, this.stepFloats));
    if (!chunk) return null;
    this.chunks.push(chunk);
    this.current = this.chunks.length - 1;
    this.used = size;
    this.stepFloats += size;
    return 0;
  }
}
