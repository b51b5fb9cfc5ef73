/**
 * Reads a subcommand's `--help` text back into its parts: the flags with their short forms,
 * value names and descriptions, the usage line and the other paragraphs. The help text is the
 * one place each flag is described, so the shell completions (`udpeer completions`) and the
 * man page (`deno task man`) are built from it and a new flag reaches both with no edit.
 *
 * The layout it reads is the house style of every help text: an `Options:` block whose lines
 * are `  -p, --port N    description` (or six spaces instead of `-p, ` when there is no short
 * form), descriptions continued on deeper-indented lines, blocks separated by a blank line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseHelp } from "./helptext.ts";
 * const help = parseHelp(`Do a thing.
 *
 * Usage: udpeer thing [--port N]
 *
 * Options:
 *   -p, --port N   port to use
 *                  (default 1)
 *       --tcp      use TCP`);
 * assert.deepEqual(help.flags.map((flag) => flag.long), ["port", "tcp"]);
 * assert.equal(help.flags[0]?.value, "N");
 * assert.equal(help.flags[0]?.short, "p");
 * assert.deepEqual(help.flags[0]?.lines.map((line) => line.text), ["port to use", "(default 1)"]);
 * ```
 *
 * @module
 */

import { UsageError } from "./errors.ts";

/** One line of a flag's description. */
export interface DescriptionLine {
  /** The text, without its indentation. */
  text: string;
  /** True if indented deeper than the description column: an item of a list (as the modes). */
  nested: boolean;
}

/** One flag as its help text describes it. */
export interface FlagDoc {
  /** Long name without dashes, such as `port`. */
  long: string;
  /** One-letter short form without the dash, if any. */
  short: string | undefined;
  /** The value's name, such as `N` or `HOST:PORT`, or undefined for a switch. */
  value: string | undefined;
  /** The description, line by line as in the help. */
  lines: DescriptionLine[];
}

/** A help text taken apart. */
export interface HelpDoc {
  /** The first paragraph, on one line. */
  summary: string;
  /** The text after `Usage: `, one entry per usage line. */
  usage: string[];
  /** The flags of the `Options:` block, in order. */
  flags: FlagDoc[];
  /**
   * The other paragraphs, in order, as their lines; a paragraph that starts with a heading
   * such as `Examples:` has the heading as its `title` and the rest as its lines.
   */
  paragraphs: { title: string | undefined; lines: string[] }[];
}

/** A subcommand as the completions and the man page see it. */
export interface SubcommandDoc {
  /** Its name on the command line. */
  name: string;
  /** Its `--help` text. */
  help: string;
  /**
   * Its argument parser: a pure function that throws a {@linkcode UsageError} on a bad value.
   * The completions ask it which values a flag takes (see {@linkcode flagChoices}).
   */
  parse: (args: string[]) => unknown;
}

const FLAG_LINE = /^ {2}(?:-([A-Za-z0-9]), | {4})--([A-Za-z0-9][\w-]*)(?: (\S+))?(?: {2,}(.*))?$/;

/**
 * Takes a help text apart.
 *
 * @param text A help text in the house layout.
 * @returns Its summary, usage, flags and other paragraphs.
 */
export function parseHelp(text: string): HelpDoc {
  const blocks = text.replace(/\r\n/g, "\n").split(/\n\s*\n/).map((block) => block.split("\n"));
  const doc: HelpDoc = { summary: "", usage: [], flags: [], paragraphs: [] };
  blocks.forEach((lines, index) => {
    const first = lines[0] ?? "";
    if (index === 0) {
      doc.summary = lines.map((line) => line.trim()).join(" ");
    } else if (first.startsWith("Usage:")) {
      doc.usage = [first.slice("Usage:".length).trim(), ...lines.slice(1).map((l) => l.trim())]
        .filter((line) => line !== "");
    } else if (first === "Options:") {
      doc.flags = parseFlagBlock(lines.slice(1));
    } else {
      const heading = first.match(/^([A-Z][^:]*):$/);
      doc.paragraphs.push(
        heading ? { title: heading[1], lines: lines.slice(1) } : { title: undefined, lines },
      );
    }
  });
  return doc;
}

function parseFlagBlock(lines: string[]): FlagDoc[] {
  const flags: FlagDoc[] = [];
  let column = 0;
  for (const line of lines) {
    const match = line.match(FLAG_LINE);
    if (match) {
      const [, short, long, value, description] = match;
      column = description === undefined ? 0 : line.length - description.length;
      flags.push({
        long: long!,
        short,
        value,
        lines: description === undefined ? [] : [{ text: description.trim(), nested: false }],
      });
      continue;
    }
    const flag = flags.at(-1);
    if (flag === undefined || line.trim() === "") continue;
    const indent = line.length - line.trimStart().length;
    if (column === 0) column = indent; // the description started on its own line
    flag.lines.push({ text: line.trim(), nested: indent > column });
  }
  return flags;
}

/**
 * The values a flag accepts when they are a fixed list, asked of the parser itself: it is
 * given a value no flag accepts and its message, in the house wording `… is not one of a, b,
 * c`, names the list. So `--mode` offers exactly the modes `serve` accepts, and a new flag
 * with a fixed list needs no edit here.
 *
 * @param command The subcommand.
 * @param flag The flag.
 * @returns The accepted values, or an empty list if any value of its kind is accepted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UsageError } from "./errors.ts";
 * import { flagChoices } from "./helptext.ts";
 * const command = {
 *   name: "x",
 *   help: "",
 *   parse: (args: string[]) => {
 *     if (args.at(-1) !== "a") throw new UsageError(`Cannot parse --kind: "?" is not one of a, b-c`);
 *   },
 * };
 * assert.deepEqual(flagChoices(command, { long: "kind", short: undefined, value: "K", lines: [] }), ["a", "b-c"]);
 * ```
 */
export function flagChoices(command: SubcommandDoc, flag: FlagDoc): string[] {
  // Files are never a fixed list, and a parser must not be sent to read one.
  if (flag.value === undefined || /FILE|PATH|DIR/.test(flag.value)) return [];
  try {
    command.parse(["--help", `--${flag.long}`, "\u{1}"]);
  } catch (error) {
    const list = error instanceof UsageError
      ? error.message.match(/is not one of ([\w-]+(?:, [\w-]+)*)$/)
      : null;
    if (list) return list[1]!.split(", ");
  }
  return [];
}

/**
 * Whether a flag's value is a file name, by the value's name in the help (`FILE`, `PATH`).
 *
 * @param flag The flag.
 * @returns True if the shell should offer file names after it.
 */
export function takesFile(flag: FlagDoc): boolean {
  return flag.value !== undefined && /FILE|PATH/.test(flag.value);
}
