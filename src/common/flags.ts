/**
 * Flag parsing shared by every subcommand: pure functions that turn one flag's text into a
 * typed value or a {@linkcode UsageError} whose message names the flag and the problem.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseHostPort } from "./flags.ts";
 * assert.deepEqual(parseHostPort("--to", "127.0.0.1:5006"), { host: "127.0.0.1", port: 5006 });
 * ```
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { parseIpv4 } from "../../protocol.ts";
import { UsageError } from "./errors.ts";

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

/** The `options` of `node:util` `parseArgs`: flag name to type, short form and repetition. */
export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;

/** Flags every subcommand accepts. */
export const commonFlags: OptionSpec = {
  help: { type: "boolean", short: "h" },
  version: { type: "boolean", short: "V" },
  json: { type: "boolean" },
};

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
 * @throws {UsageError} If the port is missing or out of 1..65535, the host is empty, looks like
 * an IPv4 address but is not one, or is 0.0.0.0.
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
  // Digits and dots are never a name: "999.1.1.1" or "10.1" would otherwise go to the
  // resolver, which fails with a lookup error (or reads "10.1" as 10.0.0.1).
  if (/^[0-9.]+$/.test(host) && parseIpv4(host) === undefined) {
    throw new UsageError(
      `Cannot parse ${flag}: "${host}" is not an IPv4 address (four numbers 0..255, like 192.0.2.1)`,
    );
  }
  if (host === "0.0.0.0") {
    // Linux delivers a datagram sent to 0.0.0.0 to this host, from 127.0.0.1, and Windows
    // refuses it: say what is meant instead.
    throw new UsageError(
      `Cannot parse ${flag}: 0.0.0.0 means "any address" and is no destination; use 127.0.0.1 for this host`,
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
  // A Date holds ±8.64e15 ms (year 275760); past that no time can be shown or waited for.
  if (Number.isNaN(new Date(ms).getTime())) {
    throw new UsageError(`Cannot parse ${flag}: "${value}" is after the year 275760`);
  }
  return ms;
}
