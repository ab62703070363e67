/**
 * Runs fuzz cases and says how each ended. A target writes its case's files
 * into a fresh folder and calls a public reader on them; then, if the reader
 * accepted them, uses what it read (a model predicts, a dataset yields a
 * batch). Every case must end in one of two ways:
 *   ok       read and used without error;
 *   refused  a StrideError whose message names the file (or folder) at fault.
 * Anything else is a finding: a bare error (TypeError, RangeError, a library's
 * own Error), a typed error that names no file, a message from deep inside
 * ("Maximum call stack size exceeded"), a secret's bytes in a message, a
 * file accepted that then fails to run, or memory past the bound.
 */
import fc from "fast-check";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StrideError } from "../../src/index.js";

/** Written into "secret" files that a case links to; no message may contain it. */
export const SECRET = "s3cr3t-CANARY-7f3a";

export type Outcome = "ok" | "refused" | "bare" | "unnamed" | "internal" | "leak" | "run-failed" | "memory" | "hang" | "crash";
export const GOOD_OUTCOMES: readonly Outcome[] = ["ok", "refused"];

export interface Target<I = any, L = any> {
  name: string;
  arbitrary: fc.Arbitrary<I>;
  /** Writes the case's files under `dir` and reads them with the library; `dir` is what an error must name. */
  load(input: I, dir: string): L | Promise<L>;
  /** Uses what was read: a model must run, a dataset must give a batch. */
  use?(loaded: L, input: I): void | Promise<void>;
  /** Overrides the default check of a refusal (for the CLI, whose errors are lines of output). */
  judge?(error: unknown, dir: string): Outcome;
}

/** What one case did. */
export interface CaseReport {
  outcome: Outcome;
  message?: string;
  ms: number;
  /** Array-buffer memory alive right after the case, in bytes (a case that allocated a lot shows here before the next GC). */
  arrayBuffers: number;
}

/** Messages that come from inside the runtime or a dependency, not from a check of ours. */
const INTERNAL = [
  /Maximum call stack size exceeded/i, /Invalid typed array length/i, /Invalid array length/i, /Array buffer allocation failed/i,
  /waitng/i, /Cannot read propert/i, /is not a function/i, /is not iterable/i, /Cannot convert/i, /out of memory/i,
  /\bat [\w.<>]+ \(.*:\d+:\d+\)/, // a stack frame
];

/** Long messages are a sign of quoting a file's contents. */
export const MAX_MESSAGE_LENGTH = 2000;

/** The default judgement of an error thrown by a reader given files under `dir`. */
export function judgeError(e: unknown, dir: string): Outcome {
  const message = e instanceof Error ? e.message : String(e);
  if (message.includes(SECRET)) return "leak";
  if (!(e instanceof StrideError)) return "bare";
  if (!message.includes(dir)) return "unnamed";
  if (INTERNAL.some((r) => r.test(message)) || message.length > MAX_MESSAGE_LENGTH) return "internal";
  return "refused";
}

export function checkMessage(message: string): Outcome | null {
  if (message.includes(SECRET)) return "leak";
  if (INTERNAL.some((r) => r.test(message)) || message.length > MAX_MESSAGE_LENGTH) return "internal";
  return null;
}

/** Array-buffer bytes alive after a case beyond which it counts as a memory finding. */
export const MEMORY_BOUND = 2 ** 30;

let scratch: string | null = null;
let counter = 0;

/** A fresh empty folder for one case (under one temporary folder per process). */
export function caseFolder(): string {
  scratch ??= mkdtempSync(join(tmpdir(), "stride-fuzz-"));
  const dir = join(scratch, `c${counter++}`);
  mkdirSync(dir);
  return dir;
}

export function removeScratch(): void {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  scratch = null;
}

/** Runs one case: load, then use; classifies how it ended. */
export async function runCase<I>(target: Target<I>, input: I): Promise<CaseReport> {
  const dir = caseFolder();
  const started = performance.now();
  let outcome: Outcome = "ok";
  let message: string | undefined;
  try {
    let loaded: unknown;
    try {
      loaded = await target.load(input, dir);
    } catch (e) {
      outcome = target.judge ? target.judge(e, dir) : judgeError(e, dir);
      message = describeError(e, outcome);
    }
    if (outcome === "ok" && target.use) {
      try {
        await target.use(loaded, input);
      } catch (e) {
        outcome = "run-failed";
        message = describeError(e, outcome);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const ms = performance.now() - started;
  const arrayBuffers = process.memoryUsage().arrayBuffers;
  if (GOOD_OUTCOMES.includes(outcome) && arrayBuffers > MEMORY_BOUND) {
    outcome = "memory";
    message = `${(arrayBuffers / 2 ** 20).toFixed(0)} MB of array buffers alive after the case`;
  }
  return { outcome, message, ms, arrayBuffers };
}

/** An error's name and message, and for a finding where in the library it was thrown. */
function describeError(e: unknown, outcome: Outcome): string {
  if (!(e instanceof Error)) return String(e);
  const frame = GOOD_OUTCOMES.includes(outcome) ? undefined : e.stack?.split("\n").find((l) => l.includes("/src/"));
  return `${e.name}: ${e.message}${frame ? ` [${frame.trim()}]` : ""}`;
}

/** The seed of case `index` of a target: every case replays on its own from (seed, target, index). */
export function caseSeed(seed: number, target: string, index: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const ch of `${target}#${index}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h | 0;
}

/** The input of case `index`. */
export function caseInput<I>(target: Target<I>, seed: number, index: number): I {
  return fc.sample(target.arbitrary, { seed: caseSeed(seed, target.name, index), numRuns: 1 })[0];
}

/** A short printable form of an input (for reports of findings). */
export function describeInput(input: unknown): string {
  const s = JSON.stringify(input, (_k, v) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v));
  return s === undefined ? String(input) : s.length > 400 ? `${s.slice(0, 400)}…` : s;
}
