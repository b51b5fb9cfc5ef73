/**
 * The two kinds of failure the program reports without a stack trace, and one wording for
 * any error's detail, so that every subcommand says the same thing of the same failure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeError } from "./errors.ts";
 * const error = Object.assign(new Error("Connection refused"), { code: "ECONNREFUSED" });
 * assert.equal(describeError(error), "Connection refused (ECONNREFUSED)");
 * ```
 *
 * @module
 */

/** A bad command line: printed as one line plus a hint to `--help`, exit code 2. */
export class UsageError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is wrong, naming the flag.
   */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A failure at start (port in use, permission denied, name that does not resolve): one line, exit 1. */
export class StartupError extends Error {
  /**
   * Creates the error.
   *
   * @param message What was attempted and why it failed.
   */
  constructor(message: string) {
    super(message);
    this.name = "StartupError";
  }
}

/**
 * One wording for an error's detail: its message, with the system error code added when the
 * message does not already name it (`Connection refused (ECONNREFUSED)`).
 *
 * @param error Anything thrown.
 * @returns The detail, for the end of a one-line message.
 */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" && !error.message.includes(code)
      ? `${error.message} (${code})`
      : error.message;
  }
  return String(error);
}
