/**
 * The browser app. `npm run web` serves it (dev server), `npm run web:build`
 * writes web/dist. Both servers send the COOP/COEP headers that make the page
 * cross-origin isolated, which the wasm backend's threads need
 * (SharedArrayBuffer). The page imports the library from the repository's
 * src/ (the `stride` alias): the Node built-ins some library files import at
 * top level resolve to generated stubs (node-builtins.ts), the Node-only npm
 * packages to web/stubs, and nothing the page calls reaches them.
 */
import { defineConfig, type Plugin } from "vite";
import { fileURLToPath } from "node:url";
import { dirname, resolve } from "node:path";
import { nodeBuiltinStubs } from "./node-builtins.js";
// @ts-expect-error: a plain ES module without types
import { buildMnistAsset, MNIST_ASSET_NAME } from "./scripts/mnist-asset.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..");

const isolation = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
};

/** The built-in digits as one binary file, made from the `mnist` package when first needed. */
function mnistDigits(): Plugin {
  let bytes: Uint8Array | null = null;
  const asset = (): Uint8Array => (bytes ??= buildMnistAsset());
  return {
    name: "stride-mnist-digits",
    configureServer(server) {
      server.middlewares.use(`/${MNIST_ASSET_NAME}`, (_req, res) => {
        res.setHeader("Content-Type", "application/octet-stream");
        res.end(asset());
      });
    },
    generateBundle() {
      this.emitFile({ type: "asset", fileName: MNIST_ASSET_NAME, source: asset() });
    },
  };
}

const stub = (file: string) => resolve(here, "stubs", file);

export default defineConfig({
  root: here,
  base: "./",
  plugins: [nodeBuiltinStubs(resolve(here, "stubs")), mnistDigits()],
  resolve: {
    alias: [
      { find: /^stride$/, replacement: resolve(repo, "src/index.ts") },
      { find: /^(pngjs|jpeg-js|cli-progress)$/, replacement: stub("node-packages.ts") },
    ],
  },
  server: { headers: isolation, fs: { allow: [repo] } },
  preview: { headers: isolation },
  // The wasm backend's platform module uses top-level await.
  build: { target: "es2022", outDir: "dist", emptyOutDir: true },
  // The library runs in the worker, so the worker bundle needs the built-in stubs too.
  worker: { format: "es", plugins: () => [nodeBuiltinStubs(resolve(here, "stubs"))] },
  esbuild: { target: "es2022" },
  optimizeDeps: { esbuildOptions: { target: "es2022" } },
});
