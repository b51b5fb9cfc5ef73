/**
 * Command-line parsing for udpeer: pure functions that turn `Deno.args` into a typed
 * configuration or a {@linkcode UsageError} whose message names the flag and the problem.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePeerArgs } from "./cli.ts";
 * const options = parsePeerArgs(["--port", "0", "--to", "127.0.0.1:5006"]);
 * assert.ok(options.port === 0 && options.targets[0]?.port === 5006);
 * ```
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { MAX_TEXT_BYTES, parseIpv4, type TimestampUnit } from "./protocol.ts";
import { DEFAULT_MESSAGE } from "./protocol.ts";

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

/** A `HOST:PORT` from the command line; `host` is a name or a dotted-quad IPv4 address. */
export interface HostPort {
  /** Name or IPv4 address, as given. */
  host: string;
  /** UDP or TCP port, 1..65535. */
  port: number;
}

/** Flags common to every subcommand. */
export interface CommonOptions {
  /** `--help` was given. */
  help: boolean;
  /** `--version` was given. */
  version: boolean;
  /** `--json` was given. */
  json: boolean;
}

/** Options of the heartbeat peer. */
export interface PeerOptions extends CommonOptions {
  /** Port to listen on, 0 for any free port. */
  port: number;
  /** Local IPv4 address to bind. */
  bind: string;
  /** Targets to send heartbeats to. */
  targets: HostPort[];
  /** Address to write into the header, if forced with `--advertise`. */
  advertise: string | undefined;
  /** Seconds between heartbeats. */
  intervalSeconds: number;
  /** Heartbeats per target before stopping, or undefined to run until stopped. */
  count: number | undefined;
  /** Text of each heartbeat. */
  message: string;
  /** Unit of the timestamp written. */
  timestampUnit: Exclude<TimestampUnit, "ns">;
  /** Print only the summary. */
  quiet: boolean;
  /** Unix ms at which to send the first heartbeat, or undefined for at once. */
  startAtMs: number | undefined;
}

/** The subcommands. */
export type Command = "peer" | "serve" | "chat";

/** Default port of the heartbeat peer. */
export const DEFAULT_PEER_PORT = 5005;

/** The `options` of `node:util` `parseArgs`: flag name to type, short form and repetition. */
export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;

/** Flags every subcommand accepts. */
export const commonFlags: OptionSpec = {
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
  json: { type: "boolean" },
};

/**
 * Splits off the subcommand: the first argument if it is `peer`, `serve` or `chat`,
 * otherwise `peer`.
 *
 * @param args The raw arguments.
 * @returns The command and the arguments that follow it.
 * @throws {UsageError} If the first argument looks like a subcommand but is not one.
 */
export function splitCommand(args: readonly string[]): { command: Command; rest: string[] } {
  const first = args[0];
  if (first === "peer" || first === "serve" || first === "chat") {
    return { command: first, rest: args.slice(1) };
  }
  if (first !== undefined && !first.startsWith("-")) {
    throw new UsageError(
      `Cannot run "${first}": not a subcommand (use peer, serve or chat)`,
    );
  }
  return { command: "peer", rest: [...args] };
}

/**
 * Runs `node:util` `parseArgs` strictly and turns its errors into {@linkcode UsageError}s
 * that name the flag.
 *
 * @param args The arguments after the subcommand.
 * @param options The flags this subcommand accepts (the common ones are added).
 * @returns The parsed values, keyed by flag name.
 * @throws {UsageError} On an unknown flag, a missing value or a stray argument.
 */
export function parseFlags(
  args: readonly string[],
  options: OptionSpec,
): Record<string, string | boolean | (string | boolean)[] | undefined> {
  const spec = { ...commonFlags, ...options };
  try {
    const { values } = parseArgs({
      args: joinNegativeValues(args, spec),
      options: spec,
      strict: true,
      allowPositionals: false,
    });
    return values;
  } catch (error) {
    throw new UsageError(describeParseError(error));
  }
}

// parseArgs refuses `--interval -1` as ambiguous (the value looks like a flag). A value that
// looks like a negative number is joined to its flag, so the range check can name the problem.
function joinNegativeValues(args: readonly string[], spec: OptionSpec): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    const name = arg.startsWith("--")
      ? arg.slice(2)
      : Object.keys(spec).find((key) => arg === `-${spec[key]!.short}`);
    if (
      name !== undefined && spec[name]?.type === "string" && next !== undefined &&
      /^-[0-9.]/.test(next)
    ) {
      joined.push(`--${name}=${next}`);
      i++;
    } else joined.push(arg);
  }
  return joined;
}

function describeParseError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string }).code;
  // Node words these as "Option '-p, --port <value>' argument missing" or
  // "Unknown option '-z'": take the long name when there is one.
  const flag = message.match(/--[A-Za-z][\w-]*/)?.[0] ?? message.match(/'(-[^' ,]+)/)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") return `Unknown flag "${flag ?? message}"`;
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    if (/argument missing/.test(message)) return `Cannot parse ${flag}: a value is missing`;
    return `Cannot parse ${flag}: it takes no value`;
  }
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    const value = message.match(/'([^']*)'/)?.[1] ?? message;
    return `Unexpected argument "${value}": every value follows its flag, as in --port 5005`;
  }
  return message;
}

/**
 * Reads a port number.
 *
 * @param flag The flag name, for the message.
 * @param value The text given.
 * @param min The smallest port allowed (0 for a listening port, 1 for a destination).
 * @returns The port.
 * @throws {UsageError} If the value is not a whole number in min..65535.
 */
export function parsePort(flag: string, value: string, min: 0 | 1): number {
  if (!/^[0-9]{1,5}$/.test(value) || Number(value) < min || Number(value) > 65535) {
    throw new UsageError(`Cannot parse ${flag}: "${value}" is not a port in ${min}..65535`);
  }
  return Number(value);
}

/**
 * Reads a `HOST:PORT` destination.
 *
 * @param flag The flag name, for the message.
 * @param value The text given, such as `127.0.0.1:5005` or `peer.example:5005`.
 * @returns The host and port.
 * @throws {UsageError} If the port is missing or out of 1..65535, or the host is empty.
 */
export function parseHostPort(flag: string, value: string): HostPort {
  const colon = value.lastIndexOf(":");
  if (colon < 0) {
    throw new UsageError(`Cannot parse ${flag}: "${value}" has no port (write HOST:PORT)`);
  }
  const host = value.slice(0, colon);
  if (host === "" || host.includes(":") || /\s/.test(host)) {
    throw new UsageError(
      `Cannot parse ${flag}: "${value}" needs an IPv4 address or a name before the port`,
    );
  }
  const portText = value.slice(colon + 1);
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    throw new UsageError(`Cannot parse ${flag}: "${portText}" is not a port in 1..65535`);
  }
  return { host, port: Number(portText) };
}

/**
 * Reads a duration in seconds.
 *
 * @param flag The flag name, for the message.
 * @param value The text given.
 * @param min The smallest value allowed.
 * @returns The number of seconds.
 * @throws {UsageError} If the value is not a finite number at least `min`.
 */
export function parseSeconds(flag: string, value: string, min: number): number {
  const seconds = /^\s*$/.test(value) ? NaN : Number(value);
  if (!Number.isFinite(seconds) || seconds < min) {
    throw new UsageError(`Cannot parse ${flag}: "${value}" is not a number of seconds ≥ ${min}`);
  }
  return seconds;
}

/**
 * Reads a positive whole number.
 *
 * @param flag The flag name, for the message.
 * @param value The text given.
 * @returns The number, at least 1.
 * @throws {UsageError} If the value is not a whole number ≥ 1.
 */
export function parseCount(flag: string, value: string): number {
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) < 1) {
    throw new UsageError(`Cannot parse ${flag}: "${value}" is not a whole number ≥ 1`);
  }
  return Number(value);
}

/**
 * Reads a dotted-quad IPv4 address.
 *
 * @param flag The flag name, for the message.
 * @param value The text given.
 * @returns The address, unchanged.
 * @throws {UsageError} If it is not a dotted quad.
 */
export function parseIpv4Flag(flag: string, value: string): string {
  if (parseIpv4(value) === undefined) {
    throw new UsageError(`Cannot parse ${flag}: "${value}" is not an IPv4 address like 192.0.2.1`);
  }
  return value;
}

const peerFlags: OptionSpec = {
  port: { type: "string", short: "p" },
  to: { type: "string", short: "t", multiple: true },
  bind: { type: "string", short: "b" },
  advertise: { type: "string" },
  interval: { type: "string", short: "i" },
  count: { type: "string", short: "c" },
  message: { type: "string", short: "m" },
  "timestamp-unit": { type: "string" },
  quiet: { type: "boolean", short: "q" },
  "start-at": { type: "string" },
};

/**
 * Reads a wall-clock time: Unix seconds (fractions allowed) or an ISO 8601 date-time.
 *
 * @param flag The flag name, for the message.
 * @param value The text given, such as `1763700000.5` or `2026-11-21T05:00:00Z`.
 * @returns The time in Unix milliseconds.
 * @throws {UsageError} If the value is neither.
 */
export function parseTime(flag: string, value: string): number {
  const ms = /^[0-9]+(\.[0-9]+)?$/.test(value)
    ? Number(value) * 1000
    : /^\d{4}-\d{2}-\d{2}T/.test(value)
    ? Date.parse(value)
    : NaN;
  if (!Number.isFinite(ms)) {
    throw new UsageError(
      `Cannot parse ${flag}: "${value}" is not Unix seconds or an ISO 8601 time like 2026-11-21T05:00:00Z`,
    );
  }
  return ms;
}

/**
 * Parses the heartbeat peer's flags (SPEC §2). With no arguments at all it returns the
 * self-contained demo: listen on 5005 and send to 127.0.0.1:5005.
 *
 * @param args The arguments after the optional `peer` subcommand.
 * @param demoIfEmpty Whether no arguments means the demo (true for plain `udpeer`).
 * @returns The peer options.
 * @throws {UsageError} On any bad flag or value.
 */
export function parsePeerArgs(args: readonly string[], demoIfEmpty = false): PeerOptions {
  const values = parseFlags(args, peerFlags);
  const str = (name: string): string | undefined => values[name] as string | undefined;
  const port = str("port") === undefined ? DEFAULT_PEER_PORT : parsePort("--port", str("port")!, 0);
  const targets = ((values.to ?? []) as string[]).map((value) => parseHostPort("--to", value));
  if (args.length === 0 && demoIfEmpty) {
    targets.push({ host: "127.0.0.1", port: DEFAULT_PEER_PORT });
  }
  const bind = str("bind") === undefined ? "0.0.0.0" : parseIpv4Flag("--bind", str("bind")!);
  const advertise = str("advertise") === undefined
    ? undefined
    : parseIpv4Flag("--advertise", str("advertise")!);
  const intervalSeconds = str("interval") === undefined
    ? 2
    : parseSeconds("--interval", str("interval")!, 0.001);
  const count = str("count") === undefined ? undefined : parseCount("--count", str("count")!);
  if (count !== undefined && targets.length === 0) {
    throw new UsageError("Cannot use --count without --to: there is nothing to send");
  }
  const message = str("message") ?? DEFAULT_MESSAGE;
  const messageBytes = new TextEncoder().encode(message).length;
  if (messageBytes > MAX_TEXT_BYTES) {
    throw new UsageError(
      `Cannot use --message: it is ${messageBytes} bytes, at most ${MAX_TEXT_BYTES} fit in one datagram`,
    );
  }
  const unit = str("timestamp-unit") ?? "ms";
  if (unit !== "s" && unit !== "ms" && unit !== "us") {
    throw new UsageError(`Cannot parse --timestamp-unit: "${unit}" is not one of s, ms, us`);
  }
  const startAtMs = str("start-at") === undefined
    ? undefined
    : parseTime("--start-at", str("start-at")!);
  return {
    startAtMs,
    help: values.help === true,
    version: values.version === true,
    json: values.json === true,
    quiet: values.quiet === true,
    port,
    bind,
    targets,
    advertise,
    intervalSeconds,
    count,
    message,
    timestampUnit: unit,
  };
}
