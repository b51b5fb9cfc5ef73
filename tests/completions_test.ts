/**
 * Tests of `udpeer completions bash|zsh|fish`: the bash script is sourced in a real bash and
 * its function called as bash's completion would (COMP_WORDS, COMP_CWORD), then COMPREPLY is
 * read; the fish script is asked for real with `complete -C`; the zsh script is checked with
 * `zsh -n`. A shell that is not installed is skipped with the reason.
 *
 * @module
 */

import assert from "node:assert/strict";
import { MODES } from "../src/serve/modes.ts";
import { completionScript } from "../src/completions/run.ts";
import { SUBCOMMANDS } from "../main.ts";
import { defineFlag, HELP_FLAG } from "../src/common/flags.ts";
import { commandWorks, runUdpeer } from "./_helpers/testing.ts";

const scripts: Record<string, string> = {};
async function script(shell: "bash" | "zsh" | "fish"): Promise<string> {
  if (scripts[shell] === undefined) {
    const { code, stdout, stderr } = await runUdpeer(["completions", shell]);
    assert.equal(code, 0, stderr);
    scripts[shell] = `${stdout}\n`;
  }
  return scripts[shell];
}

async function run(
  command: string,
  args: string[],
  stdin = "",
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(command, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { HOME: Deno.env.get("HOME") ?? "/tmp", LANG: "C.UTF-8" },
    signal: AbortSignal.timeout(20_000),
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/**
 * What bash completes for the command line `words`, the last word being completed: the
 * script is sourced and `_udpeer` called with COMP_WORDS and COMP_CWORD set as bash sets
 * them. Returns COMPREPLY, sorted.
 */
async function bashComplete(...words: string[]): Promise<string[]> {
  const quoted = words.map((word) => `'${word.replaceAll("'", `'\\''`)}'`).join(" ");
  const { code, stdout, stderr } = await run(
    "bash",
    ["--norc", "--noprofile", "-s"],
    [
      await script("bash"),
      `COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}`,
      `COMP_LINE="\${COMP_WORDS[*]}"; COMP_POINT=\${#COMP_LINE}`,
      "_udpeer",
      `printf '%s\\n' "\${COMPREPLY[@]}"`,
    ].join("\n"),
  );
  assert.equal(code, 0, stderr);
  assert.equal(stderr, "");
  return stdout.split("\n").filter((line) => line !== "").sort();
}

/** Every long flag in the Options block of a help text, read with a plain regex. */
function helpFlags(help: string): string[] {
  const options = help.split("Options:\n")[1]!.split("\n\n")[0]!;
  return [...options.matchAll(/^ {2}(?:-\w, | {4})(--[\w-]+)/gm)].map((match) => match[1]!);
}

const hasBash = await commandWorks("bash");
const hasZsh = await commandWorks("zsh", ["--version"]);
const hasFish = await commandWorks("fish", ["--version"]);
for (const [shell, has] of [["bash", hasBash], ["zsh", hasZsh], ["fish", hasFish]] as const) {
  if (!has) {
    console.log(
      `skipped: completions_test.ts: ${shell} is not installed (apt-get install ${shell})`,
    );
  }
}

Deno.test({
  name: "bash: udpeer <Tab> offers the subcommands",
  ignore: !hasBash,
  async fn() {
    assert.deepEqual(await bashComplete("udpeer", ""), [
      "chat",
      "completions",
      "help",
      "peer",
      "serve",
    ]);
    assert.deepEqual(await bashComplete("udpeer", "se"), ["serve"]);
  },
});

Deno.test({
  name: "bash: every flag of every subcommand's --help is completed after --",
  ignore: !hasBash,
  async fn() {
    for (const { name, help } of SUBCOMMANDS) {
      const flags = helpFlags(help);
      assert.ok(flags.includes("--help") && flags.length >= 4, `${name}: ${flags}`);
      assert.deepEqual(await bashComplete("udpeer", name, "--"), [...flags].sort(), name);
    }
    // With no subcommand the flags are the peer's, the default subcommand.
    assert.ok((await bashComplete("udpeer", "--ti")).includes("--timestamp-unit"));
  },
});

Deno.test({
  name: "bash: --mode offers exactly serve's modes, also as --mode=, and -m the same",
  ignore: !hasBash,
  async fn() {
    assert.deepEqual(await bashComplete("udpeer", "serve", "--mode", ""), [...MODES].sort());
    assert.deepEqual(await bashComplete("udpeer", "serve", "-m", "re"), ["reverse-swapcase"]);
    // bash splits "--mode=re" into "--mode", "=", "re".
    assert.deepEqual(await bashComplete("udpeer", "serve", "--mode", "=", "re"), [
      "reverse-swapcase",
    ]);
    assert.deepEqual(await bashComplete("udpeer", "serve", "--mode", "="), [...MODES].sort());
  },
});

Deno.test({
  name: "bash: --timestamp-unit offers s, ms and us; a value to type offers nothing",
  ignore: !hasBash,
  async fn() {
    assert.deepEqual(await bashComplete("udpeer", "--timestamp-unit", ""), ["ms", "s", "us"]);
    assert.deepEqual(
      await bashComplete("udpeer", "peer", "--count", "3", "--timestamp-unit", "u"),
      [
        "us",
      ],
    );
    assert.deepEqual(await bashComplete("udpeer", "chat", "--to", ""), []);
    assert.deepEqual(await bashComplete("udpeer", "--port", "-"), []);
  },
});

Deno.test({
  name: "bash: completions offers the shells and help offers the subcommands",
  ignore: !hasBash,
  async fn() {
    assert.deepEqual(await bashComplete("udpeer", "completions", ""), ["bash", "fish", "zsh"]);
    assert.deepEqual(await bashComplete("udpeer", "help", "c"), ["chat", "completions"]);
  },
});

Deno.test("a row added to a flag table is completed with its values, with no other edit", () => {
  const thing = {
    name: "peer",
    help: "Thing: does a thing.\n\nUsage: udpeer thing [options]",
    flags: [
      defineFlag({
        long: "colour",
        value: "C",
        help: ["paint it (red or blue)"],
        choices: ["red", "blue"],
      }),
      defineFlag({ long: "peers", value: "FILE", help: ["read peers from FILE"], file: true }),
      HELP_FLAG,
    ],
  };
  const bash = completionScript("bash", [thing]);
  assert.match(bash, /--colour\) COMPREPLY=\(\$\(compgen -W 'red blue' -- "\$cur"\)\)/);
  assert.match(bash, /--peers\) compopt -o filenames .*compgen -f/);
  assert.match(bash, /words='--colour --peers --help'/);
  assert.match(completionScript("zsh", [thing]), /--colour'\[paint it\]:C:\(red blue\)'/);
  assert.match(completionScript("zsh", [thing]), /--peers'\[read peers from FILE\]:FILE:_files'/);
  assert.match(completionScript("fish", [thing]), /-l colour -x -a 'red blue'/);
});

Deno.test({
  name: "zsh: the script parses (zsh -n) and defines _udpeer with the modes",
  ignore: !hasZsh,
  async fn() {
    const text = await script("zsh");
    assert.match(text, /^#compdef udpeer\n/);
    assert.match(text, /:MODE:\(upper reverse-swapcase ack echo\)'/);
    const { code, stderr } = await run("zsh", ["-n"], text);
    assert.equal(code, 0, stderr);
    assert.equal(stderr, "");
  },
});

Deno.test({
  name: "fish: the script parses and `complete -C` offers the modes and the subcommands",
  ignore: !hasFish,
  async fn() {
    const path = await Deno.makeTempFile({ suffix: ".fish" });
    try {
      await Deno.writeTextFile(path, await script("fish"));
      const syntax = await run("fish", ["-n", path]);
      assert.equal(syntax.code, 0, syntax.stderr);
      const asked = await run("fish", [
        "--no-config",
        "-c",
        `source ${path}; complete -C 'udpeer serve --mode '; echo ===; complete -C 'udpeer '`,
      ]);
      assert.equal(asked.code, 0, asked.stderr);
      const [modes, commands] = asked.stdout.split("===\n").map((part) =>
        part.trim().split("\n").map((line) => line.split("\t")[0]).sort()
      );
      assert.deepEqual(modes, [...MODES].sort());
      assert.deepEqual(commands, ["chat", "completions", "help", "peer", "serve"]);
    } finally {
      await Deno.remove(path);
    }
  },
});

Deno.test("udpeer completions with no shell or an unknown one is a usage error (exit 2)", async () => {
  for (
    const [args, wording] of [
      [["completions"], /Missing shell: write udpeer completions bash\|zsh\|fish/],
      [["completions", "powershell"], /"powershell": not one of bash, zsh, fish/],
      [["completions", "bash", "--json"], /Cannot use --json with completions/],
    ] as const
  ) {
    const { code, stdout, stderr } = await runUdpeer([...args]);
    assert.equal(code, 2, stderr);
    assert.equal(stdout, "");
    assert.match(stderr, wording);
    assert.match(stderr, /Try 'udpeer completions --help'/);
    assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
  }
});
