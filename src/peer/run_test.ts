// The run loop's steps in-process: schedule, receive (a real socket), account, report.
import assert from "node:assert/strict";
import { encodeHeartbeat } from "../../protocol.ts";
import type { PeerEvent } from "./events.ts";
import { PeerMonitor } from "./monitor.ts";
import { createReporter, receiveAll, scheduleSends } from "./run.ts";

Deno.test("scheduleSends() ticks on absolute times, count times, then calls onDone an interval later", async () => {
  const ticks: number[] = [];
  const started = performance.now();
  let doneAt = 0;
  await new Promise<void>((resolve) => {
    scheduleSends(
      started,
      200,
      4,
      async () => {
        ticks.push(performance.now() - started);
        // A first round longer than the interval does not push back the ones after it.
        if (ticks.length === 1) await new Promise((r) => setTimeout(r, 300));
      },
      () => {
        doneAt = performance.now() - started;
        resolve();
      },
    );
  });
  assert.equal(ticks.length, 4);
  // Absolute times: the fourth tick is due at 600 ms; had each waited an interval after the
  // round before, it would come at 300 + 3 × 200 = 900 ms. The 250 ms between the bound and
  // 900 are for timers that a loaded machine fires late.
  assert.ok(ticks[3]! >= 599 && ticks[3]! < 850, `ticks at ${ticks}`);
  assert.ok(doneAt >= ticks[3]! + 199, `done at ${doneAt}, ticks at ${ticks}`);
});

Deno.test("scheduleSends() stops ticking once cancelled", async () => {
  let ticks = 0;
  const schedule = scheduleSends(performance.now(), 10, undefined, () => {
    ticks++;
    return Promise.resolve();
  }, () => {});
  await new Promise((resolve) => setTimeout(resolve, 35));
  schedule.cancel();
  const seen = ticks;
  await new Promise((resolve) => setTimeout(resolve, 40));
  assert.equal(ticks, seen);
  assert.ok(seen >= 2, `${seen} ticks`);
});

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
  const receiving = receiveAll(conn, monitor, () => stopping, () => {}, () => undefined);
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

Deno.test("createReporter() under --watch keeps only silent, back and errors as notes, and prints the summary", () => {
  const lines: string[] = [];
  const errors: string[] = [];
  const reporter = createReporter(
    { json: false, watch: true },
    (l) => lines.push(l),
    (l) => errors.push(l),
  );
  reporter.emit({ event: "sent", to: "127.0.0.1:5006", seq: 1, bytes: 79 });
  reporter.emit({
    event: "silent",
    from: "127.0.0.1",
    fromPort: 5006,
    silentForMs: 6000,
    intervalMs: 2000,
  });
  reporter.emit({ event: "error", to: "127.0.0.1:5006", message: "Network unreachable" });
  assert.deepEqual(lines, []);
  assert.deepEqual(errors, []);
  assert.equal(reporter.notes.length, 2);
  assert.match(
    reporter.notes[0]!,
    /^\d\d:\d\d:\d\d 127\.0\.0\.1:5006 silent: no heartbeat for 6\.0 s/,
  );
  assert.match(reporter.notes[1]!, /Network unreachable$/);
  reporter.emit(new PeerMonitor({
    targets: [],
    ownIntervalMs: 1000,
    downAfter: 3,
    emit: () => {},
  }).summary(10));
  assert.ok((lines as string[]).includes("--- udpeer statistics ---"), lines.join("\n"));
});

Deno.test("createReporter() writes every event as one JSON line with --json", () => {
  const lines: string[] = [];
  const reporter = createReporter({ json: true, watch: false }, (l) => lines.push(l), () => {});
  reporter.emit({ event: "back", from: "127.0.0.1", fromPort: 5006, outageMs: 14000, missed: 6 });
  assert.deepEqual(lines.map((line) => JSON.parse(line)), [
    { event: "back", from: "127.0.0.1", fromPort: 5006, outageMs: 14000, missed: 6 },
  ]);
});
