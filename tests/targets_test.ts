// --to as a user types it (see README "The heartbeat peer"): what is refused before anything is sent, and one
// wording of the same start-up failure in every subcommand.
import assert from "node:assert/strict";
import { assertUsageError, freePort, runUdpeer, startUdpeer } from "./_helpers/testing.ts";
import { encodeHeartbeat } from "../protocol.ts";

Deno.test("a --to host of digits and dots that is not an IPv4 address exits 2 without a lookup", async () => {
  for (const host of ["999.1.1.1", "10.1", "1.2.3.4.5", "256.0.0.1"]) {
    await assertUsageError(["--to", `${host}:5005`], "--to");
    await assertUsageError(["chat", "--to", `${host}:5005`], "--to");
    const { stderr } = await runUdpeer(["--to", `${host}:5005`]);
    assert.match(
      stderr,
      new RegExp(`^udpeer: Cannot parse --to: "${host}" is not an IPv4 address`),
    );
    assert.doesNotMatch(stderr, /ENOTFOUND|resolve/);
  }
});

Deno.test("--to 0.0.0.0 exits 2 and says to use 127.0.0.1", async () => {
  await assertUsageError(["--port", "0", "--to", "0.0.0.0:5005"], "--to");
  await assertUsageError(["chat", "--to", "0.0.0.0:12000"], "--to");
  const { stderr } = await runUdpeer(["--port", "0", "--to", "0.0.0.0:5005"]);
  assert.match(
    stderr,
    /^udpeer: Cannot parse --to: 0\.0\.0\.0 means "any address" and is no destination; use 127\.0\.0\.1/,
  );
});

Deno.test("a --to name that does not resolve is worded the same by peer and chat, exit 1", async () => {
  const host = "no-such-host.invalid";
  const peer = await runUdpeer(["--port", "0", "--to", `${host}:5005`]);
  const chat = await runUdpeer(["chat", "--to", `${host}:5005`]);
  assert.equal(peer.code, 1);
  assert.equal(chat.code, 1);
  assert.match(
    peer.stderr,
    /^udpeer: Cannot resolve --to "no-such-host\.invalid": .+; check the name or give an IPv4 address\n$/,
  );
  assert.equal(chat.stderr, peer.stderr);
});

Deno.test("--json escapes bidi controls and line separators in received text, as human mode does", async () => {
  await using peer = startUdpeer(["--port", "0", "--bind", "127.0.0.1", "--json"]);
  const port = (await peer.waitForEvent((e) => e.event === "listening")).port as number;
  const text = "invoice\u202eexe.txt \u2066isolate\u2069 \u200fmark\u2028line";
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    await socket.send(
      encodeHeartbeat({ timestamp: Date.now(), ipv4: "127.0.0.1", port: freePort(), text }),
      { transport: "udp", hostname: "127.0.0.1", port },
    );
  } finally {
    socket.close();
  }
  const message = await peer.waitForEvent((e) => e.event === "message");
  assert.equal(message.text, text, "the JSON value is the text itself");
  const line = peer.lines.find((l) => l.includes('"event":"message"'))!;
  assert.doesNotMatch(line, /[\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
  assert.match(line, /invoice\\u202eexe\.txt \\u2066isolate\\u2069 \\u200fmark\\u2028line/);
});

Deno.test("peer and serve word a port in use and a --bind of another machine the same way", async () => {
  const holder = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 0 });
  try {
    const port = `${(holder.addr as Deno.NetAddr).port}`;
    const peer = await runUdpeer(["--port", port]);
    const serve = await runUdpeer(["serve", "--port", port]);
    assert.equal(peer.code, 1);
    assert.equal(serve.code, 1);
    assert.match(peer.stderr, /^udpeer: Cannot listen on UDP 0\.0\.0\.0:\d+: the port is in use;/);
    assert.equal(serve.stderr, peer.stderr);
  } finally {
    holder.close();
  }
  const peer = await runUdpeer(["--port", "0", "--bind", "192.0.2.9"]);
  const serve = await runUdpeer(["serve", "--port", "0", "--bind", "192.0.2.9"]);
  assert.equal(peer.code, 1);
  assert.equal(serve.stderr, peer.stderr);
});
