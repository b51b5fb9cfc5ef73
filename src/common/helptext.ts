/**
 * The house layout of every `--help` text, both ways: {@linkcode helpText} writes a
 * subcommand's help with its `Options:` block made from its flag table (src/common/flags.ts),
 * and {@linkcode parseHelp} reads a help text back into its parts: the summary, the usage
 * lines, the flags and the other paragraphs. The man page (`deno task man`) takes the
 * paragraphs from the help and the flags from the table; the tests read the help back to
 * check it shows every flag of the table.
 *
 * The layout: an `Options:` block whose lines are `  -p, --port N    description` (or six
 * spaces instead of `-p, ` when there is no short form), descriptions continued on
 * deeper-indented lines, blocks separated by a blank line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { helpText, parseHelp } from "./helptext.ts";
 * const text = helpText({
 *   intro: "Do a thing.\n\nUsage: udpeer thing [--port N]",
 *   flags: [
 *     { long: "port", short: "p", value: "N", help: ["port to use", "(default 1)"] },
 *     { long: "tcp", help: ["use TCP"] },
 *   ],
 *   column: 17,
 *   notes: "Exit codes: 0 success.",
 * });
 * assert.ok(text.includes("  -p, --port N   port to use\n                 (default 1)\n"));
 * const help = parseHelp(text);
 * assert.deepEqual(help.flags.map((flag) => flag.long), ["port", "tcp"]);
 * assert.equal(help.flags[0]?.value, "N");
 * assert.equal(help.flags[0]?.short, "p");
 * assert.deepEqual(help.flags[0]?.lines.map((line) => line.text), ["port to use", "(default 1)"]);
 * ```
 *
 * @module
 */

import type { Flag } from "./flags.ts";

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
  /** Its `--help` text, as {@linkcode helpText} writes it from `flags`. */
  help: string;
  /** Its flag table: every flag it accepts, in the order its help lists them. */
  flags: readonly Flag[];
}

/** What a `--help` text is made of. */
export interface HelpLayout {
  /** The paragraphs before the options: what the subcommand does, then `Usage: …`. */
  intro: string;
  /** Its flag table, in the order the `Options:` block lists them. */
  flags: readonly Flag[];
  /** The column at which each flag's description starts. */
  column: number;
  /** The paragraphs after the options: notes, `Examples:`, `Exit codes:`. */
  notes: string;
}

/**
 * A subcommand's `--help` text: the intro, the `Options:` block made from the flag table,
 * the notes.
 *
 * @param layout The parts.
 * @returns The help text, without a final newline.
 */
export function helpText(layout: HelpLayout): string {
  return `${layout.intro}\n\nOptions:\n${
    optionLines(layout.flags, layout.column).join("\n")
  }\n\n${layout.notes}`;
}

/**
 * The lines of an `Options:` block: each flag's names and placeholder, then its help from
 * `column` on; a flag whose names leave fewer than two spaces before the column has its
 * help start on the next line.
 *
 * @param flags The flag table.
 * @param column The column of the descriptions.
 * @returns The lines.
 */
export function optionLines(flags: readonly Flag[], column: number): string[] {
  const indent = " ".repeat(column);
  return flags.flatMap((flag) => {
    const names = `  ${flag.short === undefined ? "    " : `-${flag.short}, `}--${flag.long}${
      flag.value === undefined ? "" : ` ${flag.value}`
    }`;
    const [first, ...rest] = flag.help;
    const lines = names.length + 2 > column || first === undefined
      ? [names, ...flag.help.map((line) => indent + line)]
      : [names.padEnd(column) + first, ...rest.map((line) => indent + line)];
    return lines;
  });
}

/**
 * A row of a flag table as its help shows it: the description lines with list items marked.
 *
 * @param flag The row.
 * @returns The flag as {@linkcode parseHelp} would read it from the help.
 */
export function flagDoc(flag: Flag): FlagDoc {
  return {
    long: flag.long,
    short: flag.short,
    value: flag.value,
    lines: flag.help.map((line) => ({ text: line.trim(), nested: /^\s/.test(line) })),
  };
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
