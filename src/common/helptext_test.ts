import assert from "node:assert/strict";
import { defineFlag } from "./flags.ts";
import { flagDoc, helpText, optionLines, parseHelp } from "./helptext.ts";

const HELP = `Server: serve things.
On two lines.

Usage: udpeer thing [--port N]
       udpeer thing --tcp

Options:
  -p, --port N              port
      --a-very-long-flag-name VALUE
                            described on the next line
  -m, --mode MODE           what to do (default a):
                              a   the first
                              b   the second
                            then more text
      --peers FILE          read them from FILE
  -h, --help                show this help

A note that is not a heading.

Examples:
  udpeer thing --port 1     one

Exit codes: 0 success,
2 usage error.`;

Deno.test("parseHelp() reads summary, usage lines, flags and paragraphs of the house layout", () => {
  const help = parseHelp(HELP);
  assert.equal(help.summary, "Server: serve things. On two lines.");
  assert.deepEqual(help.usage, ["udpeer thing [--port N]", "udpeer thing --tcp"]);
  assert.deepEqual(help.flags.map((flag) => [flag.short, flag.long, flag.value]), [
    ["p", "port", "N"],
    [undefined, "a-very-long-flag-name", "VALUE"],
    ["m", "mode", "MODE"],
    [undefined, "peers", "FILE"],
    ["h", "help", undefined],
  ]);
  assert.deepEqual(help.paragraphs.map((paragraph) => paragraph.title), [
    undefined,
    "Examples",
    undefined,
  ]);
  assert.deepEqual(help.paragraphs[2]!.lines, ["Exit codes: 0 success,", "2 usage error."]);
});

Deno.test("parseHelp() keeps a description that starts on its own line, and marks list items", () => {
  const [, long, mode] = parseHelp(HELP).flags;
  assert.deepEqual(long!.lines, [{ text: "described on the next line", nested: false }]);
  assert.deepEqual(mode!.lines, [
    { text: "what to do (default a):", nested: false },
    { text: "a   the first", nested: true },
    { text: "b   the second", nested: true },
    { text: "then more text", nested: false },
  ]);
});

Deno.test("helpText() lays out a flag table in the house layout, and parseHelp() reads it back", () => {
  const flags = [
    defineFlag({ long: "port", short: "p", value: "N", help: ["port"] }),
    defineFlag({
      long: "a-very-long-flag-name",
      value: "VALUE",
      help: ["described on the next line"],
    }),
    defineFlag({
      long: "mode",
      short: "m",
      value: "MODE",
      help: ["what to do (default a):", "  a   the first", "  b   the second", "then more text"],
      choices: ["a", "b"],
    }),
    defineFlag({ long: "peers", value: "FILE", help: ["read them from FILE"], file: true }),
    defineFlag({ long: "help", short: "h", help: ["show this help"] }),
  ];
  const text = helpText({
    intro:
      "Server: serve things.\nOn two lines.\n\nUsage: udpeer thing [--port N]\n       udpeer thing --tcp",
    flags,
    column: 28,
    notes:
      "A note that is not a heading.\n\nExamples:\n  udpeer thing --port 1     one\n\nExit codes: 0 success,\n2 usage error.",
  });
  assert.equal(text, HELP, "the same bytes as the hand-written layout");
  assert.deepEqual(parseHelp(text).flags, flags.map(flagDoc));
  // Two spaces at least between the names and the description, else it starts below.
  assert.deepEqual(optionLines([defineFlag({ long: "abcd", help: ["x"] })], 14), [
    "      --abcd  x",
  ]);
  assert.deepEqual(optionLines([defineFlag({ long: "abcde", help: ["x"] })], 14), [
    "      --abcde",
    "              x",
  ]);
});
