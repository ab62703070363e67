/**
 * Sentences for the text CNN: tokenizer, vocabulary, padding, word vectors,
 * the Austen sentences that ship with stride, and a text CNN that learns
 * them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { tokenize, Vocabulary, textDataset, parseLabelledSentences, parseWordVectors, TextDataError, PAD_ID, UNKNOWN_ID } from "../src/data/text.js";
import { loadAustenSentences } from "../src/node/text.js";
import { loadNamedDataset } from "../src/cli/datasets.js";
import { buildModel } from "../src/cli/models.js";
import { fit, evaluate } from "../src/train/trainer.js";
import { Adam } from "../src/train/optimizers.js";

test("tokenize: lower case, words with inner apostrophes and hyphens, punctuation on its own", () => {
  assert.deepEqual(tokenize("It is a truth universally acknowledged, that a single man..."),
    ["it", "is", "a", "truth", "universally", "acknowledged", ",", "that", "a", "single", "man", ".", ".", "."]);
  assert.deepEqual(tokenize("\"Don't,\" said the well-bred Mr. Darcy!"), ["\"", "don't", ",", "\"", "said", "the", "well-bred", "mr", ".", "darcy", "!"]);
  assert.deepEqual(tokenize("   "), []);
  assert.throws(() => tokenize(42 as unknown as string), TextDataError);
});

test("a vocabulary: padding 0, unknown 1, then words by frequency, ties alphabetical; rare words unknown", () => {
  const v = Vocabulary.build([["b", "a", "c"], ["a", "b"], ["a", "d"]], { minCount: 2 });
  assert.deepEqual(v.tokens, ["<pad>", "<unk>", "a", "b"]);
  assert.equal(v.idOf("a"), 2);
  assert.equal(v.idOf("c"), UNKNOWN_ID);
  assert.deepEqual(v.encode(["a", "zzz", "b"], 5), [2, UNKNOWN_ID, 3, PAD_ID, PAD_ID]);
  assert.deepEqual(v.encode(["a", "b", "a"], 2), [2, 3]);
  assert.equal(Vocabulary.build([["x", "y", "z"]], { maxSize: 4 }).size, 4);
  assert.throws(() => Vocabulary.build([], { minCount: 0 }), /minCount = 0 is not valid/);
  assert.throws(() => new Vocabulary(["a", "b"]), /starts with "<pad>" and "<unk>"/);
});

test("textDataset: one row of ids per sentence, shape [1, 1, length]", () => {
  const v = Vocabulary.build([tokenize("the cat sat"), tokenize("the dog ran")]);
  const ds = textDataset({ name: "t", sentences: ["The cat ran.", "a dog"], labels: [0, 1], classes: ["x", "y"], vocabulary: v, length: 4 });
  assert.deepEqual(ds.shape, [1, 1, 4]);
  assert.deepEqual(Array.from(ds.images.subarray(0, 4)), [v.idOf("the"), v.idOf("cat"), v.idOf("ran"), UNKNOWN_ID]);
  assert.deepEqual(Array.from(ds.images.subarray(4, 8)), [UNKNOWN_ID, v.idOf("dog"), PAD_ID, PAD_ID]);
  assert.throws(() => textDataset({ name: "t", sentences: ["a"], labels: [0, 1], classes: ["x"], vocabulary: v, length: 4 }), /1 sentences but 2 labels/);
});

test("labelled sentences and word vectors are read, and bad lines refused with the line number", () => {
  const { sentences, labels, classes } = parseLabelledSentences("pos\tgood film\nneg\tbad film\n\npos\tgreat\n");
  assert.deepEqual([sentences, labels, classes], [["good film", "bad film", "great"], [0, 1, 0], ["pos", "neg"]]);
  assert.throws(() => parseLabelledSentences("no tab here\n", "s.tsv"), /s\.tsv, line 1: expected "label<TAB>sentence"/);
  assert.throws(() => parseLabelledSentences("x\tone\n", "s.tsv", ["a", "b"]), /label "x" is not one of a, b/);

  const v = Vocabulary.build([["good", "film", "bad"]]);
  const wv = parseWordVectors("3 2\nGood 0.5 -1\nfilm 1 2\nunseen 9 9\n", v);
  assert.equal(wv.dim, 2);
  assert.equal(wv.found, 2);
  assert.deepEqual(Array.from(wv.weights.subarray(v.idOf("good") * 2, v.idOf("good") * 2 + 2)), [0.5, -1]);
  assert.deepEqual(Array.from(wv.weights.subarray(v.idOf("bad") * 2, v.idOf("bad") * 2 + 2)), [0, 0]);
  assert.throws(() => parseWordVectors("good 1 2\nfilm 1\n", v, "v.txt"), /v\.txt, line 2: "film" has 1 numbers but the first word had 2/);
  assert.throws(() => parseWordVectors("good 1 x\n", v, "v.txt"), /"x" is not a number/);
  assert.throws(() => parseWordVectors("\n\n", v, "v.txt"), /has no word vectors/);
});

test("the Austen sentences ship with stride: 2,800 of each novel, split 80/20 with a vocabulary from the training part", () => {
  const all = loadAustenSentences();
  assert.deepEqual(all.classes, ["pride-and-prejudice", "persuasion"]);
  assert.equal(all.labels.filter((l) => l === 0).length, 2800);
  assert.equal(all.labels.filter((l) => l === 1).length, 2800);
  const data = loadNamedDataset("austen", { seed: 1 });
  assert.equal(data.kind, "tokens");
  assert.equal(data.train.length, 4480);
  assert.equal(data.test.length, 1120);
  assert.deepEqual(data.train.shape, [1, 1, 48]);
  // Built from the training sentences only, with the same seed the same vocabulary.
  assert.deepEqual(loadNamedDataset("austen", { seed: 1 }).vocabulary!.tokens, data.vocabulary!.tokens);
  assert.ok(data.vocabulary!.size > 2000);
});

test("the command line's text CNN learns which novel a sentence is from (a few hundred steps above chance)", async () => {
  const data = loadNamedDataset("austen", { seed: 3 });
  const model = buildModel("textcnn", { numClasses: 2, inputShape: data.train.shape, seed: 3, width: 0.25, vocabSize: data.vocabulary!.size });
  const before = evaluate(model, data.test);
  await fit(model, data.train, { epochs: 2, batchSize: 32, optimizer: new Adam(model.params(), { lr: 0.003 }), seed: 3, progress: "none" });
  const after = evaluate(model, data.test);
  assert.ok(after.accuracy > 0.6, `test accuracy ${after.accuracy} after training (before: ${before.accuracy})`);
  assert.ok(after.loss < before.loss);
});

test("textcnn starts from a word-vector file: its dimension, the file's vectors for the words it has, random for the rest", async () => {
  const data = loadNamedDataset("austen", { seed: 1 });
  const v = data.vocabulary!;
  const wv = parseWordVectors("3 4\nthe 0.5 0.25 -0.5 1\nelizabeth 1 2 3 4\nanne -1 -2 -3 -4\nzzzz 9 9 9 9\n", v);
  const model = buildModel("textcnn", { numClasses: 2, inputShape: data.train.shape, seed: 1, vocabSize: v.size, wordVectors: wv });
  const embedding = model.params().find((p) => p.value.shape.length === 2 && p.value.shape[0] === v.size)!;
  assert.deepEqual(embedding.value.shape, [v.size, 4]);
  const row = (word: string) => Array.from(embedding.value.data.subarray(v.idOf(word) * 4, v.idOf(word) * 4 + 4));
  assert.deepEqual(row("the"), [0.5, 0.25, -0.5, 1]);
  assert.deepEqual(row("anne"), [-1, -2, -3, -4]);
  const other = row("sister");
  assert.ok(other.every((x) => Math.abs(x) <= 0.25) && other.some((x) => x !== 0), `a word the file lacks starts random: ${other}`);

  // Through the command line: the log says what was found; an image model refuses the flag in one line.
  const { main } = await import("../src/cli/main.js");
  const { mkdtempSync, writeFileSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = mkdtempSync(join(tmpdir(), "stride-wv-"));
  writeFileSync(join(dir, "v.txt"), "the 0.5 0.25 -0.5 1\nelizabeth 1 2 3 4\n");
  let out = "", err = "";
  const write = process.stderr.write.bind(process.stderr), log = console.log;
  process.stderr.write = ((t: string) => ((err += t), true)) as typeof process.stderr.write;
  console.log = (...a: unknown[]) => void (out += a.join(" ") + "\n");
  try {
    const common = ["--epochs", "1", "--max-batches", "1", "--val-fraction", "0", "--schedule", "none", "--progress", "none", "--backend", "js", "--word-vectors", join(dir, "v.txt")];
    assert.equal(await main(["train", "textcnn", "--dataset", "austen", ...common, "--out", join(dir, "tc")]), 0, err);
    assert.match(out, /word vectors from .*v\.txt: 4 dimensions, 2 of the [\d,]+ vocabulary words found/);
    err = "";
    assert.notEqual(await main(["train", "lenet5", ...common, "--out", join(dir, "ln")]), 0);
    assert.match(err, /--word-vectors gives a text CNN its starting word vectors/);
  } finally {
    process.stderr.write = write;
    console.log = log;
  }
});
