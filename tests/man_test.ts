/**
 * Tests of the man page (docs/udpeer.1, built by `deno task man` from the flag tables and the
 * `--help` texts) and of `udpeer help`: the committed page is what the script builds now, groff
 * renders it with every warning on and none given, every flag of every subcommand's `--help` is
 * in it, and a row added to a flag table reaches it with no other edit.
 *
 * @module
 */

import assert from "node:assert/strict";
import { buildManPage, documentedCommands, MAN_PAGE_PATH } from "../scripts/manpage.ts";
import { defineFlag } from "../src/common/flags.ts";
import { commandWorks, runUdpeer } from "./_helpers/testing.ts";

const hasGroff = await commandWorks("groff", ["--version"]);
if (!hasGroff) {
  console.log("skipped: man_test.ts: rendering: groff is not installed (apt-get install groff)");
}

async function render(page: string): Promise<{ code: number; text: string; warnings: string }> {
  const child = new Deno.Command("groff", {
    args: ["-man", "-Tutf8", "-ww", "-rLL=100n", "-P-cbou"], // -P-cbou: plain text, no bold
    env: { LANG: "C.UTF-8" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(20_000),
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(page));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  // groff sets "-" as a hyphen or minus sign in UTF-8: back to "-".
  const text = decoder.decode(stdout).replace(/[\u2010\u2212]/g, "-");
  return { code, text, warnings: decoder.decode(stderr) };
}

/** Every long flag in the Options block of a help text, read with a plain regex. */
function helpFlags(help: string): string[] {
  const options = help.split("Options:\n")[1]!.split("\n\n")[0]!;
  return [...options.matchAll(/^ {2}(?:-\w, | {4})(--[\w-]+)/gm)].map((match) => match[1]!);
}

Deno.test("docs/udpeer.1 is what deno task man builds from the help texts now", async () => {
  const committed = await Deno.readTextFile(MAN_PAGE_PATH);
  assert.ok(
    committed === await buildManPage(),
    "docs/udpeer.1 is out of date: a flag table or help text changed. Run 'deno task man' and commit docs/udpeer.1",
  );
});

Deno.test({
  name: "groff -man -ww renders docs/udpeer.1 with no warning, with every section",
  ignore: !hasGroff,
  async fn() {
    const { code, text, warnings } = await render(await Deno.readTextFile(MAN_PAGE_PATH));
    assert.equal(code, 0);
    assert.equal(warnings, "");
    for (
      const section of [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "OUTPUT",
        "JSON EVENTS",
        "EXIT STATUS",
        "EXAMPLES",
        "SEE ALSO",
      ]
    ) {
      assert.match(text, new RegExp(`^${section}$`, "m"), section);
    }
    for (
      const usage of ["udpeer [peer] [--port N]", "udpeer serve [--port N]", "udpeer chat --to"]
    ) {
      assert.ok(text.includes(usage), usage);
    }
  },
});

Deno.test({
  name: "every flag of every subcommand's --help is in the rendered man page, in its section",
  ignore: !hasGroff,
  async fn() {
    const { text } = await render(await Deno.readTextFile(MAN_PAGE_PATH));
    const sections = text.split(/^ {3}udpeer (\w+)$/m);
    for (const name of ["peer", "serve", "chat", "completions"]) {
      const { code, stdout } = await runUdpeer([name, "--help"]);
      assert.equal(code, 0);
      const flags = helpFlags(stdout);
      assert.ok(flags.length >= 2, `${name}: ${flags}`);
      const section = sections[sections.indexOf(name) + 1] ?? "";
      for (const flag of flags) {
        assert.match(section, new RegExp(`^ {7}(-\\w, )?${flag}\\b`, "m"), `${name} ${flag}`);
      }
    }
  },
});

Deno.test("a row added to a flag table appears in the man page with no other edit", async () => {
  const commands = documentedCommands();
  const serve = commands.find((command) => command.name === "serve")!;
  const extra = defineFlag({
    long: "max-clients",
    value: "N",
    help: ["refuse more than N clients at once"],
  });
  const page = await buildManPage([{ ...serve, flags: [...serve.flags, extra] }]);
  assert.match(
    page,
    /^\\fB\\-\\-max\\-clients\\fR \\fIN\\fR\nrefuse more than N clients at once$/m,
  );
});

Deno.test("udpeer help prints the top help, udpeer help serve the serve help, exit 0", async () => {
  const top = await runUdpeer(["--help"]);
  const help = await runUdpeer(["help"]);
  assert.equal(help.code, 0);
  assert.equal(help.stdout, top.stdout);
  assert.match(help.stdout, /udpeer help \[SUBCOMMAND\]/);
  for (const name of ["serve", "chat", "peer", "completions"]) {
    const direct = await runUdpeer([name, "--help"]);
    const viaHelp = await runUdpeer(["help", name]);
    assert.equal(viaHelp.code, 0, name);
    assert.equal(viaHelp.stdout, direct.stdout, name);
    assert.equal(viaHelp.stderr, "");
  }
  const bad = await runUdpeer(["help", "server"]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, "");
  assert.match(bad.stderr, /^udpeer: Cannot show help for "server": not a subcommand/);
});
