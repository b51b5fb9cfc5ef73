// The real program as a subprocess on loopback, read through its --json events.
import assert from "node:assert/strict";
import { RAW_CONTROL } from "../src/common/escape.ts";
import { decodeHeartbeat, DEFAULT_MESSAGE, encodeHeartbeat, HEADER_BYTES } from "../protocol.ts";
import { freePort, type JsonEvent, runUdpeer, startUdpeer } from "./_helpers/testing.ts";

interface PacketVector {
  name: string;
  hex: string;
  valid: boolean;
  reason?: string;
  quoteHex?: string;
}

const packets: PacketVector[] = JSON.parse(
  await Deno.readTextFile(new URL("./testdata/packets.json", import.meta.url)),
).packets;

const summaryOf = (events: JsonEvent[]) =>
  events.find((e) => e.event === "summary") as {
    sent: number;
    sendErrors: number;
    dropped: number;
    sources: { from: string; messages: number; invalid: number; elapsedMs: unknown }[];
  };

/** A raw UDP socket of the test's own, to send crafted datagrams from a chosen address. */
function rawSocket(hostname = "127.0.0.1"): Deno.DatagramConn & Disposable {
  const conn = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
  return Object.assign(conn, { [Symbol.dispose]: () => conn.close() });
}

async function listeningPort(peer: ReturnType<typeof startUdpeer>): Promise<number> {
  const event = await peer.waitForEvent((e) => e.event === "listening");
  return event.port as number;
}

Deno.test("two peers exchange 20 heartbeats each and count all 20 from the other", async () => {
  const portA = freePort();
  const portB = freePort();
  // Both start sending at the same wall-clock time, so neither sends before the other
  // listens and neither stops before the other's last heartbeat arrives. That time must be
  // ahead of both starts (a --start-at in the past is a usage error): as far ahead as a start
  // of the program takes here and now, several times over, so a loaded machine keeps up.
  const measuring = performance.now();
  assert.equal((await runUdpeer(["--version"], 30_000)).code, 0);
  const startupMs = performance.now() - measuring;
  const leadMs = Math.min(30_000, Math.max(2500, 4 * startupMs + 1000));
  const startAt = ((Date.now() + leadMs) / 1000).toFixed(3);
  const common = ["--interval", "0.05", "--count", "20", "--json", "--start-at", startAt];
  await using a = startUdpeer(["--port", `${portA}`, "--to", `127.0.0.1:${portB}`, ...common]);
  await using b = startUdpeer(["--port", `${portB}`, "--to", `127.0.0.1:${portA}`, ...common]);
  const [statusA, statusB] = await Promise.all([
    a.exited(leadMs + 20_000),
    b.exited(leadMs + 20_000),
  ]);
  assert.equal(statusA.code, 0, a.stderr);
  assert.equal(statusB.code, 0, b.stderr);
  for (const peer of [a, b]) {
    // Each waited for the common start: both were up before it.
    const waiting = peer.events.find((e) => e.event === "waiting");
    assert.ok(waiting !== undefined && (waiting.inMs as number) > 0, JSON.stringify(waiting));
  }
  for (const [peer, otherPort] of [[a, portB], [b, portA]] as const) {
    const messages = peer.events.filter((e) => e.event === "message");
    assert.equal(messages.length, 20);
    assert.deepEqual(messages.map((m) => m.count), Array.from({ length: 20 }, (_, i) => i + 1));
    for (const message of messages) {
      assert.equal(message.from, "127.0.0.1");
      assert.equal(
        message.fromPort,
        otherPort,
        "the UDP source port is the sender's listening port",
      );
      assert.equal(message.advertised, `127.0.0.1:${otherPort}`);
      assert.equal(message.text, DEFAULT_MESSAGE);
      assert.equal(message.bytes, 79);
      assert.equal(message.unit, "us", "microseconds by default");
      assert.ok((message.elapsedMs as number) >= 0, `elapsedMs ${message.elapsedMs}`);
      assert.ok((message.elapsedMs as number) < 1000, `elapsedMs ${message.elapsedMs}`);
    }
    assert.equal(peer.events.filter((e) => e.event === "sent").length, 20);
    const summary = summaryOf(peer.events);
    assert.equal(summary.sent, 20);
    assert.equal(summary.sendErrors, 0);
    assert.deepEqual(summary.sources.map((s) => [s.from, s.messages, s.invalid]), [[
      "127.0.0.1",
      20,
      0,
    ]]);
  }
});

Deno.test("three senders on 127.0.0.2, .3 and .4 are counted as three sources", async () => {
  await using receiver = startUdpeer(["peer", "--port", "0", "--bind", "127.0.0.1", "--json"]);
  const port = await listeningPort(receiver);
  const counts = { "127.0.0.2": 2, "127.0.0.3": 3, "127.0.0.4": 4 };
  const senders = Object.entries(counts).map(([address, count]) =>
    startUdpeer([
      "--port=0",
      `--bind=${address}`,
      `--to=127.0.0.1:${port}`,
      "--interval=0.02",
      `--count=${count}`,
      "--json",
    ])
  );
  try {
    // The receiver sends nothing back, so each --count run exits 1 (see docs/link-health.md).
    for (const sender of senders) assert.equal((await sender.exited()).code, 1, sender.stderr);
  } finally {
    for (const sender of senders) await sender[Symbol.asyncDispose]();
  }
  await receiver.waitUntil(
    () => receiver.events.filter((e) => e.event === "message").length === 9,
    5000,
    "9 messages",
  );
  receiver.kill("SIGINT");
  assert.equal((await receiver.exited()).code, 0);
  const summary = summaryOf(receiver.events);
  const bySource = Object.fromEntries(summary.sources.map((s) => [s.from, s.messages]));
  assert.deepEqual(bySource, counts);
  // Each message's advertised address is its sender's bound address, and so is its source.
  for (const message of receiver.events.filter((e) => e.event === "message")) {
    assert.equal((message.advertised as string).split(":")[0], message.from);
  }
});

Deno.test("bad datagrams give invalid events or escaped text, and a valid one after is counted", async () => {
  await using peer = startUdpeer(["--port", "0", "--bind", "127.0.0.1", "--json"]);
  const port = await listeningPort(peer);
  using socket = rawSocket("127.0.0.5");
  // The valid heartbeat is stamped now, the vectors in 2025: from one socket they would be
  // one stream, and a jump of a year an outlier (docs/link-health.md). Counts are per IP.
  using fresh = rawSocket("127.0.0.5");
  const target = { transport: "udp" as const, hostname: "127.0.0.1", port };
  const valid = encodeHeartbeat({
    timestamp: Date.now(),
    ipv4: "127.0.0.5",
    port: 1,
    text: "after",
  });
  const flipped = valid.slice();
  flipped[HEADER_BYTES]! ^= 0x01;
  const sent: Uint8Array[] = [
    new Uint8Array(0),
    new Uint8Array(17),
    flipped,
    ...packets.filter((p) => p.name === "control characters" || p.name === "invalid utf-8")
      .map((p) => Uint8Array.fromHex(p.hex)),
  ];
  for (const datagram of sent) await socket.send(datagram, target);
  await fresh.send(valid, target);
  await peer.waitUntil(
    () => peer.events.some((e) => e.text === "after"),
    5000,
    "the valid heartbeat",
  );
  const received = peer.events.filter((e) => e.event === "invalid" || e.event === "message");
  assert.deepEqual(received.map((e) => [e.event, e.reason ?? e.count, e.bytes]), [
    ["invalid", "short", 0],
    ["invalid", "short", 17],
    ["invalid", "checksum", valid.length],
    ["message", 1, 45],
    ["message", 2, 30],
    ["message", 3, valid.length],
  ]);
  assert.equal(received[3]!.text, "\x1b[2J\x1b]0;owned\x07hello\r\nworld\0");
  assert.equal(received[4]!.text, "caf\u00e9 \ufffd\ufffd end");
  // The JSON lines themselves carry no raw control character.
  for (const line of peer.lines) assert.doesNotMatch(line, RAW_CONTROL);
  peer.kill("SIGTERM");
  assert.equal((await peer.exited()).code, 0);
  const summary = summaryOf(peer.events);
  assert.deepEqual(
    summary.sources.map(({ from, messages, invalid }) => ({ from, messages, invalid })),
    [{ from: "127.0.0.5", messages: 3, invalid: 3 }],
  );
});

Deno.test("human output escapes hostile text and names invalid datagrams", async () => {
  await using peer = startUdpeer(["--port", "0", "--bind", "127.0.0.1", "--to", "127.0.0.1:9"]);
  await peer.waitUntil(() => peer.lines.length > 0, 10_000, "the listening line");
  const port = Number(peer.lines[0]!.match(/listening on 127\.0\.0\.1:(\d+)/)?.[1]);
  assert.ok(port > 0, peer.lines[0]);
  using socket = rawSocket();
  const target = { transport: "udp" as const, hostname: "127.0.0.1", port };
  const hostile = packets.find((p) => p.name === "control characters")!;
  await socket.send(Uint8Array.fromHex(hostile.hex), target);
  await socket.send(new Uint8Array(5), target);
  await peer.waitUntil(() => peer.lines.length >= 3, 5000, "two lines");
  assert.match(
    peer.lines[1]!,
    /count=1 time=-?[0-9.]+ ms .*\| \\x1b\[2J\\x1b\]0;owned\\x07hello\\r\\nworld\\x00$/,
  );
  assert.match(peer.lines[2]!, /invalid datagram: 5 bytes, shorter than the 18-byte header$/);
  for (const line of peer.lines) assert.doesNotMatch(line, RAW_CONTROL);
  peer.kill("SIGINT");
  assert.equal((await peer.exited()).code, 0);
  assert.ok(
    peer.lines.some((line) => line === "--- 127.0.0.1:9 udpeer statistics ---"),
    peer.lines.join("\n"),
  );
});

Deno.test("a whole-second timestamp is read as seconds", async () => {
  await using peer = startUdpeer(["--port", "0", "--bind", "127.0.0.1", "--json"]);
  const port = await listeningPort(peer);
  using socket = rawSocket();
  const seconds = Math.floor(Date.now() / 1000);
  await socket.send(
    encodeHeartbeat({ timestamp: seconds, ipv4: "127.0.0.1", port: 1, text: "python peer" }),
    { transport: "udp", hostname: "127.0.0.1", port },
  );
  const message = await peer.waitForEvent((e) => e.event === "message");
  assert.equal(message.unit, "s");
  assert.equal(message.sentAt, new Date(seconds * 1000).toISOString());
  // Truncation to whole seconds makes the elapsed time up to a second longer, never negative.
  assert.ok((message.elapsedMs as number) >= 0 && (message.elapsedMs as number) < 2000);
});

Deno.test("--timestamp-unit s and ms are written in that unit", async () => {
  await using receiver = startUdpeer(["--port", "0", "--bind", "127.0.0.1", "--json"]);
  const port = await listeningPort(receiver);
  for (const unit of ["s", "ms"]) {
    const { code } = await runUdpeer([
      "--port=0",
      `--to=127.0.0.1:${port}`,
      "--count=1",
      "--interval=0.01",
      `--timestamp-unit=${unit}`,
      "--quiet",
    ]);
    assert.equal(code, 1, "the receiver sends nothing back");
  }
  await receiver.waitUntil(() => receiver.events.filter((e) => e.event === "message").length === 2);
  assert.deepEqual(receiver.events.filter((e) => e.event === "message").map((e) => e.unit), [
    "s",
    "ms",
  ]);
});

Deno.test("--quiet prints the listening event and the summary only", async () => {
  const port = freePort();
  const { code, stdout } = await runUdpeer([
    "--port",
    `${port}`,
    "--to",
    `127.0.0.1:${port}`,
    "--count",
    "3",
    "--interval",
    "0.02",
    "--quiet",
    "--json",
  ]);
  assert.equal(code, 0);
  const events = stdout.split("\n").map((line) => JSON.parse(line));
  assert.deepEqual(events.map((e) => e.event), ["listening", "summary"]);
  assert.equal(events[1].sent, 3);
  assert.equal(events[1].sources[0].messages, 3);
});

Deno.test("heartbeats on the wire carry the real port, the advertised address and the text", async () => {
  using socket = rawSocket();
  const port = (socket.addr as Deno.NetAddr).port;
  await using peer = startUdpeer([
    "--port=0",
    `--to=127.0.0.1:${port}`,
    "--advertise=192.0.2.7",
    "--message=wire check",
    "--interval=0.01",
    "--count=2",
    "--json",
  ]);
  const listening = await peer.waitForEvent((e) => e.event === "listening");
  const [datagram, from] = await socket.receive();
  const result = decodeHeartbeat(datagram);
  assert.ok(result.ok);
  assert.equal(result.heartbeat.ipv4, "192.0.2.7");
  assert.equal(result.heartbeat.port, listening.port);
  assert.equal((from as Deno.NetAddr).port, listening.port);
  assert.equal(result.heartbeat.text, "wire check");
  assert.equal(result.heartbeat.unit, "us", "microseconds by default");
  assert.ok(Number.isInteger(result.heartbeat.timestamp));
  assert.ok(Math.abs(result.heartbeat.sentAtMs - Date.now()) < 5000);
  assert.equal((await peer.exited()).code, 1, "the test's socket sends nothing back");
});
