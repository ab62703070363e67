/**
 * Which backend the layers use. The js backend is always there; the wasm
 * backend (SIMD + threads) is registered too and becomes the default
 * wherever the runtime supports it. It is created on first use, so a program
 * that never computes never starts its worker threads.
 */
import type { Backend } from "./backend.js";
import { JsBackend } from "./js/index.js";
import { createWasmBackend, wasmSupported } from "./wasm/index.js";

type Factory = () => Backend;

const factories = new Map<string, Factory>();
const instances = new Map<string, Backend>();
let currentName: string | null = null;

/** Registers a backend, or a factory that creates it on first use. */
export function registerBackend(backend: Backend | Factory, name?: string): void {
  if (typeof backend === "function") {
    if (!name) throw new Error("registerBackend: a backend factory needs a name");
    factories.set(name, backend);
  } else {
    factories.set(backend.name, () => backend);
    instances.set(backend.name, backend);
  }
}

function instance(name: string): Backend {
  let b = instances.get(name);
  if (!b) {
    const make = factories.get(name);
    if (!make) throw new Error(`setBackend: no backend named "${name}"; available: ${[...factories.keys()].join(", ")}`);
    b = make();
    instances.set(name, b);
  }
  return b;
}

/** The default: wasm where WebAssembly SIMD is available (threads need shared memory too), js otherwise. */
export function defaultBackendName(): string {
  return factories.has("wasm") ? "wasm" : "js";
}

/** The backend in use (the default is wasm where WebAssembly SIMD is available, else js). */
export function getBackend(): Backend {
  if (currentName === null) {
    try {
      currentName = defaultBackendName();
      return instance(currentName);
    } catch {
      currentName = "js"; // the fast backend could not start here: fall back to the reference
    }
  }
  return instance(currentName);
}

/** Selects a registered backend by name ("js", "wasm", …). */
export function setBackend(name: string): Backend {
  const b = instance(name);
  currentName = name;
  return b;
}

/**
 * The backend in use, in one line: its name and, for wasm, SIMD, the threads
 * and why there is only one when shared memory is missing (with the headers
 * that fix it in a browser).
 */
export function describeBackend(): string {
  const b = getBackend() as Backend & { describe?: () => string };
  if (b.describe) return b.describe();
  if (b.name !== "js") return b.name;
  return factories.has("wasm") ? "js (JavaScript reference kernels; setBackend(\"wasm\") is faster)" : "js (JavaScript; this runtime has no WebAssembly SIMD)";
}

/** The names setBackend accepts. */
export function listBackends(): string[] {
  return [...factories.keys()];
}

registerBackend(new JsBackend());
if (wasmSupported()) registerBackend(createWasmBackend, "wasm");
