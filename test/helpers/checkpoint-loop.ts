/**
 * A child process for test/atomic-save.test.ts: trains a tiny network for one
 * epoch, with a checkpoint after it, into the same folder again and again
 * until it is killed, saying "ready" once its model is built and
 * "checkpointed" after the first run.
 *
 *   node checkpoint-loop.js DIR
 */
import "../../src/node/train.js"; // fit's checkpoints on the file system
import { fit } from "../../src/train/trainer.js";
import { SGD } from "../../src/train/optimizers.js";
import { tinyNet, tinyData } from "./tiny-run.js";

const [dir] = process.argv.slice(2);
const model = tinyNet();
const data = tinyData();
process.stdout.write("ready\n");
process.stdin.once("data", async () => {
  // Run after run of one epoch into the same folder: each rerun writes the epoch latest.json names.
  for (let run = 0; ; run++) {
    await fit(model, data, { epochs: 1, batchSize: 8, optimizer: new SGD(model.params(), { lr: 0.05, momentum: 0.9 }), checkpointDir: dir, progress: "none" });
    if (run === 0) process.stdout.write("checkpointed\n");
  }
});
