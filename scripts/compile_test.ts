/**
 * Tests of `deno task compile` (`scripts/compile.ts`): the five targets, their names and
 * baked-in permissions, and, where `deno compile` can get its base binary (`denort`), a real
 * build for this machine whose binary is run from an empty folder with no Deno on `PATH`.
 *
 * `deno compile` downloads denort from Deno's server. Where that server is unreachable and
 * no `DENORT_BIN` or cached denort exists, the build-and-run test is skipped with a message
 * and another checks that `deno compile` accepts the flags and the program up to that
 * download.
 *
 * @example Run these tests alone
 * ```sh
 * deno test --allow-net --allow-sys=networkInterfaces --allow-run --allow-read --allow-env --allow-write compile_test.ts
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { decodeHeartbeat, DEFAULT_MESSAGE } from "../protocol.ts";
import {
  compileArgs,
  DEFAULT_OUT_DIR,
  hostTarget,
  outputName,
  parseCompileArgs,
  type Target,
  TARGETS,
  UsageError,
} from "./compile.ts";
import { PERMISSIONS, REPO_DIR } from "./permissions.ts";

const script = `${REPO_DIR}scripts/compile.ts`;
const scriptFlags = ["run", "--allow-run", "--allow-read", "--allow-write", "--allow-env"];

/** Where `deno compile` caches the base binary for `target`. */
async function cachedDenort(target: Target): Promise<string> {
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const { denoDir } = JSON.parse(new TextDecoder().decode(stdout)) as { denoDir: string };
  return `${denoDir}/dl/release/v${Deno.version.deno}/denort-${target}.zip`;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** Why `deno compile` cannot build for this machine here, or undefined if it can. */
const noBaseBinary: string | undefined = await (async () => {
  const host = hostTarget();
  if (host === undefined) return `this machine (${Deno.build.target}) is not a compile target`;
  const denortBin = Deno.env.get("DENORT_BIN");
  if (denortBin) {
    return await isFile(denortBin) ? undefined : `DENORT_BIN="${denortBin}" is not a file`;
  }
  if (await isFile(await cachedDenort(host))) return undefined;
  const url = `https://dl.deno.land/release/v${Deno.version.deno}/denort-${host}.zip`;
  try {
    const response = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(10_000) });
    await response.body?.cancel();
    if (response.ok) return undefined;
    return `Deno's download server answers ${response.status} for denort-${host}.zip`;
  } catch (error) {
    // fetch() says "fetch failed"; the cause says why (DNS, refused, timeout).
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
    const detail = cause instanceof Error ? cause.message.split("\n")[0] : String(cause);
    return `deno compile downloads its base binary (denort-${host}.zip) from Deno's server, which is unreachable here (${detail}), and DENORT_BIN is not set`;
  }
})();
if (noBaseBinary !== undefined) {
  console.log(
    `skipped: compile_test.ts: building and running a binary: ${noBaseBinary}`,
  );
} else {
  console.log(
    "skipped: compile_test.ts: deno compile up to fetching denort: denort can be had, so the real build runs instead",
  );
}

/** Runs the compile script with `args`; `env` is added to the environment. */
async function runScript(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [...scriptFlags, script, ...args],
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(300_000),
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

Deno.test("the compile task builds all five targets into dist/ by default", () => {
  const options = parseCompileArgs([]);
  assert.deepEqual(options.targets, [
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
    "x86_64-pc-windows-msvc",
  ]);
  assert.equal(options.outDir, DEFAULT_OUT_DIR);
  assert.equal(DEFAULT_OUT_DIR, `${REPO_DIR}dist`);
});

Deno.test("the compile task names binaries udpeer-<target>, with .exe for Windows", () => {
  assert.deepEqual(TARGETS.map(outputName), [
    "udpeer-x86_64-unknown-linux-gnu",
    "udpeer-aarch64-unknown-linux-gnu",
    "udpeer-x86_64-apple-darwin",
    "udpeer-aarch64-apple-darwin",
    "udpeer-x86_64-pc-windows-msvc.exe",
  ]);
});

Deno.test("every binary gets exactly the shared permissions and no second unstable flag", () => {
  for (const target of TARGETS) {
    const args = compileArgs(target, "/out/");
    assert.equal(args[0], "compile");
    for (const permission of PERMISSIONS) {
      assert.ok(args.includes(permission), `${permission} for ${target}`);
    }
    assert.equal(
      args.filter((arg) => arg.startsWith("--allow")).length,
      PERMISSIONS.length,
      "nothing more",
    );
    assert.ok(!args.some((arg) => arg.startsWith("--unstable")), "deno.json gives net");
    assert.ok(args.includes(`--target=${target}`));
    assert.ok(args.includes(`--output=/out/${outputName(target)}`));
    assert.ok(args.includes(`--config=${REPO_DIR}deno.json`));
    assert.equal(args.at(-1), `${REPO_DIR}main.ts`);
  }
  assert.deepEqual(denoJson.unstable, ["net"]);
});

Deno.test("the compile script takes --target and --out-dir and ignores repeated targets", () => {
  const options = parseCompileArgs([
    "--target",
    "aarch64-apple-darwin",
    "--target=x86_64-pc-windows-msvc",
    "--target",
    "aarch64-apple-darwin",
    "--out-dir=/tmp/x",
  ]);
  assert.deepEqual(options.targets, ["aarch64-apple-darwin", "x86_64-pc-windows-msvc"]);
  assert.equal(options.outDir, "/tmp/x");
  assert.equal(parseCompileArgs(["--help"]).help, true);
});

Deno.test("the compile script refuses unknown flags, unknown targets and missing values", () => {
  assert.throws(() => parseCompileArgs(["--targets", "x"]), UsageError);
  assert.throws(
    () => parseCompileArgs(["--target", "x86_64-linux"]),
    /Cannot parse --target: "x86_64-linux" is not one of/,
  );
  assert.throws(() => parseCompileArgs(["--out-dir"]), /--out-dir: a value is required/);
});

Deno.test("with DENORT_BIN the compile script builds one target, the host's by default", () => {
  const host = hostTarget();
  if (host !== undefined) assert.deepEqual(parseCompileArgs([], "/opt/denort").targets, [host]);
  assert.deepEqual(
    parseCompileArgs(["--target", "aarch64-apple-darwin"], "/opt/denort").targets,
    ["aarch64-apple-darwin"],
  );
  assert.throws(
    () =>
      parseCompileArgs(
        ["--target", "aarch64-apple-darwin", "--target", "x86_64-apple-darwin"],
        "/opt/denort",
      ),
    /Cannot build 2 targets with DENORT_BIN/,
  );
});

Deno.test("the compile script exits 2 with a hint on a usage error", async () => {
  const { code, stderr, stdout } = await runScript(["--target", "sparc"]);
  assert.equal(code, 2);
  assert.equal(stdout, "");
  assert.match(
    stderr,
    /^Cannot parse --target: "sparc" is not one of .*\nRun 'deno task compile --help'/,
  );
});

Deno.test({
  name: "deno compile accepts the task's flags and the program up to fetching denort",
  // Where denort can be had, the next test builds for real.
  ignore: noBaseBinary === undefined,
  async fn() {
    const outDir = await Deno.makeTempDir({ prefix: "udpeer-dist-" });
    try {
      const host = hostTarget() ?? "x86_64-unknown-linux-gnu";
      const { code, stdout, stderr } = await runScript(["--target", host, "--out-dir", outDir]);
      // Type-checked (a type error would stop it before this) and bundled; the only
      // failure is the download of the base binary.
      assert.equal(code, 1, stderr);
      assert.match(stderr, /Compile .*main\.ts/);
      assert.match(stderr, /Setting up base binary/);
      assert.doesNotMatch(stderr, /panic/i);
      assert.match(stdout, /^FAILED .*: deno compile could not get its base binary \(denort\)/);
      assert.deepEqual([...Deno.readDirSync(outDir)], [], "no half-written binary is left");
    } finally {
      await Deno.remove(outDir, { recursive: true });
    }
  },
});

/** Receives datagrams on `socket` until `count` arrive or `timeoutMs` passes. */
async function receiveSome(
  socket: Deno.DatagramConn,
  count: number,
  timeoutMs: number,
): Promise<[Uint8Array, Deno.NetAddr][]> {
  const received: [Uint8Array, Deno.NetAddr][] = [];
  const deadline = Date.now() + timeoutMs;
  while (received.length < count) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const next = await Promise.race([
      socket.receive(),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - Date.now()));
      }),
    ]);
    clearTimeout(timer);
    if (next === undefined) break;
    received.push([next[0], next[1] as Deno.NetAddr]);
  }
  return received;
}

Deno.test({
  // Building may take up to runScript's 300 s; the default limit is 120 s.
  name:
    "the compiled binary runs with no Deno installed: --version and heartbeats [time limit 400 s]",
  ignore: noBaseBinary !== undefined,
  async fn() {
    const host = hostTarget()!;
    const outDir = await Deno.makeTempDir({ prefix: "udpeer-dist-" });
    const elsewhere = await Deno.makeTempDir({ prefix: "udpeer-cwd-" });
    const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      const started = performance.now();
      const build = await runScript(["--target", host, "--out-dir", outDir]);
      const buildMs = performance.now() - started;
      assert.equal(build.code, 0, build.stderr);
      const binary = `${outDir}/${outputName(host)}`;
      const { size } = await Deno.stat(binary);
      console.log(
        `built ${outputName(host)}: ${(size / 1e6).toFixed(1)} MB in ${buildMs.toFixed(0)} ms`,
      );

      // An empty folder, an environment without Deno: only what the binary carries.
      const run = (args: string[]) =>
        new Deno.Command(binary, {
          args,
          cwd: elsewhere,
          clearEnv: true,
          env: { PATH: "/usr/bin:/bin", NO_COLOR: "1" },
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
          signal: AbortSignal.timeout(30_000),
        }).output();
      const decoder = new TextDecoder();

      const version = await run(["--version"]);
      assert.equal(version.code, 0, decoder.decode(version.stderr));
      const printed = decoder.decode(version.stdout).trim();
      assert.equal(
        printed,
        `udpeer ${denoJson.version}`,
        // A full deno as the base ignores the embedded program and acts as the deno CLI.
        `--version printed "${printed}" (if DENORT_BIN is set: is it a denort, not a deno?)`,
      );

      const { port } = socket.addr as Deno.NetAddr;
      const receiving = receiveSome(socket, 2, 20_000);
      const peer = await run([
        "--port",
        "0",
        "--to",
        `127.0.0.1:${port}`,
        "--count",
        "2",
        "--interval",
        "0.05",
        "--json",
      ]);
      const stderr = decoder.decode(peer.stderr);
      assert.equal(peer.code, 0, stderr);
      assert.doesNotMatch(stderr, /permission|unstable/i, "permissions and net are baked in");
      const received = await receiving;
      assert.equal(received.length, 2);
      for (const [datagram, from] of received) {
        const decoded = decodeHeartbeat(datagram);
        assert.ok(decoded.ok, "a valid heartbeat");
        assert.equal(decoded.heartbeat.text, DEFAULT_MESSAGE);
        assert.equal(decoded.heartbeat.port, from.port, "sent from the listening socket");
      }
      const events = decoder.decode(peer.stdout).trim().split("\n").map((line) => JSON.parse(line));
      assert.equal(events.at(-1).event, "summary");
      assert.equal(events.at(-1).sent, 2);
    } finally {
      socket.close();
      await Deno.remove(outDir, { recursive: true });
      await Deno.remove(elsewhere, { recursive: true });
    }
  },
});
