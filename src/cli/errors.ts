/** A mistake in what the user asked for: the CLI prints its message alone, without a stack trace. */
export class CliError extends Error {}
