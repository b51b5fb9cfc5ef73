// The run loop's receive step in-process, on a real socket (the schedule is in sender_test.ts,
// the report step in reporter_test.ts).
import assert from "node:assert/strict";
import { encodeHeartbeat } from "../../protocol.ts";
import type { PeerEvent } from "./events.ts";
import { PeerMonitor } from "./monitor.ts";
import { openReceiver, receiveAll } from "./run.ts";

Deno.test("receiveAll() hands every datagram of a real socket to the monitor until it closes", async () => {
  const events: PeerEvent[] = [];
  const monitor = new PeerMonitor({
    targets: [],
    ownIntervalMs: 1000,
    downAfter: 3,
    emit: (event) => events.push(event),
  });
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const sender = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  let stopping = false;
  const { receiver } = openReceiver(conn, () => stopping, () => {});
  const receiving = receiveAll(receiver, monitor, () => stopping, () => undefined);
  const now = Date.now();
  for (let k = 0; k < 3; k++) {
    const datagram = encodeHeartbeat({ timestamp: now + k, ipv4: "127.0.0.1", port: 1, text: "x" });
    await sender.send(datagram, conn.addr);
  }
  await sender.send(new Uint8Array(3), conn.addr);
  for (let i = 0; i < 100 && events.length < 4; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  stopping = true;
  conn.close();
  sender.close();
  await receiving;
  assert.deepEqual(events.map((e) => e.event), ["message", "message", "message", "invalid"]);
  const [source] = monitor.summary(0).sources;
  assert.deepEqual([source!.messages, source!.invalid, source!.streams[0]!.intervalMs], [3, 1, 1]);
});
