/**
 * Under faults the figures stay true (docs/link-health.md, "Under faults"): one fleet of
 * peers in network namespaces (tests/_helpers/fleet.ts), heartbeats every 100 ms, a real
 * Prometheus evaluating the shipped rules with every duration divided by 20, and
 * Alertmanager with the shipped config. Each test causes one fault and compares every
 * figure (the summary, SIGQUIT's interim summary, `/metrics`, the events, Prometheus's and
 * Alertmanager's alerts) with the truth the harness knows because it caused the fault.
 *
 * The tests share the fleet and run in this order; each waits for conditions with bounded
 * deadlines, never for a fixed long time. Counts are compared with tolerances derived from
 * the truth (a heartbeat), not from wall-clock slack. Without namespaces, nftables, curl or
 * Prometheus they are skipped with a `skipped:` line saying why (`.ci/run` installs them).
 *
 * @example Run these tests alone
 * ```sh
 * deno test -A tests/faults_test.ts
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  type AmAlert,
  eventually,
  Fleet,
  fleetUnavailable,
  INTERVAL_MS as I,
  PEER_PORT,
  RULE_SCALE,
  type Scrape,
  type TimedEvent,
} from "./_helpers/fleet.ts";
import { type JsonEvent, repoDir, type UdpeerProcess } from "./_helpers/testing.ts";

const unavailable = await fleetUnavailable();
if (unavailable !== undefined) console.log(`skipped: faults_test.ts: ${unavailable}`);

/** The peers of the shared peers file; `s` has a clock 5 s ahead. */
const PEERS = ["a", "b", "c", "d", "s"];
const DOWN_AFTER = 3;

/** The foreign sender's plan: 20 slots, 29 unsent, a catch-up, 10 slots, a burst of 30. */
const BURST = { to: "b", before: 20, pauseSlots: 29, after: 3_000, extraBurstAfter: 10 };

let fleetPromise: Promise<Fleet> | undefined;
const runStarted = Date.now();
function theFleet(): Promise<Fleet> {
  return fleetPromise ??= Fleet.create({
    peers: PEERS.map((name) => ({ name, clockAhead: name === "s" })),
    // 10% dropped, and a forged heartbeat with an absurd timestamp after every 25th.
    lossy: { observer: "a", dropEvery: 10, forgeEvery: 25 },
    burst: BURST,
    alertmanager: true,
  });
}

// ---------------------------------------------------------------------------------------
// The truth the harness keeps across tests

/**
 * The outages the harness caused, per observing process and per sender address: each must
 * show as exactly one `silent` and one `back`, no more (checked at the end).
 */
const outages = new Map<UdpeerProcess, Map<string, number>>();
function expectOutage(fleet: Fleet, observer: string, from: string): void {
  const process = fleet.peer(observer).process;
  const map = outages.get(process) ?? new Map<string, number>();
  map.set(from, (map.get(from) ?? 0) + 1);
  outages.set(process, map);
}

/** Alerts the shipped rules say the faults may raise; anything else that fires is false. */
const allowed: { why: string; matches: (labels: Record<string, string>) => boolean }[] = [];
function allow(why: string, alertname: string, labels: Record<string, string>): void {
  allowed.push({
    why,
    matches: (l) =>
      l.alertname === alertname && Object.entries(labels).every(([k, v]) => l[k] === v),
  });
}

// ---------------------------------------------------------------------------------------
// Helpers

/** The untrue figures of the test running: each is reported, not only the first. */
let failures: string[] = [];

/** node:assert's checks, except that a failure is recorded and the test goes on. */
interface Soft {
  ok(value: unknown, message?: string): void;
  equal(actual: unknown, expected: unknown, message?: string): void;
  deepEqual(actual: unknown, expected: unknown, message?: string): void;
  match(actual: string, expected: RegExp, message?: string): void;
}

function recorded<A extends unknown[]>(check: (...args: A) => void): (...args: A) => void {
  return (...args: A) => {
    try {
      check(...args);
    } catch (error) {
      failures.push((error as Error).message);
    }
  };
}

const soft: Soft = {
  ok: recorded((value: unknown, message?: string) => assert.ok(value, message)),
  equal: recorded((a: unknown, b: unknown, message?: string) => assert.equal(a, b, message)),
  deepEqual: recorded((a: unknown, b: unknown, m?: string) => assert.deepEqual(a, b, m)),
  match: recorded((a: string, b: RegExp, message?: string) => assert.match(a, b, message)),
};

/** Runs a group of checks; one that throws (a figure missing) ends only its group. */
async function group(what: string, fn: () => void | Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    failures.push(`${what}: ${(error as Error).message}`);
  }
}

/** A test of one fault, on the shared fleet; it fails with every untrue figure. */
function fault(name: string, fn: (fleet: Fleet) => Promise<void>): void {
  Deno.test({
    name: `faults: ${name}`,
    ignore: unavailable !== undefined,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      failures = [];
      await fn(await theFleet());
      if (failures.length > 0) {
        throw new Error(
          `${failures.length} figure(s) not true:\n\n${failures.join("\n\n")}`,
        );
      }
    },
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

function near(actual: unknown, truth: unknown, tolerance: number, what: string): void {
  soft.ok(
    typeof actual === "number" && typeof truth === "number" &&
      Math.abs(actual - truth) <= tolerance,
    `${what}: ${actual}, the truth is ${
      typeof truth === "number" ? truth.toFixed(2) : truth
    } ± ${tolerance}`,
  );
}

/** The outages the harness caused so far to `observer`'s view of `from`. */
function caused(fleet: Fleet, observer: string, from: string): number {
  return outages.get(fleet.peer(observer).process)?.get(from) ?? 0;
}

/** A target's figure for the log, `-` where it is missing. */
function shown(summary: JsonEvent | undefined, peer: string, key: string): unknown {
  const target = (summary?.targets as JsonEvent[] | undefined)?.find((t) => t.peer === peer);
  return target?.[key] ?? "-";
}

/** The last `back` of `from` since `since`, for the log. */
function lastBack(fleet: Fleet, observer: string, from: string, since: number): unknown {
  return fleet.events(observer).findLast((e) =>
    e.event === "back" && e.from === from &&
    e.at >= since
  )?.missed ?? "-";
}

/** No silent, no back. */
function noOutage({ silent, back }: { silent: TimedEvent[]; back: TimedEvent[] }): void {
  soft.deepEqual(brief([...silent, ...back]), [], "silent/back where nothing was down");
}

/** Events in one line each: `silent c`, `back a`. */
const brief = (events: TimedEvent[]) => events.map((e) => `${e.event} ${e.peer ?? e.from}`);

type Figures = JsonEvent & {
  missed: number;
  lossPercent: number;
  received: number;
  outages: number;
  intervalMs: number;
};

function targetOf(summary: JsonEvent, peer: string): Figures & { skipped: number; sent: number } {
  const target = (summary.targets as (Figures & { skipped: number; sent: number })[])
    .find((t) => t.peer === peer);
  assert.ok(target, `no target ${peer} in ${JSON.stringify(summary.targets)}`);
  return target;
}

function streamOf(summary: JsonEvent, address: string, port = PEER_PORT): Figures {
  const source = (summary.sources as { from: string; streams: Figures[] }[])
    .find((s) => s.from === address);
  const stream = source?.streams.find((s) => s.fromPort === port);
  assert.ok(stream, `no stream ${address}:${port} in ${JSON.stringify(summary.sources)}`);
  return stream;
}

function outageEvents(events: TimedEvent[], from: string, since: number) {
  const of = (kind: string) =>
    events.filter((e) => e.event === kind && e.from === from && e.at >= since);
  return { silent: of("silent"), back: of("back") };
}

/** Exactly one silent and one back: the outage, no flapping. Returns the first back. */
function assertOneOutage(
  events: TimedEvent[],
  from: string,
  since: number,
  who: string,
): TimedEvent {
  const { silent, back } = outageEvents(events, from, since);
  const show = (list: TimedEvent[]) =>
    list.length <= 4 ? JSON.stringify(list) : `${JSON.stringify(list.slice(0, 4))} …`;
  soft.equal(
    silent.length,
    1,
    `${who}: ${silent.length} silent events for ${from}: ${show(silent)}`,
  );
  soft.equal(back.length, 1, `${who}: ${back.length} back events for ${from}: ${show(back)}`);
  assert.ok(back[0], `${who}: no back event for ${from}`);
  return back[0];
}

/**
 * The summary and the metrics are one computation: the counter is the summary's missed and
 * the peer is up. The ratio is missed over the slots (a burst's extra heartbeat fills none,
 * docs/link-health.md), so from the counters it is within one heartbeat of
 * missed / (missed + received), as the rules compute it.
 */
function assertAgree(
  scrape: Scrape,
  labels: Record<string, string>,
  summary: Figures,
  who: string,
) {
  const missed = scrape.value("udpeer_heartbeats_missed_total", labels);
  const received = scrape.value("udpeer_heartbeats_received_total", labels);
  soft.equal(missed, summary.missed, `${who}: udpeer_heartbeats_missed_total vs the summary`);
  const total = missed + received;
  near(
    scrape.value("udpeer_loss_ratio", labels),
    total === 0 ? 0 : missed / total,
    total === 0 ? 0 : 1 / total + 1e-9,
    `${who}: udpeer_loss_ratio vs the counters`,
  );
  const summed = summary.missed + summary.received;
  near(
    summary.lossPercent,
    100 * summary.missed / summed,
    100 / summed + 0.006,
    `${who}: lossPercent vs missed and received`,
  );
  soft.equal(scrape.value("udpeer_peer_up", labels), 1, `${who}: udpeer_peer_up`);
}

/** An alert by name and some of its labels. */
type Wanted = [alertname: string, labels: Record<string, string>];

const matches = (labels: Record<string, string>, [name, wanted]: Wanted) =>
  labels.alertname === name && Object.entries(wanted).every(([k, v]) => labels[k] === v);

/**
 * Waits until Prometheus fires each of these alerts (all waited for at once, within one
 * deadline); records those that never did.
 */
async function expectFiring(fleet: Fleet, wanted: Wanted[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let missing = wanted;
  while (missing.length > 0) {
    const alerts = (await fleet.alerts()).filter((a) => a.state === "firing");
    missing = missing.filter((w) => !alerts.some((a) => matches(a.labels, w)));
    if (missing.length === 0 || Date.now() > deadline) break;
    await sleep(250);
  }
  for (const [name, labels] of missing) {
    failures.push(`${name}${JSON.stringify(labels)} did not fire within ${timeoutMs} ms`);
  }
}

/** Records every alert Prometheus fires now that matches one of these. */
async function expectNotFiring(fleet: Fleet, unwanted: Wanted[]): Promise<void> {
  for (const alert of await fleet.alerts()) {
    if (alert.state === "firing" && unwanted.some((w) => matches(alert.labels, w))) {
      failures.push(`a false alert fires: ${JSON.stringify(alert.labels)}`);
    }
  }
}

const address = (fleet: Fleet, name: string) => fleet.host(name).address;

// ---------------------------------------------------------------------------------------
// The faults

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const elapsedOf = (figures: Figures) =>
  figures.elapsedMs as unknown as { min: number; avg: number; max: number };

fault(
  "a host frozen for 20 intervals: one outage to each observer, one pause to itself",
  async (fleet) => {
    const frozen = "d";
    const observers = PEERS.filter((p) => p !== frozen);
    const from = address(fleet, frozen);
    const since = Date.now();
    for (const o of observers) expectOutage(fleet, o, from);
    allow("a 20-interval outage is loss, by the rules", "UdpeerPacketLoss", { peer: frozen });

    // 15 intervals into the freeze, the outage going on already counts, one per interval.
    const mid = new Map<string, { scrape: Scrape; at: number }>();
    const freeze = await fleet.freezeFor(frozen, 20 * I, async () => {
      await sleep(since + 15 * I - Date.now());
      for (const o of observers) mid.set(o, { scrape: await fleet.scrape(o), at: Date.now() });
    });
    for (const o of observers) {
      await fleet.waitForEvent(
        o,
        (e) => e.event === "back" && e.from === from && e.at >= since,
        10_000,
        `back of ${frozen}`,
      );
    }
    await sleep(5 * I);
    const names = [...observers, frozen];
    const summaries = new Map(
      await Promise.all(names.map(async (p) => [p, await fleet.interim(p)] as const)),
    );
    const after = new Map(
      await Promise.all(names.map(async (p) => [p, await fleet.scrape(p)] as const)),
    );
    const own = summaries.get(frozen)!;
    const pausedMs = fleet.events(frozen).find((e) => e.event === "paused" && e.at >= since)
      ?.pausedMs;
    console.log(
      `frozen ${freeze.frozenMs} ms; ${
        observers.map((o) =>
          `${o}: back.missed ${lastBack(fleet, o, from, since)}, missed ${
            shown(summaries.get(o), frozen, "missed")
          } (${
            mid.get(o)?.scrape.all("udpeer_heartbeats_missed_total", { peer: frozen })[0]?.value
          } after ${(((mid.get(o)?.at ?? 0) - freeze.stoppedAt) / I).toFixed(1)} intervals)`
        ).join("; ")
      }; ${frozen}: pausedMs ${pausedMs ?? "-"}, skipped ${shown(own, observers[0]!, "skipped")}`,
    );

    for (const o of observers) {
      await group(`${o} about ${frozen}`, () => {
        const labels = { peer: frozen };
        const m = mid.get(o)!;
        soft.equal(
          m.scrape.value("udpeer_peer_up", labels),
          0,
          `${o}: udpeer_peer_up while ${frozen} is frozen`,
        );
        const elapsed = (m.at - freeze.stoppedAt) / I;
        const midMissed = m.scrape.value("udpeer_heartbeats_missed_total", labels);
        soft.ok(
          midMissed >= elapsed - DOWN_AFTER - 2 && midMissed <= elapsed + 1,
          `${o}: udpeer_heartbeats_missed_total ${midMissed}, ${
            elapsed.toFixed(1)
          } intervals into the outage`,
        );
        // One outage; missed within one of the slots the frozen sender skipped.
        const back = assertOneOutage(fleet.events(o), from, since, o);
        near(back.missed, freeze.frozenMs / I - 0.5, 1, `${o}: back.missed`);
        const target = targetOf(summaries.get(o)!, frozen);
        near(
          target.missed,
          back.missed as number,
          1,
          `${o}: summary missed of ${frozen} vs back.missed`,
        );
        soft.equal(target.outages, caused(fleet, o, from), `${o}: outages of ${frozen}`);
        assertAgree(after.get(o)!, labels, target, o);
        soft.ok(
          after.get(o)!.value("udpeer_heartbeats_missed_total", labels) >= midMissed,
          `${o}: a counter went down`,
        );
        near(back.missed, targetOf(own, o).skipped, 1, `${o}: back.missed vs ${frozen}'s skipped`);
      });
    }

    // The frozen host: one pause, as long as the freeze; no stream silent or back.
    await group(`${frozen}'s own events`, () => {
      const events = fleet.events(frozen).filter((e) => e.at >= since);
      soft.deepEqual(
        brief(events.filter((e) => e.event === "silent" || e.event === "back")),
        [],
        `${frozen}: silent/back for its own pause`,
      );
      const paused = events.filter((e) => e.event === "paused");
      soft.equal(paused.length, 1, `${frozen}: paused events ${JSON.stringify(paused)}`);
      near(paused[0]?.pausedMs, freeze.frozenMs, 1.5 * I, `${frozen}: pausedMs`);
      soft.match(String(paused[0]?.time), TIME, `${frozen}: paused.time`);
    });
    for (const o of observers) {
      await group(`${frozen} about ${o}`, () => {
        const target = targetOf(own, o);
        // What the others sent meanwhile waited in its socket: received, not lost, and out
        // of the delay figures.
        // Missed only what the sender itself skipped (a late tick on a loaded machine).
        near(
          target.missed,
          targetOf(summaries.get(o)!, frozen).skipped,
          1,
          `${frozen}: missed of ${o}, vs ${o}'s skipped`,
        );
        soft.ok(
          (target.jitterMs as number) < 50,
          `${frozen}: jitter of ${o} ${target.jitterMs} ms, the pause in it`,
        );
        const elapsed = elapsedOf(target);
        soft.ok(
          elapsed.max - elapsed.min < freeze.frozenMs / 2,
          `${frozen}: delays of ${o} ${JSON.stringify(elapsed)}`,
        );
        const scrape = after.get(frozen)!;
        soft.equal(
          scrape.value("udpeer_one_way_delay_seconds_bucket", { peer: o, le: "1" }),
          scrape.value("udpeer_one_way_delay_seconds_count", { peer: o }),
          `${frozen}: delays over 1 s from ${o} in the histogram`,
        );
        // Each slot that passed in the freeze is skipped, never sent late in a burst.
        soft.ok(
          target.skipped >= Math.floor(freeze.frozenMs / I) - 1 &&
            target.skipped <= Math.ceil(freeze.frozenMs / I),
          `${frozen}: skipped ${target.skipped} sends to ${o} in ${freeze.frozenMs} ms`,
        );
        soft.equal(
          scrape.value("udpeer_heartbeats_skipped_total", { peer: o }),
          target.skipped,
          `${frozen}: udpeer_heartbeats_skipped_total{${o}}`,
        );
      });
    }

    // The rules: ~19 of ~150 heartbeats in the (scaled) 5-minute window is loss; nothing is
    // down for the (scaled) minute.
    await expectFiring(
      fleet,
      observers.map((o) => ["UdpeerPacketLoss", { observer: o, peer: frozen }]),
    );
    await expectNotFiring(fleet, [["UdpeerHostDown", { peer: frozen }], ["UdpeerLinkDown", {
      peer: frozen,
    }]]);
  },
);

fault(
  "a peer whose clock is 5 s ahead: delays of −5 s and +5 s, no loss, the clock alert",
  async (fleet) => {
    const ahead = "s";
    const observers = PEERS.filter((p) => p !== ahead);
    const instance = (name: string) => `${address(fleet, name)}:15005`;
    for (const o of observers) {
      allow("the clock 5 s ahead", "UdpeerClocksDisagree", {
        peer: ahead,
        instance: instance(o),
      });
    }
    const own = await fleet.interim(ahead);
    const ownScrape = await fleet.scrape(ahead);
    for (const o of observers) {
      await group(`${o} about ${ahead}`, async () => {
        const summary = await fleet.interim(o);
        const target = targetOf(summary, ahead);
        console.log(
          `${o} about ${ahead}: elapsedMs ${
            JSON.stringify(target.elapsedMs)
          }; ${ahead} about ${o}: ${JSON.stringify(shown(own, o, "elapsedMs"))}`,
        );
        for (const k of ["min", "avg", "max"] as const) {
          near(elapsedOf(target)[k], -5_000, 100, `${o}: elapsedMs.${k} of ${ahead}`);
        }
        near(target.missed, targetOf(own, o).skipped, 1, `${o}: missed of ${ahead} vs its skipped`);
        soft.equal(
          target.outages,
          caused(fleet, o, address(fleet, ahead)),
          `${o}: outages of ${ahead}`,
        );
        soft.equal(
          streamOf(summary, address(fleet, ahead)).outliers,
          0,
          `${o}: outliers of ${ahead}`,
        );
        noOutage(outageEvents(fleet.events(o), address(fleet, ahead), 0));
        const scrape = await fleet.scrape(o);
        const count = scrape.value("udpeer_one_way_delay_seconds_count", { peer: ahead });
        soft.equal(
          scrape.value("udpeer_one_way_delay_seconds_bucket", { peer: ahead, le: "0" }),
          count,
          `${o}: le="0"`,
        );
        near(
          scrape.value("udpeer_one_way_delay_seconds_sum", { peer: ahead }) / count,
          -5,
          0.1,
          `${o}: mean delay of ${ahead}`,
        );
      });
      await group(`${ahead} about ${o}`, () => {
        // The other way, as the host ahead sees it.
        near(elapsedOf(targetOf(own, o)).avg, 5_000, 100, `${ahead}: elapsedMs.avg of ${o}`);
        soft.equal(
          ownScrape.value("udpeer_one_way_delay_seconds_bucket", { peer: o, le: "0" }),
          0,
          `${ahead}: le="0" of ${o}`,
        );
      });
    }
    await expectFiring(
      fleet,
      observers.map((o) => ["UdpeerClocksDisagree", { peer: ahead, instance: instance(o) }]),
      30_000,
    );
    await expectNotFiring(fleet, [["UdpeerClocksDisagree", { instance: instance(ahead) }], [
      "UdpeerPacketLoss",
      { peer: ahead },
    ]]);
    // The recording rules: the peer's clock is 5 s ahead; the round trip does not care.
    for (const o of observers) {
      await group(`the recording rules for ${o} and ${ahead}`, async () => {
        // A series of the recording rules is there once its window has data from both.
        const value = (q: string) =>
          eventually(q, async () => (await fleet.query(q))[0]?.value, 10_000, 500)
            .catch(() => undefined);
        const offset = await value(`udpeer:clock_offset_seconds{observer="${o}",peer="${ahead}"}`);
        const mirror = await value(`udpeer:clock_offset_seconds{observer="${ahead}",peer="${o}"}`);
        const rtt = await value(`udpeer:round_trip_seconds{observer="${o}",peer="${ahead}"}`);
        console.log(
          `${o}–${ahead}: clock offset ${offset} s (mirror ${mirror}), round trip ${rtt} s`,
        );
        near(offset, 5, 0.1, `clock offset of ${ahead} seen by ${o}`);
        near(mirror, -5, 0.1, `clock offset of ${o} seen by ${ahead}`);
        near(rtt, 0.025, 0.025, `round trip ${o}–${ahead}`);
      });
    }
  },
);

fault(
  "10% loss through a relay, with forged absurd stamps in the stream: missed within one heartbeat of what the relay dropped, the forged ones outliers that move nothing",
  async (fleet) => {
    const observer = "a";
    allow("the relay drops 10%", "UdpeerPacketLoss", { observer, peer: "lossy" });
    // What the sender itself skipped (a late tick) never reached the relay: missed too.
    const [sender] = (await fleet.interim("lossy")).targets as (Figures & { skipped: number })[];
    const skipped = sender?.skipped ?? 0;
    const summary = await fleet.interim(observer);
    const scrape = await fleet.scrape(observer);
    const log = fleet.relay!.lines.filter((l) => typeof l.index === "number") as {
      dropped: boolean;
    }[];
    // Of what the relay handled until it had forwarded `received`, how many it dropped: the
    // truth at the moment the observer had received that many.
    const truth = (received: number): number => {
      let forwarded = 0;
      let dropped = 0;
      for (const l of log) {
        if (l.dropped) dropped++;
        else if (++forwarded === received) return dropped;
      }
      throw new Error(`the relay forwarded ${forwarded}, the observer received ${received}`);
    };
    await group(`${observer} about the lossy stream`, () => {
      const target = targetOf(summary, "lossy");
      console.log(
        `relay: ${log.length} received, ${
          log.filter((l) => l.dropped).length
        } dropped; ${observer}: ${target.received} received, ${target.missed} missed, ${target.lossPercent}%, interval ${target.intervalMs} ms`,
      );
      near(target.missed, truth(target.received) + skipped, 1, `${observer}: summary missed`);
      const lost = truth(target.received) + skipped;
      near(
        target.lossPercent,
        100 * lost / (lost + target.received),
        100 / (lost + target.received) + 0.01,
        "lossPercent",
      );
      soft.equal(target.outages, 0, "outages: one in ten is never three in a row");
      const missed = scrape.value("udpeer_heartbeats_missed_total", { peer: "lossy" });
      const received = scrape.value("udpeer_heartbeats_received_total", { peer: "lossy" });
      near(missed, truth(received) + skipped, 1, `${observer}: udpeer_heartbeats_missed_total`);
      near(
        scrape.value("udpeer_loss_ratio", { peer: "lossy" }),
        missed / (missed + received),
        1e-6,
        "udpeer_loss_ratio",
      );
      noOutage(outageEvents(fleet.events(observer), address(fleet, "relay"), 0));
      // The forged heartbeats (1970, the year 2255, ten years ahead, two hours back) are
      // outliers: counted, and none moved missed (above), the interval, the state or the
      // delays (no negative delay for the clock alert: the whole run's alerts are checked).
      const forged = fleet.relay!.lines.filter((l) => typeof l.forged === "number").length;
      soft.ok(forged >= 4, `the relay forged ${forged}`);
      near(target.outliers as number, forged, 1, `${observer}: outliers of lossy`);
      near(
        scrape.value("udpeer_outliers_total", { peer: "lossy" }),
        forged,
        1,
        "udpeer_outliers_total",
      );
      near(target.intervalMs, I, 1, "intervalMs");
      soft.equal(
        scrape.value("udpeer_one_way_delay_seconds_bucket", { peer: "lossy", le: "0" }),
        0,
        "no negative delay from a forged stamp",
      );
    });
    await group(
      "the lossy sender, which hears the observer through the relay untouched",
      async () => {
        const [target] = (await fleet.interim("lossy")).targets as Figures[];
        // Missed only what the observer itself skipped sending.
        near(
          target?.missed,
          targetOf(await fleet.interim(observer), "lossy").skipped,
          1,
          `lossy: missed of ${observer} through the relay`,
        );
      },
    );
    await expectFiring(fleet, [["UdpeerPacketLoss", { observer, peer: "lossy" }]]);
  },
);

fault(
  "a foreign sender that bursts: one outage counted as it went, interval still 100 ms, a burst with nothing to catch up moves nothing",
  async (fleet) => {
    const observer = "b";
    const from = address(fleet, "burst");
    const burst = fleet.burst!;
    // Its catch-up, 10 slots later a burst with nothing to catch up, then 10 more slots.
    await eventually(
      "the bursts and 20 heartbeats after them",
      () => burst.lines.filter((l) => l.phase === "after").length >= 20 ? true : undefined,
      30_000,
    );
    const summary = await fleet.interim(observer);
    const scrape = await fleet.scrape(observer);
    expectOutage(fleet, observer, from);
    const sent = burst.lines.filter((l) => typeof l.sent === "number");
    const burstTimes = sent.filter((l) => l.phase === "burst").map((l) => l.sent as number);
    assert.equal(burstTimes.length, 30, "the sender's burst");
    assert.ok(burstTimes.at(-1)! - burstTimes[0]! < 100, "30 heartbeats 1 ms apart");
    await group(`${observer} about the burst`, () => {
      const stream = streamOf(summary, from);
      console.log(
        `burst: ${sent.length} sent; ${observer}: ${stream.messages} received, interval ${stream.intervalMs} ms, ${stream.missed} missed`,
      );
      near(stream.intervalMs, I, 1, "intervalMs");
      soft.equal(
        sent.filter((l) => l.phase === "extra").length,
        30,
        "the sender's second burst",
      );
      // The pause's slots were counted missed as the outage went on (one per interval, and
      // a counter never goes down): the catch-up came too late to fill them. The second
      // burst had nothing to catch up and counts nothing. And the slots the sender's timer
      // was too late for (a loaded machine), which it said.
      const skipped = burst.lines.filter((l) => typeof l.skipped === "number").length;
      const truth = BURST.pauseSlots + skipped;
      near(stream.missed, truth, 1, "missed");
      soft.equal(stream.outliers, 0, "outliers");
      soft.equal(stream.outages, 1, "outages");
      assertOneOutage(fleet.events(observer), from, 0, observer);
      const labels = { source: `${from}:${PEER_PORT}` };
      near(
        scrape.value("udpeer_heartbeats_missed_total", labels),
        truth,
        1,
        "udpeer_heartbeats_missed_total",
      );
      soft.equal(scrape.value("udpeer_outliers_total", labels), 0, "udpeer_outliers_total");
    });
    const alerts = (await fleet.alerts()).filter((a) => a.labels.source === `${from}:${PEER_PORT}`);
    soft.deepEqual(alerts.map((a) => a.labels), [], "no alert for a stream that is no target");
  },
);

fault("a restart after 10 intervals: one outage, missed as long as it lasted", async (fleet) => {
  const restarted = "c";
  const observers = PEERS.filter((p) => p !== restarted);
  const from = address(fleet, restarted);
  const since = Date.now();
  for (const o of observers) expectOutage(fleet, o, from);
  allow("a restart is loss, by the rules", "UdpeerPacketLoss", { peer: restarted });

  const before = await fleet.scrape(restarted);
  const { stoppedAt, summary: last } = await fleet.stop(restarted);
  soft.ok(last, "the final summary at SIGTERM");
  await sleep(stoppedAt + 10 * I - Date.now());
  const listening = await fleet.start(restarted);
  // What the others skipped towards it from now on is all the new process may miss.
  const skippedAtStart = new Map(
    await Promise.all(observers.map(async (o) =>
      [
        o,
        (await fleet.scrape(o)).value("udpeer_heartbeats_skipped_total", { peer: restarted }),
      ] as const
    )),
  );
  // Its first heartbeat goes out as it listens; the last one before, within an interval
  // before the stop.
  const downMs = listening.at - stoppedAt;
  if (downMs > 2_500) allow("a restart that took long", "UdpeerHostDown", { peer: restarted });
  for (const o of observers) {
    await fleet.waitForEvent(
      o,
      (e) => e.event === "back" && e.from === from && e.at >= since,
      15_000,
      `back of ${restarted}`,
    );
  }
  await sleep(5 * I);
  const summaries = new Map(
    await Promise.all(
      [...observers, restarted].map(async (p) => [p, await fleet.interim(p)] as const),
    ),
  );
  console.log(
    `${restarted} down ${downMs} ms; ${
      observers.map((o) => `${o}: back.missed ${lastBack(fleet, o, from, since)}`).join("; ")
    }`,
  );
  for (const o of observers) {
    await group(`${o} about ${restarted}`, async () => {
      const back = assertOneOutage(fleet.events(o), from, since, o);
      near(back.missed, downMs / I - 0.5, 1.5, `${o}: back.missed`);
      const target = targetOf(summaries.get(o)!, restarted);
      // The outage, and what the new process skipped since (its first ticks, if late).
      near(
        target.missed,
        (back.missed as number) + targetOf(summaries.get(restarted)!, o).skipped,
        1,
        `${o}: summary missed of ${restarted} vs back.missed and its skipped`,
      );
      soft.equal(target.outages, caused(fleet, o, from), `${o}: outages of ${restarted}`);
      assertAgree(await fleet.scrape(o), { peer: restarted }, target, o);
    });
  }
  await group(`the new ${restarted}`, async () => {
    // It hears everyone at once: nothing silent, nothing missed.
    soft.deepEqual(
      brief(fleet.events(restarted).filter((e) => e.event === "silent" || e.event === "back")),
      [],
    );
    for (const o of observers) {
      const target = targetOf(summaries.get(restarted)!, o);
      soft.ok(target.received > 0, `${restarted}: nothing from ${o}`);
      near(
        target.missed,
        targetOf(summaries.get(o)!, restarted).skipped - skippedAtStart.get(o)!,
        1,
        `${restarted}: missed of ${o}`,
      );
    }
    const start = (s: Scrape) => s.value("process_start_time_seconds");
    soft.ok(
      start(await fleet.scrape(restarted)) > start(before),
      "process_start_time_seconds shows the restart",
    );
  });
  await expectFiring(
    fleet,
    observers.map((o) => ["UdpeerPacketLoss", { observer: o, peer: restarted }]),
  );
});

fault("a one-way cut A→B: B reports A silent, A still hears B, one link alert", async (fleet) => {
  const [a, b] = ["a", "b"];
  const since = Date.now();
  expectOutage(fleet, b, address(fleet, a));
  allow("the cut link", "UdpeerLinkDown", { observer: b, peer: a });
  allow("the cut link's missed heartbeats, once back", "UdpeerPacketLoss", {
    observer: b,
    peer: a,
  });

  const beforeB = targetOf(await fleet.interim(b), a);
  const beforeA = targetOf(await fleet.interim(a), b);
  const lift = await fleet.cut(a, b);
  let dropped = Number.NaN;
  let am: AmAlert[] = [];
  try {
    await fleet.waitForEvent(
      b,
      (e) => e.event === "silent" && e.from === address(fleet, a) && e.at >= since,
      10_000,
      `silent of ${a}`,
    );
    await group("during the cut", async () => {
      soft.equal(
        (await fleet.scrape(b)).value("udpeer_peer_up", { peer: a }),
        0,
        `${b} hears ${a}`,
      );
      soft.equal(
        (await fleet.scrape(a)).value("udpeer_peer_up", { peer: b }),
        1,
        `${a} does not hear ${b}`,
      );
    });
    await expectFiring(fleet, [["UdpeerLinkDown", { observer: b, peer: a }]]);
    if (fleet.alertmanager) {
      await group("Alertmanager", async () => {
        am = await eventually(
          "Alertmanager to have the link alert",
          async () => {
            const alerts = await fleet.amAlerts();
            return alerts.some((x) => x.labels.alertname === "UdpeerLinkDown") ? alerts : undefined;
          },
          10_000,
          250,
        );
      });
    }
  } finally {
    dropped = await lift();
  }
  await fleet.waitForEvent(
    b,
    (e) => e.event === "back" && e.from === address(fleet, a) && e.at >= since,
    10_000,
    `back of ${a}`,
  );
  await sleep(5 * I);
  const [summaryB, summaryA] = [await fleet.interim(b), await fleet.interim(a)];
  console.log(
    `cut ${a}→${b}: nftables dropped ${dropped}; ${b}: back.missed ${
      lastBack(fleet, b, address(fleet, a), since)
    }, missed ${beforeB.missed} before and ${shown(summaryB, a, "missed")} after, interval ${
      shown(summaryB, a, "intervalMs")
    } ms; ${a} skipped ${shown(summaryA, b, "skipped")}`,
  );

  await group(`${b} about ${a}`, async () => {
    // One outage, missed within one of what nftables dropped.
    const back = assertOneOutage(fleet.events(b), address(fleet, a), since, b);
    near(back.missed, dropped, 1, `${b}: back.missed`);
    const target = targetOf(summaryB, a);
    // The truth of the whole stream: what nftables dropped and what a itself skipped.
    near(
      target.missed,
      dropped + targetOf(summaryA, b).skipped,
      1,
      `${b}: summary missed of ${a} (${beforeB.missed} before the cut)`,
    );
    soft.equal(target.outages, caused(fleet, b, address(fleet, a)), `${b}: outages of ${a}`);
    assertAgree(await fleet.scrape(b), { peer: a }, target, b);
  });
  await group(`${a} about ${b}`, () => {
    // A heard B all along.
    noOutage(outageEvents(fleet.events(a), address(fleet, b), since));
    const target = targetOf(summaryA, b);
    near(target.missed, beforeA.missed, 1, `${a}: missed of ${b}, before and after the cut`);
    soft.equal(target.outages, caused(fleet, a, address(fleet, b)), `${a}: outages of ${b}`);
  });
  await expectNotFiring(fleet, [["UdpeerHostDown", { peer: a }], ["UdpeerLinkDown", {
    observer: a,
  }]]);
  if (fleet.alertmanager) {
    const active = am.filter((x) => x.status.state === "active");
    soft.deepEqual(
      active.filter((x) => x.labels.alertname === "UdpeerLinkDown").map((
        x,
      ) => [x.labels.observer, x.labels.peer]),
      [[b, a]],
      "Alertmanager: one active link alert, for the right observer",
    );
    soft.deepEqual(
      am.filter((x) => x.labels.alertname === "UdpeerHostDown" && x.labels.peer === a),
      [],
      "Alertmanager: no host alert",
    );
  }
});

fault("every panel query of the Grafana dashboard returns the series it expects", async (fleet) => {
  interface Panel {
    title?: string;
    panels?: Panel[];
    targets?: { expr?: string; legendFormat?: string }[];
    transformations?: { id: string; options?: Record<string, unknown> }[];
  }
  let dashboard: { panels?: Panel[] };
  try {
    dashboard = JSON.parse(await Deno.readTextFile(`${repoDir}deploy/grafana/udpeer.json`));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    console.log("skipped: no deploy/grafana/udpeer.json");
    return;
  }
  // Every ordered pair of the mesh: an observer and a peer it targets.
  const mesh = PEERS.flatMap((o) => PEERS.filter((p) => p !== o).map((p) => `${o} <- ${p}`));
  const panels = (dashboard.panels ?? []).flatMap((p) => [p, ...p.panels ?? []]);
  let checked = 0;
  for (const panel of panels) {
    // The labels the panel shows: in its legend, as a matrix's rows and columns, as columns.
    const matrix = panel.transformations?.find((t) => t.id === "groupingToMatrix")?.options;
    const columns = Object.keys(
      (panel.transformations?.find((t) => t.id === "organize")?.options?.indexByName ??
        {}) as Record<string, number>,
    ).filter((name) => name !== "Value" && name !== "Time");
    for (const target of panel.targets ?? []) {
      if (target.expr === undefined) continue;
      // Grafana's own variables: the (scaled) 5-minute window; template variables: all.
      const expr = target.expr
        .replaceAll(/\$__(rate_interval|interval|range)/g, `${300 / RULE_SCALE}s`)
        .replaceAll(/\$\{?(\w+)(:\w+)?\}?/g, ".*");
      const labels = new Set([
        ...[...(target.legendFormat ?? "").matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]!),
        ...matrix ? [String(matrix.rowField), String(matrix.columnField)] : [],
        ...columns,
      ]);
      await group(`panel "${panel.title}"`, async () => {
        // A series of the recording rules is there once its window holds two scrapes.
        const complete = (r: { metric: Record<string, string> }[]) =>
          r.length > 0 && (!labels.has("observer") ||
            mesh.every((pair) =>
              r.some((x) => `${x.metric.observer} <- ${x.metric.peer}` === pair)
            ));
        const result = await eventually(
          expr,
          async () => {
            const r = await fleet.query(expr);
            return complete(r) ? r : undefined;
          },
          10_000,
          500,
        ).catch(() => fleet.query(expr));
        soft.ok(result.length > 0, `${panel.title}: ${expr} returns nothing`);
        for (const label of labels) {
          soft.ok(
            result.every((r) => r.metric[label] !== undefined),
            `${panel.title}: ${expr} has series without ${label}`,
          );
        }
        if (labels.has("observer") && labels.has("peer")) {
          // A mesh panel: a cell for every observer and every peer it targets.
          const cells = new Set(result.map((r) => `${r.metric.observer} <- ${r.metric.peer}`));
          soft.deepEqual(
            mesh.filter((pair) => !cells.has(pair)),
            [],
            `${panel.title}: cells missing`,
          );
        } else if (labels.has("peer")) {
          const peers = new Set(result.map((r) => r.metric.peer));
          soft.deepEqual(PEERS.filter((p) => !peers.has(p)), [], `${panel.title}: peers missing`);
        } else if (labels.has("name")) {
          const names = new Set(result.map((r) => r.metric.name));
          soft.deepEqual(PEERS.filter((p) => !names.has(p)), [], `${panel.title}: names missing`);
        }
      });
      checked++;
    }
  }
  console.log(`${checked} panel queries checked`);
  soft.ok(checked > 0, "no panel query");
});

fault(
  "Alertmanager: a host frozen until it is down pages once, its other alerts inhibited",
  async (fleet) => {
    if (!fleet.alertmanager) {
      console.log(
        "skipped: Alertmanager is not installed (apt-get install prometheus-alertmanager)",
      );
      return;
    }
    const frozen = "d";
    const observers = PEERS.filter((p) => p !== frozen);
    const since = Date.now();
    for (const o of observers) expectOutage(fleet, o, address(fleet, frozen));
    allow("the host is down", "UdpeerHostDown", { peer: frozen });
    allow("its scrapes fail", "UdpeerScrapeFailed", {
      instance: `${address(fleet, frozen)}:15005`,
    });
    let am: AmAlert[] = [];
    // Frozen until down for the (scaled) minute and unscrapable for the (scaled) two.
    const freeze = await fleet.freezeFor(frozen, 0, async () => {
      await group("Alertmanager", async () => {
        am = await eventually(
          "Alertmanager: the host down, and its scrape alert",
          async () => {
            const alerts = await fleet.amAlerts();
            const has = (name: string) =>
              alerts.some((x) => x.labels.alertname === name && x.labels.peer === frozen);
            return has("UdpeerHostDown") && has("UdpeerScrapeFailed") ? alerts : undefined;
          },
          20_000,
          250,
        );
      });
    });
    console.log(`frozen until Alertmanager had the page: ${freeze.frozenMs} ms`);
    const hostDown = am.filter((x) => x.labels.alertname === "UdpeerHostDown");
    soft.deepEqual(
      hostDown.map((x) => [x.labels.peer, x.status.state]),
      [[frozen, "active"]],
      "one active UdpeerHostDown",
    );
    const others = am.filter((x) =>
      x.labels.peer === frozen && x.labels.alertname !== "UdpeerHostDown"
    );
    soft.ok(others.length > 0, "the host's other alerts");
    for (const x of others) {
      soft.ok(
        x.status.state === "suppressed" && x.status.inhibitedBy.length > 0,
        `not inhibited: ${JSON.stringify(x)}`,
      );
    }
    for (const o of observers) {
      await fleet.waitForEvent(
        o,
        (e) => e.event === "back" && e.from === address(fleet, frozen) && e.at >= since,
        10_000,
        "back",
      );
    }
    await group(`${frozen} paused once, as long as the freeze`, async () => {
      const paused = await fleet.waitForEvent(
        frozen,
        (e) => e.event === "paused" && e.at >= since,
        5_000,
        "paused",
      );
      near(paused.pausedMs, freeze.frozenMs, 1.5 * I, "pausedMs");
    });
  },
);

fault(
  "over the whole run: one silent and one back per outage, and no false alert",
  async (fleet) => {
    try {
      // SIGTERM: each final summary goes on from the last interim one; no counter went down.
      for (const name of [...PEERS, "lossy"]) {
        await group(`${name}'s final summary`, async () => {
          const interim = fleet.events(name).findLast((e) => e.event === "summary");
          const { summary } = await fleet.stop(name);
          assert.ok(interim && summary, "an interim and a final summary");
          for (const final of summary.targets as Figures[]) {
            const before = (interim.targets as Figures[]).find((t) => t.to === final.to);
            if (before === undefined) continue;
            for (const key of ["sent", "received", "missed", "skipped"] as const) {
              soft.ok(
                !((final[key] as number) < (before[key] as number)),
                `${name}: ${key} of ${final.to} went down from ${before[key]} to ${final[key]}`,
              );
            }
          }
        });
      }
      // The events: exactly the outages the harness caused, each once.
      for (const name of [...PEERS, "lossy"]) {
        for (const process of fleet.peer(name).processes) {
          const events = fleet.events(name, process);
          const caused = outages.get(process) ?? new Map<string, number>();
          const seen = new Map<string, { silent: number; back: number }>();
          for (const e of events) {
            if (e.event !== "silent" && e.event !== "back") continue;
            const counts = seen.get(e.from as string) ?? { silent: 0, back: 0 };
            counts[e.event]++;
            seen.set(e.from as string, counts);
          }
          for (const from of new Set([...seen.keys(), ...caused.keys()])) {
            const n = caused.get(from) ?? 0;
            soft.deepEqual(
              seen.get(from) ?? { silent: 0, back: 0 },
              { silent: n, back: n },
              `${name} about ${from}`,
            );
          }
          const untimed = events.filter((e) => !TIME.test(String(e.time)));
          soft.deepEqual(
            untimed.slice(0, 2).map((e) => e.event),
            [],
            `${name}: events without a time`,
          );
        }
      }
      // The alerts: every one that fired during the run was caused.
      const seconds = Math.ceil((Date.now() - runStarted) / 1_000) + 5;
      const fired = await fleet.query(`max_over_time(ALERTS{alertstate="firing"}[${seconds}s])`);
      console.log(
        `alerts that fired: ${
          fired.map((f) =>
            `${f.metric.alertname}{${f.metric.observer ?? f.metric.instance ?? ""},${
              f.metric.peer ?? ""
            }}`
          ).join(" ")
        }`,
      );
      const unexplained = fired.filter((f) => !allowed.some((a) => a.matches(f.metric)));
      soft.deepEqual(unexplained.map((f) => f.metric), [], "alerts no fault caused");
    } finally {
      await fleet[Symbol.asyncDispose]();
    }
  },
);
