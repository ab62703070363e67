/**
 * The static import graph of compiled ES modules: every `import … from "x"`,
 * `export … from "x"` and `import("x")` with a literal specifier, followed
 * through relative paths. Used to prove the browser entry reaches no Node
 * built-in (a bundler would fail or stub it).
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";

// Statements start a line in tsc's output; a specifier inside a string (an error message) is not one.
const specifiers = /^\s*(?:import|export)\s*(?:[\w*${}\s,]+?\s*from\s*)?["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/gm;

/** Bare specifiers (packages, `node:` modules) reached from `entry`, each with one chain of files that reaches it. */
export function externalImports(entry: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const seen = new Set<string>();
  const walk = (file: string, chain: string[]): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
    for (const m of source.matchAll(specifiers)) {
      const spec = m[1] ?? m[2];
      if (spec.startsWith(".")) walk(resolve(dirname(file), spec), [...chain, file]);
      else if (!out.has(spec)) out.set(spec, [...chain, file]);
    }
  };
  walk(resolve(entry), []);
  return out;
}
