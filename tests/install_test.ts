/**
 * Tests of udpeer as an installed command and a package: `deno task install` into a
 * temporary root (offline), then `udpeer` run from `PATH` in a folder with no main.ts;
 * `deno task start` stopped with Ctrl-C in a real terminal (tmux) exits 0; the `publish`
 * file list holds only the library and the program; `./protocol` imports with no permission.
 *
 * @module
 */

import assert from "node:assert/strict";
import { dirname } from "node:path";
import denoJson from "../deno.json" with { type: "json" };
import { decodeHeartbeat, encodeHeartbeat } from "../protocol.ts";
import { installArgs } from "../scripts/install.ts";
import { PERMISSIONS } from "../scripts/permissions.ts";
import { commandWorks, freePort, repoDir } from "./_helpers/testing.ts";

const decoder = new TextDecoder();

async function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(command, {
    args,
    cwd: options.cwd ?? Deno.cwd(),
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
  }).output();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

/** A PATH with the installed command first, then this Deno (the shim runs `deno`), then the system's. */
function pathWith(bin: string): string {
  return [bin, dirname(Deno.execPath()), "/usr/local/bin", "/usr/bin", "/bin"].join(":");
}

Deno.test("deno task install --root puts udpeer in DIR/bin with exactly its permissions", async () => {
  const root = await Deno.makeTempDir({ prefix: "udpeer-root-" });
  try {
    const { code, stdout, stderr } = await run(
      Deno.execPath(),
      ["task", "install", "--root", root],
      { cwd: repoDir },
    );
    assert.equal(code, 0, stderr);
    assert.match(stdout, /~\/\.local\/share\/man\/man1/, "says where the man page goes");
    const shim = await Deno.readTextFile(`${root}/bin/udpeer`);
    const exec = shim.split("\n").find((line) => line.startsWith("exec deno run "))!;
    const flags = exec.split(" ").filter((word) => word.startsWith("--allow"));
    assert.deepEqual(flags.sort(), [...PERMISSIONS].sort(), exec);
    assert.doesNotMatch(exec, /--allow-all|-A\b/);
    const config = exec.match(/--config (\S+)/)![1]!;
    assert.deepEqual(JSON.parse(await Deno.readTextFile(config)).unstable, ["net"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("installed udpeer runs from PATH with no main.ts around: --version and two heartbeats both ways", async () => {
  const root = await Deno.makeTempDir({ prefix: "udpeer-root-" });
  const elsewhere = await Deno.makeTempDir({ prefix: "udpeer-cwd-" });
  // DENO_INSTALL_ROOT is the other way to choose the root.
  const installed = await run(Deno.execPath(), ["task", "install"], {
    cwd: repoDir,
    env: { DENO_INSTALL_ROOT: root },
  });
  assert.equal(installed.code, 0, installed.stderr);
  const env = { PATH: pathWith(`${root}/bin`), HOME: elsewhere };
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    assert.deepEqual([...Deno.readDirSync(elsewhere)], []);
    const version = await run("udpeer", ["--version"], { cwd: elsewhere, env });
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), `udpeer ${denoJson.version}`);

    const { port } = socket.addr as Deno.NetAddr;
    const peer = new Deno.Command("udpeer", {
      args: ["--port", "0", "--to", `127.0.0.1:${port}`, "--count", "2", "--interval", "0.2"]
        .concat(["--json"]),
      cwd: elsewhere,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).spawn();
    // Answer each heartbeat with one of ours, from the socket it came to.
    for (let i = 1; i <= 2; i++) {
      const [datagram, from] = await socket.receive();
      const decoded = decodeHeartbeat(datagram);
      assert.ok(decoded.ok, "a valid heartbeat");
      const reply = encodeHeartbeat({
        ipv4: "127.0.0.1",
        port,
        timestamp: Date.now(),
        text: `reply ${i}`,
      });
      await socket.send(reply, from);
    }
    const { code, stdout, stderr } = await peer.output();
    assert.equal(code, 0, decoder.decode(stderr));
    assert.equal(decoder.decode(stderr), "", "no permission prompt or warning");
    const events = decoder.decode(stdout).trim().split("\n").map((line) => JSON.parse(line));
    const texts = events.filter((event) => event.event === "message").map((event) => event.text);
    assert.deepEqual(texts, ["reply 1", "reply 2"]);
    assert.equal(events.at(-1).event, "summary");
    assert.equal(events.at(-1).sent, 2);
  } finally {
    socket.close();
    await Deno.remove(root, { recursive: true });
    await Deno.remove(elsewhere, { recursive: true });
  }
});

Deno.test("docs/install.md shows the same deno install command as deno task install runs", async () => {
  const page = await Deno.readTextFile(`${repoDir}docs/install.md`);
  const shown = page.split("\n").find((line) => line.startsWith("deno install --global"));
  const expected = ["deno", ...installArgs(undefined)].join(" ").replaceAll(repoDir, "");
  assert.equal(shown, expected, "update docs/install.md to the command scripts/install.ts runs");
});

Deno.test("README and docs/install.md list exactly the permissions of scripts/permissions.ts", async () => {
  for (const page of ["README.md", "docs/install.md"]) {
    const text = await Deno.readTextFile(`${repoDir}${page}`);
    const rows = [...text.matchAll(/^\| `(--allow-[\w=-]+)` +\|/gm)].map((match) => match[1]);
    assert.deepEqual(rows, [...PERMISSIONS], `${page}: its permissions table`);
  }
});

Deno.test("deno task install refuses an unknown flag with one line, exit 2", async () => {
  const { code, stderr } = await run(Deno.execPath(), ["task", "-q", "install", "--prefix", "x"], {
    cwd: repoDir,
  });
  assert.equal(code, 2);
  assert.match(stderr, /^udpeer install: Unknown flag "--prefix"\n/);
});

// ---- deno task start and Ctrl-C ------------------------------------------------------------

const hasTmux = await commandWorks("tmux", ["-V"]);
if (!hasTmux) console.log("skipped: install_test.ts: Ctrl-C in a terminal: tmux is not installed");

/** A tmux server of its own, with one bash window, removed at the end. */
async function withTmux<T>(fn: (tmux: (...args: string[]) => Promise<string>) => Promise<T>) {
  const socket = `udpeer-start-${Deno.pid}-${Math.random().toString(36).slice(2)}`;
  const tmux = async (...args: string[]): Promise<string> => {
    const result = await run("tmux", ["-L", socket, ...args], {
      env: { PATH: pathWith("/usr/bin"), TERM: "xterm", HOME: Deno.env.get("HOME") ?? "/tmp" },
      timeoutMs: 10_000,
    });
    if (result.code !== 0) throw new Error(`tmux ${args.join(" ")}: ${result.stderr}`);
    return result.stdout;
  };
  await tmux("new-session", "-d", "-x", "200", "-y", "50", "bash --norc --noprofile");
  const socketPath = (await tmux("display-message", "-p", "#{socket_path}")).trim();
  try {
    return await fn(tmux);
  } finally {
    await tmux("kill-server").catch(() => {});
    // kill-server leaves the socket file behind.
    await Deno.remove(socketPath).catch(() => {});
  }
}

/** Polls the pane until `pattern` shows, at most `timeoutMs`. */
async function waitForPane(
  tmux: (...args: string[]) => Promise<string>,
  pattern: RegExp,
  timeoutMs = 20_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pane = await tmux("capture-pane", "-p", "-J", "-S", "-200");
    if (pattern.test(pane)) return pane;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${pattern}:\n${pane}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

Deno.test({
  name: "deno task start stopped by Ctrl-C in a terminal prints the summary and exits 0, 5 of 5",
  ignore: !hasTmux,
  async fn() {
    // Before the launcher, 2 to 3 tries in 6 ended with 130 (deno task's second SIGINT).
    await withTmux(async (tmux) => {
      let run = 0;
      for (let attempt = 1; attempt <= 5; attempt++) {
        // A free port can be taken by a parallel test before udpeer binds it: try another,
        // a bounded number of times.
        for (let bindTries = 1;; bindTries++) {
          run++;
          const port = freePort();
          await tmux(
            "send-keys",
            "-t",
            "0",
            `cd '${repoDir}' && '${Deno.execPath()}' task start --port ${port} --to 127.0.0.1:${port} --interval 0.2; echo "exit${run}=$?"`,
            "Enter",
          );
          // The port and the run number tell this run's lines from the earlier ones'.
          const started = new RegExp(`127\\.0\\.0\\.1:${port} count=1 |exit${run}=\\d+`);
          if (/exit\d+=/.test((await waitForPane(tmux, started)).match(started)![0])) {
            assert.ok(bindTries < 3, `port ${port} in use 3 times`);
            continue;
          }
          await tmux("send-keys", "-t", "0", "C-c");
          const pane = await waitForPane(tmux, new RegExp(`exit${run}=\\d+`));
          assert.match(pane, new RegExp(`--- 127\\.0\\.0\\.1:${port} udpeer statistics ---`));
          const status = pane.match(new RegExp(`exit${run}=(\\d+)`))![1];
          assert.equal(status, "0", `attempt ${attempt}:\n${pane}`);
          break;
        }
      }
    });
  },
});

if (Deno.build.os === "windows") {
  console.log("skipped: install_test.ts: signals to the task: POSIX signals only");
}

Deno.test({
  name: "deno task start passes on a SIGINT or SIGTERM sent to the task itself: exit 0",
  ignore: Deno.build.os === "windows",
  async fn() {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      const task = new Deno.Command(Deno.execPath(), {
        args: ["task", "-q", "start", "--port", "0", "--json"],
        cwd: repoDir,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(30_000),
      }).spawn();
      const reader = task.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let out = "";
      while (!out.includes('"listening"')) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      const started = performance.now();
      task.kill(signal); // the task alone, not its group: as kill(1) or a supervisor would
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      const status = await task.status;
      await task.stderr.cancel();
      assert.equal(status.code, 0, `${signal}: ${out}`);
      assert.match(out, /"event":"summary"/, signal);
      assert.ok(performance.now() - started < 10_000, `${signal} took too long`);
    }
  },
});

// ---- the package ---------------------------------------------------------------------------

// `deno publish --dry-run` is given 120 s below, the default limit of a test.
Deno.test("deno publish --dry-run ships only the program, the library, README and LICENSE [time limit 180 s]", async () => {
  const { code, stdout, stderr } = await run(
    Deno.execPath(),
    ["publish", "--dry-run", "--allow-dirty"],
    { cwd: repoDir, timeoutMs: 120_000 },
  );
  assert.equal(code, 0, stderr);
  const files = [...`${stdout}\n${stderr}`.matchAll(/file:\/\/\S+/g)]
    .map((match) => match[0].slice(`file://${repoDir}`.length)).sort();
  assert.ok(files.includes("main.ts") && files.includes("protocol.ts"), files.join("\n"));
  assert.ok(files.includes("README.md") && files.includes("LICENSE"), files.join("\n"));
  assert.ok(files.includes("src/peer/run.ts") && files.includes("deno.json"));
  const outside = files.filter((file) =>
    !/^(main\.ts|protocol\.ts|deno\.json|README\.md|LICENSE|src\/.+\.ts)$/.test(file)
  );
  assert.deepEqual(outside, [], "only the program, the library, README and LICENSE");
  assert.deepEqual(files.filter((file) => /_test\.ts$|_bench\.ts$/.test(file)), []);
});

Deno.test("the ./protocol export imports on its own and runs with no permission at all", async () => {
  const dir = await Deno.makeTempDir({ prefix: "udpeer-protocol-" });
  try {
    const program = `${dir}/use.ts`;
    const protocol = new URL(denoJson.exports["./protocol"], `file://${repoDir}`).href;
    await Deno.writeTextFile(
      program,
      `import { decodeHeartbeat, encodeHeartbeat } from ${JSON.stringify(protocol)};
const bytes = encodeHeartbeat({ ipv4: "192.0.2.1", port: 5005, timestamp: 1, text: "hi" });
const decoded = decodeHeartbeat(bytes);
console.log(decoded.ok ? decoded.heartbeat.text : "bad");
`,
    );
    const { code, stdout, stderr } = await run(
      Deno.execPath(),
      ["run", "--no-prompt", "--no-config", program],
      { cwd: dir },
    );
    assert.equal(code, 0, stderr);
    assert.equal(stdout, "hi\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
