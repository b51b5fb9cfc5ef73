import assert from "node:assert/strict";
import { UsageError } from "../src/common/errors.ts";
import { parseHostPort, parsePort, parseSeconds } from "../src/common/flags.ts";
import { parsePeerArgs } from "../src/peer/flags.ts";
import { splitCommand } from "../main.ts";
import { DEFAULT_MESSAGE, MAX_TEXT_BYTES } from "../protocol.ts";

function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof UsageError, `expected a UsageError, got ${error}`);
    return error.message;
  }
  assert.fail("expected a UsageError, but nothing was thrown");
}

Deno.test("parsePeerArgs() with no arguments is the self-contained demo", () => {
  const options = parsePeerArgs([], true);
  assert.equal(options.port, 5005);
  assert.equal(options.bind, "0.0.0.0");
  assert.deepEqual(options.targets, [{ host: "127.0.0.1", port: 5005, family: "ipv4" }]);
  assert.equal(options.ipv6, false);
  assert.equal(options.intervalSeconds, 2);
  assert.equal(options.message, DEFAULT_MESSAGE);
  assert.equal(options.timestampUnit, "us");
  assert.equal(options.count, undefined);
});

Deno.test("parsePeerArgs() for 'udpeer peer' with no flags only listens", () => {
  assert.deepEqual(parsePeerArgs([], false).targets, []);
});

Deno.test("parsePeerArgs() reads every flag, long and short", () => {
  const options = parsePeerArgs([
    "--port=0",
    "--to",
    "127.0.0.1:5006",
    "-t",
    "peer.example:7000",
    "--bind",
    "127.0.0.2",
    "--advertise",
    "10.0.0.5",
    "-i",
    "0.05",
    "-c",
    "20",
    "-m",
    "hello",
    "--timestamp-unit",
    "ms",
    "--json",
    "-q",
    "--name",
    "web-1",
  ]);
  assert.equal(options.port, 0);
  assert.deepEqual(options.targets, [
    { host: "127.0.0.1", port: 5006, family: "ipv4" },
    { host: "peer.example", port: 7000, family: "name" },
  ]);
  assert.equal(options.bind, "127.0.0.2");
  assert.equal(options.advertise, "10.0.0.5");
  assert.equal(options.intervalSeconds, 0.05);
  assert.equal(options.count, 20);
  assert.equal(options.message, "hello");
  assert.equal(options.timestampUnit, "ms");
  assert.equal(options.json, true);
  assert.equal(options.quiet, true);
  assert.equal(options.name, "web-1");
  assert.equal(parsePeerArgs([]).name, undefined);
});

Deno.test("parsePeerArgs() names the flag and the problem for each bad value", () => {
  const cases: [string[], RegExp][] = [
    [["--port", "70000"], /--port: "70000" is not a port in 0\.\.65535/],
    [["--port", "-1"], /--port: "-1"/],
    [["--port", "abc"], /--port: "abc"/],
    [["--port"], /--port: a value is missing/],
    [["--to", "127.0.0.1"], /--to: "127.0.0.1" has no port/],
    [["--to", "127.0.0.1:0"], /--to: "0" is not a port in 1\.\.65535/],
    [["--to", "127.0.0.1:65536"], /--to: "65536"/],
    [["--to", ":5005"], /--to: ":5005" needs an IPv4 address or a name/],
    [["--interval", "-1"], /--interval: "-1" is not a number of seconds ≥ 0\.001/],
    [["--interval", "0"], /--interval: "0"/],
    [["--interval", "soon"], /--interval: "soon"/],
    [["--to", "127.0.0.1:1", "--count", "0"], /--count: "0" is not a whole number ≥ 1/],
    [["--to", "127.0.0.1:1", "--count", "2.5"], /--count: "2.5"/],
    [["--count", "3"], /--count without --to/],
    [["--peers", ""], /--peers: the file name is empty/],
    [["--metrics", "70000"], /--metrics: "70000" is not a port in 0\.\.65535/],
    [["--metrics", "localhost:9"], /--metrics: "localhost" is not an IPv4 address/],
    [["--metrics-max-sources", "5"], /--metrics-max-sources without --metrics/],
    [["--metrics", "9", "--metrics-max-sources", "-1"], /--metrics-max-sources: "-1"/],
    [["--name", "two words"], /--name "two words": use letters, digits/],
    [["--name", ""], /--name "": use letters/],
    [["--name", "x".repeat(65)], /--name "x+": it is longer than 64 characters/],
    [["--bind", "localhost"], /--bind: "localhost" is not an IPv4 address/],
    [["--advertise", "1.2.3"], /--advertise: "1.2.3" is not an IPv4 address/],
    [["--timestamp-unit", "ns"], /--timestamp-unit: "ns" is not one of s, ms, us/],
    [["--frobnicate"], /Unknown flag "--frobnicate"/],
    [["-z"], /Unknown flag "-z"/],
    [["--json=yes"], /--json: it takes no value/],
    [["--port", "5005", "extra"], /Unexpected argument "extra"/],
  ];
  for (const [args, expected] of cases) {
    assert.match(usageMessage(() => parsePeerArgs(args)), expected, args.join(" "));
  }
});

Deno.test("parsePeerArgs() refuses a --message over 65,489 bytes, counting UTF-8 bytes", () => {
  assert.equal(
    parsePeerArgs(["--message", "x".repeat(MAX_TEXT_BYTES)]).message.length,
    MAX_TEXT_BYTES,
  );
  assert.match(
    usageMessage(() => parsePeerArgs(["--message", "x".repeat(MAX_TEXT_BYTES + 1)])),
    /--message: it is 65490 bytes, at most 65489/,
  );
  // 32,745 two-byte characters are 65,490 bytes, though only 32,745 UTF-16 units.
  assert.match(usageMessage(() => parsePeerArgs(["--message", "é".repeat(32_745)])), /65490 bytes/);
});

Deno.test("splitCommand() picks the subcommand and defaults to peer", () => {
  assert.deepEqual(splitCommand(["serve", "--port", "1"]), {
    command: "serve",
    rest: ["--port", "1"],
  });
  assert.deepEqual(splitCommand(["chat"]), { command: "chat", rest: [] });
  assert.deepEqual(splitCommand(["--port", "1"]), { command: "peer", rest: ["--port", "1"] });
  assert.deepEqual(splitCommand([]), { command: "peer", rest: [] });
  assert.match(usageMessage(() => splitCommand(["server"])), /"server": not a subcommand/);
});

Deno.test("parsePort(), parseHostPort() and parseSeconds() accept the edges of their ranges", () => {
  assert.equal(parsePort("--port", "0", 0), 0);
  assert.equal(parsePort("--port", "65535", 0), 65535);
  assert.throws(() => parsePort("--port", "0", 1), UsageError);
  assert.deepEqual(parseHostPort("--to", "a.b:1"), { host: "a.b", port: 1, family: "name" });
  // IPv6 in brackets; outside them, a usage error that names the fix.
  assert.deepEqual(parseHostPort("--to", "[::1]:5005"), {
    host: "::1",
    port: 5005,
    family: "ipv6",
  });
  assert.throws(() => parseHostPort("--to", "::1:5005"), /write an IPv6 address in brackets/);
  assert.equal(parseSeconds("--interval", "0.001", 0.001), 0.001);
  assert.throws(() => parseSeconds("--interval", "", 0.001), UsageError);
  assert.throws(() => parseSeconds("--interval", "Infinity", 0.001), UsageError);
});

Deno.test("parsePeerArgs() reads IPv6: --to [ADDR]:PORT, --bind ::, -6 and --ipv6", () => {
  const options = parsePeerArgs(["-6", "--bind", "::", "--to", "[::1]:5006", "-t", "[FD00::2]:7"]);
  assert.equal(options.ipv6, true);
  assert.equal(options.bind, "::");
  assert.deepEqual(options.targets, [
    { host: "::1", port: 5006, family: "ipv6" },
    { host: "fd00::2", port: 7, family: "ipv6" },
  ]);
  assert.equal(parsePeerArgs(["--ipv6"]).ipv6, true);
  assert.equal(parsePeerArgs(["--bind", "[fd00:75:64::1]"]).bind, "fd00:75:64::1");
  assert.throws(() => parsePeerArgs(["--advertise", "::1"]), /--advertise: "::1" is not an IPv4/);
  assert.throws(() => parsePeerArgs(["--to", "[::]:5005"]), /:: means "any address"/);
});

Deno.test("--start-at with only --peers naming the targets is no usage error", () => {
  const options = parsePeerArgs(
    ["--peers", "hosts.txt", "--start-at", "2099-01-01T00:00:00Z"],
    false,
    Date.UTC(2026, 11, 2),
  );
  assert.equal(options.startAtMs, Date.UTC(2099, 0, 1));
  assert.throws(
    () => parsePeerArgs(["--start-at", "2099-01-01T00:00:00Z"], false, Date.UTC(2026, 11, 2)),
    /Cannot use --start-at without --to or --peers/,
  );
});
