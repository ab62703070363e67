/**
 * Sentence data on disk (Node only): the Jane Austen sentences that ship
 * with stride, and word-vector files for an embedding's starting values.
 */
import { gunzipSync } from "node:zlib";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { readRegularFile } from "./files.js";
import { parseLabelledSentences, parseWordVectors, TextDataError, type Vocabulary, type WordVectors } from "../data/text.js";

/** Where the package keeps data/austen-sentences.tsv.gz (dist/src/node/ -> the package root). */
export const AUSTEN_SENTENCES_FILE = fileURLToPath(new URL("../../../data/austen-sentences.tsv.gz", import.meta.url));

/**
 * 5,600 sentences of two Jane Austen novels (public domain), labelled by novel:
 * "pride-and-prejudice" and "persuasion", 2,800 each, 4 to 40 words long.
 * Made by scripts/gen_austen_sentences.py from Debian's r-cran-janeaustenr.
 */
export function loadAustenSentences(path = AUSTEN_SENTENCES_FILE): { sentences: string[]; labels: number[]; classes: string[] } {
  if (!existsSync(path)) throw new TextDataError(`${path} is missing: it ships with stride (data/austen-sentences.tsv.gz); reinstall the package or regenerate it with scripts/gen_austen_sentences.py`);
  let text: string;
  try {
    text = gunzipSync(readRegularFile(path), { maxOutputLength: 64 << 20 }).toString("utf8");
  } catch (e) {
    throw new TextDataError(`${path} cannot be read as a gzip file of sentences (${(e as Error).message}); regenerate it with scripts/gen_austen_sentences.py`);
  }
  return parseLabelledSentences(text, path, ["pride-and-prejudice", "persuasion"]);
}

/** Reads a GloVe / word2vec text file of word vectors for a vocabulary's words (see parseWordVectors). */
export function loadWordVectors(path: string, vocabulary: Vocabulary): WordVectors {
  let bytes: Buffer;
  try {
    bytes = readRegularFile(path);
  } catch (e) {
    throw new TextDataError(`${path} cannot be read (${(e as Error).message}); give a word-vector text file ("word v1 v2 … vD" per line)`);
  }
  if (bytes.length > 2 ** 30) throw new TextDataError(`${path} is ${(bytes.length / 2 ** 30).toFixed(1)} GiB; keep only the words you need (over 1 GiB is refused)`);
  const text = path.endsWith(".gz") ? gunzipSync(bytes, { maxOutputLength: 2 ** 30 }).toString("utf8") : bytes.toString("utf8");
  return parseWordVectors(text, vocabulary, path);
}
