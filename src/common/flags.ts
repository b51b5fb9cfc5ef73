/**
 * The flags of every subcommand, each declared once as a row of a table ({@linkcode Flag}):
 * its long and short names, the placeholder of its value, its help, its default, its choices
 * and the function that turns its text into a typed value. From a subcommand's table come
 * the `node:util` `parseArgs` options ({@linkcode parseArgsOptions}), the parse itself
 * ({@linkcode parseFlags}), the `Options:` block of `--help` (src/common/helptext.ts), the
 * shell completions (src/completions/run.ts) and the man page (scripts/manpage.ts).
 *
 * Below the tables are the parse functions the rows share: pure functions that turn one
 * flag's text into a typed value or a {@linkcode UsageError} whose message names the flag
 * and the problem.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineFlag, parseFlags, parseHostPort, parsePort } from "./flags.ts";
 * const port = defineFlag({
 *   long: "port",
 *   short: "p",
 *   value: "N",
 *   help: ["port to listen on"],
 *   default: 5005,
 *   parse: (flag, text) => parsePort(flag, text, 0),
 * });
 * const to = defineFlag({
 *   long: "to",
 *   value: "HOST:PORT",
 *   help: ["where to send; repeatable"],
 *   repeatable: true,
 *   parse: parseHostPort,
 * });
 * const values = parseFlags(["-p", "0", "--to", "127.0.0.1:5006"], [port, to]);
 * assert.equal(values.get(port), 0);
 * assert.deepEqual(values.get(to), [{ host: "127.0.0.1", port: 5006, family: "ipv4" }]);
 * ```
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { parseIpv4 } from "../../protocol.ts";
import { type Endpoint, parseEndpoint, parseLocalAddress } from "./endpoint.ts";
import { UsageError } from "./errors.ts";

/**
 * A `HOST:PORT` from the command line: an {@linkcode Endpoint}, its host an IPv4 address, an
 * IPv6 address (written in brackets) or a name.
 */
export type HostPort = Endpoint;

/** Flags common to every subcommand. */
export interface CommonOptions {
  /** `--help` was given. */
  help: boolean;
  /** `--version` was given. */
  version: boolean;
  /** `--json` was given. */
  json: boolean;
}

/**
 * One flag, declared once: a row of a subcommand's table. A flag with a `value` takes one
 * (`--port N`); a flag without is a switch (`--quiet`).
 *
 * @typeParam T The type of its value once parsed.
 */
export interface Flag<T = unknown> {
  /** Long name without dashes, such as `port`. */
  readonly long: string;
  /** One-letter short form without the dash, if any. */
  readonly short?: string;
  /** The value's placeholder in `--help`, such as `N` or `HOST:PORT`; absent for a switch. */
  readonly value?: string;
  /**
   * Its description in `--help`, line by line as printed there. A line indented by two
   * spaces is an item of a list (serve's modes).
   */
  readonly help: readonly string[];
  /** The value when the flag is not given; absent: undefined. */
  readonly default?: T;
  /**
   * The only values it accepts, in the order its help lists them: any other is a usage
   * error (`… is not one of a, b`), and the shells offer exactly these.
   */
  readonly choices?: readonly string[];
  /** Whether it may be given more than once; its value is then the list, in order. */
  readonly repeatable?: boolean;
  /** Whether its value is a file name, so the shells offer file names. */
  readonly file?: boolean;
  /**
   * Turns the text given into the value, or throws a {@linkcode UsageError} naming the flag.
   * Absent: the text itself (after the `choices` check).
   *
   * @param flag The flag as written in messages, such as `--port`.
   * @param text The text given.
   */
  readonly parse?: (flag: string, text: string) => T;
}

/**
 * Declares a row of a flag table, keeping its exact type, so that
 * {@linkcode FlagValues.get} returns the type of its value.
 *
 * @param flag The row.
 * @returns The same row.
 */
export function defineFlag<const F extends Flag>(flag: F): F {
  return flag;
}

/**
 * The type a row parses its text to: what its `parse` returns; else one of its `choices`;
 * else the text.
 */
export type ParsedValue<F> = F extends { parse: (flag: string, text: string) => infer T } ? T
  : F extends { choices: readonly (infer C)[] } ? C
  : string;

/**
 * The type of a flag's value once parsed: a switch is a boolean; a repeatable flag a list;
 * a flag with a default its type; any other its type or undefined when not given.
 */
export type FlagValue<F> = F extends { value: string }
  ? F extends { repeatable: true } ? ParsedValue<F>[]
  : F extends { default: infer D } ? ParsedValue<F> | D
  : ParsedValue<F> | undefined
  : boolean;

/** The values of a table's flags after {@linkcode parseFlags}: parsed, defaults filled in. */
export class FlagValues {
  readonly #values: ReadonlyMap<Flag, unknown>;
  readonly #texts: ReadonlyMap<Flag, string>;

  /**
   * Holds the values {@linkcode parseFlags} found.
   *
   * @param values Each flag's value.
   * @param texts Each given flag's text, as given (the last one of a repeatable flag).
   */
  constructor(values: ReadonlyMap<Flag, unknown>, texts: ReadonlyMap<Flag, string>) {
    this.#values = values;
    this.#texts = texts;
  }

  /**
   * A flag's value.
   *
   * @param flag A row of the table that was parsed.
   * @returns Its value: parsed, or its default when not given.
   */
  get<F extends Flag>(flag: F): FlagValue<F> {
    if (!this.#values.has(flag)) throw new Error(`--${flag.long} is not in the table parsed`);
    return this.#values.get(flag) as FlagValue<F>;
  }

  /**
   * Whether a flag was given on the command line (its default is not).
   *
   * @param flag A row of the table that was parsed.
   * @returns True if it was given.
   */
  given(flag: Flag): boolean {
    return this.#texts.has(flag) || (flag.value === undefined && this.#values.get(flag) === true);
  }

  /**
   * The text given for a flag, for a message that quotes it.
   *
   * @param flag A row of the table that was parsed.
   * @returns The text, or undefined if the flag was not given or is a switch.
   */
  text(flag: Flag): string | undefined {
    return this.#texts.get(flag);
  }
}

/** A row for a switch: a flag that takes no value, true when given. */
export interface SwitchFlag extends Flag<boolean> {
  /** A switch has no value. */
  readonly value?: never;
}

/** A row for a flag that takes a value and has a default. */
export interface DefaultedFlag<T> extends Flag<T> {
  /** The value's placeholder in `--help`. */
  readonly value: string;
  /** The value when the flag is not given. */
  readonly default: T;
  /** Turns the text given into the value, or throws a {@linkcode UsageError}. */
  readonly parse: (flag: string, text: string) => T;
}

/** `--help`, in every subcommand. */
export const HELP_FLAG: SwitchFlag = defineFlag({
  long: "help",
  short: "h",
  help: ["show this help"],
});

/** `--version`, in every subcommand. */
export const VERSION_FLAG: SwitchFlag = defineFlag({
  long: "version",
  short: "V",
  help: ["show the version"],
});

/** `--json`, in every subcommand that prints events. */
export const JSON_FLAG: SwitchFlag = defineFlag({
  long: "json",
  help: ["one JSON object per line on stdout instead of text"],
});

/** `-6`, `--ipv6` of the peer and chat: a name resolves to IPv6 first. */
export const IPV6_FLAG: SwitchFlag = defineFlag({
  long: "ipv6",
  short: "6",
  help: ["resolve names to IPv6 first (default: IPv4 first)"],
});

/** `--bind ADDR` of the peer and serve: the local address to listen on. */
export const BIND_FLAG: DefaultedFlag<string> = defineFlag({
  long: "bind",
  short: "b",
  value: "ADDR",
  help: [
    "local IPv4 or IPv6 address to listen on (default",
    "0.0.0.0: all; :: takes IPv6, and IPv4 where dual-stack)",
  ],
  default: "0.0.0.0",
  parse: parseBindAddress,
});

/** The `options` of `node:util` `parseArgs`: flag name to type, short form and repetition. */
export type ParseArgsOptions = NonNullable<ParseArgsConfig["options"]>;

/**
 * The `node:util` `parseArgs` options of a flag table.
 *
 * @param flags The table.
 * @returns Each flag by its long name: a string if it takes a value, else a boolean; its
 *   short form; `multiple` if repeatable.
 */
export function parseArgsOptions(flags: readonly Flag[]): ParseArgsOptions {
  const options: ParseArgsOptions = {};
  for (const flag of flags) {
    options[flag.long] = {
      type: flag.value === undefined ? "boolean" : "string",
      ...(flag.short === undefined ? {} : { short: flag.short }),
      ...(flag.repeatable ? { multiple: true } : {}),
    };
  }
  return options;
}

/**
 * Parses the arguments against a flag table: `node:util` `parseArgs` strictly (its errors
 * become {@linkcode UsageError}s that name the flag), then each flag given, in the table's
 * order, through its `choices` and its `parse`. Rules between flags are the caller's.
 *
 * @param args The arguments after the subcommand.
 * @param flags The table: every flag this subcommand accepts.
 * @returns The values, read with {@linkcode FlagValues.get}.
 * @throws {UsageError} On an unknown flag, a missing value, a stray argument or a bad value.
 */
export function parseFlags(args: readonly string[], flags: readonly Flag[]): FlagValues {
  const options = parseArgsOptions(flags);
  let given: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    given = parseArgs({
      args: joinNegativeValues(args, options),
      options,
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new UsageError(describeParseError(error));
  }
  const values = new Map<Flag, unknown>();
  const texts = new Map<Flag, string>();
  for (const flag of flags) {
    const value = given[flag.long];
    if (flag.value === undefined) {
      values.set(flag, value === true);
    } else if (value === undefined) {
      values.set(flag, flag.repeatable ? [] : flag.default);
    } else {
      const list = (Array.isArray(value) ? value : [value]).map(String);
      const parsed = list.map((text) => parseValue(flag, text));
      values.set(flag, flag.repeatable ? parsed : parsed[0]);
      texts.set(flag, list.at(-1)!);
    }
  }
  return new FlagValues(values, texts);
}

function parseValue(flag: Flag, text: string): unknown {
  const name = `--${flag.long}`;
  if (flag.choices !== undefined && !flag.choices.includes(text)) {
    throw new UsageError(
      `Cannot parse ${name}: "${text}" is not one of ${flag.choices.join(", ")}`,
    );
  }
  return flag.parse === undefined ? text : flag.parse(name, text);
}

// parseArgs refuses `--interval -1` as ambiguous (the value looks like a flag). A value that
// looks like a negative number is joined to its flag, so the range check can name the problem.
function joinNegativeValues(args: readonly string[], spec: ParseArgsOptions): string[] {
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
 * Reads a `HOST:PORT` destination, through {@linkcode parseEndpoint}.
 *
 * @param flag The flag name, for the message.
 * @param value The text given, such as `127.0.0.1:5005`, `[2001:db8::1]:5005` or
 * `peer.example:5005`.
 * @returns The endpoint.
 * @throws {UsageError} If the port is missing or out of 1..65535, the host is empty, looks like
 * an IPv4 address but is not one, is an IPv6 address outside brackets, or is the unspecified
 * address (0.0.0.0 or ::).
 */
export function parseHostPort(flag: string, value: string): HostPort {
  return parseEndpoint(value, flag);
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
 * Reads the local address of `--bind`: where a subcommand listens. The one place its text
 * becomes an address: IPv4, or IPv6 with or without brackets (`::`, `[::1]`).
 *
 * @param flag The flag name, for the message.
 * @param value The text given, such as `127.0.0.1` or `::`.
 * @returns The address; IPv6 in canonical form.
 * @throws {UsageError} If it is neither an IPv4 nor an IPv6 address.
 */
export function parseBindAddress(flag: string, value: string): string {
  return parseLocalAddress(value, flag);
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
