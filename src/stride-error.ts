/**
 * The base of every error the library raises on purpose (a bad shape, a bad
 * file, a diverged training run), so that callers can tell them from bugs
 * with one `instanceof StrideError`. Each subclass keeps its own name.
 */

/**
 * The base class of stride's own errors: ShapeError, TensorError,
 * ModelFileError, TrainingDivergedError, IdxFormatError, CifarFormatError,
 * ImageReadError and PytorchExportError all extend it. Their messages say what went wrong and
 * what to do; anything else thrown is a bug or a platform error.
 */
export class StrideError extends Error {
  constructor(message?: string, options?: ErrorOptions) {
    super(message, options);
    // Set by hand, not from the constructor's name, which minifiers rename.
    this.name = "StrideError";
  }
}

/**
 * A value from a file or an argument, short enough for an error message: its
 * JSON, cut at `most` characters. A damaged file can hold a value of any size
 * (a string of a megabyte, an array nested thousands deep), and the message
 * should show what was found without copying the file into a log.
 */
export function quoteValue(v: unknown, most = 60): string {
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    // A cycle, a BigInt, or nesting deeper than the stack (where String() would overflow it too).
    s = undefined;
  }
  if (s === undefined) {
    if (Array.isArray(v)) return "an array too deep to show";
    s = typeof v === "object" && v !== null ? "an object that cannot be shown" : String(v);
  }
  return s.length > most ? `${s.slice(0, most)}…` : s;
}
