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
