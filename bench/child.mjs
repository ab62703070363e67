/**
 * Runs one bench child process to completion (or until a timeout) and
 * collects the JSON lines it reports, each "TAG {json}" on stdout: the bench
 * cells report BENCH_RESULT, the inference-gap profilers GAP_RESULT.
 */
import { spawn } from "node:child_process";

export function runChildProcess(cmd, args, { timeoutSec, env = {}, cwd, tag = "BENCH_RESULT" }) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    let timedOut = false;
    child.stdout.on("data", (d) => { out += d; });
    child.stderr.on("data", (d) => { err += d; if (err.length > 100_000) err = err.slice(-50_000); });
    const timer = setTimeout(() => { timedOut = true; child.kill("SIGKILL"); }, timeoutSec * 1000);
    child.on("error", (e) => { err += String(e); });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const prefix = `${tag} `;
      const results = out.split("\n").filter((l) => l.startsWith(prefix)).map((l) => JSON.parse(l.slice(prefix.length)));
      resolve({ results, code, signal, timedOut, stderr: err });
    });
  });
}
