/**
 * `stride export DIR --format onnx|torch|pytorch --out PATH`: a saved model for
 * other frameworks.
 *   torch    PATH.pt: the state dict under PyTorch's names (torch.load(weights_only=True) reads it);
 *   pytorch  PATH/: model.py, weights.pt, train.py (the run's recipe, DDP) and README.md;
 *   onnx     PATH.onnx: the model in inference form at opset 17 (--opset 13 for older runtimes), batch symbolic.
 */
import { parseArgs } from "node:util";
import { existsSync, statSync } from "node:fs";
import { CliError } from "../datasets.js";
import { type ModelInfo } from "../../io/model-file.js";
import { loadModelWithInfo } from "../../node/files.js";
import type { Layer } from "../../layers/layer.js";
import { exportPytorch, saveTorchStateDict, saveOnnx } from "../../node/io.js";
import { PytorchExportError } from "../../io/pytorch/layers.js";

const FORMATS = ["onnx", "torch", "pytorch"];

export async function exportCommand(argv: string[]): Promise<number> {
  const { values: o, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: { format: { type: "string" }, out: { type: "string" }, opset: { type: "string" } },
  });
  if (positionals.length !== 1) throw new CliError("export takes the folder of one saved model: stride export runs/lenet5-mnist --format pytorch --out lenet5-pytorch");
  if (o.format === undefined) throw new CliError(`export needs --format: one of ${FORMATS.join(", ")}`);
  if (!FORMATS.includes(o.format)) throw new CliError(`--format ${o.format} is not valid; use one of ${FORMATS.join(", ")}`);
  if (o.out === undefined) {
    throw new CliError(`export needs --out: ${o.format === "pytorch" ? "the folder to write model.py, weights.pt, train.py and README.md into" : `the file to write (e.g. model.${o.format === "onnx" ? "onnx" : "pt"})`}`);
  }
  const dir = positionals[0];
  const { model, info } = loadModelWithInfo(dir);
  try {
    switch (o.format) {
      case "onnx":
        return exportOnnx(model, info, o.out, o.opset);
      case "torch": {
        if (existsSync(o.out) && statSync(o.out).isDirectory()) throw new CliError(`--out ${o.out} is a folder; --format torch writes one .pt file: give a file path`);
        const names = saveTorchStateDict(model, o.out);
        console.log(`wrote ${o.out}: the state dict of ${dir} under ${names === "torchvision" ? "torchvision's names (its own builder of this architecture loads it)" : "PyTorch's spelling of stride's names"} (torch.load("${o.out}", weights_only=True))`);
        return 0;
      }
      default: {
        const files = exportPytorch(model, info, o.out);
        console.log(`wrote ${files.join(", ")} to ${o.out}` + (files.includes("train.py") ? "" : " (no train.py: the model records no training recipe; models trained by this stride's `stride train` do)"));
        console.log(`see ${o.out}/README.md: torchrun --nproc_per_node=2 train.py --data …`);
        return 0;
      }
    }
  } catch (e) {
    if (e instanceof PytorchExportError) throw new CliError(`cannot export ${dir}: ${e.message}`);
    throw e;
  }
}

function exportOnnx(model: Layer, info: ModelInfo, out: string, opsetText: string | undefined): number {
  if (!info.inputShape) throw new CliError("the model does not record its input shape, which an ONNX file declares; re-save it with inputShape (stride train and stride import record it)");
  const opset = opsetText === undefined ? 17 : Number(opsetText);
  if (!Number.isInteger(opset)) throw new CliError(`--opset ${opsetText} is not valid; give a whole number from 13 to 17`);
  saveOnnx(model, info.inputShape, out, { opset });
  console.log(`wrote ${out}: ONNX opset ${opset}, input "input" [N, ${info.inputShape.join(", ")}], output "output"` +
    (info.normalization ? `; feed it images normalised with mean [${info.normalization.mean.join(", ")}] and std [${info.normalization.std.join(", ")}]` : ""));
  return 0;
}
