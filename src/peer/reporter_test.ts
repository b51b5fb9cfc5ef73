import assert from "node:assert/strict";
import { PeerMonitor } from "./monitor.ts";
import { createReporter, type Reporter, SOON_MS } from "./reporter.ts";
import { LineWriter } from "../common/output.ts";
import { encodeHeartbeat } from "../../protocol.ts";

const NOW = Date.UTC(2026, 11, 2, 1, 2, 3, 456);

/** A reporter whose stdout and stderr lines are kept, its clock fixed at `nowMs`. */
function recordingReporter(options: { json: boolean; watch: boolean }, nowMs = NOW) {
  const lines: string[] = [];
  const errors: string[] = [];
  const reporter = createReporter(
    options,
    (l) => lines.push(l),
    (l) => errors.push(l),
    () => nowMs,
  );
  return { reporter, lines, errors };
}

Deno.test("createReporter() under --watch keeps only state changes as notes, and prints the summary", () => {
  const { reporter, lines, errors } = recordingReporter({ json: false, watch: true });
  reporter.emit({ event: "sent", to: "127.0.0.1:5006", seq: 1, bytes: 79 });
  reporter.emit({
    event: "silent",
    from: "127.0.0.1",
    fromPort: 5006,
    silentForMs: 6000,
    intervalMs: 2000,
  });
  reporter.emit({
    event: "error",
    op: "send",
    to: "127.0.0.1:5006",
    message: "Network unreachable",
  });
  assert.deepEqual(lines, []);
  assert.deepEqual(errors, []);
  assert.equal(reporter.notes.length, 2);
  assert.match(
    reporter.notes[0]!,
    /^\d\d:\d\d:\d\d 127\.0\.0\.1:5006 silent: no heartbeat for 6\.0 s/,
  );
  assert.match(reporter.notes[1]!, /Cannot send to 127\.0\.0\.1:5006: Network unreachable$/);
  reporter.emit(new PeerMonitor({
    targets: [],
    ownIntervalMs: 1000,
    downAfter: 3,
    emit: () => {},
  }).summary(10));
  assert.ok((lines as string[]).includes("--- udpeer statistics ---"), lines.join("\n"));
});

Deno.test("createReporter() writes every event as one JSON line that starts with event and time", () => {
  const { reporter, lines } = recordingReporter({ json: true, watch: false });
  reporter.emit({ event: "back", from: "127.0.0.1", fromPort: 5006, outageMs: 14000, missed: 6 });
  reporter.emit({ event: "paused", pausedMs: 48400 });
  const time = "2026-12-02T01:02:03.456Z";
  assert.deepEqual(lines.map((line) => JSON.parse(line)), [
    { event: "back", time, from: "127.0.0.1", fromPort: 5006, outageMs: 14000, missed: 6 },
    { event: "paused", time, pausedMs: 48400 },
  ]);
  assert.ok(
    lines.every((line) => line.startsWith(`{"event":`) && line.includes(`,"time":"${time}",`)),
  );
});

Deno.test("createReporter() starts human state-change lines with the local date and time", () => {
  const { reporter, lines, errors } = recordingReporter({ json: false, watch: false });
  reporter.emit({ event: "paused", pausedMs: 48400 });
  reporter.emit({ event: "back", from: "127.0.0.1", fromPort: 5006, outageMs: 14000, missed: 6 });
  reporter.emit({
    event: "error",
    op: "receive",
    address: "0.0.0.0:5005",
    message: "Bad file descriptor",
  });
  reporter.emit({ event: "sent", to: "127.0.0.1:5006", seq: 1, bytes: 79 });
  const stamp = String.raw`^\d{4}-\d\d-\d\d \d\d:\d\d:03\.456 `;
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, new RegExp(stamp + "udpeer itself was paused for 48\\.4 s"));
  assert.match(lines[1]!, new RegExp(stamp + "127\\.0\\.0\\.1:5006 back after 14\\.0 s"));
  assert.equal(errors.length, 1);
  assert.match(
    errors[0]!,
    new RegExp(stamp + "udpeer: Cannot receive on 0\\.0\\.0\\.0:5005: Bad file descriptor$"),
    "a receive error is worded as one, never as a send",
  );
});

Deno.test("a received datagram's events carry its arrival as their time, not a later clock read", () => {
  // The reporter's clock is an hour later: a datagram's lines must not read it.
  const { reporter, lines } = recordingReporter({ json: true, watch: false }, NOW + 3_600_000);
  const monitor = new PeerMonitor({
    targets: [],
    ownIntervalMs: 1000,
    downAfter: 3,
    emit: reporter.emit,
  });
  const arrival = NOW + 0.7;
  const datagram = encodeHeartbeat({
    timestamp: NOW * 1000,
    ipv4: "127.0.0.1",
    port: 5006,
    text: "hi",
  });
  monitor.receive(datagram, { hostname: "127.0.0.1", port: 5006 }, arrival);
  monitor.receive(datagram, { hostname: "127.0.0.1", port: 5006 }, arrival + 2);
  monitor.receive(new Uint8Array(3), { hostname: "127.0.0.1", port: 5006 }, arrival + 4);
  const events = lines.map((line) => JSON.parse(line));
  assert.deepEqual(events.map((e) => [e.event, e.time]), [
    ["message", "2026-12-02T01:02:03.456Z"],
    ["duplicate", "2026-12-02T01:02:03.458Z"],
    ["invalid", "2026-12-02T01:02:03.460Z"],
  ]);
  // A timer's event (no datagram) reads the clock.
  reporter.emit({ event: "paused", pausedMs: 1500 });
  assert.equal(JSON.parse(lines.at(-1)!).time, "2026-12-02T02:02:03.456Z");
});

Deno.test("createReporter() given the line writer writes the lines, in order, that it gives a function", async () => {
  for (const json of [true, false]) {
    const viaFunction: string[] = [];
    let written = "";
    const out = new LineWriter({
      write: () => Promise.reject(new Error("not used")),
      writeSync: (bytes) => (written += new TextDecoder().decode(bytes), bytes.length),
    });
    const feed = (reporter: Reporter): void => {
      const monitor = new PeerMonitor({
        targets: [],
        ownIntervalMs: 1000,
        downAfter: 3,
        emit: reporter.emit,
      });
      const heartbeat = (ms: number, text: string) =>
        encodeHeartbeat({ timestamp: ms * 1000, ipv4: "127.0.0.1", port: 5006, text });
      const a = { hostname: "127.0.0.1", port: 5006 };
      const b = { hostname: "::1", port: 5007 };
      monitor.receive(heartbeat(NOW, "hi"), a, NOW + 0.7);
      monitor.receive(heartbeat(NOW + 1000, "hé\u0085"), b, NOW + 1001.2);
      monitor.receive(heartbeat(NOW + 1000, "hé\u0085"), b, NOW + 1002);
      reporter.emit({ event: "paused", pausedMs: 1500 }, NOW + 1003);
      monitor.receive(new Uint8Array(3), a, NOW + 1004);
      monitor.receive(heartbeat(NOW + 2000, "hi"), a, NOW + 1999.4);
    };
    const options = { json, watch: false };
    feed(createReporter(options, (l) => viaFunction.push(l), () => {}, () => NOW));
    feed(createReporter(options, out, () => {}, () => NOW));
    await out.flush();
    assert.equal(viaFunction.length, 6, `json: ${json}`);
    assert.equal(written, viaFunction.map((l) => l + "\n").join(""), `json: ${json}`);
  }
});

Deno.test("emitSoon() holds a send's --json line briefly, keeps its time, and lets no later line pass it", async () => {
  const { reporter, lines } = recordingReporter({ json: true, watch: false }, NOW + 3_600_000);
  const sent = (seq: number) => ({ event: "sent" as const, to: "127.0.0.1:5006", seq, bytes: 79 });
  // Held, then written by its timer with the time it was given.
  reporter.emitSoon(sent(1), NOW);
  reporter.emitSoon(sent(2), NOW + 1);
  assert.deepEqual(lines, []);
  await new Promise((resolve) => setTimeout(resolve, SOON_MS + 20));
  assert.deepEqual(lines.map((l) => [JSON.parse(l).seq, JSON.parse(l).time]), [
    [1, "2026-12-02T01:02:03.456Z"],
    [2, "2026-12-02T01:02:03.457Z"],
  ]);
  // An event reported meanwhile writes the held one first.
  lines.length = 0;
  reporter.emitSoon(sent(3), NOW + 2);
  reporter.emit({ event: "paused", pausedMs: 1500 }, NOW + 3);
  assert.deepEqual(lines.map((l) => JSON.parse(l).event), ["sent", "paused"]);
  await new Promise((resolve) => setTimeout(resolve, SOON_MS + 20));
  assert.equal(lines.length, 2);
});

Deno.test({
  name:
    "emitSoon() lines written early by a later event leave no timer behind to cut the next round's hold short",
  // The op sanitizer (off by default in Deno 2) fails the test if the timer outlives the write.
  sanitizeOps: true,
  fn() {
    const { reporter, lines } = recordingReporter({ json: true, watch: false }, NOW + 3_600_000);
    reporter.emitSoon({ event: "sent", to: "127.0.0.1:5006", seq: 1, bytes: 79 }, NOW);
    reporter.emit({ event: "paused", pausedMs: 1500 }, NOW + 1);
    assert.deepEqual(lines.map((l) => JSON.parse(l).event), ["sent", "paused"]);
  },
});

Deno.test({
  name:
    "emitSoon() in human mode holds nothing back and sets no timer: a send prints no line there",
  sanitizeOps: true,
  fn() {
    const { reporter, lines } = recordingReporter({ json: false, watch: false });
    reporter.emitSoon({ event: "sent", to: "127.0.0.1:5006", seq: 1, bytes: 79 }, NOW);
    reporter.emit({ event: "paused", pausedMs: 1500 }, NOW);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /paused/);
  },
});
