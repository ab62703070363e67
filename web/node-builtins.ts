/**
 * Node built-ins in the browser build. Several library files import node:fs,
 * node:path, … at top level for their file functions (saveModel, dataset
 * readers, checkpoints); the page never calls those, but the imports must
 * resolve. This plugin answers every `node:X` (and bare built-in) import with
 * a generated module that exports each name Node's own module has, so a name
 * added to the library later still resolves, and each throws a clear error if
 * it is ever called. node:path gets working POSIX functions instead, because
 * decodeModel builds the file names of its error messages with join().
 */
import { builtinModules, createRequire } from "node:module";
import { resolve } from "node:path";
import type { Plugin } from "vite";

const PREFIX = "\0stride-node-stub:";
const identifier = /^[A-Za-z_$][\w$]*$/;

export function nodeBuiltinStubs(stubsDir: string): Plugin {
  const require = createRequire(import.meta.url);
  const builtins = new Set(builtinModules);
  return {
    name: "stride-node-builtin-stubs",
    enforce: "pre",
    resolveId(id) {
      const name = id.startsWith("node:") ? id.slice(5) : id;
      if (!builtins.has(name)) return null;
      return PREFIX + name;
    },
    load(id) {
      if (!id.startsWith(PREFIX)) return null;
      const name = id.slice(PREFIX.length);
      const names = Object.keys(require(`node:${name}`) as object).filter((k) => identifier.test(k) && k !== "default");
      const working = name === "path" || name === "path/posix" ? ["join", "dirname", "basename", "extname", "sep"] : [];
      const lines = [
        `function unavailable(what) { throw new Error(what + " is part of Node (node:${name}) and is not available in the browser; the page uses encodeModel/decodeModel and in-memory datasets instead"); }`,
        working.length ? `import { ${working.join(", ")} } from ${JSON.stringify(resolve(stubsDir, "node-path.ts"))};` : "",
        working.length ? `export { ${working.join(", ")} };` : "",
        ...names.filter((k) => !working.includes(k)).map((k) => `export function ${k}() { unavailable(${JSON.stringify(`${name}.${k}`)}); }`),
        `export default {};`,
      ];
      return lines.join("\n");
    },
  };
}
