import assert from "node:assert/strict";
import { encodeHeartbeat } from "../../protocol.ts";
import { createMetricsRecorder } from "./metrics_recorder.ts";
import { PeerMonitor } from "./monitor.ts";

const T0 = 1_763_700_000_000;

function setUp() {
  const recorder = createMetricsRecorder();
  const monitor = new PeerMonitor({
    targets: [
      { to: "127.0.0.1:40041", address: "127.0.0.1", port: 40041, name: "a" },
      { to: "peer.example:40042", address: "127.0.0.1", port: 40042 },
    ],
    ownIntervalMs: 1000,
    downAfter: 3,
    emit: () => {},
    onHeartbeat: recorder.observe,
  });
  const send = (k: number, port: number, hostname = "127.0.0.1", delayMs = 0.4): void => {
    const datagram = encodeHeartbeat({ timestamp: T0 + k * 1000, ipv4: hostname, port, text: "" });
    monitor.receive(datagram, { hostname, port }, T0 + k * 1000 + delayMs);
  };
  return { recorder, monitor, send };
}

Deno.test("snapshot() shows targets first, a target never heard as down, and the newest others", () => {
  const { recorder, monitor, send } = setUp();
  for (const k of [0, 1, 2, 3]) send(k, 40041);
  for (let i = 1; i <= 5; i++) send(0, 50000, `127.0.1.${i}`);
  const snapshot = recorder.snapshot(monitor, "9.9.9", 2);
  assert.deepEqual(
    snapshot.streams.map((s) => [s.source, s.target, s.peer, s.received, s.up]),
    [
      ["127.0.0.1:40041", "127.0.0.1:40041", "a", 4, true],
      ["127.0.0.1:40042", "peer.example:40042", undefined, 0, false],
      ["127.0.1.5:50000", undefined, undefined, 1, true],
      ["127.0.1.4:50000", undefined, undefined, 1, true],
    ],
  );
  assert.equal(snapshot.other?.streams, 3);
  assert.equal(snapshot.other?.received, 3);
  assert.equal(snapshot.streams[0]!.delay.count, 4);
  assert.equal(snapshot.streams[0]!.lastHeartbeatSeconds, (T0 + 3000.4) / 1000);
  assert.deepEqual(snapshot.targets, [
    { target: "127.0.0.1:40041", peer: "a", sent: 0, sendErrors: 0, skipped: 0 },
    { target: "peer.example:40042", sent: 0, sendErrors: 0, skipped: 0 },
  ]);
});

Deno.test("snapshot() and the stream give one missed count, which a late heartbeat does not lower", () => {
  const { recorder, monitor, send } = setUp();
  for (const k of [0, 1, 3, 4, 5, 6]) send(k, 40041);
  const missed = () => recorder.snapshot(monitor, "x", 10).streams[0]!.missed;
  assert.equal(missed(), 1, "slot 2 is counted once 3 is three intervals old");
  send(2, 40041); // too late to fill its slot: reordered, and still missed
  assert.equal(monitor.targets[0]!.stream!.missed, 1);
  assert.equal(missed(), 1);
  assert.equal(recorder.snapshot(monitor, "x", 10).streams[0]!.reordered, 1);
});

Deno.test("observe() puts a negative delay (the clocks disagree) in the le=0 bucket", () => {
  const { recorder, monitor, send } = setUp();
  send(0, 40041, "127.0.0.1", -5);
  send(1, 40041, "127.0.0.1", 3);
  const delay = recorder.snapshot(monitor, "x", 10).streams[0]!.delay;
  assert.equal(delay.counts[0], 1);
  assert.equal(delay.count, 2);
  assert.ok(Math.abs(delay.sum - (-0.005 + 0.003)) < 1e-9);
});

Deno.test("snapshot() gives a stream that reuses an evicted one's record none of its histogram or missed", () => {
  const recorder = createMetricsRecorder();
  const monitor = new PeerMonitor({
    targets: [],
    ownIntervalMs: 1000,
    downAfter: 3,
    emit: () => {},
    capacity: 1,
    onHeartbeat: recorder.observe,
    onEvict: recorder.forget,
  });
  const send = (k: number, hostname: string): void => {
    const datagram = encodeHeartbeat({
      timestamp: T0 + k * 1000,
      ipv4: hostname,
      port: 5000,
      text: "",
    });
    monitor.receive(datagram, { hostname, port: 5000 }, T0 + k * 1000 + 0.4);
  };
  for (const k of [0, 1, 3, 4, 5, 6]) send(k, "127.0.0.2");
  const before = recorder.snapshot(monitor, "x", 10).streams[0]!;
  assert.ok(before.delay.count === 6 && before.missed === 1);
  const old = monitor.table.getStream("127.0.0.2", 5000);
  send(10, "127.0.0.3"); // evicts 127.0.0.2:5000 and takes its record
  assert.equal(monitor.table.getStream("127.0.0.3", 5000), old, "the record is reused");
  const after = recorder.snapshot(monitor, "x", 10).streams;
  assert.deepEqual(after.map((s) => [s.source, s.received, s.missed, s.delay.count]), [
    ["127.0.0.3:5000", 1, 0, 1],
  ]);
});

Deno.test("snapshot() asks who the peer is at each scrape: a reload may rename it", () => {
  let name = "a";
  const recorder = createMetricsRecorder(() => ({
    info: { name, address: "10.0.0.1:5005" },
    processStartTimeSeconds: T0 / 1000,
  }));
  const monitor = new PeerMonitor({
    targets: [],
    ownIntervalMs: 1000,
    downAfter: 3,
    emit: () => {},
  });
  assert.deepEqual(recorder.snapshot(monitor, "0.1.0", 10).info, {
    name: "a",
    address: "10.0.0.1:5005",
  });
  name = "web-1";
  const snapshot = recorder.snapshot(monitor, "0.1.0", 10);
  assert.equal(snapshot.info?.name, "web-1");
  assert.equal(snapshot.processStartTimeSeconds, T0 / 1000);
  assert.equal(createMetricsRecorder().snapshot(monitor, "0.1.0", 10).info, undefined);
});
