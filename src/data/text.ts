/**
 * Sentences as the text CNN reads them (Kim 2014; the notes' 1-D
 * convolution over word vectors): words split off by a tokenizer, mapped to
 * ids by a vocabulary built from the training sentences, padded or cut to a
 * fixed length, and looked up in an embedding table that starts random or
 * from a word-vector file (GloVe / word2vec text format).
 *
 * A sentence dataset is an ordinary Dataset whose "image" is the row of
 * token ids, shape [1, 1, length], so fit, evaluate and the DataLoader take
 * it unchanged; the text CNN flattens it to [N, length] before its
 * embedding. Ids are small whole numbers stored as floats (exact below 2^24).
 */
import { createDataset, type Dataset } from "./dataset.js";
import { StrideError } from "../stride-error.js";

/** Thrown for sentences, vocabularies or word-vector files that cannot be used; the message says why and what to do. */
export class TextDataError extends StrideError {
  constructor(message: string) {
    super(message);
    this.name = "TextDataError";
  }
}

/** The id of the padding token (every sentence is padded to the same length with it). */
export const PAD_ID = 0;
/** The id of words not in the vocabulary. */
export const UNKNOWN_ID = 1;

/**
 * Splits a sentence into lower-case tokens: runs of letters and digits (with
 * inner apostrophes and hyphens: "don't", "well-bred") and each punctuation
 * mark on its own, as the preprocessing of Kim's sentence datasets does.
 */
export function tokenize(sentence: string): string[] {
  if (typeof sentence !== "string") throw new TextDataError(`tokenize: expected a string, got ${sentence === null ? "null" : typeof sentence}`);
  return sentence.toLowerCase().match(/[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*|[^\s\p{L}\p{N}]/gu) ?? [];
}

/** Options of Vocabulary.build. */
export interface VocabularyOptions {
  /** Words seen fewer times than this become the unknown token (default 1: keep every word). */
  minCount?: number;
  /** At most this many tokens, the two special ones included; the most frequent words are kept (default: no limit). */
  maxSize?: number;
}

/** Words and their ids: 0 is padding, 1 the unknown word, then words by falling frequency (ties alphabetical). */
export class Vocabulary {
  /** Every token by id. */
  readonly tokens: string[];
  private readonly ids: Map<string, number>;

  constructor(tokens: string[]) {
    if (!Array.isArray(tokens) || tokens[PAD_ID] !== "<pad>" || tokens[UNKNOWN_ID] !== "<unk>") {
      throw new TextDataError('a vocabulary starts with "<pad>" and "<unk>" (ids 0 and 1); build one with Vocabulary.build(sentences)');
    }
    this.tokens = tokens.slice();
    this.ids = new Map(this.tokens.map((t, i) => [t, i]));
    if (this.ids.size !== this.tokens.length) throw new TextDataError("a vocabulary lists a token twice; every token needs one id");
  }

  /** The vocabulary of some tokenized sentences (the training set's: words only seen in the test set must stay unknown). */
  static build(sentences: string[][], options: VocabularyOptions = {}): Vocabulary {
    const minCount = options.minCount ?? 1;
    const maxSize = options.maxSize ?? Infinity;
    if (!Number.isInteger(minCount) || minCount < 1) throw new TextDataError(`minCount = ${JSON.stringify(options.minCount)} is not valid; use a whole number >= 1`);
    if (!(maxSize >= 3)) throw new TextDataError(`maxSize = ${JSON.stringify(options.maxSize)} is not valid; a vocabulary needs room for <pad>, <unk> and one word`);
    const counts = new Map<string, number>();
    for (const s of sentences) for (const t of s) counts.set(t, (counts.get(t) ?? 0) + 1);
    const words = [...counts].filter(([, c]) => c >= minCount).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([w]) => w);
    return new Vocabulary(["<pad>", "<unk>", ...words.slice(0, Math.min(words.length, maxSize - 2))]);
  }

  get size(): number {
    return this.tokens.length;
  }

  /** The id of a token, UNKNOWN_ID when it is not in the vocabulary. */
  idOf(token: string): number {
    return this.ids.get(token) ?? UNKNOWN_ID;
  }

  /** Ids of the tokens, cut or padded with PAD_ID to `length` when given. */
  encode(tokens: string[], length?: number): number[] {
    const ids = tokens.map((t) => this.idOf(t));
    if (length === undefined) return ids;
    return ids.length >= length ? ids.slice(0, length) : [...ids, ...new Array<number>(length - ids.length).fill(PAD_ID)];
  }
}

/** What textDataset takes: sentences with their labels (indices into classes). */
export interface TextDatasetParts {
  name: string;
  sentences: string[];
  labels: ArrayLike<number>;
  classes: string[];
  vocabulary: Vocabulary;
  /** Tokens per sentence: longer ones are cut, shorter ones padded. */
  length: number;
}

/** Sentences as a Dataset of token-id rows, shape [1, 1, length]. */
export function textDataset(parts: TextDatasetParts): Dataset {
  const { name, sentences, labels, classes, vocabulary, length } = parts;
  if (!Number.isInteger(length) || length < 1) throw new TextDataError(`length = ${JSON.stringify(length)} is not valid; give the tokens per sentence as a whole number >= 1`);
  if (!Array.isArray(sentences) || sentences.length !== labels.length) {
    throw new TextDataError(`dataset "${name}": ${Array.isArray(sentences) ? sentences.length : "no"} sentences but ${labels.length} labels; give one label per sentence`);
  }
  const ids = new Float32Array(sentences.length * length);
  sentences.forEach((s, i) => ids.set(vocabulary.encode(tokenize(s), length), i * length));
  return createDataset({ name, images: ids, labels: Int32Array.from(labels), shape: [1, 1, length], classes });
}

/** Sentences and labels from "label<TAB>sentence" lines; the classes in order of first appearance unless given. */
export function parseLabelledSentences(text: string, source = "the text", classes?: string[]): { sentences: string[]; labels: number[]; classes: string[] } {
  const names = classes ? classes.slice() : [];
  const sentences: string[] = [];
  const labels: number[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const tab = line.indexOf("\t");
    if (tab <= 0) throw new TextDataError(`${source}, line ${i + 1}: expected "label<TAB>sentence", found no label before a tab`);
    const label = line.slice(0, tab);
    let k = names.indexOf(label);
    if (k < 0) {
      if (classes) throw new TextDataError(`${source}, line ${i + 1}: label "${label.slice(0, 40)}" is not one of ${classes.join(", ")}`);
      k = names.push(label) - 1;
    }
    sentences.push(line.slice(tab + 1));
    labels.push(k);
  });
  if (sentences.length === 0) throw new TextDataError(`${source} has no sentences; expected lines of "label<TAB>sentence"`);
  return { sentences, labels, classes: names };
}

/** An embedding table for a vocabulary from a word-vector file, and how many of its words the file had. */
export interface WordVectors {
  /** vocabulary.size x dim values, row i the vector of token i: found words from the file, the rest (padding included) zero. */
  weights: Float32Array;
  dim: number;
  /** Vocabulary words the file had a vector for. */
  found: number;
  /** Per token id, 1 when the file had its vector. */
  present: Uint8Array;
}

/**
 * Reads word vectors in the GloVe / word2vec text format ("word v1 v2 … vD"
 * per line; a first line "count dim" is skipped) for the words of a
 * vocabulary: the table an Embedding layer can start from. Words the file
 * lacks keep zeros, which the caller may replace with random vectors.
 */
export function parseWordVectors(text: string, vocabulary: Vocabulary, source = "the word-vector file"): WordVectors {
  let dim = 0;
  let found = 0;
  let weights = new Float32Array(0);
  const seen = new Uint8Array(vocabulary.size);
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const parts = lines[i].trim().split(/\s+/);
    if (parts.length < 2 || parts[0] === "") continue;
    if (i === 0 && parts.length === 2 && /^\d+$/.test(parts[0]) && /^\d+$/.test(parts[1])) continue; // word2vec's header
    if (dim === 0) {
      dim = parts.length - 1;
      if (dim > 10000) throw new TextDataError(`${source}, line ${i + 1}: ${dim} numbers per word is more than the 10,000 this reader takes`);
      weights = new Float32Array(vocabulary.size * dim);
    }
    if (parts.length - 1 !== dim) {
      throw new TextDataError(`${source}, line ${i + 1}: "${parts[0].slice(0, 40)}" has ${parts.length - 1} numbers but the first word had ${dim}; every word needs the same dimension`);
    }
    const id = vocabulary.idOf(parts[0].toLowerCase());
    if (id === UNKNOWN_ID || seen[id]) continue;
    for (let d = 0; d < dim; d++) {
      const v = Number(parts[d + 1]);
      if (!Number.isFinite(v)) throw new TextDataError(`${source}, line ${i + 1}: "${parts[d + 1].slice(0, 20)}" is not a number`);
      weights[id * dim + d] = v;
    }
    seen[id] = 1;
    found++;
  }
  if (dim === 0) throw new TextDataError(`${source} has no word vectors; expected lines of "word v1 v2 … vD"`);
  return { weights, dim, found, present: seen };
}
