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
import {
  type CommonOptions,
  type Flag,
  HELP_FLAG,
  JSON_FLAG,
  parseFlags,
  VERSION_FLAG,
} from "../common/flags.ts";
import { helpText, type SubcommandDoc } from "../common/helptext.ts";

/** The shells a completion script is written for. */
export const SHELLS = ["bash", "zsh", "fish"] as const;

/** One of {@linkcode SHELLS}. */
export type Shell = typeof SHELLS[number];

/** Options of `udpeer completions`. */
export interface CompletionsOptions extends CommonOptions {
  /** The shell, or undefined with `--help` or `--version`. */
  shell: Shell | undefined;
}

/** The flags of `udpeer completions`, as its help lists them. */
export const COMPLETIONS_FLAGS: readonly Flag[] = [HELP_FLAG, VERSION_FLAG];

/** `udpeer completions --help`. */
export const COMPLETIONS_HELP: string = helpText({
  intro: `Shell completions: print a script that completes udpeer's subcommands,
flags and the values of flags such as --mode, for bash, zsh or fish.

Usage: udpeer completions bash|zsh|fish`,
  flags: COMPLETIONS_FLAGS,
  column: 18,
  notes: `Install (each shell reads the file when it starts):
  udpeer completions bash > ~/.local/share/bash-completion/completions/udpeer
  udpeer completions zsh > ~/.zfunc/_udpeer     (with fpath+=(~/.zfunc) before compinit)
  udpeer completions fish > ~/.config/fish/completions/udpeer.fish
or for this bash session only: source <(udpeer completions bash)

Exit codes: 0 success, 2 usage error.`,
});

/** `udpeer completions` as the completions and the man page see it. */
export const COMPLETIONS_COMMAND: SubcommandDoc = {
  name: "completions",
  help: COMPLETIONS_HELP,
  flags: COMPLETIONS_FLAGS,
};

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
  // --json is accepted only to be refused with a reason: the help does not offer it.
  const values = parseFlags(args.filter((arg) => arg.startsWith("-")), [
    ...COMPLETIONS_FLAGS,
    JSON_FLAG,
  ]);
  const help = values.get(HELP_FLAG);
  const version = values.get(VERSION_FLAG);
  if (values.get(JSON_FLAG)) {
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
