/**
 * udpeer command line: a UDP heartbeat peer (the default), a request/response server
 * (`serve`) and an interactive client (`chat`).
 *
 * ```sh
 * deno run --allow-net --allow-sys=networkInterfaces main.ts --port 5006 --to 127.0.0.1:5005
 * ```
 *
 * Exit codes: 0 success (also after Ctrl-C, with a summary), 1 runtime failure, 2 usage error.
 *
 * @module
 */

import denoJson from "./deno.json" with { type: "json" };
import { describeError, StartupError, UsageError } from "./src/common/errors.ts";
import { parsePeerArgs, PEER_COMMAND, PEER_HELP } from "./src/peer/flags.ts";
import { runPeer } from "./src/peer/run.ts";
import { parseServeArgs, SERVE_COMMAND, SERVE_HELP } from "./src/serve/flags.ts";
import { runServe } from "./src/serve/run.ts";
import { CHAT_COMMAND, CHAT_HELP, parseChatArgs } from "./src/chat/flags.ts";
import { runChat } from "./src/chat/run.ts";
import { COMPLETIONS_HELP, parseCompletionsArgs } from "./src/completions/flags.ts";
import { runCompletions } from "./src/completions/run.ts";
import type { SubcommandDoc } from "./src/common/helptext.ts";

/** The version, read from deno.json at build time (one source of truth). */
export const VERSION: string = denoJson.version;

/** The subcommands. */
export type Command = "peer" | "serve" | "chat" | "completions" | "help";

const COMMANDS: readonly Command[] = ["peer", "serve", "chat", "completions", "help"];

/**
 * The subcommands that run something, with their help texts and flag tables: what the shell
 * completions and the man page (scripts/manpage.ts) are built from, so neither lists a flag
 * by hand.
 */
export const SUBCOMMANDS: readonly SubcommandDoc[] = [PEER_COMMAND, SERVE_COMMAND, CHAT_COMMAND];

/**
 * Splits off the subcommand: the first argument if it is `peer`, `serve`, `chat`,
 * `completions` or `help`, otherwise `peer`.
 *
 * @param args The raw arguments.
 * @returns The command and the arguments that follow it.
 * @throws {UsageError} If the first argument looks like a subcommand but is not one.
 */
export function splitCommand(args: readonly string[]): { command: Command; rest: string[] } {
  const first = args[0];
  const command = COMMANDS.find((name) => name === first);
  if (command !== undefined) return { command, rest: args.slice(1) };
  if (first !== undefined && !first.startsWith("-")) {
    throw new UsageError(
      `Cannot run "${first}": not a subcommand (use peer, serve, chat, completions or help)`,
    );
  }
  return { command: "peer", rest: [...args] };
}

const TOP_HELP = `udpeer ${VERSION}: UDP heartbeats, a request/response server and a client

Usage:
  udpeer [peer] [--port N] [--to HOST:PORT]... [options]   heartbeat peer (default)
  udpeer serve  [--port N] [--mode MODE] [--tcp]           request/response server
  udpeer chat   --to HOST:PORT [--timeout S] [--retries N] [--tcp]   interactive client
  udpeer completions bash|zsh|fish                         shell completion script
  udpeer help [SUBCOMMAND]                                 this help, or a subcommand's

With no arguments, udpeer listens on UDP 5005 and sends itself a heartbeat every 2 s.
Run 'udpeer help peer', 'udpeer help serve' or 'udpeer help chat' for every flag.

${PEER_HELP}`;

async function run(args: string[]): Promise<number> {
  const { command, rest } = splitCommand(args);
  switch (command) {
    case "peer": {
      const options = parsePeerArgs(rest, args.length === 0);
      if (options.help) return print(args[0] === "peer" ? PEER_HELP : TOP_HELP);
      if (options.version) return print(`udpeer ${VERSION}`);
      return await runPeer(options);
    }
    case "serve": {
      const options = parseServeArgs(rest);
      if (options.help) return print(SERVE_HELP);
      if (options.version) return print(`udpeer ${VERSION}`);
      return await runServe(options);
    }
    case "chat": {
      const options = parseChatArgs(rest);
      if (options.help) return print(CHAT_HELP);
      if (options.version) return print(`udpeer ${VERSION}`);
      return await runChat(options);
    }
    case "completions": {
      const options = parseCompletionsArgs(rest);
      if (options.help) return print(COMPLETIONS_HELP);
      if (options.version || options.shell === undefined) return print(`udpeer ${VERSION}`);
      return await runCompletions({ ...options, shell: options.shell }, SUBCOMMANDS);
    }
    case "help":
      return print(helpOf(rest));
  }
}

/** `udpeer help [SUBCOMMAND]`: the top help, or one subcommand's. */
function helpOf(rest: string[]): string {
  const [name, extra] = rest;
  if (extra !== undefined) {
    throw new UsageError(`Unexpected argument "${extra}": name one subcommand`);
  }
  if (name === undefined || name === "help" || name === "--help" || name === "-h") return TOP_HELP;
  if (name === "completions") return COMPLETIONS_HELP;
  const command = SUBCOMMANDS.find((subcommand) => subcommand.name === name);
  if (command === undefined) {
    throw new UsageError(
      `Cannot show help for "${name}": not a subcommand (use peer, serve, chat or completions)`,
    );
  }
  return command.help;
}

function print(text: string): number {
  console.log(text.trimEnd());
  return 0;
}

/**
 * Runs udpeer with `args` and returns the exit code; usage and start-up errors are printed
 * as one line on stderr, never as a stack trace.
 *
 * @param args The command-line arguments.
 * @returns 0 on success, 1 on a runtime failure, 2 on a usage error.
 */
export async function main(args: string[]): Promise<number> {
  try {
    return await run(args);
  } catch (error) {
    if (error instanceof UsageError) {
      const sub = args[0] === "serve" || args[0] === "chat" || args[0] === "completions"
        ? ` ${args[0]}`
        : "";
      console.error(`udpeer: ${error.message}\nTry 'udpeer${sub} --help' for more information.`);
      return 2;
    }
    if (error instanceof StartupError) {
      console.error(`udpeer: ${error.message}`);
      return 1;
    }
    console.error(`udpeer: Unexpected failure: ${describeError(error)}`);
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
