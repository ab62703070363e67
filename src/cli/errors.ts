import { StrideError } from "../stride-error.js";

/** A mistake in what the user asked for: the CLI prints its message alone, without a stack trace. */
export class CliError extends StrideError {
  constructor(message?: string) {
    super(message);
    this.name = "CliError";
  }
}
