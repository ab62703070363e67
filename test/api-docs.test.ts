/**
 * The API reference in docs/api/ is generated from the doc comments of src/index.ts's exports by
 * TypeDoc (scripts/api-docs/generate.mjs, `npm run docs:api`). This fails when the committed
 * pages differ from what the sources give now (a stale reference), or when TypeDoc reports a
 * problem: an export without a doc comment, a broken {@link}, a type the API mentions that is
 * not exported. And the guide's relative links must point at files that exist.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnSync } from "node:child_process";

const root = resolve(fileURLToPath(import.meta.url), "../../..");

test("docs/api/ is what TypeDoc generates from the sources now, without warnings", () => {
  const script = join(root, "scripts/api-docs/generate.mjs");
  assert.ok(
    existsSync(join(root, "scripts/api-docs/node_modules/typedoc")),
    "TypeDoc is not installed: run npm ci (it installs scripts/api-docs, a devDependency)",
  );
  const r = spawnSync(process.execPath, [script, "--check"], { cwd: root, encoding: "utf8", timeout: 120_000, env: { ...process.env, NO_COLOR: "1" } });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}\nRegenerate with: npm run docs:api`);
});

test("the guide's and the README's relative links point at files that exist", () => {
  const pages = [join(root, "README.md"), ...readdirSync(join(root, "docs")).filter((f) => /^guide.*\.md$/.test(f)).map((f) => join(root, "docs", f))];
  const broken: string[] = [];
  for (const page of pages) {
    const text = readFileSync(page, "utf8").replace(/```[\s\S]*?```/g, "");
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1];
      if (/^[a-z]+:/i.test(target) || target.startsWith("#")) continue;
      const path = join(dirname(page), target.split("#")[0]);
      if (!existsSync(path)) broken.push(`${page.slice(root.length + 1)}: ${target}`);
    }
  }
  assert.deepEqual(broken, []);
});
