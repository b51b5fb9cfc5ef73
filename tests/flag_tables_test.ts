/**
 * Each flag is declared once, as a row of its subcommand's table (src/common/flags.ts). These
 * tests hold everything made from the tables to them, row by row: the `--help` text (read back
 * with the house-layout reader), the `node:util` `parseArgs` options and the parse, the bash,
 * zsh and fish completion scripts, and the committed man page, each with the flag's choices.
 * A table with one more row shows that the row is all it takes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { SUBCOMMANDS } from "../main.ts";
import { buildManPage, MAN_PAGE_PATH, roff } from "../scripts/manpage.ts";
import { UsageError } from "../src/common/errors.ts";
import { defineFlag, type Flag, parseArgsOptions, parseFlags } from "../src/common/flags.ts";
import { flagDoc, helpText, parseHelp, type SubcommandDoc } from "../src/common/helptext.ts";
import { COMPLETIONS_COMMAND } from "../src/completions/flags.ts";
import { completionScript } from "../src/completions/run.ts";
import { SERVE_FLAGS } from "../src/serve/flags.ts";

/** Every subcommand with a flag table: those that run something, and `completions`. */
const COMMANDS: readonly SubcommandDoc[] = [...SUBCOMMANDS, COMPLETIONS_COMMAND];

/** What was made from the tables. */
interface Made {
  bash: string;
  zsh: string;
  fish: string;
  man: string;
}

function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof UsageError, `expected a UsageError, got ${error}`);
    return error.message;
  }
  assert.fail("expected a UsageError, but nothing was thrown");
}

/** The lines of a shell script's `case` arm for one subcommand, up to its `;;`. */
function caseArm(script: string, name: string): string {
  const start = script.indexOf(`\n    ${name})\n`);
  assert.ok(start >= 0, `no case arm for ${name}`);
  return script.slice(start, script.indexOf("\n      ;;", start));
}

/** The roff of one subcommand's section of the man page's OPTIONS, up to the next section. */
function manSection(page: string, name: string): string {
  const start = page.indexOf(`\n.SS udpeer ${name}\n`);
  assert.ok(start >= 0, `no man section for ${name}`);
  return page.slice(start + 1).split(/\n\.S[SH] /)[0]!;
}

/** Asserts that every row of a subcommand's table is in its help, parse, completions and man page. */
function assertEverywhere(command: SubcommandDoc, made: Made): void {
  const { name, flags } = command;
  const where = (flag: Flag, what: string): string => `${name} --${flag.long}: ${what}`;

  // --help: the Options block, read back, is the table: names, placeholders, help lines, order.
  assert.deepEqual(parseHelp(command.help).flags, flags.map(flagDoc), `${name}: --help`);

  // parseArgs: a string option for a flag with a value, a boolean for a switch; short, multiple.
  const options = parseArgsOptions(flags);
  assert.deepEqual(Object.keys(options), flags.map((flag) => flag.long), `${name}: parseArgs`);
  for (const flag of flags) {
    const option = options[flag.long]!;
    assert.equal(option.type, flag.value === undefined ? "boolean" : "string", where(flag, "type"));
    assert.equal(option.short, flag.short, where(flag, "short"));
    assert.equal(option.multiple === true, flag.repeatable === true, where(flag, "multiple"));
    for (const spelling of [`--${flag.long}`, ...(flag.short ? [`-${flag.short}`] : [])]) {
      if (flag.value === undefined) {
        assert.equal(parseFlags([spelling], flags).get(flag), true, where(flag, spelling));
      } else {
        assert.equal(
          usageMessage(() => parseFlags([spelling], flags)),
          `Cannot parse --${flag.long}: a value is missing`,
          where(flag, spelling),
        );
      }
    }
    for (const choice of flag.choices ?? []) {
      assert.equal(parseFlags([`--${flag.long}`, choice], flags).get(flag), choice);
      assert.match(
        flag.help.join(" "),
        new RegExp(`(^|[\\s,:(])${choice}([\\s,:)]|$)`),
        where(flag, `its help names the choice ${choice}`),
      );
    }
    if (flag.choices !== undefined) {
      assert.equal(
        usageMessage(() => parseFlags([`--${flag.long}`, "no-such-choice"], flags)),
        `Cannot parse --${flag.long}: "no-such-choice" is not one of ${flag.choices.join(", ")}`,
      );
    }
  }

  // bash: every long flag is offered; a value with choices offers them, a file file names.
  const bash = caseArm(made.bash, name);
  const offered = bash.match(/words='([^']*)'/)?.[1]?.split(" ");
  assert.deepEqual(offered, flags.map((flag) => `--${flag.long}`), `${name}: bash words`);
  for (const flag of flags.filter((flag) => flag.value !== undefined)) {
    const pattern = [flag.short && `-${flag.short}`, `--${flag.long}`].filter(Boolean).join("|");
    const arm = bash.split("\n").find((line) => line.trimStart().startsWith(`${pattern})`));
    assert.ok(arm !== undefined, where(flag, "bash value arm"));
    if (flag.choices) assert.ok(arm.includes(`compgen -W '${flag.choices.join(" ")}'`), arm);
    if (flag.file) assert.ok(arm.includes("compgen -f"), arm);
    if (!flag.choices && !flag.file) assert.ok(arm.includes(") :;"), arm);
  }

  // zsh: one _arguments spec per flag, with its short form, its placeholder and its choices.
  const zsh = caseArm(made.zsh, name).split("\n");
  for (const flag of flags) {
    const names = flag.short ? `{-${flag.short},--${flag.long}}'[` : `--${flag.long}'[`;
    const spec = zsh.find((line) => line.includes(names));
    assert.ok(spec !== undefined, where(flag, "zsh spec"));
    if (flag.choices) assert.ok(spec.includes(`:(${flag.choices.join(" ")})'`), spec);
    if (flag.file) assert.ok(spec.includes(":_files'"), spec);
    if (flag.repeatable) assert.ok(spec.trimStart().startsWith("'*'"), spec);
  }

  // fish: one complete line per flag, with -s, -l and its choices or file names.
  const fish = made.fish.split("\n").filter((line) =>
    line.includes(`-n 'test (__udpeer_subcommand) = ${name}'`)
  );
  for (const flag of flags) {
    const names = `${flag.short ? ` -s ${flag.short}` : ""} -l ${flag.long} `;
    const line = fish.find((line) => line.includes(names));
    assert.ok(line !== undefined, where(flag, "fish line"));
    if (flag.choices) assert.ok(line.includes(`-x -a '${flag.choices.join(" ")}'`), line);
    if (flag.file) assert.ok(line.includes(" -r -F "), line);
  }

  // man page: a .TP item per flag in the subcommand's section, with its placeholder and
  // every choice.
  const man = manSection(made.man, name);
  for (const flag of flags) {
    const heading = [
      flag.short && `\\fB${roff(`-${flag.short}`)}\\fR`,
      `\\fB${roff(`--${flag.long}`)}\\fR`,
    ].filter(Boolean).join(", ") +
      (flag.value === undefined ? "" : ` \\fI${roff(flag.value)}\\fR`);
    assert.ok(man.includes(`\n.TP\n${heading}\n`), where(flag, `man heading ${heading}`));
    for (const choice of flag.choices ?? []) {
      assert.ok(man.includes(roff(choice)), where(flag, `man choice ${choice}`));
    }
  }
}

Deno.test("every flag of every table is in its help, parseArgs, each shell's completions and the man page", async () => {
  const made: Made = {
    bash: completionScript("bash", SUBCOMMANDS),
    zsh: completionScript("zsh", SUBCOMMANDS),
    fish: completionScript("fish", SUBCOMMANDS),
    man: await Deno.readTextFile(MAN_PAGE_PATH),
  };
  for (const command of COMMANDS) {
    assert.ok(command.flags.length >= 2, command.name);
    assertEverywhere(command, made);
  }
  // The flags with a fixed list, and the one with a file, are the ones the tables say.
  const listed = COMMANDS.flatMap((command) =>
    command.flags.filter((flag) => flag.choices || flag.file)
      .map((flag) => `${command.name} --${flag.long}`)
  );
  assert.deepEqual(listed, ["peer --timestamp-unit", "peer --peers", "serve --mode"]);
});

Deno.test("a table with one more row has the flag everywhere, with no other edit", async () => {
  const colour = defineFlag({
    long: "colour",
    short: "k",
    value: "C",
    help: ["paint the replies (default red):", "  red    warm", "  blue   cool"],
    choices: ["red", "blue"],
    default: "red",
  });
  const log = defineFlag({
    long: "log-file",
    value: "FILE",
    help: ["append a line per request to FILE"],
    file: true,
  });
  const flags = [...SERVE_FLAGS, colour, log];
  const help = helpText({
    intro: "Request/response server: as serve.\n\nUsage: udpeer serve [options]",
    flags,
    column: 20,
    notes: "Exit codes: 0 success, 2 usage error.",
  });
  const command: SubcommandDoc = { name: "serve", help, flags };
  assertEverywhere(command, {
    bash: completionScript("bash", [command]),
    zsh: completionScript("zsh", [command]),
    fish: completionScript("fish", [command]),
    man: await buildManPage([{ name: "serve", help: parseHelp(help), flags }]),
  });
  // And its value is parsed, typed, with its default.
  assert.equal(parseFlags(["-k", "blue"], flags).get(colour), "blue");
  assert.equal(parseFlags([], flags).get(colour), "red");
  assert.equal(parseFlags(["--log-file", "x.log"], flags).get(log), "x.log");
  assert.ok(help.includes("  -k, --colour C    paint the replies (default red):\n"));
});

Deno.test("parseFlags() parses every given value in table order, fills in defaults, keeps the text", () => {
  const seen: string[] = [];
  const number = (flag: string, text: string): number => {
    seen.push(flag);
    if (!/^[0-9]+$/.test(text)) throw new UsageError(`Cannot parse ${flag}: "${text}" is bad`);
    return Number(text);
  };
  const a = defineFlag({ long: "a", value: "N", help: ["a"], default: 1, parse: number });
  const b = defineFlag({ long: "b", value: "N", help: ["b"], repeatable: true, parse: number });
  const c = defineFlag({ long: "c", value: "N", help: ["c"], parse: number });
  const d = defineFlag({ long: "d", short: "d", help: ["d"] });
  const flags = [a, b, c, d];
  const values = parseFlags(["--b", "2", "--c", "3", "--a", "4", "--b=5"], flags);
  assert.deepEqual(seen, ["--a", "--b", "--b", "--c"], "the table's order, not the arguments'");
  assert.equal(values.get(a), 4);
  assert.deepEqual(values.get(b), [2, 5]);
  assert.equal(values.get(d), false);
  assert.equal(values.text(a), "4");
  assert.ok(values.given(a) && !values.given(d));
  const none = parseFlags([], flags);
  assert.equal(none.get(a), 1, "the default");
  assert.deepEqual(none.get(b), []);
  assert.equal(none.get(c), undefined);
  assert.ok(!none.given(a), "a default is not given");
  assert.equal(
    usageMessage(() => parseFlags(["--c", "-1"], flags)),
    `Cannot parse --c: "-1" is bad`,
  );
  assert.equal(usageMessage(() => parseFlags(["--e"], flags)), `Unknown flag "--e"`);
  assert.equal(
    usageMessage(() => parseFlags(["--d=1"], flags)),
    "Cannot parse --d: it takes no value",
  );
  assert.throws(() => parseFlags([], [a]).get(c), /--c is not in the table parsed/);
});
