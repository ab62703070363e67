/**
 * The browser app. `npm run web` serves it (dev server), `npm run web:build`
 * writes web/dist. Both servers send the COOP/COEP headers that make the page
 * cross-origin isolated, which the wasm backend's threads need
 * (SharedArrayBuffer); without them it runs on one thread. The page imports
 * the library's browser entry from the repository's src/ (the `stride`
 * alias), which reaches no Node built-in, so no stubs are needed.
 */
import { defineConfig, type Plugin } from "vite";
import { fileURLToPath } from "node:url";
import { dirname, resolve } from "node:path";
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

export default defineConfig({
  root: here,
  base: "./",
  plugins: [mnistDigits()],
  resolve: {
    alias: [{ find: /^stride$/, replacement: resolve(repo, "src/browser.ts") }],
  },
  server: { headers: isolation, fs: { allow: [repo] } },
  preview: { headers: isolation },
  build: { target: "es2022", outDir: "dist", emptyOutDir: true },
  worker: { format: "es" },
  esbuild: { target: "es2022" },
  optimizeDeps: { esbuildOptions: { target: "es2022" } },
});
