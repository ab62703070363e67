/**
 * Every ```ts block of the guide (docs/guide*.md) runs as it is written: each block is a
 * self-contained module importing from "stride" (the package's own name, resolved to the
 * built dist/src by Node's self-reference), run in a child process that must exit cleanly.
 * A block fenced as ```ts norun is shown but not run (it needs files this machine may lack).
 * A ```text block right after a run block is the output pasted from a real run; lines in it
 * that start with "//" are not compared, and the test checks that the block's first output
 * line appears in what the example prints now, so pasted output cannot drift far unnoticed.
 *
 * DOCS_EXAMPLES_PRINT=1 node --test dist/test/docs-examples.test.js prints each block's output.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnSync } from "node:child_process";

const root = resolve(fileURLToPath(import.meta.url), "../../..");
const docs = join(root, "docs");
const work = join(root, "dist", "docs-examples");

export interface DocBlock {
  file: string;
  line: number;
  code: string;
  run: boolean;
  output?: string;
}

/** The fenced ```ts blocks of a Markdown text, each with the ```text block that follows it, if any. */
export function extractBlocks(file: string, text: string): DocBlock[] {
  const lines = text.split("\n");
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w+)(.*)$/.exec(lines[i]);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== "```"; i++) body.push(lines[i]);
    if (open[1] === "ts") {
      blocks.push({ file, line: start + 1, code: body.join("\n"), run: !/\bnorun\b/.test(open[2]) });
    } else if (open[1] === "text" && blocks.length && blocks[blocks.length - 1].output === undefined) {
      // Output belongs to the block just before it, with only prose in between.
      const prev = blocks[blocks.length - 1];
      const between = lines.slice(prev.line, start).join("\n");
      if ((between.match(/```/g) ?? []).length === 1) prev.output = body.join("\n");
    }
  }
  return blocks;
}

const guideFiles = readdirSync(docs).filter((f) => /^guide.*\.md$/.test(f)).sort();

test("the guide has runnable examples", () => {
  assert.ok(guideFiles.length >= 1, "docs/guide.md is missing");
  const total = guideFiles.flatMap((f) => extractBlocks(f, readFileSync(join(docs, f), "utf8"))).filter((b) => b.run).length;
  assert.ok(total >= 10, `only ${total} runnable examples`);
});

for (const file of guideFiles) {
  const blocks = extractBlocks(file, readFileSync(join(docs, file), "utf8"));
  for (const block of blocks) {
    if (!block.run) continue;
    test(`${file}:${block.line} runs`, () => {
      mkdirSync(work, { recursive: true });
      const path = join(work, `${file.replace(/\.md$/, "")}-${block.line}.mjs`);
      writeFileSync(path, block.code + "\n");
      try {
        const r = spawnSync(process.execPath, [path], { cwd: root, encoding: "utf8", timeout: 120_000, env: { ...process.env, FORCE_COLOR: "0" } });
        if (process.env.DOCS_EXAMPLES_PRINT) console.log(`--- ${file}:${block.line}\n${r.stdout}${r.stderr}`);
        assert.equal(r.status, 0, `${file}:${block.line} failed:\n${r.stderr}\n${r.stdout}`);
        if (block.output !== undefined) {
          const first = block.output.split("\n").find((l) => l.trim() !== "" && !l.startsWith("//") && !l.startsWith("…"));
          if (first !== undefined) {
            assert.ok(r.stdout.includes(first.trim()), `${file}:${block.line}: the pasted output's first line\n  ${first}\nis not in what the example prints now:\n${r.stdout}`);
          }
        }
      } finally {
        rmSync(path, { force: true });
      }
    });
  }
}
