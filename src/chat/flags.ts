/**
 * The command line of `udpeer chat`: its options, flags, `--help` text and parser, and the
 * retry schedule the options define.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseChatArgs, retryTimeouts } from "./flags.ts";
 * const options = parseChatArgs(["--to", "127.0.0.1:12000", "--retries", "3"]);
 * assert.ok(options.to.port === 12000 && !options.tcp);
 * assert.ok(retryTimeouts(0.5, 3).join() === "0.5,0.75,1.125");
 * ```
 *
 * @module
 */

import {
  type CommonOptions,
  defineFlag,
  type Flag,
  HELP_FLAG,
  type HostPort,
  IPV6_FLAG,
  JSON_FLAG,
  parseCount,
  parseFlags,
  parseHostPort,
  parseSeconds,
  VERSION_FLAG,
} from "../common/flags.ts";
import { UsageError } from "../common/errors.ts";
import { helpText, type SubcommandDoc } from "../common/helptext.ts";

/** Default first timeout, in seconds. */
export const DEFAULT_TIMEOUT_SECONDS = 0.5;

/** Default number of tries per line (the first send included). */
export const DEFAULT_RETRIES = 5;

/** Each timeout is this many times the one before. */
export const BACKOFF = 1.5;

/** Options of `udpeer chat`. */
export interface ChatOptions extends CommonOptions {
  /** The server. */
  to: HostPort;
  /** First timeout in seconds. */
  timeoutSeconds: number;
  /** Total number of tries per line over UDP. */
  retries: number;
  /** Talk TCP instead of UDP. */
  tcp: boolean;
  /** `-6`: a name resolves to IPv6 first. */
  ipv6: boolean;
}

const to = defineFlag({
  long: "to",
  short: "t",
  value: "HOST:PORT",
  help: ["the server (HOST: IPv4, [IPv6] or a name); required"],
  // The one place a --to text becomes a destination.
  parse: parseHostPort,
});

const timeout = defineFlag({
  long: "timeout",
  value: "S",
  help: [
    `seconds to wait for the first reply, > 0 (default ${DEFAULT_TIMEOUT_SECONDS}); each`,
    "further wait is half as long again: 0.5, 0.75, 1.125 ...",
  ],
  default: DEFAULT_TIMEOUT_SECONDS,
  parse: (flag, text) => parseSeconds(flag, text, 0.001),
});

const retries = defineFlag({
  long: "retries",
  short: "r",
  value: "N",
  help: [`tries per line, the first included (default ${DEFAULT_RETRIES})`],
  default: DEFAULT_RETRIES,
  parse: parseCount,
});

const tcp = defineFlag({
  long: "tcp",
  help: [
    "talk TCP: one line per request and per reply; nothing is sent",
    "twice, the client waits the sum of the timeouts for a reply",
  ],
});

/**
 * The flags of `udpeer chat`, in the order `--help` lists them: one row each, from which
 * its parsing, its help, the shell completions and the man page are made.
 */
export const CHAT_FLAGS: readonly Flag[] = [
  to,
  timeout,
  retries,
  tcp,
  IPV6_FLAG,
  JSON_FLAG,
  HELP_FLAG,
  VERSION_FLAG,
];

/** `udpeer chat --help`. */
export const CHAT_HELP: string = helpText({
  intro: `Interactive client: read lines from stdin, send each to the server,
print each reply.

Usage: udpeer chat --to HOST:PORT [--timeout S] [--retries N] [--tcp] [options]`,
  flags: CHAT_FLAGS,
  column: 23,
  notes: `A line that is exactly 'exit', end of input (Ctrl-D) or Ctrl-C ends the session with
exit code 0. Empty lines are skipped. With stdin a terminal there is a prompt; piped,
there is none and each reply is printed as received. On a terminal, control characters
in a reply are escaped. Only replies from HOST:PORT count; a reply that arrives before
the next line is sent is stale and dropped.
If the server does not answer any try of a line: one line on stderr; then, at a
terminal, the prompt for the next line; with piped input, exit code 1.

Examples:
  udpeer chat --to 127.0.0.1:12000
  printf 'hello\\nworld\\n' | udpeer chat --to 127.0.0.1:12000 --timeout 0.2 --retries 3
  udpeer chat --to 127.0.0.1:12000 --tcp

Exit codes: 0 success, 1 the server does not answer, 2 usage error.`,
});

/** `udpeer chat` as the completions and the man page see it. */
export const CHAT_COMMAND: SubcommandDoc = { name: "chat", help: CHAT_HELP, flags: CHAT_FLAGS };

/**
 * Parses the flags of `udpeer chat`.
 *
 * @param args The arguments after `chat`.
 * @returns The options, with defaults filled in.
 * @throws {UsageError} On an unknown flag or a bad value, or if `--to` is missing.
 */
export function parseChatArgs(args: readonly string[]): ChatOptions {
  const values = parseFlags(args, CHAT_FLAGS);
  const help = values.get(HELP_FLAG);
  const version = values.get(VERSION_FLAG);
  const server = values.get(to);
  if (server === undefined && !help && !version) {
    throw new UsageError("Missing --to: say where the server is, as in --to 127.0.0.1:12000");
  }
  return {
    help,
    version,
    json: values.get(JSON_FLAG),
    tcp: values.get(tcp),
    to: server ?? { host: "127.0.0.1", port: 12000, family: "ipv4" },
    ipv6: values.get(IPV6_FLAG),
    timeoutSeconds: values.get(timeout),
    retries: values.get(retries),
  };
}

/**
 * The wait before each try: the first timeout, then each half as long again.
 *
 * @param first The first timeout, in seconds.
 * @param tries How many tries.
 * @returns `tries` timeouts in seconds: `first · 1.5^k` for k = 0 … tries − 1.
 */
export function retryTimeouts(first: number, tries: number): number[] {
  return Array.from({ length: tries }, (_, k) => first * BACKOFF ** k);
}
