// The command line as a user meets it: exit codes and one-line messages (see README "The heartbeat peer", README "Exit codes").
import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { MAX_TEXT_BYTES } from "../protocol.ts";
import { assertUsageError, runUdpeer } from "./_helpers/testing.ts";

Deno.test("--help and --version exit 0 for every subcommand", async () => {
  for (
    const args of [["--help"], ["-h"], ["peer", "--help"], ["serve", "--help"], ["chat", "--help"]]
  ) {
    const { code, stdout, stderr } = await runUdpeer(args);
    assert.equal(code, 0, `${args.join(" ")}: ${stderr}`);
    assert.match(stdout, /Usage: /, args.join(" "));
    assert.equal(stderr, "");
  }
  for (const args of [["--version"], ["-V"], ["serve", "--version"], ["chat", "--version"]]) {
    const { code, stdout } = await runUdpeer(args);
    assert.equal(code, 0);
    assert.equal(stdout, `udpeer ${denoJson.version}`, "the version comes from deno.json");
  }
});

Deno.test("each bad flag exits 2 with one line naming it and a hint to --help", async () => {
  const cases: [string[], string][] = [
    [["--port", "70000"], "--port"],
    [["--port", "-1"], "--port"],
    [["--to", "127.0.0.1"], "--to"],
    [["--to", "127.0.0.1:0"], "--to"],
    [["--interval", "-2"], "--interval"],
    [["--to", "127.0.0.1:9", "--count", "0"], "--count"],
    [["--count", "3"], "--count"],
    [["--bind", "nowhere"], "--bind"],
    [["--timestamp-unit", "ns"], "--timestamp-unit"],
    [["--start-at", "tomorrow"], "--start-at"],
    [["--bogus"], "--bogus"],
    [["serve", "--mode", "shout"], "--mode"],
    [["serve", "--port", "65536"], "--port"],
    [["chat"], "--to"],
    [["chat", "--to", "127.0.0.1:1", "--retries", "0"], "--retries"],
    [["frobnicate"], "frobnicate"],
  ];
  for (const [args, flag] of cases) await assertUsageError(args, flag);
});

Deno.test("--message over 65,489 bytes exits 2", async () => {
  const { code, stderr } = await runUdpeer([
    "--message",
    "x".repeat(MAX_TEXT_BYTES + 1),
    "--port",
    "0",
  ]);
  assert.equal(code, 2);
  assert.match(stderr, /^udpeer: Cannot use --message: it is 65490 bytes, at most 65489 fit/);
});

Deno.test("a port already in use exits 1 with one line and no stack trace", async () => {
  const holder = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 0 });
  try {
    const port = (holder.addr as Deno.NetAddr).port;
    const { code, stdout, stderr } = await runUdpeer(["--port", `${port}`]);
    assert.equal(code, 1);
    assert.equal(stdout, "");
    assert.equal(
      stderr,
      `udpeer: Cannot listen on UDP 0.0.0.0:${port}: the port is in use; choose another --port, or 0 for any free port\n`,
    );
  } finally {
    holder.close();
  }
});

Deno.test("a --bind address that is not on this machine exits 1", async () => {
  const { code, stderr } = await runUdpeer(["--port", "0", "--bind", "192.0.2.254"]);
  assert.equal(code, 1);
  assert.match(
    stderr,
    /^udpeer: Cannot listen on UDP 192\.0\.2\.254:0: 192\.0\.2\.254 is not an address of this machine/,
  );
  assert.equal(stderr.trimEnd().split("\n").length, 1);
});

Deno.test("a --to name is resolved through the system resolver (localhost)", async () => {
  const { code, stdout } = await runUdpeer([
    "--port",
    "0",
    "--to",
    "localhost:9",
    "--count",
    "1",
    "--interval",
    "0.01",
    "--json",
    "--quiet",
  ]);
  assert.equal(
    code,
    1,
    "nothing answers on port 9: a --count run then exits 1 (see docs/link-health.md)",
  );
  const listening = JSON.parse(stdout.split("\n")[0]!);
  assert.deepEqual(listening.targets, [{
    to: "localhost:9",
    address: "127.0.0.1",
    advertise: "127.0.0.1",
  }]);
});
