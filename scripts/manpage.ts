/**
 * `deno task man`: writes docs/udpeer.1, the man page, from the subcommands' flag tables
 * (every flag, its value and description), their `--help` texts (the summary, usage, notes,
 * examples and exit codes), the JSON event names found in each subcommand's source, and the
 * hand-written sections below. A row added to a flag table reaches the page on the next
 * `deno task man`; tests/man_test.ts fails until the committed page is regenerated.
 *
 * `deno task man --check` writes nothing and exits 1 if docs/udpeer.1 is out of date.
 *
 * @example
 * ```sh
 * deno task man
 * man -l docs/udpeer.1
 * ```
 *
 * @module
 */

import { COMPLETIONS_COMMAND } from "../src/completions/flags.ts";
import type { Flag } from "../src/common/flags.ts";
import { type FlagDoc, flagDoc, type HelpDoc, parseHelp } from "../src/common/helptext.ts";
import { SUBCOMMANDS, VERSION } from "../main.ts";
import { REPO_DIR } from "./permissions.ts";

/** Where the page is written. */
export const MAN_PAGE_PATH: string = `${REPO_DIR}docs/udpeer.1`;

/**
 * Text for roff: backslashes and dashes escaped, non-ASCII as `\[uXXXX]` (so groff needs no
 * input encoding), and a line that would start with `.` or `'` guarded with `\&`.
 *
 * @param text Plain text, one line.
 * @returns The roff text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { roff } from "./manpage.ts";
 * assert.equal(roff("--port ≥ 1"), "\\-\\-port \\[u2265] 1");
 * assert.equal(roff(".hidden"), "\\&.hidden");
 * ```
 */
export function roff(text: string): string {
  const escaped = [...text.replaceAll("\\", "\\e").replaceAll("-", "\\-")].map((char) => {
    const code = char.codePointAt(0)!;
    return code < 0x80 ? char : `\\[u${code.toString(16).toUpperCase().padStart(4, "0")}]`;
  }).join("");
  return /^[.']/.test(escaped) ? `\\&${escaped}` : escaped;
}

function flagHeading(flag: FlagDoc): string {
  const names = [
    flag.short && `\\fB${roff(`-${flag.short}`)}\\fR`,
    `\\fB${roff(`--${flag.long}`)}\\fR`,
  ]
    .filter(Boolean).join(", ");
  return flag.value === undefined ? names : `${names} \\fI${roff(flag.value)}\\fR`;
}

function flagBody(flag: FlagDoc): string[] {
  const out: string[] = [];
  let text: string[] = [];
  let list: string[] = [];
  const flush = (): void => {
    if (text.length > 0) out.push(roff(text.join(" ")));
    if (list.length > 0) out.push(".nf", ".in +2n", ...list.map(roff), ".in", ".fi");
    text = [];
    list = [];
  };
  for (const line of flag.lines) {
    if (line.nested) list.push(line.text);
    else {
      if (list.length > 0) flush();
      text.push(line.text);
    }
  }
  flush();
  return out;
}

/** A help paragraph's lines, as filled text. */
function paragraph(lines: string[]): string {
  return roff(lines.map((line) => line.trim()).join(" "));
}

/** The `--json` event names a subcommand's source declares (`event: "name"`), in order. */
async function eventNames(subcommand: string): Promise<string[]> {
  const names: string[] = [];
  const dir = `${REPO_DIR}src/${subcommand}`;
  // The subcommand's modules, and those of its folders (the peer's events/).
  const files = [...Deno.readDirSync(dir)].flatMap((entry) =>
    entry.isDirectory
      ? [...Deno.readDirSync(`${dir}/${entry.name}`)].map((inner) => `${entry.name}/${inner.name}`)
      : [entry.name]
  ).filter((name) => name.endsWith(".ts") && !/_(test|bench)\.ts$/.test(name)).sort();
  for (const file of files) {
    const source = await Deno.readTextFile(`${dir}/${file}`);
    for (const match of source.matchAll(/^\s*(?:\|\s*\{\s*)?event: "([a-z][a-z-]*)";/gm)) {
      if (!names.includes(match[1]!)) names.push(match[1]!);
    }
  }
  return names;
}

const DESCRIPTION =
  `udpeer is a small UDP tool for network engineers and students. Its main job is a
heartbeat peer: it listens on a UDP port and, every interval, sends each target a datagram that
carries an Adler-32 checksum, the send time, the address it listens on and a short text. For
every datagram it receives it prints the text, how long ago it was sent, who sent it and how many
messages that address has sent, and it reports broken datagrams as such.
It also has the two classic socket-programming exercises: a request/response server (serve)
and an interactive client (chat), over UDP or TCP.`;

const OUTPUT = [
  `Human output is one line per event on stdout. The peer prints, for each valid heartbeat, the
UDP source address and port, count (valid messages from that source IP so far), time (the
receiver's clock minus the send time in the header, in ms) and the text; a datagram that is not
a heartbeat gets one line saying why (too short, checksum mismatch).`,
  `Text from the network never drives the terminal: control characters, escape sequences,
bidirectional overrides and line separators are shown escaped (\\x1b, \\u{202e}), and invalid
UTF-8 becomes U+FFFD.`,
  `On Ctrl-C (SIGINT) or SIGTERM, or after --count, each subcommand prints a summary in the style of
ping: for the peer, per target the heartbeats sent and received, the loss and the
min/avg/max/mdev of the elapsed times. Errors go to stderr as one line starting with udpeer:.`,
];

const JSON_EVENTS =
  `With --json, every subcommand writes one JSON object per line on stdout instead of
text, in the spirit of iperf3 --json-stream. Each object has an "event" field naming it; texts
are kept whole and escaped by JSON only. The last event of a run is "summary". The fields of
each event are listed in the README of the source repository.`;

const EXIT_STATUS: [string, string][] = [
  ["0", "Success, also after Ctrl-C or SIGTERM (the summary is printed)."],
  ["1", "Runtime failure: port in use, name not resolved, server does not answer."],
  ["2", "Usage error: a bad flag or value, named in one line on stderr."],
];

const SEE_ALSO =
  "ping(8), fping(8), iperf3(1), nc(1), tshark(1); README.md and docs/ in the source repository; " +
  "udpeer completions (shell completion scripts).";

/** A subcommand as the page documents it: its name, its help and its flag table. */
export interface DocumentedCommand {
  /** Its name. */
  name: string;
  /** Its `--help` text, taken apart: the summary, usage and paragraphs come from it. */
  help: HelpDoc;
  /** Its flag table: the flags come from it. */
  flags: readonly Flag[];
}

/**
 * Every subcommand the page documents: those main.ts dispatches, then `completions`.
 *
 * @returns The subcommands with their help texts taken apart and their flag tables.
 */
export function documentedCommands(): DocumentedCommand[] {
  return [...SUBCOMMANDS, COMPLETIONS_COMMAND].map((command) => ({
    name: command.name,
    help: parseHelp(command.help),
    flags: command.flags,
  }));
}

/**
 * The whole man page, in roff (man macros).
 *
 * @param commands The subcommands to document (by default every one udpeer has).
 * @returns The text of docs/udpeer.1.
 */
export async function buildManPage(
  commands: readonly DocumentedCommand[] = documentedCommands(),
): Promise<string> {
  const lines: string[] = [
    `.\\" Generated by 'deno task man' (scripts/manpage.ts) from the flag tables and --help texts: do not edit.`,
    `.TH UDPEER 1 "" "udpeer ${VERSION}" "User Commands"`,
    ".SH NAME",
    "udpeer \\- UDP heartbeat peer, request/response server and interactive client",
    ".SH SYNOPSIS",
  ];
  for (const { help } of commands) {
    for (const usage of help.usage) lines.push(".PP", `.B ${roff(usage)}`);
  }
  lines.push(".PP", ".B udpeer help \\fR[\\fISUBCOMMAND\\fR]");
  lines.push(".SH DESCRIPTION", roff(DESCRIPTION.replaceAll("\n", " ")));
  lines.push(".PP", "With no subcommand, udpeer runs the heartbeat peer.");
  lines.push(".SH OPTIONS");
  const examples: string[][] = [];
  const exitNotes: string[] = [];
  for (const { name, help, flags } of commands) {
    lines.push(`.SS udpeer ${name}`, roff(help.summary));
    for (const flag of flags.map(flagDoc)) {
      lines.push(".TP", flagHeading(flag), ...flagBody(flag));
    }
    for (const { title, lines: text } of help.paragraphs) {
      if (title === "Examples") examples.push(text);
      else if (title !== undefined) {
        lines.push(".PP", `${roff(title)}:`, ".RS 2", ".nf", ...text.map((l) => roff(l.trim())));
        lines.push(".fi", ".RE");
      } else if (text[0]?.startsWith("Exit codes:")) {
        exitNotes.push(`udpeer ${name}: ${text.join(" ").slice("Exit codes: ".length)}`);
      } else lines.push(".PP", paragraph(text));
    }
  }
  lines.push(".SH OUTPUT");
  for (const text of OUTPUT) lines.push(".PP", roff(text.replaceAll("\n", " ")));
  lines.push(".SH JSON EVENTS", roff(JSON_EVENTS.replaceAll("\n", " ")));
  for (const { name } of commands) {
    const events = await eventNames(name).catch(() => []);
    if (events.length > 0) lines.push(".TP", `.B udpeer ${name}`, roff(events.join(", ")));
  }
  lines.push(".SH EXIT STATUS");
  for (const [code, meaning] of EXIT_STATUS) lines.push(".TP", `.B ${code}`, roff(meaning));
  lines.push(".PP", "By subcommand:", ".RS 2");
  for (const note of exitNotes) lines.push(".PP", roff(note.replace(/\s+/g, " ")));
  lines.push(".RE");
  lines.push(".SH EXAMPLES");
  for (const example of examples.flat()) {
    const [command, comment] = example.trim().split(/ {2,}/, 2) as [string, string | undefined];
    if (command === "") continue;
    lines.push(".TP", `.B ${roff(command)}`, comment === undefined ? ".br" : roff(comment));
  }
  lines.push(".SH SEE ALSO", roff(SEE_ALSO));
  return `${lines.join("\n")}\n`;
}

async function main(args: string[]): Promise<number> {
  const page = await buildManPage();
  if (args.includes("--check")) {
    const current = await Deno.readTextFile(MAN_PAGE_PATH).catch(() => "");
    if (current === page) return 0;
    console.error("docs/udpeer.1 is out of date: run 'deno task man'");
    return 1;
  }
  await Deno.writeTextFile(MAN_PAGE_PATH, page);
  console.log(`wrote ${MAN_PAGE_PATH}`);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
