/**
 * The command line's arguments, fuzzed in-process: `main(argv)` runs with its
 * output captured. Nothing trains for real: console.log is replaced for the
 * case by a function that throws, so a command stops at its first line of
 * output, which comes after every argument has been checked and the data and
 * model are ready (train prints its plan there, before fit).
 * Every case must end with an exit code and, when it fails, one line
 * "stride…: <problem>" on stderr: never a throw out of main (which
 * bin/stride.js prints as a stack trace), nor a message from deep inside.
 */
import fc from "fast-check";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import * as s from "../../src/index.js";
import { main } from "../../src/cli/main.js";
import { checkMessage, SECRET, type Outcome, type Target } from "./runner.js";

/** What console.log throws to stop a command before its real work. */
class StopBeforeWork extends Error {
  constructor() {
    super("fuzz: stopped at the first line of output");
  }
}

/** A command's end that is a finding (or a refusal), carried to the runner's judge. */
class CliEnd extends Error {
  constructor(readonly outcome: Outcome, message: string) {
    super(message);
  }
}

interface Fixtures {
  model: string;
  images: string;
  image: string;
  text: string;
  secretLink: string;
}

let fixtures: Fixtures | null = null;

/** A saved model, a tiny image-folder dataset and a few files, made once per process. */
function cliFixtures(): Fixtures {
  if (fixtures) return fixtures;
  const root = mkdtempSync(join(tmpdir(), "stride-fuzz-cli-"));
  const model = join(root, "model");
  mkdirSync(model);
  s.manualSeed(1);
  const net = new s.Sequential([new s.Flatten(), new s.Linear({ inFeatures: 36, outFeatures: 2, name: "fc" })]);
  s.saveModel(net, model, { inputShape: [1, 6, 6], classes: ["cat", "dog"], normalization: { mean: [0.5], std: [0.25] } });
  const images = join(root, "images");
  let image = "";
  for (const cls of ["cat", "dog"]) {
    mkdirSync(join(images, cls), { recursive: true });
    for (let i = 0; i < 4; i++) {
      const png = new PNG({ width: 6, height: 6 });
      png.data.fill(cls === "cat" ? 40 * i : 255 - 40 * i);
      image = join(images, cls, `${i}.png`);
      writeFileSync(image, PNG.sync.write(png));
    }
  }
  const text = join(root, "notes.txt");
  writeFileSync(text, "hello");
  // A file of secret bytes under a name the importer accepts: its bytes must not reach a message.
  const secretLink = join(root, "secret.pth");
  writeFileSync(join(root, "secret.txt"), `${SECRET}\n`);
  symlinkSync(join(root, "secret.txt"), secretLink);
  fixtures = { model, images, image, text, secretLink };
  return fixtures;
}

const COMMANDS = ["train", "eval", "predict", "summary", "import", "export", "visualize", "help", "--help", "bogus"] as const;

/** Option names each command reads, plus some it does not. */
const FLAGS = [
  "--dataset", "--data-dir", "--epochs", "--batch-size", "--lr", "--optimizer", "--weight-decay", "--schedule", "--no-augment",
  "--val-fraction", "--model-width", "--max-batches", "--out", "--resume", "--from", "--freeze-until", "--backend", "--threads",
  "--seed", "--image-size", "--progress", "--ten-crop", "--k", "--input", "--batch", "--strict", "--format", "--opset", "--arch",
  "--classes", "--normalize", "--scale", "--nope", "-x", "--", "--epochs=", "--k=0",
];

/** A token: a value of the right shape, a hostile number, a path, or junk. */
type Token =
  | { kind: "flag"; flag: string }
  | { kind: "number"; text: string }
  | { kind: "word"; text: string }
  | { kind: "path"; which: "model" | "images" | "image" | "text" | "secret" | "missing" | "out" | "dev-null" | "root" };

const token: fc.Arbitrary<Token> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("flag" as const), flag: fc.constantFrom(...FLAGS) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("number" as const),
      text: fc.oneof(
        fc.constantFrom("0", "1", "2", "-1", "1.5", "1e309", "NaN", "Infinity", "0x10", "", " ", "1e-320", "9007199254740993", "3x6x6", "1x6x6", "0x0x0", "6", "x", "1x1000000000x1000000000", "65536"),
        fc.integer({ min: -3, max: 40 }).map(String),
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("word" as const),
      text: fc.oneof(
        fc.constantFrom("lenet5", "bn-convnet", "resnet8", "resnet20-cifar", "textcnn", "allconv", "mnist", "cifar10", "fashion-mnist", "js", "wasm", "sgd", "adam", "cosine", "none", "torch", "pytorch", "onnx", "fc", "a,b", "imagenet", "auto", "lines"),
        fc.string({ maxLength: 8 }),
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("path" as const),
      which: fc.constantFrom("model" as const, "model" as const, "images" as const, "image" as const, "text" as const, "secret" as const, "missing" as const, "out" as const, "dev-null" as const, "root" as const),
    }),
  },
);

interface CliCase {
  command: (typeof COMMANDS)[number];
  tokens: Token[];
  /** Whether the case adds `--dataset <tiny folder>` (so train and eval stay small). */
  tinyData: boolean;
}

const cliCase: fc.Arbitrary<CliCase> = fc.record({
  command: fc.constantFrom(...COMMANDS),
  tokens: fc.array(token, { maxLength: 8 }),
  tinyData: fc.boolean(),
});

function argv(c: CliCase, dir: string): string[] {
  const f = cliFixtures();
  const out = c.tokens.map((t) => {
    switch (t.kind) {
      case "flag": return t.flag;
      case "number": return t.text;
      case "word": return t.text;
      case "path":
        return { model: f.model, images: f.images, image: f.image, text: f.text, secret: f.secretLink, missing: join(dir, "missing"), out: join(dir, "out"), "dev-null": "/dev/null", root: "/" }[t.which];
    }
  });
  // Everything the command writes goes into the case's folder; train and eval read the tiny dataset unless told otherwise.
  if (c.command === "train" || c.command === "eval") {
    if (c.tinyData || !out.includes("--dataset")) out.push("--dataset", f.images);
    out.push("--out", join(dir, "run"));
  }
  if (c.command === "eval" || c.command === "predict" || c.command === "visualize" || c.command === "export") out.unshift(f.model);
  if (c.command === "predict" || c.command === "visualize") out.splice(1, 0, f.image);
  if (c.command === "import" || c.command === "export" || c.command === "visualize") out.push("--out", join(dir, "exported"));
  return [c.command, ...out];
}

const HOSTILE_OUTPUT = /\n\s+at .*:\d+:\d+/; // a stack trace

export const cli: Target<CliCase, void> = {
  name: "cli",
  arbitrary: cliCase,
  load: async (c, dir) => {
    const args = argv(c, dir);
    const backend = s.getBackend().name;
    let stderr = "";
    const saved = { out: process.stdout.write, err: process.stderr.write, log: console.log, error: console.error, warn: console.warn };
    process.stdout.write = (() => true) as typeof process.stdout.write;
    process.stderr.write = ((chunk: string | Uint8Array) => {
      stderr += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
      return true;
    }) as typeof process.stderr.write;
    console.log = () => {
      throw new StopBeforeWork();
    };
    console.error = console.warn = (...parts: unknown[]) => {
      stderr += parts.map(String).join(" ") + "\n";
    };
    let code: number;
    try {
      code = await main(args);
    } catch (e) {
      throw new CliEnd("bare", `main threw ${(e as Error)?.name}: ${(e as Error)?.message} for ${JSON.stringify(args)}`);
    } finally {
      Object.assign(process.stdout, { write: saved.out });
      Object.assign(process.stderr, { write: saved.err });
      Object.assign(console, { log: saved.log, error: saved.error, warn: saved.warn });
      s.setBackend(backend);
    }
    if (stderr.includes(new StopBeforeWork().message)) return; // every argument passed its checks
    if (code === 0) return;
    // The first line is the error; an unknown command prints the usage after it.
    const first = stderr.trim().split("\n")[0];
    const problem = stderr.includes(SECRET) ? "leak" : (checkMessage(first) ?? (HOSTILE_OUTPUT.test(stderr) ? "internal" : null));
    if (problem) throw new CliEnd(problem, `${JSON.stringify(args)} -> ${stderr.slice(0, 500)}`);
    if (!/^stride\b.*:/.test(stderr.trim())) throw new CliEnd("unnamed", `exit ${code} without a "stride: …" line for ${JSON.stringify(args)}: ${JSON.stringify(stderr.slice(0, 200))}`);
    throw new CliEnd("refused", stderr.trim());
  },
  judge: (e) => (e instanceof CliEnd ? e.outcome : "bare"),
};
