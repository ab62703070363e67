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
    const rssBefore = process.memoryUsage().rss;
    const peakBefore = process.resourceUsage().maxRSS * 1024; // kilobytes on Linux
    const report = await runCase(target, caseInput(target, seed, i));
    const peak = process.resourceUsage().maxRSS * 1024;
    // What this case added to resident memory at its peak: only known when it raised the process's peak.
    const growth = peak > peakBefore ? peak - rssBefore : 0;
    await send({ type: "done", index: i, ...report, maxRss: peak, growth });
  }
} finally {
  removeScratch();
}
process.disconnect();
