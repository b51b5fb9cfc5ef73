/**
 * `udpeer completions`'s command line: which shell to write a completion script for.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCompletionsArgs } from "./flags.ts";
 * assert.equal(parseCompletionsArgs(["fish"]).shell, "fish");
 * assert.equal(parseCompletionsArgs(["--help"]).help, true);
 * ```
 *
 * @module
 */

import { UsageError } from "../common/errors.ts";
import { type CommonOptions, parseFlags } from "../common/flags.ts";

/** The shells a completion script is written for. */
export const SHELLS = ["bash", "zsh", "fish"] as const;

/** One of {@linkcode SHELLS}. */
export type Shell = typeof SHELLS[number];

/** Options of `udpeer completions`. */
export interface CompletionsOptions extends CommonOptions {
  /** The shell, or undefined with `--help` or `--version`. */
  shell: Shell | undefined;
}

/** `udpeer completions --help`. */
export const COMPLETIONS_HELP =
  `Shell completions: print a script that completes udpeer's subcommands,
flags and the values of flags such as --mode, for bash, zsh or fish.

Usage: udpeer completions bash|zsh|fish

Options:
  -h, --help      show this help
  -V, --version   show the version

Install (each shell reads the file when it starts):
  udpeer completions bash > ~/.local/share/bash-completion/completions/udpeer
  udpeer completions zsh > ~/.zfunc/_udpeer     (with fpath+=(~/.zfunc) before compinit)
  udpeer completions fish > ~/.config/fish/completions/udpeer.fish
or for this bash session only: source <(udpeer completions bash)

Exit codes: 0 success, 2 usage error.`;

function isShell(value: string): value is Shell {
  return (SHELLS as readonly string[]).includes(value);
}

/**
 * Parses `udpeer completions SHELL`.
 *
 * @param args The arguments after `completions`.
 * @returns The options.
 * @throws {UsageError} If the shell is missing or unknown, or on a bad flag.
 */
export function parseCompletionsArgs(args: readonly string[]): CompletionsOptions {
  const positional = args.filter((arg) => !arg.startsWith("-"));
  const values = parseFlags(args.filter((arg) => arg.startsWith("-")), {});
  const help = values.help === true;
  const version = values.version === true;
  if (values.json === true) {
    throw new UsageError("Cannot use --json with completions: the script is shell text");
  }
  if (positional.length > 1) {
    throw new UsageError(`Unexpected argument "${positional[1]}": name one shell`);
  }
  const shell = positional[0];
  if (shell === undefined) {
    if (help || version) return { help, version, json: false, shell: undefined };
    throw new UsageError(`Missing shell: write udpeer completions ${SHELLS.join("|")}`);
  }
  if (!isShell(shell)) {
    throw new UsageError(
      `Cannot write completions for "${shell}": not one of ${SHELLS.join(", ")}`,
    );
  }
  return { help, version, json: false, shell };
}
