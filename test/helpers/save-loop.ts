/**
 * A child process for test/atomic-save.test.ts: builds a LeNet-5, says
 * "ready", waits for "go" on stdin, then saves the model into one folder
 * over and over until it is killed, saying "saved" after the first save. Version `seq` has weight 0 equal to seq
 * and records seq in model.json, so a reader can tell a matched pair.
 *
 *   node save-loop.js DIR FIRST_SEQ
 */
import { lenet5 } from "../../src/models/zoo/lenet.js";
import { saveModel } from "../../src/node/files.js";

const [dir, first] = process.argv.slice(2);
const model = lenet5({ numClasses: 10, inputShape: [1, 32, 32], seed: 1 });
const weight = model.params()[0].value.data;
process.stdout.write("ready\n");
process.stdin.once("data", () => {
  for (let seq = Number(first); ; seq++) {
    weight[0] = seq;
    saveModel(model, dir, { extra: { seq } });
    if (seq === Number(first)) process.stdout.write("saved\n"); // pipes are written synchronously
  }
});
