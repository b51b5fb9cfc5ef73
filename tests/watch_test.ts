// --watch in a real terminal: tmux runs the program in a pane; the test reads the screen
// with capture-pane and types Ctrl-C with send-keys.
import assert from "node:assert/strict";
import { assertUsageError, commandWorks, freePort, repoDir, runFlags } from "./_helpers/testing.ts";

const hasTmux = await commandWorks("tmux", ["-V"]);
if (!hasTmux) console.log("skipped: tmux is not installed (--watch in a real terminal)");

/** Runs tmux on a server of the test's own, so nothing else's sessions are touched. */
async function tmux(socket: string, ...args: string[]): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command("tmux", {
    args: ["-L", socket, "-f", "/dev/null", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout);
  if (code !== 0) throw new Error(`tmux ${args.join(" ")}: ${new TextDecoder().decode(stderr)}`);
  return text;
}

const quote = (word: string): string => `'${word.replaceAll("'", `'\\''`)}'`;

async function waitForScreen(
  socket: string,
  predicate: (screen: string) => boolean,
  what: string,
): Promise<string> {
  let screen = "";
  for (let i = 0; i < 150; i++) {
    screen = await tmux(socket, "capture-pane", "-p", "-t", "watch");
    if (predicate(screen)) return screen;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Timed out waiting for ${what}; the screen:\n${screen}`);
}

Deno.test({
  name:
    "--watch draws a live table in a terminal, restores the terminal at Ctrl-C, then prints the summary",
  ignore: !hasTmux,
  async fn() {
    const socket = `udpeer-watch-${Deno.pid}`;
    const port = freePort();
    const silentPort = freePort();
    const command = [
      Deno.execPath(),
      ...runFlags,
      `${repoDir}main.ts`,
      "--watch",
      `--port=${port}`,
      `--to=127.0.0.1:${port}`,
      `--to=127.0.0.1:${silentPort}`,
      "--interval=0.2",
    ].map(quote).join(" ");
    let socketPath = "";
    await tmux(
      socket,
      "new-session",
      "-d",
      "-s",
      "watch",
      "-x",
      "120",
      "-y",
      "24",
      `NO_COLOR=1 ${command}; echo EXIT=$?; sleep 60`,
    );
    try {
      socketPath = (await tmux(socket, "display-message", "-p", "#{socket_path}")).trim();
      const row = new RegExp(`^127\\.0\\.0\\.1:${port} +up +\\d+ +0% `, "m");
      const table = await waitForScreen(
        socket,
        (screen) => row.test(screen) && screen.includes(" silent: no heartbeat for 0.6 s"),
        "a row that is up and a silent target",
      );
      assert.match(table, /^SOURCE +PEER +STATE +COUNT +LOSS +LAST +MIN +AVG +MAX +JITTER +HEARD/m);
      assert.match(table, new RegExp(`^127\\.0\\.0\\.1:${silentPort} +silent +0 `, "m"));
      assert.equal(
        (await tmux(socket, "display", "-p", "-t", "watch", "#{alternate_on} #{cursor_flag}"))
          .trim(),
        "1 0",
        "the table is on the alternate screen, without a cursor",
      );
      // Redrawn each second: the count goes up without a new line per heartbeat.
      const count = () => Number(row.exec(table)?.[0].match(/up +(\d+)/)?.[1]);
      const before = count();
      const later = await waitForScreen(
        socket,
        (screen) => Number(row.exec(screen)?.[0].match(/up +(\d+)/)?.[1]) >= before + 5,
        "the count to go up",
      );
      assert.equal(later.match(/^SOURCE /gm)?.length, 1, "one table, redrawn in place");

      await tmux(socket, "send-keys", "-t", "watch", "C-c");
      const after = await waitForScreen(socket, (screen) => screen.includes("EXIT="), "the exit");
      assert.match(after, /^EXIT=0$/m);
      assert.ok(after.includes(`--- 127.0.0.1:${port} udpeer statistics ---`), after);
      assert.ok(
        after.includes("0 received, 0 invalid, 100% loss (nothing came back)"),
        after,
      );
      assert.doesNotMatch(after, /^SOURCE /m, "the table is gone with the alternate screen");
      assert.equal(
        (await tmux(socket, "display", "-p", "-t", "watch", "#{alternate_on} #{cursor_flag}"))
          .trim(),
        "0 1",
        "the normal screen and the cursor are back",
      );
    } finally {
      await tmux(socket, "kill-server").catch(() => {});
      // kill-server leaves the socket file behind.
      if (socketPath !== "") await Deno.remove(socketPath).catch(() => {});
    }
  },
});

Deno.test("--watch is a usage error when stdout is not a terminal, and with --json", async () => {
  await assertUsageError(["--watch", "--port", "0"], "--watch");
  await assertUsageError(["--watch", "--json", "--port", "0"], "--watch");
});

Deno.test("--down-after takes a whole number of intervals ≥ 1", async () => {
  await assertUsageError(["--down-after", "0", "--port", "0"], "--down-after");
  await assertUsageError(["--down-after", "1.5", "--port", "0"], "--down-after");
});
