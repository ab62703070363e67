// What the kernel binaries are built from: the AssemblyScript sources, the
// ABI table and the compiler flags, and the hash of them all that
// src/kernels/wasm/generated/kernels.ts records (build-wasm.mjs rebuilds
// when it differs; test/wasm-abi.test.ts fails when the committed one does).
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { TABLE_FILE } from "./generate.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const SOURCE_DIR = join(root, "wasm", "assembly");
export const KERNELS_FILE = join(root, "src", "kernels", "wasm", "generated", "kernels.ts");

// Memory is imported (one shared memory for every thread); 65536 pages = 4 GiB, the wasm32 limit.
const common = [
  "--runtime", "stub", "-O3", "--noAssert",
  "--importMemory", "--sharedMemory", "--initialMemory", "32", "--maximumMemory", "65536",
];
/** The two builds: plain 128-bit SIMD, and relaxed SIMD (fused multiply-add). */
export const builds = {
  simd: [...common, "--enable", "simd,threads"],
  relaxed: [...common, "--enable", "simd,threads,relaxed-simd"],
};

/** 16 hex digits over every source file (name and text), the ABI table and the flags. */
export function sourceHash() {
  const hash = createHash("sha256");
  for (const f of readdirSync(SOURCE_DIR).filter((name) => name.endsWith(".ts")).sort()) {
    hash.update(f).update(readFileSync(join(SOURCE_DIR, f)));
  }
  hash.update(readFileSync(TABLE_FILE));
  hash.update(JSON.stringify(builds));
  return hash.digest("hex").slice(0, 16);
}
