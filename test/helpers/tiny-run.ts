/** A tiny network and dataset for tests that train in child processes. */
import { Sequential } from "../../src/models/sequential.js";
import { Conv2d } from "../../src/layers/conv.js";
import { Linear } from "../../src/layers/dense.js";
import { ReLU } from "../../src/layers/activation.js";
import { MaxPool2d } from "../../src/layers/pool.js";
import { Flatten } from "../../src/layers/reshape.js";
import { Rng } from "../../src/random.js";
import { createDataset, type Dataset } from "../../src/data/dataset.js";

export function tinyNet(seed = 3): Sequential {
  const rng = new Rng(seed);
  return new Sequential([
    new Conv2d({ inChannels: 1, outChannels: 4, kernelSize: 3, padding: 1, rng }), new ReLU(),
    new MaxPool2d({ kernelSize: 2 }), new Flatten(), new Linear({ inFeatures: 36, outFeatures: 4, rng }),
  ]);
}

/** 16 images of 1x6x6, four classes: a bright quadrant each. */
export function tinyData(): Dataset {
  const rng = new Rng(1);
  const images = new Float32Array(16 * 36);
  const labels = new Int32Array(16);
  for (let i = 0; i < 16; i++) {
    labels[i] = i % 4;
    for (let j = 0; j < 36; j++) {
      const quadrant = (Math.floor(j / 6) < 3 ? 0 : 2) + (j % 6 < 3 ? 0 : 1);
      images[i * 36 + j] = (quadrant === i % 4 ? 0.8 : 0.1) + 0.1 * rng.normal();
    }
  }
  return createDataset({ name: "tiny", images, labels, shape: [1, 6, 6], classes: ["a", "b", "c", "d"] });
}
