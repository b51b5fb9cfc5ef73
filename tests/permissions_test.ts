// Permissions as a user meets them on a terminal (see README "The heartbeat peer", README "Permissions"): Deno
// prompts on a terminal for a permission that was not given, and a prompt blocks the peer.
import assert from "node:assert/strict";
import { commandWorks, freePort, repoDir } from "./_helpers/testing.ts";

const noScript = await commandWorks("script", ["--version"])
  ? undefined
  : "skipped: util-linux `script` (a pseudo-terminal for the child) is not installed";

/**
 * Runs `deno run` with only `--allow-net` under a pseudo-terminal (util-linux `script`),
 * so Deno would prompt for any other permission, and returns what the terminal showed once
 * `until` matches or after `timeoutMs`. The process is killed either way.
 */
async function runOnTerminal(args: string[], until: RegExp, timeoutMs = 8000): Promise<string> {
  const command = [Deno.execPath(), "run", "--quiet", `--config=${repoDir}deno.json`, "--allow-net"]
    .concat(`${repoDir}main.ts`, args)
    .map((word) => `'${word}'`)
    .join(" ");
  const child = new Deno.Command("script", {
    args: ["-qfec", command, "/dev/null"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let screen = "";
  const deadline = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
  try {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      screen += chunk;
      if (until.test(screen)) break;
    }
  } finally {
    clearTimeout(deadline);
    try {
      child.kill("SIGTERM"); // script passes the end on to udpeer
    } catch { /* already gone */ }
    await child.status;
    await child.stderr.cancel();
  }
  return screen;
}

Deno.test({
  name: "a listen-only peer with only --allow-net starts on a terminal without a permission prompt",
  ignore: noScript !== undefined,
  fn: async () => {
    const screen = await runOnTerminal(["--port", "0"], /listening on|Deno requests/);
    assert.doesNotMatch(screen, /Deno requests|Allow\?/);
    assert.match(screen, /udpeer listening on 0\.0\.0\.0:\d+, not sending/);
  },
});

Deno.test({
  name: "without --allow-sys a non-loopback target advertises 127.0.0.1 and never prompts",
  ignore: noScript !== undefined,
  fn: async () => {
    const screen = await runOnTerminal(
      ["--port", "0", "--to", `192.0.2.1:${freePort()}`, "--interval", "60"],
      /listening on|Deno requests/,
    );
    assert.doesNotMatch(screen, /Deno requests|Allow\?/);
    assert.match(screen, /udpeer listening on 0\.0\.0\.0:\d+, advertising 127\.0\.0\.1; sending/);
  },
});

if (noScript !== undefined) console.log(noScript);
