/** Reads the built-in digits file that web/scripts/mnist-asset.mjs writes (gzipped 8-bit pixels). */
import { createDataset, MNIST_CLASSES, type Dataset } from "stride";

const MAGIC = "STRIDEMN";

export async function fetchMnistDigits(url: string): Promise<Dataset> {
  const response = await fetch(url);
  if (!response.ok || !response.body) throw new Error(`the digits file ${url} could not be loaded (HTTP ${response.status})`);
  const unzipped = response.body.pipeThrough(new DecompressionStream("gzip"));
  return decodeMnistDigits(new Uint8Array(await new Response(unzipped).arrayBuffer()));
}

export function decodeMnistDigits(bytes: Uint8Array): Dataset {
  const header = 20;
  if (bytes.length < header || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    throw new Error("the digits file is not a stride digits file (bad magic); rebuild the app with npm run web:build");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(8, true);
  const rows = view.getUint32(12, true);
  const cols = view.getUint32(16, true);
  const pixels = rows * cols;
  if (bytes.length !== header + count + count * pixels) {
    throw new Error(`the digits file is truncated: ${bytes.length} bytes for ${count} images of ${rows}x${cols}`);
  }
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) labels[i] = bytes[header + i];
  const images = new Float32Array(count * pixels);
  const src = bytes.subarray(header + count);
  for (let i = 0; i < images.length; i++) images[i] = src[i] / 255;
  return createDataset({ name: "mnist-digits", images, labels, shape: [1, rows, cols], classes: MNIST_CLASSES });
}
