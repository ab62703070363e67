/**
 * Which backend the layers use. The js backend is always there; faster ones
 * register themselves and become the default where the runtime supports them.
 */
import type { Backend } from "./backend.js";
import { JsBackend } from "./js/index.js";

const backends = new Map<string, Backend>();
let current: Backend;

export function registerBackend(backend: Backend): void {
  backends.set(backend.name, backend);
}

export function getBackend(): Backend {
  return current;
}

/** Selects a registered backend by name ("js", "wasm", …). */
export function setBackend(name: string): Backend {
  const b = backends.get(name);
  if (!b) {
    throw new Error(`setBackend: no backend named "${name}"; available: ${[...backends.keys()].join(", ")}`);
  }
  current = b;
  return b;
}

export function listBackends(): string[] {
  return [...backends.keys()];
}

const js = new JsBackend();
registerBackend(js);
current = js;
