/**
 * Environment variables and "are we in Node" without naming `process`, so
 * that the core type-checks and bundles for browsers (where there is none).
 */
interface NodeProcess {
  env?: Record<string, string | undefined>;
  versions?: { node?: string };
  getBuiltinModule?: (id: string) => unknown;
}

export const nodeProcess: NodeProcess | undefined = (globalThis as { process?: NodeProcess }).process;

export const isNode = typeof nodeProcess?.versions?.node === "string";

/** An environment variable in Node; undefined elsewhere. */
export function envVar(name: string): string | undefined {
  return nodeProcess?.env?.[name];
}
