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
  type CommonOptions,
  parseCount,
  parseFlags,
  parsePort,
  parseSeconds,
} from "../common/flags.ts";
import { parseBindAddress } from "../common/endpoint.ts";
import { UsageError } from "../common/errors.ts";
import { MAX_LINE_BYTES } from "../common/lines.ts";
import { isMode, type Mode, MODES } from "./modes.ts";

/** Default port of `udpeer serve`, UDP and TCP alike. */
export const DEFAULT_SERVE_PORT = 12000;

/** Options of `udpeer serve`. */
export interface ServeOptions extends CommonOptions {
  /** Port to listen on, 0 for any free port. */
  port: number;
  /** Local IPv4 address to bind. */
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

/** `udpeer serve --help`. */
export const SERVE_HELP = `Request/response server: reply to each request at once with the
transformed text, and print one line per request.

Usage: udpeer serve [--port N] [--mode MODE] [--tcp] [options]

Options:
  -p, --port N      port to listen on; 0 = any free port (default ${DEFAULT_SERVE_PORT})
  -b, --bind ADDR   local address to listen on, IPv4 or IPv6 (default 0.0.0.0:
                    all IPv4; :: for IPv6, and IPv4 too where the system allows)
  -m, --mode MODE   what to reply (default upper):
                      upper             HELLO for hello
                      reverse-swapcase  OLLEh for Hello (by characters: emoji survive)
                      ack               Message received
                      echo              the request as it is
      --tcp         serve TCP instead of UDP: one line per request and per reply,
                    many connections at once, lines up to ${MAX_LINE_BYTES} bytes
      --json        one JSON object per line on stdout instead of text
  -q, --quiet       no line per request; the summary only
      --max-connections N
                    TCP: connections served at once; past it a new connection is
                    closed at once and counted as capped (default ${DEFAULT_LIMITS.maxConnections})
      --idle-timeout S
                    TCP: close a connection that sends nothing for S seconds,
                    counted as idle-closed (default ${DEFAULT_LIMITS.idleTimeoutSeconds})
      --rate N      UDP: at most N replies per second to one source IP, bursts of
                    up to N; requests over it are counted as rate-limited, not
                    answered, so forged sources cannot make it a flood (default ${DEFAULT_LIMITS.rate})
      --rate-total N
                    UDP: at most N replies per second to all sources together,
                    bursts of up to N; requests over it are counted as over-budget,
                    so many forged sources cannot make it an amplifier
                    (default ${DEFAULT_LIMITS.rateTotal})
  -h, --help        show this help
  -V, --version     show the version

Over UDP each datagram is a request and its reply is one datagram, with no header,
so 'sock.sendto(msg.encode(), addr)' and 'recvfrom(2048)' in Python talk to it.
Invalid UTF-8 is answered with U+FFFD replacement characters. An empty datagram
gets no reply, in any mode; it is counted as empty.
Ctrl-C (or SIGTERM) prints the summary (requests served, distinct clients, and what the
limits refused), exit 0.

Examples:
  udpeer serve                                  UDP 12000, uppercase
  udpeer serve --port 12001 --mode reverse-swapcase --tcp
  udpeer serve --port 0 --json | jq .           machine-readable events

Exit codes: 0 success, 1 runtime failure (port in use), 2 usage error.`;

const serveFlags = {
  port: { type: "string", short: "p" },
  bind: { type: "string", short: "b" },
  mode: { type: "string", short: "m" },
  tcp: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  "max-connections": { type: "string" },
  "idle-timeout": { type: "string" },
  rate: { type: "string" },
  "rate-total": { type: "string" },
} as const;

/**
 * Parses the flags of `udpeer serve`.
 *
 * @param args The arguments after `serve`.
 * @returns The options, with defaults filled in.
 * @throws {UsageError} On an unknown flag, a bad port, address, limit or timeout, or an
 *   unknown mode.
 */
export function parseServeArgs(args: readonly string[]): ServeOptions {
  const values = parseFlags(args, serveFlags);
  const str = (name: string): string | undefined => values[name] as string | undefined;
  const portText = str("port");
  const bindText = str("bind");
  const mode = str("mode") ?? "upper";
  const idleText = str("idle-timeout");
  const count = (flag: string, fallback: number): number => {
    const text = str(flag.slice(2));
    return text === undefined ? fallback : parseCount(flag, text);
  };
  if (!isMode(mode)) {
    throw new UsageError(`Cannot parse --mode: "${mode}" is not one of ${MODES.join(", ")}`);
  }
  return {
    help: values.help === true,
    version: values.version === true,
    json: values.json === true,
    quiet: values.quiet === true,
    tcp: values.tcp === true,
    port: portText === undefined ? DEFAULT_SERVE_PORT : parsePort("--port", portText, 0),
    bind: bindText === undefined ? "0.0.0.0" : parseBindAddress(bindText, "--bind"),
    mode,
    maxConnections: count("--max-connections", DEFAULT_LIMITS.maxConnections),
    idleTimeoutSeconds: idleText === undefined
      ? DEFAULT_LIMITS.idleTimeoutSeconds
      : parseSeconds("--idle-timeout", idleText, 0.001),
    rate: count("--rate", DEFAULT_LIMITS.rate),
    rateTotal: count("--rate-total", DEFAULT_LIMITS.rateTotal),
  };
}
