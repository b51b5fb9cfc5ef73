// The account step in-process: real datagrams, chosen arrival times, no socket.
import assert from "node:assert/strict";
import { encodeHeartbeat } from "../../protocol.ts";
import { formatSummary, type PeerEvent } from "./events.ts";
import { PeerMonitor } from "./monitor.ts";
import { newTarget, registryOf, type TargetSpec } from "./targets.ts";

const T0 = 1_763_700_000_000;

function monitorOf(
  targets: TargetSpec[],
  options: { verbose?: boolean; ownIntervalMs?: number } = {},
) {
  const events: PeerEvent[] = [];
  const registry = registryOf(targets);
  const monitor = new PeerMonitor({
    targets: registry,
    ownIntervalMs: options.ownIntervalMs ?? 1000,
    downAfter: 3,
    emit: (event) => events.push(event),
    verbose: options.verbose ?? true,
  });
  /** Target `i` of the list given. */
  const targetAt = (i: number) => registry.all[i]!;
  return { monitor, events, registry, targetAt };
}

/** Heartbeat k of a stream with interval `intervalMs`, as sent from `ipv4:port`. */
function beat(k: number, intervalMs: number, port: number, ipv4 = "127.0.0.1"): Uint8Array {
  return encodeHeartbeat({ timestamp: T0 + k * intervalMs, ipv4, port, text: "hb" });
}

Deno.test("PeerMonitor matches a target by source port, not by IP alone", () => {
  const { monitor, targetAt } = monitorOf([
    { to: "127.0.0.1:40041", address: "127.0.0.1", port: 40041 },
    { to: "127.0.0.1:40049", address: "127.0.0.1", port: 40049 },
  ]);
  for (let k = 0; k < 6; k++) {
    monitor.recordSent(targetAt(0), T0 + k * 500);
    monitor.recordSent(targetAt(1), T0 + k * 500);
    monitor.receive(beat(k, 500, 40041), { hostname: "127.0.0.1", port: 40041 }, T0 + k * 500 + 1);
  }
  const [answering, silent] = monitor.summary(3000).targets;
  assert.deepEqual([answering!.sent, answering!.received, answering!.lossPercent], [6, 6, 0]);
  assert.deepEqual([silent!.sent, silent!.received, silent!.lossPercent], [6, 0, 100]);
  assert.deepEqual(monitor.unanswered().map((t) => t.to), ["127.0.0.1:40049"]);
});

Deno.test("PeerMonitor measures a target's loss on its own interval, not against my sends", () => {
  // I send every 1 s; the other side every 250 ms; nothing is lost.
  const { monitor, targetAt } = monitorOf([{
    to: "127.0.0.1:5006",
    address: "127.0.0.1",
    port: 5006,
  }]);
  for (let k = 0; k < 4; k++) monitor.recordSent(targetAt(0), T0 + k * 1000);
  for (let k = 0; k < 20; k++) {
    monitor.receive(beat(k, 250, 5006), { hostname: "127.0.0.1", port: 5006 }, T0 + k * 250 + 1);
  }
  const [target] = monitor.summary(5000).targets;
  assert.deepEqual([target!.sent, target!.received, target!.missed, target!.lossPercent], [
    4,
    20,
    0,
    0,
  ]);
  assert.equal(target!.intervalMs, 250);
});

Deno.test("PeerMonitor matches a target that sends from another port by its advertised address", () => {
  const { monitor } = monitorOf([{
    to: "127.0.0.1:5006",
    address: "127.0.0.1",
    port: 5006,
  }]);
  for (let k = 0; k < 3; k++) {
    monitor.receive(beat(k, 2000, 5006), { hostname: "127.0.0.1", port: 43210 }, T0 + k * 2000 + 1);
  }
  const [target] = monitor.summary(6000).targets;
  assert.deepEqual([target!.received, target!.fromPort, target!.missed], [3, 43210, 0]);
  assert.deepEqual(monitor.unanswered(), []);
});

Deno.test("PeerMonitor reports one silent and one back, and keeps them when not verbose", () => {
  const { monitor, events } = monitorOf(
    [{ to: "127.0.0.1:5006", address: "127.0.0.1", port: 5006, name: "b" }],
    { verbose: false },
  );
  const from = { hostname: "127.0.0.1", port: 5006 };
  for (const k of [0, 1, 2, 3]) monitor.receive(beat(k, 2000, 5006), from, T0 + k * 2000 + 1);
  for (let t = 0; t <= 20_000; t += 100) monitor.check(T0 + 6000 + t);
  monitor.receive(beat(10, 2000, 5006), from, T0 + 20_000 + 1);
  assert.deepEqual(events, [
    {
      event: "silent",
      from: "127.0.0.1",
      fromPort: 5006,
      peer: "b",
      silentForMs: 6000,
      intervalMs: 2000,
    },
    { event: "back", from: "127.0.0.1", fromPort: 5006, peer: "b", outageMs: 14000, missed: 6 },
  ]);
  const summary = monitor.summary(21_000);
  assert.deepEqual(summary.targets[0]!.outages, 1);
  assert.deepEqual(summary.sources[0]!.streams[0]!.peer, "b");
});

Deno.test("PeerMonitor reports a target that never answered as silent after down-after × my interval", () => {
  const { monitor, events, targetAt } = monitorOf(
    [{ to: "127.0.0.1:5006", address: "127.0.0.1", port: 5006 }],
    { ownIntervalMs: 500 },
  );
  monitor.recordSent(targetAt(0), T0);
  monitor.check(T0 + 1499);
  assert.deepEqual(events, []);
  monitor.check(T0 + 1500);
  monitor.check(T0 + 3000);
  assert.deepEqual(events, [{
    event: "silent",
    from: "127.0.0.1",
    fromPort: 5006,
    silentForMs: 1500,
    intervalMs: 500,
  }]);
  monitor.receive(beat(0, 500, 5006), { hostname: "127.0.0.1", port: 5006 }, T0 + 4000);
  assert.deepEqual((events as PeerEvent[]).slice(1).map((e) => e.event), ["back", "message"]);
});

Deno.test("PeerMonitor reports duplicates apart and does not count them", () => {
  const { monitor, events } = monitorOf([]);
  const from = { hostname: "127.0.0.2", port: 7 };
  for (const k of [0, 1, 1, 2]) monitor.receive(beat(k, 100, 7), from, T0 + k * 100 + 2);
  assert.deepEqual(events.map((e) => [e.event, e.event === "message" ? e.count : "-"]), [
    ["message", 1],
    ["message", 2],
    ["duplicate", "-"],
    ["message", 3],
  ]);
  const summary = monitor.summary(300);
  const stream = summary.sources[0]!.streams[0]!;
  assert.deepEqual([stream.messages, stream.duplicates], [3, 1]);
  assert.equal(summary.sources[0]!.duplicates, 1);
  assert.ok(formatSummary(summary).includes("3 received, 0 invalid, 1 duplicate, time 300ms"));
});

Deno.test("PeerMonitor.targetsChanged() keeps the counters of kept targets and starts added ones", () => {
  const { monitor, targetAt, registry } = monitorOf([
    { to: "127.0.0.1:40041", address: "127.0.0.1", port: 40041, name: "a" },
    { to: "127.0.0.1:40042", address: "127.0.0.1", port: 40042 },
  ]);
  for (let k = 0; k < 4; k++) {
    monitor.recordSent(targetAt(0), T0 + k * 500);
    monitor.recordSent(targetAt(1), T0 + k * 500);
    for (const port of [40041, 40043]) {
      monitor.receive(beat(k, 500, port), { hostname: "127.0.0.1", port }, T0 + k * 500 + 1);
    }
  }
  // 40042 goes, 40043 (already heard, not yet a target) comes, 40041 is renamed.
  const change = registry.replace(
    [{ host: "127.0.0.1", port: 40043, name: "c" }, { host: "127.0.0.1", port: 40041, name: "a2" }],
    (spec) => newTarget(spec, spec.host),
  );
  assert.deepEqual([change.added, change.removed], [["127.0.0.1:40043"], ["127.0.0.1:40042"]]);
  monitor.targetsChanged(change.stopped);
  assert.deepEqual(monitor.targets.map((t) => [t.to, t.name, t.sent]), [
    ["127.0.0.1:40043", "c", 0],
    ["127.0.0.1:40041", "a2", 4],
  ]);
  // The added target is answered at once by the stream it already had.
  assert.equal(monitor.targets[0]!.stream?.messages, 4);
  assert.equal(monitor.peerOf(monitor.targets[0]!.stream!), "c");
  assert.equal(monitor.peerOf(monitor.targets[1]!.stream!), "a2");
  monitor.recordSent(targetAt(1), T0 + 2000);
  const targets = monitor.summary(3000).targets;
  assert.deepEqual(targets.map((t) => [t.to, t.peer, t.sent, t.received]), [
    ["127.0.0.1:40043", "c", 0, 4],
    ["127.0.0.1:40041", "a2", 5, 4],
  ]);
});

Deno.test("PeerMonitor counts invalid datagrams by reason and tells onHeartbeat of counted ones", () => {
  const seen: [number, number][] = [];
  const monitor = new PeerMonitor({
    targets: [],
    ownIntervalMs: 1000,
    downAfter: 3,
    emit: () => {},
    onHeartbeat: (stream, elapsedMs) => seen.push([stream.port, elapsedMs]),
  });
  const remote = { hostname: "127.0.0.1", port: 40041 };
  monitor.receive(new Uint8Array(5), remote, T0);
  const corrupt = beat(0, 500, 40041);
  corrupt[19]! ^= 1;
  monitor.receive(corrupt, remote, T0);
  monitor.receive(beat(0, 500, 40041), remote, T0 + 2);
  monitor.receive(beat(0, 500, 40041), remote, T0 + 3); // a duplicate: not counted
  assert.deepEqual(monitor.invalidByReason, { short: 1, checksum: 1 });
  assert.deepEqual(seen, [[40041, 2]]);
});

Deno.test("PeerMonitor keeps a target's stream its own when the table evicts it, and names no other", () => {
  const monitor = new PeerMonitor({
    targets: [{ to: "127.0.0.1:40041", address: "127.0.0.1", port: 40041, name: "a" }],
    ownIntervalMs: 1000,
    downAfter: 3,
    emit: () => {},
    capacity: 1,
  });
  for (const k of [0, 1, 2]) {
    monitor.receive(beat(k, 1000, 40041), { hostname: "127.0.0.1", port: 40041 }, T0 + k * 1000);
  }
  const answering = monitor.targets[0]!.stream!;
  assert.equal(monitor.peerOf(answering), "a");
  // Two forged sources in turn: the first evicts the target's stream, the second the first.
  for (const hostname of ["127.0.0.8", "127.0.0.9"]) {
    monitor.receive(beat(5, 1000, 5000, hostname), { hostname, port: 5000 }, T0 + 5000);
    const forged = monitor.table.getStream(hostname, 5000)!;
    assert.notEqual(forged, answering);
    assert.equal(monitor.peerOf(forged), undefined);
    assert.equal(forged.messages, 1);
  }
  assert.equal(monitor.targets[0]!.stream, answering);
  assert.ok(answering.address === "127.0.0.1" && answering.port === 40041);
  assert.equal(answering.messages, 3);
  assert.equal(monitor.peerOf(answering), "a");
});

Deno.test("PeerMonitor reports its own pause once, blames no stream for it, and keeps the waited heartbeats out of the delays", () => {
  const events: PeerEvent[] = [];
  const delays: number[] = [];
  const monitor = new PeerMonitor({
    targets: [{ to: "127.0.0.1:5006", address: "127.0.0.1", port: 5006 }],
    ownIntervalMs: 100,
    downAfter: 3,
    emit: (event) => events.push(event),
    verbose: false,
    checkEveryMs: 100,
    onHeartbeat: (_stream, elapsedMs) => delays.push(elapsedMs),
  });
  const from = { hostname: "127.0.0.1", port: 5006 };
  // A 100 ms stream, heard on time (0.3 ms on the way) while the checks run every 100 ms.
  for (let k = 0; k <= 5; k++) {
    monitor.check(T0 + k * 100);
    monitor.receive(beat(k, 100, 5006), from, T0 + k * 100 + 0.3);
  }
  // The process is stopped from 550 to 2,550 ms: no check runs. On resume the check timer
  // runs first, then the heartbeats 6..25 that waited in the socket are read at once.
  monitor.check(T0 + 2550);
  for (let k = 6; k <= 25; k++) monitor.receive(beat(k, 100, 5006), from, T0 + 2550 + k * 0.01);
  for (let t = 2600; t <= 3000; t += 100) {
    monitor.check(T0 + t);
    const k = t / 100;
    monitor.receive(beat(k, 100, 5006), from, T0 + t + 0.3);
  }
  const paused = events.filter((e) => e.event === "paused");
  assert.deepEqual(paused, [{ event: "paused", pausedMs: 1950 }], "once, 2 s less a check");
  assert.deepEqual(events.filter((e) => e.event === "silent" || e.event === "back"), []);
  // 6 before, 5 after: the 20 that waited out the pause have no delay of the link.
  assert.equal(delays.length, 11);
  assert.ok(delays.every((d) => Math.abs(d - 0.3) < 1e-3), `${delays}`);
  const [target] = monitor.summary(3000, true).targets;
  assert.deepEqual([target!.received, target!.missed, target!.elapsedMs!.max], [31, 0, 0.3]);
});

Deno.test("PeerMonitor without checkEveryMs never reports a pause (tests feed times of their own)", () => {
  const { monitor, events } = monitorOf([]);
  monitor.check(T0);
  monitor.check(T0 + 60_000);
  assert.deepEqual(events.filter((e) => e.event === "paused"), []);
});

Deno.test("PeerMonitor makes a stream silent after --down-after of its intervals, not before", () => {
  for (const downAfter of [1, 3, 5]) {
    const events: PeerEvent[] = [];
    const monitor = new PeerMonitor({
      targets: [],
      ownIntervalMs: 1000,
      downAfter,
      emit: (event) => events.push(event),
    });
    const from = { hostname: "127.0.0.1", port: 5006 };
    for (let k = 0; k < 4; k++) monitor.receive(beat(k, 200, 5006), from, T0 + k * 200 + 0.5);
    const lastHeard = T0 + 600.5;
    monitor.check(lastHeard + downAfter * 200 - 1);
    assert.equal(events.filter((e) => e.event === "silent").length, 0, `${downAfter}`);
    monitor.check(lastHeard + downAfter * 200);
    const silent = events.filter((e) => e.event === "silent");
    assert.deepEqual(silent.map((e) => e.event === "silent" && e.silentForMs), [downAfter * 200]);
  }
});
