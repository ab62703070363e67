// The fuzz suite's short run: the long run's driver (test/fuzz/main.ts, `npm run fuzz`)
// with a few thousand seeded cases over every file format and the CLI's
// arguments, in child processes (the CLI's cases capture stdout, which is this
// runner's channel). Every case must load and run, or be refused with a
// StrideError naming the file; a failure lists the findings with the command
// that replays each. The per-case time bound here is generous (a busy machine
// is not a hang); `npm run fuzz` uses 5 s.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SECRET, judgeError } from "./fuzz/runner.js";
import { TARGETS } from "./fuzz/all.js";
import * as s from "../src/index.js";

const SEED = 20261202;
const CASES = 2400;

test("the judge tells a typed, named refusal from a bare, unnamed, internal or leaking error", () => {
  const dir = "/tmp/case7";
  assert.equal(judgeError(new s.ModelFileError(`${dir}/model.json`, "is damaged"), dir), "refused");
  assert.equal(judgeError(new TypeError("Cannot read properties of null (reading 'mean')"), dir), "bare");
  assert.equal(judgeError(new s.ModelFileError("model.json", "is damaged"), dir), "unnamed");
  assert.equal(judgeError(new s.ModelFileError(`${dir}/model.json`, "Maximum call stack size exceeded"), dir), "internal");
  assert.equal(judgeError(new s.ModelFileError(`${dir}/model.json`, `starts with "${SECRET}"`), dir), "leak");
});

test(`fuzz: ${CASES} seeded cases over every target, each read and used or refused with a typed error naming the file`, () => {
  const dir = mkdtempSync(join(tmpdir(), "stride-fuzz-test-"));
  const reportPath = join(dir, "report.json");
  const main = fileURLToPath(new URL("./fuzz/main.js", import.meta.url));
  let output = "";
  try {
    output = execFileSync(process.execPath, [main, "--cases", String(CASES), "--seed", String(SEED), "--jobs", "2", "--timeout", "120000", "--report", reportPath], {
      encoding: "utf8", stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (e) {
    output = (e as { stdout?: string }).stdout ?? String(e);
  }
  try {
    const report = JSON.parse(readFileSync(reportPath, "utf8")) as { cases: number; counts: Record<string, Record<string, number>>; findings: unknown[] };
    assert.deepEqual(report.findings, [], output);
    assert.ok(report.cases >= CASES - TARGETS.length, `only ${report.cases} cases ran`);
    for (const { target } of TARGETS) {
      // Both endings occur for every target, so cases reach past the first check and valid files still load.
      const row = report.counts[target.name] ?? {};
      assert.ok((row.ok ?? 0) > 0 && (row.refused ?? 0) > 0, `${target.name}: ${JSON.stringify(row)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
