/**
 * Weights kept in wasm memory between inference calls, in the forms the
 * kernels read: a plain copy (direct convolution, fully-connected layers),
 * the GEMM's packed row panels (im2col convolution), or Winograd's
 * transformed filters. Without them every call copies the weights in and
 * packs them again: VGG-16's first fully-connected layer copies 411 MB per
 * image, and the 1x1 convolutions of ResNet-50's last stage pack all their
 * filters once per work item.
 *
 * A pack belongs to one weight array at one Param.version: layers give the
 * version in inference, and optimisers and loads change it, so a pack made
 * from old values is never read. Packs that depend on the GEMM blocking
 * carry it in their kind, so a new tuning makes new ones. Packs live in
 * resident blocks: given back by forget() (a model's dispose()), when the
 * version changes, or when they were not used in the last KEEP_WINDOW calls.
 */
import type { WasmRuntime } from "./runtime.js";

interface Entry {
  version: number;
  packs: Map<string, Float32Array>;
  /** The value of the use clock when the weights were last used. */
  lastUse: number;
}

/**
 * Packs of weights not used in this many calls that keep weights are given
 * back. Nothing else would: a loop that loads a model and predicts once, again
 * and again, drops its models without dispose(), and a garbage collector never
 * runs finalizers during a synchronous loop, nor counts wasm memory as
 * pressure. 256 calls hold several passes of ResNet-152 (155 convolutions),
 * and about 50 LeNet-5s in such a loop.
 */
export const KEEP_WINDOW = 256;

export class WeightPacks {
  private readonly entries = new WeakMap<Float32Array, Entry>();
  /** The same entries, least recently used first (an entry does not keep its weight array alive). */
  private readonly byUse = new Set<Entry>();
  private clock = 0;

  constructor(private readonly rt: WasmRuntime) {}

  /**
   * The byte address of the pack `kind` of w at `version`, made now by
   * fill(address) when it is missing or older; null when wasm memory has no
   * room for it (the caller then packs for this call alone). Call before any
   * arena allocation of the call: making a pack may move the arena, and
   * resets it.
   */
  get(w: Float32Array, version: number, kind: string, floats: number, fill: (at: number) => void): number | null {
    const now = ++this.clock;
    let entry = this.entries.get(w);
    if (entry && entry.version !== version) {
      this.free(entry);
      entry = undefined;
    }
    if (!entry) {
      entry = { version, packs: new Map(), lastUse: now };
      this.entries.set(w, entry);
    }
    entry.lastUse = now;
    this.byUse.delete(entry);
    this.byUse.add(entry);
    const kept = entry.packs.get(kind);
    if (kept) return kept.byteOffset;
    this.evict((e) => e.lastUse <= now - KEEP_WINDOW);
    let pack = this.rt.allocResident(floats);
    // Full: older packs make room before this call goes without.
    if (!pack && this.evict((e) => e !== entry, floats * 4)) pack = this.rt.allocResident(floats);
    if (!pack) return null;
    this.rt.reset();
    fill(pack.byteOffset);
    this.rt.reset();
    entry.packs.set(kind, pack);
    return pack.byteOffset;
  }

  /** Gives back every pack of w now. */
  forget(w: Float32Array): void {
    const entry = this.entries.get(w);
    if (!entry) return;
    this.free(entry);
    this.entries.delete(w);
  }

  /**
   * Frees the packs of the least recently used entries while `stale` holds
   * for them (or, with `bytes`, until that many were freed); true if any were.
   */
  private evict(stale: (e: Entry) => boolean, bytes = Infinity): boolean {
    let freed = 0;
    for (const e of this.byUse) {
      if (freed >= bytes || !stale(e)) break;
      for (const pack of e.packs.values()) freed += pack.byteLength;
      this.free(e);
    }
    return freed > 0;
  }

  private free(entry: Entry): void {
    for (const pack of entry.packs.values()) this.rt.freeResident(pack);
    entry.packs.clear();
    this.byUse.delete(entry);
  }
}
