/**
 * The command line of `udpeer serve`: its options, flags, `--help` text and parser.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseServeArgs } from "./flags.ts";
 * const options = parseServeArgs(["--port", "0", "--mode", "reverse-swapcase"]);
 * assert.ok(options.port === 0 && options.mode === "reverse-swapcase" && !options.tcp);
 * ```
 *
 * @module
 */

import {
  BIND_FLAG,
  type CommonOptions,
  defineFlag,
  type Flag,
  HELP_FLAG,
  JSON_FLAG,
  parseCount,
  parseFlags,
  parsePort,
  parseSeconds,
  VERSION_FLAG,
} from "../common/flags.ts";
import { helpText, type SubcommandDoc } from "../common/helptext.ts";
import { MAX_LINE_BYTES } from "../common/lines.ts";
import { type Mode, MODES } from "./modes.ts";

/** Default port of `udpeer serve`, UDP and TCP alike. */
export const DEFAULT_SERVE_PORT = 12000;

/** Options of `udpeer serve`. */
export interface ServeOptions extends CommonOptions {
  /** Port to listen on, 0 for any free port. */
  port: number;
  /** Local address to bind, IPv4 or IPv6. */
  bind: string;
  /** What to reply. */
  mode: Mode;
  /** Serve lines over TCP instead of datagrams over UDP. */
  tcp: boolean;
  /** Print no line per request; the listening line, errors and the summary only. */
  quiet: boolean;
  /** TCP: connections served at once; past it a new one is closed at once. */
  maxConnections: number;
  /** TCP: seconds a connection may send nothing before it is closed. */
  idleTimeoutSeconds: number;
  /** UDP: replies per second to one source address, with a burst of as many. */
  rate: number;
  /** UDP: replies per second to all sources together, with a burst of as many. */
  rateTotal: number;
}

/** The limits a server on the open Internet needs, as `--help` and the docs state them. */
export type ServeLimits = Pick<
  ServeOptions,
  "maxConnections" | "idleTimeoutSeconds" | "rate" | "rateTotal"
>;

/**
 * Defaults of `--max-connections` (TCP connections served at once), `--idle-timeout`
 * (seconds a TCP connection may stay silent) and `--rate` (UDP replies per second to one
 * source address, and the burst) and `--rate-total` (UDP replies per second to all sources
 * together, and the burst).
 */
export const DEFAULT_LIMITS: Readonly<ServeLimits> = {
  maxConnections: 1024,
  idleTimeoutSeconds: 60,
  rate: 1000,
  rateTotal: 10_000,
};

const port = defineFlag({
  long: "port",
  short: "p",
  value: "N",
  help: [`port to listen on; 0 = any free port (default ${DEFAULT_SERVE_PORT})`],
  default: DEFAULT_SERVE_PORT,
  parse: (flag, text) => parsePort(flag, text, 0),
});

const mode = defineFlag({
  long: "mode",
  short: "m",
  value: "MODE",
  help: [
    "what to reply (default upper):",
    "  upper             HELLO for hello",
    "  reverse-swapcase  OLLEh for Hello (by characters: emoji survive)",
    "  ack               Message received",
    "  echo              the request as it is",
  ],
  choices: MODES,
  default: "upper",
});

const tcp = defineFlag({
  long: "tcp",
  help: [
    "serve TCP instead of UDP: one line per request and per reply,",
    `many connections at once, lines up to ${MAX_LINE_BYTES} bytes`,
  ],
});

const quiet = defineFlag({
  long: "quiet",
  short: "q",
  help: ["no line per request; the summary only"],
});

const maxConnections = defineFlag({
  long: "max-connections",
  value: "N",
  help: [
    "TCP: connections served at once; past it a new connection is",
    `closed at once and counted as capped (default ${DEFAULT_LIMITS.maxConnections})`,
  ],
  default: DEFAULT_LIMITS.maxConnections,
  parse: parseCount,
});

const idleTimeout = defineFlag({
  long: "idle-timeout",
  value: "S",
  help: [
    "TCP: close a connection that sends nothing for S seconds,",
    `counted as idle-closed (default ${DEFAULT_LIMITS.idleTimeoutSeconds})`,
  ],
  default: DEFAULT_LIMITS.idleTimeoutSeconds,
  parse: (flag, text) => parseSeconds(flag, text, 0.001),
});

const rate = defineFlag({
  long: "rate",
  value: "N",
  help: [
    "UDP: at most N replies per second to one source IP, bursts of",
    "up to N; requests over it are counted as rate-limited, not",
    `answered, so forged sources cannot make it a flood (default ${DEFAULT_LIMITS.rate})`,
  ],
  default: DEFAULT_LIMITS.rate,
  parse: parseCount,
});

const rateTotal = defineFlag({
  long: "rate-total",
  value: "N",
  help: [
    "UDP: at most N replies per second to all sources together,",
    "bursts of up to N; requests over it are counted as over-budget,",
    "so many forged sources cannot make it an amplifier",
    `(default ${DEFAULT_LIMITS.rateTotal})`,
  ],
  default: DEFAULT_LIMITS.rateTotal,
  parse: parseCount,
});

/**
 * The flags of `udpeer serve`, in the order `--help` lists them: one row each, from which
 * its parsing, its help, the shell completions and the man page are made.
 */
export const SERVE_FLAGS: readonly Flag[] = [
  port,
  BIND_FLAG,
  mode,
  tcp,
  JSON_FLAG,
  quiet,
  maxConnections,
  idleTimeout,
  rate,
  rateTotal,
  HELP_FLAG,
  VERSION_FLAG,
];

/** `udpeer serve --help`. */
export const SERVE_HELP: string = helpText({
  intro: `Request/response server: reply to each request at once with the
transformed text, and print one line per request.

Usage: udpeer serve [--port N] [--mode MODE] [--tcp] [options]`,
  flags: SERVE_FLAGS,
  column: 20,
  notes: `Over UDP each datagram is a request and its reply is one datagram, with no header,
so 'sock.sendto(msg.encode(), addr)' and 'recvfrom(2048)' in Python talk to it.
Invalid UTF-8 is answered with U+FFFD replacement characters. An empty datagram
gets no reply, in any mode; it is counted as empty.
Ctrl-C (or SIGTERM) prints the summary (requests served, distinct clients, and what the
limits refused), exit 0.

Examples:
  udpeer serve                                  UDP 12000, uppercase
  udpeer serve --port 12001 --mode reverse-swapcase --tcp
  udpeer serve --port 0 --json | jq .           machine-readable events

Exit codes: 0 success, 1 runtime failure (port in use), 2 usage error.`,
});

/** `udpeer serve` as the completions and the man page see it. */
export const SERVE_COMMAND: SubcommandDoc = {
  name: "serve",
  help: SERVE_HELP,
  flags: SERVE_FLAGS,
};

/**
 * Parses the flags of `udpeer serve`.
 *
 * @param args The arguments after `serve`.
 * @returns The options, with defaults filled in.
 * @throws {UsageError} On an unknown flag, a bad port, address, limit or timeout, or an
 *   unknown mode.
 */
export function parseServeArgs(args: readonly string[]): ServeOptions {
  const values = parseFlags(args, SERVE_FLAGS);
  return {
    help: values.get(HELP_FLAG),
    version: values.get(VERSION_FLAG),
    json: values.get(JSON_FLAG),
    quiet: values.get(quiet),
    tcp: values.get(tcp),
    port: values.get(port),
    bind: values.get(BIND_FLAG),
    mode: values.get(mode),
    maxConnections: values.get(maxConnections),
    idleTimeoutSeconds: values.get(idleTimeout),
    rate: values.get(rate),
    rateTotal: values.get(rateTotal),
  };
}
