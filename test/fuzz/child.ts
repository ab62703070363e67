/**
 * One worker process of `npm run fuzz`: runs cases [from, to) of one target
 * and reports each to the parent (over IPC) before and after it runs, so the
 * parent can tell a hang (no "done" in time) or a crash (the process died)
 * from an ordinary ending, and which case it was.
 */
import { caseInput, removeScratch, runCase } from "./runner.js";
import { targetNamed } from "./all.js";

const [name, seedText, fromText, toText] = process.argv.slice(2);
const target = targetNamed(name);
const seed = Number(seedText);
const send = (m: unknown) => new Promise<void>((resolve) => process.send!(m, () => resolve()));

try {
  for (let i = Number(fromText); i < Number(toText); i++) {
    await send({ type: "start", index: i });
    const report = await runCase(target, caseInput(target, seed, i));
    // Peak resident memory so far (kilobytes on Linux): a case that touched more than the bound shows here.
    await send({ type: "done", index: i, ...report, maxRss: process.resourceUsage().maxRSS * 1024 });
  }
} finally {
  removeScratch();
}
process.disconnect();
