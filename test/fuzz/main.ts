/**
 * `npm run fuzz`: the long fuzz run.
 *
 *   node dist/test/fuzz/main.js [--cases 100000] [--seed 1] [--jobs 2] [--targets a,b] [--timeout 5000] [--memory-mb 1024]
 *   node dist/test/fuzz/main.js --target model-folder --seed 1 --case 123     replays one case and prints it
 *
 * Cases run in child processes (test/fuzz/child.ts), in chunks. A case with
 * no result after --timeout ms is a hang: its process is killed and the chunk
 * goes on from the next case. A process whose peak resident memory passes
 * --memory-mb marks the case that took it there, and is replaced. Prints the
 * count of each outcome per target and the first findings with how to replay them.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { cpus } from "node:os";
import { writeFileSync } from "node:fs";
import { GOOD_OUTCOMES, caseInput, describeInput, removeScratch, runCase, type Outcome } from "./runner.js";
import { TARGETS, shareCases, targetNamed } from "./all.js";

const { values: o } = parseArgs({
  options: {
    cases: { type: "string", default: "100000" }, seed: { type: "string", default: "1" }, jobs: { type: "string", default: "2" },
    targets: { type: "string" }, timeout: { type: "string", default: "5000" }, "memory-mb": { type: "string", default: "1024" },
    chunk: { type: "string", default: "1000" }, report: { type: "string" }, target: { type: "string" }, case: { type: "string" },
  },
});

const positive = (name: string, text: string): number => {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`fuzz: --${name} ${text} must be a whole number >= 0`);
    process.exit(2);
  }
  return n;
};

const seed = positive("seed", o.seed!);

if (o.case !== undefined) {
  // Replay one case in this process, with its input and the full error.
  const target = targetNamed(o.target ?? "");
  const input = caseInput(target, seed, positive("case", o.case));
  console.log(`input: ${describeInput(input)}`);
  const report = await runCase(target, input);
  console.log(report);
  removeScratch();
  process.exit(GOOD_OUTCOMES.includes(report.outcome) ? 0 : 1);
}

const total = positive("cases", o.cases!);
const jobs = Math.max(1, positive("jobs", o.jobs!));
const timeout = positive("timeout", o.timeout!);
const memoryBound = positive("memory-mb", o["memory-mb"]!) * 2 ** 20;
const chunk = Math.max(1, positive("chunk", o.chunk!));
const names = o.targets?.split(",");
names?.forEach(targetNamed);
const shares = shareCases(total, names);

interface Finding {
  target: string;
  index: number;
  outcome: Outcome;
  message?: string;
}

const counts = new Map<string, Map<Outcome, number>>();
const slowest = new Map<string, number>();
const peakMemory = new Map<string, number>();
const largestGrowth = new Map<string, number>();
const findings: Finding[] = [];
const record = (target: string, index: number, outcome: Outcome, message?: string) => {
  const row = counts.get(target) ?? new Map<Outcome, number>();
  counts.set(target, row);
  row.set(outcome, (row.get(outcome) ?? 0) + 1);
  if (!GOOD_OUTCOMES.includes(outcome)) findings.push({ target, index, outcome, message });
};

const queue: { target: string; from: number; to: number }[] = [];
for (const [target, n] of shares) for (let from = 0; from < n; from += chunk) queue.push({ target, from, to: Math.min(n, from + chunk) });

const childScript = fileURLToPath(new URL("./child.js", import.meta.url));
const started = Date.now();
let done = 0;
let lastPrint = 0;

/** Runs cases [from, to) of a target in child processes until all have an outcome. */
function runChunk(target: string, from: number, to: number): Promise<void> {
  return new Promise((resolve) => {
    const child: ChildProcess = fork(childScript, [target, String(seed), String(from), String(to)], { stdio: ["ignore", "ignore", "pipe", "ipc"] });
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr = (stderr + d).slice(-2000)));
    let current = -1;
    let next = from;
    let timer: NodeJS.Timeout | null = null;
    let settled = false;
    const restartAt = (index: number) => {
      settled = true;
      if (timer) clearTimeout(timer);
      child.kill("SIGKILL");
      if (index < to) runChunk(target, index, to).then(resolve);
      else resolve();
    };
    child.on("message", (m: any) => {
      if (settled) return;
      if (m.type === "start") {
        current = m.index;
        timer = setTimeout(() => {
          record(target, current, "hang", `no result after ${timeout} ms`);
          done++;
          restartAt(current + 1);
        }, timeout);
        return;
      }
      if (timer) clearTimeout(timer);
      timer = null;
      done++;
      next = m.index + 1;
      slowest.set(target, Math.max(slowest.get(target) ?? 0, m.ms));
      peakMemory.set(target, Math.max(peakMemory.get(target) ?? 0, m.maxRss));
      largestGrowth.set(target, Math.max(largestGrowth.get(target) ?? 0, m.growth, m.arrayBuffers));
      if (m.growth > memoryBound || m.arrayBuffers > memoryBound) {
        record(target, m.index, "memory", `resident memory grew by ${(m.growth / 2 ** 20).toFixed(0)} MB, array buffers ${(m.arrayBuffers / 2 ** 20).toFixed(0)} MB (${m.outcome})`);
        restartAt(next);
        return;
      }
      record(target, m.index, m.outcome, m.message);
      if (Date.now() - lastPrint > 30_000) {
        lastPrint = Date.now();
        console.error(`fuzz: ${done}/${[...shares.values()].reduce((a, b) => a + b, 0)} cases, ${findings.length} findings, ${((Date.now() - started) / 1000).toFixed(0)} s`);
      }
    });
    child.on("exit", (code, signal) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      if (current < from && next === from) {
        // The process died before its first case (it could not even load): stop, rather than fork forever.
        console.error(`fuzz: a ${target} worker exited (${signal ?? code}) before its first case: ${stderr.trim().split("\n").slice(-3).join(" | ")}`);
        process.exit(2);
      }
      if (current >= next) {
        // The process died inside a case: out of memory, or a crash of the runtime.
        record(target, current, "crash", `the process exited (${signal ?? code}) during the case: ${stderr.trim().split("\n").slice(-3).join(" | ")}`);
        done++;
        next = current + 1;
      }
      if (next < to) runChunk(target, next, to).then(resolve);
      else resolve();
    });
  });
}

async function worker(): Promise<void> {
  for (let job = queue.shift(); job; job = queue.shift()) await runChunk(job.target, job.from, job.to);
}

await Promise.all(Array.from({ length: jobs }, worker));
const seconds = (Date.now() - started) / 1000;

const outcomes: Outcome[] = ["ok", "refused", "bare", "unnamed", "internal", "leak", "run-failed", "memory", "hang", "crash"];
const pad = (s: string | number, n: number) => String(s).padStart(n);
console.log(`stride fuzz: ${done} cases, seed ${seed}, ${jobs} processes, ${seconds.toFixed(0)} s on ${cpus()[0]?.model ?? "an unknown CPU"}`);
// slowest ms: the longest case; case MB: the most one case added to resident memory (or held in array buffers);
// process MB: the largest resident size of a worker process over its cases.
console.log(`${"target".padEnd(14)}${outcomes.map((k) => pad(k, 11)).join("")}${pad("slowest ms", 12)}${pad("case MB", 9)}${pad("process MB", 12)}`);
for (const { target } of TARGETS) {
  const row = counts.get(target.name);
  if (!row) continue;
  console.log(
    `${target.name.padEnd(14)}${outcomes.map((k) => pad(row.get(k) ?? 0, 11)).join("")}` +
      `${pad((slowest.get(target.name) ?? 0).toFixed(0), 12)}${pad(((largestGrowth.get(target.name) ?? 0) / 2 ** 20).toFixed(0), 9)}` +
      `${pad(((peakMemory.get(target.name) ?? 0) / 2 ** 20).toFixed(0), 12)}`,
  );
}
const totals = outcomes.map((k) => [...counts.values()].reduce((n, row) => n + (row.get(k) ?? 0), 0));
console.log(`${"all".padEnd(14)}${totals.map((n) => pad(n, 11)).join("")}`);
console.log(`findings: ${findings.length}`);
for (const f of findings.slice(0, 30)) {
  console.log(`  ${f.target} case ${f.index}: ${f.outcome}: ${(f.message ?? "").slice(0, 300)}`);
  console.log(`    replay: node dist/test/fuzz/main.js --target ${f.target} --seed ${seed} --case ${f.index}`);
}
if (o.report) writeFileSync(o.report, JSON.stringify({ seed, cases: done, seconds, counts: Object.fromEntries([...counts].map(([k, v]) => [k, Object.fromEntries(v)])), findings }, null, 1));
process.exit(findings.length ? 1 : 0);
