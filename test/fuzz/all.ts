/** Every fuzz target, and how many of a run's cases each gets (by weight). */
import type { Target } from "./runner.js";
import { cifar, idx, image, imageFolder, modelFolder, onnx, safetensors, torch } from "./targets.js";
import { cli } from "./cli.js";

export const TARGETS: { target: Target; weight: number }[] = [
  { target: modelFolder, weight: 4 },
  { target: safetensors, weight: 3 },
  { target: idx, weight: 2 },
  { target: cifar, weight: 1 },
  { target: image, weight: 2 },
  { target: imageFolder, weight: 1 },
  { target: torch, weight: 2 },
  { target: onnx, weight: 2 },
  { target: cli, weight: 1 },
];

/** Splits `total` cases over the targets by weight (every target gets at least one). */
export function shareCases(total: number, names?: string[]): Map<string, number> {
  const chosen = TARGETS.filter((t) => !names || names.includes(t.target.name));
  const weights = chosen.reduce((n, t) => n + t.weight, 0);
  return new Map(chosen.map((t) => [t.target.name, Math.max(1, Math.round((total * t.weight) / weights))]));
}

export function targetNamed(name: string): Target {
  const found = TARGETS.find((t) => t.target.name === name);
  if (!found) throw new Error(`no fuzz target "${name}"; known: ${TARGETS.map((t) => t.target.name).join(", ")}`);
  return found.target;
}
