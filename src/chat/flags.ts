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

import { type CommonOptions, parseCount, parseFlags, parseSeconds } from "../common/flags.ts";
import { type Endpoint, parseEndpoint } from "../common/endpoint.ts";
import { UsageError } from "../common/errors.ts";

/** Default first timeout, in seconds. */
export const DEFAULT_TIMEOUT_SECONDS = 0.5;

/** Default number of tries per line (the first send included). */
export const DEFAULT_RETRIES = 5;

/** Each timeout is this many times the one before. */
export const BACKOFF = 1.5;

/** Options of `udpeer chat`. */
export interface ChatOptions extends CommonOptions {
  /** The server. */
  to: Endpoint;
  /** First timeout in seconds. */
  timeoutSeconds: number;
  /** Total number of tries per line over UDP. */
  retries: number;
  /** Talk TCP instead of UDP. */
  tcp: boolean;
}

/** `udpeer chat --help`. */
export const CHAT_HELP = `Interactive client: read lines from stdin, send each to the server,
print each reply.

Usage: udpeer chat --to HOST:PORT [--timeout S] [--retries N] [--tcp] [options]

Options:
  -t, --to HOST:PORT   the server (HOST: IPv4, [IPv6] or a name); required
      --timeout S      seconds to wait for the first reply, > 0 (default ${DEFAULT_TIMEOUT_SECONDS}); each
                       further wait is half as long again: 0.5, 0.75, 1.125 ...
  -r, --retries N      tries per line, the first included (default ${DEFAULT_RETRIES})
      --tcp            talk TCP: one line per request and per reply; nothing is sent
                       twice, the client waits the sum of the timeouts for a reply
      --json           one JSON object per line on stdout instead of text
  -h, --help           show this help
  -V, --version        show the version

A line that is exactly 'exit', end of input (Ctrl-D) or Ctrl-C ends the session with
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

Exit codes: 0 success, 1 the server does not answer, 2 usage error.`;

const chatFlags = {
  to: { type: "string", short: "t" },
  timeout: { type: "string" },
  retries: { type: "string", short: "r" },
  tcp: { type: "boolean" },
} as const;

/**
 * Parses the flags of `udpeer chat`.
 *
 * @param args The arguments after `chat`.
 * @returns The options, with defaults filled in.
 * @throws {UsageError} On an unknown flag or a bad value, or if `--to` is missing.
 */
export function parseChatArgs(args: readonly string[]): ChatOptions {
  const values = parseFlags(args, chatFlags);
  const str = (name: string): string | undefined => values[name] as string | undefined;
  const help = values.help === true;
  const version = values.version === true;
  const toText = str("to");
  if (toText === undefined && !help && !version) {
    throw new UsageError("Missing --to: say where the server is, as in --to 127.0.0.1:12000");
  }
  const timeoutText = str("timeout");
  const retriesText = str("retries");
  const timeoutSeconds = timeoutText === undefined
    ? DEFAULT_TIMEOUT_SECONDS
    : parseSeconds("--timeout", timeoutText, 0.001);
  return {
    help,
    version,
    json: values.json === true,
    tcp: values.tcp === true,
    to: toText === undefined
      ? { host: "127.0.0.1", port: 12000, family: "ipv4" }
      : parseEndpoint(toText, "--to"),
    timeoutSeconds,
    retries: retriesText === undefined ? DEFAULT_RETRIES : parseCount("--retries", retriesText),
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
