// The human summary as a user reads it after a run (see README "What it prints", ping's shape): counts in the
// singular for one, and the time of the run in every block.
import assert from "node:assert/strict";
import { encodeHeartbeat } from "../protocol.ts";
import { freePort, runUdpeer, startUdpeer } from "./_helpers/testing.ts";

Deno.test("a --count 1 run to itself says '1 heartbeat sent' and '0 send errors'", async () => {
  const port = freePort();
  const { code, stdout } = await runUdpeer(
    ["--port", `${port}`, "--to", `127.0.0.1:${port}`, "--count", "1", "--interval", "0.1"],
  );
  assert.equal(code, 0);
  assert.match(
    stdout,
    /\n1 heartbeat sent, 1 received, 0 invalid, 0 missed, 0% loss, 0 send errors, time \d+ms\n/,
  );
});

Deno.test("a listen-only peer that received a heartbeat ends its summary block with the time", async () => {
  await using peer = startUdpeer(["--port", "0", "--bind", "127.0.0.1"]);
  await peer.waitUntil(() => peer.lines.some((line) => line.includes("listening on")));
  const port = Number(peer.lines[0]!.match(/127\.0\.0\.1:(\d+)/)![1]);
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const heartbeat = encodeHeartbeat({
      timestamp: Date.now(),
      ipv4: "127.0.0.1",
      port,
      text: "hi",
    });
    await socket.send(heartbeat, { transport: "udp", hostname: "127.0.0.1", port });
  } finally {
    socket.close();
  }
  await peer.waitUntil(() => peer.lines.some((line) => line.endsWith("| hi")));
  peer.kill("SIGTERM");
  assert.equal((await peer.exited()).code, 0);
  const at = peer.lines.indexOf("--- from 127.0.0.1 ---");
  assert.ok(at > 0, peer.lines.join("\n"));
  assert.match(peer.lines[at + 1]!, /^1 received, 0 invalid, time \d+ms$/);
});
