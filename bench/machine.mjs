/**
 * What the bench says about the machine it ran on: the CPU model and SIMD
 * extensions, the cache sizes per level, and the kernel tuning stride chose
 * for it (getTuning() of the build measured, when the build has one).
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { cpus, totalmem, loadavg, release, availableParallelism, platform } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runChildProcess } from "./child.mjs";
import { describeState, DISTURBED_SHARE } from "./machine-state.mjs";

function sh(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return null;
  }
}

const read = (f) => {
  try {
    return readFileSync(f, "utf8").trim();
  } catch {
    return null;
  }
};

/** "2048K" / bytes -> "2 MiB" (sysfs writes K for KiB). */
function humanSize(bytes) {
  if (bytes >= 2 ** 20 && bytes % 2 ** 20 === 0) return `${bytes / 2 ** 20} MiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  return `${Math.round(bytes / 1024)} KiB`;
}

function parseSysfsSize(s) {
  const m = /^(\d+)([KMG]?)$/.exec(s ?? "");
  if (!m) return null;
  return Number(m[1]) * { "": 1, K: 1024, M: 2 ** 20, G: 2 ** 30 }[m[2]];
}

/**
 * The caches of the first CPU, e.g. "L1d 48 KiB, L1i 32 KiB, L2 2 MiB, L3 105 MiB (shared by CPUs 0-1)".
 * Linux: sysfs; macOS: sysctl; anything else: null.
 */
export function describeCaches() {
  const dir = "/sys/devices/system/cpu/cpu0/cache";
  if (existsSync(dir)) {
    const parts = [];
    for (const idx of readdirSync(dir).filter((d) => /^index\d+$/.test(d)).sort()) {
      const level = read(join(dir, idx, "level"));
      const type = read(join(dir, idx, "type"));
      const size = parseSysfsSize(read(join(dir, idx, "size")));
      if (!level || !size) continue;
      const shared = read(join(dir, idx, "shared_cpu_list"));
      const suffix = type === "Data" ? "d" : type === "Instruction" ? "i" : "";
      // A cache several CPUs share says so: per-core sizes are what blocking should fit.
      const sharing = shared && /[-,]/.test(shared) ? ` (shared by CPUs ${shared})` : "";
      parts.push(`L${level}${suffix} ${humanSize(size)}${sharing}`);
    }
    if (parts.length) return parts.join(", ");
  }
  if (platform() === "darwin") {
    const names = [["L1d", "hw.l1dcachesize"], ["L1i", "hw.l1icachesize"], ["L2", "hw.l2cachesize"], ["L3", "hw.l3cachesize"]];
    const parts = names.map(([label, key]) => [label, Number(sh("sysctl", ["-n", key]))]).filter(([, v]) => v > 0);
    if (parts.length) return parts.map(([label, v]) => `${label} ${humanSize(v)}`).join(", ");
  }
  return null;
}

export function describeMachine() {
  const info = existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : "";
  const model = /model name\s*:\s*(.*)/.exec(info)?.[1] ?? cpus()[0]?.model ?? "unknown";
  const flags = /flags\s*:\s*(.*)/.exec(info)?.[1].split(" ") ?? [];
  const simd = ["avx512f", "avx2", "fma", "avx", "sse4_2"].filter((f) => flags.includes(f));
  return {
    cpu: model,
    family: /cpu family\s*:\s*(\d+)/.exec(info)?.[1],
    model: /^model\s*:\s*(\d+)/m.exec(info)?.[1],
    simd: simd.join(", "),
    caches: describeCaches(),
    cores: availableParallelism?.() ?? cpus().length,
    memoryGiB: totalmem() / 2 ** 30,
    node: process.version,
    os: `${platform() === "linux" ? "Linux" : platform()} ${release()}`,
    loadAtStart: loadavg().map((x) => x.toFixed(2)).join(" "),
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
  };
}

/**
 * The kernel tuning the stride build in `distDir` chose on this machine, from
 * its getTuning() (in a child process, with the wasm backend selected, so the
 * bench's own process starts no workers); a sentence when it has none.
 */
export async function strideTuning(distDir) {
  const index = join(distDir, "index.js");
  const probe = `const s = await import(${JSON.stringify("file://" + index)});
    let t = null;
    if (typeof s.getTuning === "function") { try { s.setBackend("wasm"); } catch {} t = s.getTuning(); }
    console.log("BENCH_RESULT " + JSON.stringify({ tuning: t })); process.exit(0);`;
  const r = await runChildProcess(process.execPath, ["--input-type=module", "-e", probe], { timeoutSec: 60 });
  const t = r.results[0]?.tuning;
  if (r.results.length === 0) return `unknown (the build did not load: ${r.stderr.trim().split("\n").slice(-1)[0]})`;
  return t ? formatTuning(t) : "not available in this build (no getTuning() export)";
}

/**
 * The 128-bit SIMD FMA ceiling measured by bench/fma-peak.mjs (one thread,
 * in a child: it sets a V8 flag), as a sentence; per core, and times the cores.
 */
export async function fmaCeiling(cores) {
  const script = fileURLToPath(new URL("./fma-peak.mjs", import.meta.url));
  const r = await runChildProcess(process.execPath, [script, "--json"], { timeoutSec: 60 });
  const p = r.results[0];
  if (!p) return `not measured (${r.stderr.trim().split("\n").slice(-1)[0] || "bench/fma-peak.mjs reported nothing"})`;
  const what = p.fused ? "f32x4 fused multiply-adds (relaxed SIMD)" : "f32x4 multiply + add (this Node has no relaxed SIMD)";
  return `${p.gflops.toFixed(1)} GFLOP/s per core of ${what}, measured on one thread by bench/fma-peak.mjs; x ${cores} cores = ${(p.gflops * cores).toFixed(0)} GFLOP/s`;
}

/** { source, mc: 120, kc: 256, machine: {...} } -> "mc 120, kc 256 (source)"; nested objects (what stride detected) are left out. */
export function formatTuning(t) {
  const { source, ...rest } = t;
  const values = Object.entries(rest).filter(([, v]) => v === null || typeof v !== "object").map(([k, v]) => `${k} ${v}`);
  return `${values.join(", ")}${source ? ` (${source})` : ""}`;
}

/**
 * The machine-state probe (bench/machine-state.mjs) at the start and the end
 * of the run, and a warning when either reading was disturbed.
 */
function stateLines(state) {
  if (!state) return [];
  const read = (s) => (s ? describeState(s) : "not measured");
  const lines = [
    `- Cache-bound probe (one thread; bench/machine-state.mjs): at the start ${read(state.start)}; at the end ${read(state.end)}` +
      " (on a quiet machine the product runs near the probe: 97% on this bench's Intel Xeon family 6 model 167)",
  ];
  const low = [state.start, state.end].filter((s) => s && s.share < DISTURBED_SHARE);
  if (low.length) {
    lines.push("  **Warning:** cache-bound code ran far below the FMA ceiling during this run, from something the load average" +
      " does not show (likely another guest on the same physical core): every figure here is low, and not by one factor" +
      " for every library. Compare runs only when both were quiet.");
  }
  return lines;
}

/** The Machine section's lines (Markdown list items). */
export function machineLines(machine, elapsedMin) {
  const bits = machine.simd ? `, ${machine.simd}` : "";
  return [
    `- CPU: ${machine.cpu}${machine.family ? ` (family ${machine.family}, model ${machine.model})` : ""}${bits}`,
    `- Caches (cpu0): ${machine.caches ?? "unknown (no /sys/devices/system/cpu/cpu0/cache here)"}`,
    `- Cores: ${machine.cores}`,
    `- Memory: ${machine.memoryGiB.toFixed(1)} GiB`,
    `- Node: ${machine.node}; ${machine.os}`,
    `- stride kernel tuning: ${machine.tuning ?? "not probed"}`,
    ...(machine.fmaCeiling ? [`- 128-bit SIMD ceiling: ${machine.fmaCeiling}`] : []),
    ...stateLines(machine.state),
    `- Load average when the run started: ${machine.loadAtStart}` +
      (machine.loadDuring
        ? `; 1-minute load average before each cell: min ${machine.loadDuring.min.toFixed(2)}, median ${machine.loadDuring.median.toFixed(2)}, max ${machine.loadDuring.max.toFixed(2)}`
        : ""),
    `  (the bench runs one cell at a time; a load above ${machine.cores > 1 ? "about 1" : "0"} means other work shared the CPU, which hurts multi-threaded cells most)`,
    ...(elapsedMin !== undefined ? [`- Date: ${machine.date}; the whole run took ${elapsedMin.toFixed(1)} min`] : [`- Date: ${machine.date}`]),
  ];
}

/** The machine-state probe in a child process on the build measured (srcDir: its dist/src); null when it fails. */
export async function probeMachineState(srcDir) {
  const script = fileURLToPath(new URL("./machine-state.mjs", import.meta.url));
  const r = await runChildProcess(process.execPath, [script, "--json", "--dist", dirname(srcDir)], { timeoutSec: 120 });
  return r.results[0] ?? null;
}
