import assert from "node:assert/strict";
import { UsageError } from "./errors.ts";
import { flagChoices, parseHelp, takesFile } from "./helptext.ts";

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

Deno.test("flagChoices() takes the list from the parser's 'is not one of' message, never for files", () => {
  const asked: string[][] = [];
  const command = {
    name: "thing",
    help: HELP,
    parse: (args: string[]) => {
      asked.push(args);
      if (args.includes("--mode")) {
        throw new UsageError(`Cannot parse --mode: "x" is not one of a, b`);
      }
      if (args.includes("--port")) throw new UsageError(`Cannot parse --port: "x" is not a port`);
    },
  };
  const [port, , mode, peers, help] = parseHelp(HELP).flags;
  assert.deepEqual(flagChoices(command, mode!), ["a", "b"]);
  assert.deepEqual(flagChoices(command, port!), []);
  assert.deepEqual(flagChoices(command, help!), [], "a switch has no value");
  assert.deepEqual(flagChoices(command, peers!), []);
  assert.ok(!asked.some((args) => args.includes("--peers")), "a file flag is never probed");
  assert.ok(takesFile(peers!) && !takesFile(mode!));
});
