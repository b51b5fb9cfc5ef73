/**
 * `StreamHealth` against a brute-force oracle, on thousands of seeded random plans.
 *
 * A plan is a sender at a fixed interval whose heartbeats (index k, timestamp
 * `t0 + k × interval`, a checksum of its own) reach the receiver dropped, duplicated,
 * reordered — including a heartbeat older than the first one to arrive, and a repeat of
 * exactly the 64th and the 65th most recent heartbeat. The oracle reads the definitions of
 * docs/link-health.md literally, over whole arrays: every arrival is compared with the
 * stream's whole history, every median sorts a fresh copy. It shares no code with
 * health.ts.
 *
 * - **messages**: arrivals that are not duplicates;
 * - **duplicates**: same timestamp and checksum as one of the last 64 messages;
 * - **reordered**: messages whose timestamp is older than the newest message before them;
 * - **interval**: the lower median of the last 16 positive gaps (a message newer than the
 *   newest before it: its timestamp minus that newest), null before the first gap;
 * - **missed** and **loss %**: see {@linkcode MISSED_MODELS}.
 *
 * `UDPEER_ORACLE_SEED=N` changes the base seed (a failure prints the seed of its case);
 * `UDPEER_ORACLE_CASE=SEED` runs only that case; `UDPEER_ORACLE_MISSED=held|plain|max` picks
 * the definition of missed (`held`, the default, is what a running peer does; see
 * {@linkcode held}).
 *
 * Extending it (outliers, bursts): give {@linkcode Arrival} a timestamp that is not on the
 * grid (a jump, a burst of short gaps), have {@linkcode makePlan} make such arrivals, and
 * teach {@linkcode oracle} the rule — a new counter beside `duplicates`, and what the arrival
 * does to `messages`, the gaps and the span. The comparison in {@linkcode compare} names each
 * figure, so a new one is one more line there.
 *
 * @module
 */

import assert from "node:assert/strict";
import { StreamHealth } from "./health.ts";

/** One datagram as it reaches the receiver. */
interface Arrival {
  /** Index of the heartbeat on the sender's grid (what the sender meant to send). */
  k: number;
  /** Its send timestamp, Unix ms. */
  sentAtMs: number;
  /** Its checksum. */
  checksum: number;
  /** When it arrives, Unix ms. */
  receivedAtMs: number;
}

/** A random plan: what the sender sent and in what order it arrived. */
interface Plan {
  seed: number;
  intervalMs: number;
  /** How many heartbeats the sender sent (indices 0 … sent − 1). */
  sent: number;
  arrivals: Arrival[];
  /** What the plan was built to contain, for the failure message. */
  features: string[];
}

/** The figures compared. */
interface Figures {
  messages: number;
  duplicates: number;
  reordered: number;
  intervalMs: number | null;
  missed: number;
  lossPercent: number;
}

// ---- a PRNG of our own: mulberry32 -------------------------------------------------------

/** A deterministic pseudo-random generator (mulberry32), so a seed replays a case. */
class Random {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [low, high]. */
  int(low: number, high: number): number {
    return low + Math.floor(this.next() * (high - low + 1));
  }
  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** One of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }
}

// ---- plans -----------------------------------------------------------------------------------

const WINDOW = 64; // docs/link-health.md: "one of the stream's last 64 heartbeats"
const GAPS = 16; // docs/link-health.md: "the last 16 positive gaps"

/** A checksum that differs between heartbeats and is the same for a repeat. */
function checksumOf(k: number, salt: number): number {
  return (Math.imul(k + 1, 0x9e3779b1) ^ salt) >>> 0;
}

/**
 * Builds a random plan from `seed`: drops, reorderings, duplicates at random distances, and
 * in some plans the special cases (a heartbeat older than the first arrival, a repeat at
 * exactly 64 and 65 messages back).
 */
function makePlan(seed: number): Plan {
  const random = new Random(seed);
  const intervalMs = random.pick([1000, 2000, 500, 100, 250, 37, 1]);
  const t0 = 1_763_700_000_000 + random.int(0, 1_000_000);
  const salt = random.int(0, 0xffffffff);
  const features: string[] = [];
  // Long plans in some cases, so the 64-heartbeat window and the 16 gaps wrap.
  const sent = random.chance(0.3) ? random.int(70, 220) : random.int(1, 40);
  const dropRate = random.pick([0, 0, 0.05, 0.2, 0.45]);
  const order: number[] = [];
  for (let k = 0; k < sent; k++) if (!random.chance(dropRate)) order.push(k);
  if (dropRate > 0) features.push(`drops ${dropRate}`);

  // Reorderings: move a heartbeat later by 1–6 places.
  if (random.chance(0.5) && order.length > 2) {
    const moves = random.int(1, Math.max(1, order.length >> 3));
    for (let i = 0; i < moves; i++) {
      const from = random.int(0, order.length - 2);
      const to = Math.min(order.length - 1, from + random.int(1, 6));
      const [k] = order.splice(from, 1);
      order.splice(to, 0, k!);
    }
    features.push(`${moves} moves`);
  }
  // A heartbeat older than the first to arrive: the first arrival is not the oldest.
  if (random.chance(0.25) && order.length >= 2) {
    const first = order[0]!;
    const older = order.filter((k) => k < first);
    if (older.length === 0) {
      // Move the oldest one back behind another.
      const [k] = order.splice(0, 1);
      order.splice(random.int(1, Math.min(order.length, 4)), 0, k!);
    }
    features.push("reorder before the first");
  }

  // Arrivals so far are all distinct heartbeats, so each is a message: "n messages back"
  // is then simply n places back.
  const arrivals: number[] = [...order];
  // The 64-heartbeat edge: a repeat of exactly the 64th (a duplicate) or 65th (a message)
  // most recent one, inserted where at least 65 distinct heartbeats came before.
  let after = 1;
  if (arrivals.length >= WINDOW + 2 && random.chance(0.5)) {
    const back = random.pick([WINDOW, WINDOW + 1]);
    const at = random.int(WINDOW + 1, arrivals.length);
    arrivals.splice(at, 0, arrivals[at - back]!);
    features.push(`repeat ${back} back at ${at}`);
    after = at + 1; // the repeats below must not change what came before it
  }
  // Duplicates at random distances (near ones, and some past the window).
  if (random.chance(0.4) && arrivals.length >= after) {
    const count = random.int(1, 6);
    for (let i = 0; i < count; i++) {
      const at = random.int(after, arrivals.length);
      const back = random.chance(0.7) ? random.int(1, 3) : random.int(1, 90);
      if (at - back >= 0) arrivals.splice(at, 0, arrivals[at - back]!);
    }
    features.push(`${count} repeats`);
  }

  // Arrival times: after the send, never before the previous arrival.
  let clock = t0;
  const timed = arrivals.map((k) => {
    const sentAtMs = t0 + k * intervalMs;
    clock = Math.max(clock, sentAtMs) + random.int(0, 40) / 4;
    return { k, sentAtMs, checksum: checksumOf(k, salt), receivedAtMs: clock };
  });
  return { seed, intervalMs, sent, arrivals: timed, features };
}

// ---- the oracle ------------------------------------------------------------------------------

/** Rounds to the nearest integer, a half going down (docs/link-health.md: "halves round down"). */
function nearestHalfDown(value: number): number {
  const floor = Math.floor(value);
  return value - floor > 0.5 ? floor + 1 : floor;
}

/** What the oracle knows after each arrival, for the missed models. */
interface Moment {
  messages: number;
  /** Heartbeats expected from the oldest to the newest timestamp: `round(span / interval) + 1`. */
  expected: number;
}

/**
 * Definitions of missed and loss %, from the moments after each arrival.
 *
 * - `plain`: docs/link-health.md as the stream stands at the end:
 *   `missed = max(0, expected − messages)`, `loss = missed / expected × 100`;
 * - `max`: missed is a counter that never goes down: the largest
 *   `max(0, expected − messages)` over every moment; loss is that over the final expected.
 */
export const MISSED_MODELS = {
  plain(moments: Moment[]): { missed: number; lossPercent: number } {
    const last = moments.at(-1);
    if (last === undefined) return { missed: 0, lossPercent: 0 };
    const missed = Math.max(0, last.expected - last.messages);
    return { missed, lossPercent: last.expected <= 0 ? 0 : (missed / last.expected) * 100 };
  },
  max(moments: Moment[]): { missed: number; lossPercent: number } {
    const last = moments.at(-1);
    if (last === undefined) return { missed: 0, lossPercent: 0 };
    let missed = 0;
    for (const moment of moments) missed = Math.max(missed, moment.expected - moment.messages);
    return { missed, lossPercent: last.expected <= 0 ? 0 : (missed / last.expected) * 100 };
  },
} as const;

type MissedModel = keyof typeof MISSED_MODELS;

/** The truth for a plan, by brute force over whole arrays. */
function oracle(plan: Plan, model: MissedModel): Figures {
  const messages: Arrival[] = [];
  const gaps: number[] = [];
  const moments: Moment[] = [];
  let duplicates = 0;
  let reordered = 0;
  for (const arrival of plan.arrivals) {
    const recent = messages.slice(-WINDOW);
    if (recent.some((m) => m.sentAtMs === arrival.sentAtMs && m.checksum === arrival.checksum)) {
      duplicates++;
      continue;
    }
    if (messages.length > 0) {
      const newest = Math.max(...messages.map((m) => m.sentAtMs));
      if (arrival.sentAtMs > newest) gaps.push(arrival.sentAtMs - newest);
      else if (arrival.sentAtMs < newest) reordered++;
    }
    messages.push(arrival);
    const interval = intervalOf(gaps);
    const stamps = messages.map((m) => m.sentAtMs);
    const span = Math.max(...stamps) - Math.min(...stamps);
    moments.push({
      messages: messages.length,
      expected: interval === null ? messages.length : nearestHalfDown(span / interval) + 1,
    });
  }
  return {
    messages: messages.length,
    duplicates,
    reordered,
    intervalMs: intervalOf(gaps),
    ...MISSED_MODELS[model](moments),
  };
}

/**
 * The interval of the last 16 gaps, null without any: the mean of those within a tenth of
 * their lower median (docs/link-health.md).
 */
function intervalOf(gaps: number[]): number | null {
  const last = gaps.slice(-GAPS);
  const sorted = [...last].sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  const near = last.filter((gap) => Math.abs(gap - median) <= median / 10);
  return near.reduce((a, b) => a + b, 0) / near.length;
}

/**
 * The figures as docs/link-health.md defines them for a running peer, worked out arrival by
 * arrival over whole arrays: bursts (a gap under half the interval, once 3 gaps are known)
 * fill no slot until 4 or more of them span 2 intervals; a slot counts as missed once a
 * heartbeat more than 2 intervals past it arrived (the anchor), a late heartbeat whose slot
 * was already counted stays counted; the counter is read after every arrival and never goes
 * down; at the end of the run every slot is settled. Loss is missed over missed plus the
 * slots received.
 */
function held(plan: Plan): Figures {
  let span: { oldest: number; newest: number; slots: number[]; messages: Arrival[] } | undefined;
  let window: number[] = [];
  let shortRun: number[] = [];
  let runExtras: number[] = [];
  let messages = 0;
  let extras = 0;
  let duplicates = 0;
  let reordered = 0;
  let closed = 0;
  let late = 0;
  let shown = 0;
  const interval = (): number | null => intervalOf(window);
  const anchorOf = (): number | undefined => {
    const i = interval();
    if (i === null || span === undefined) return undefined;
    const limit = span.newest - 2.5 * i;
    const below = span.slots.filter((s) => s <= limit);
    return below.length === 0 ? undefined : Math.max(...below);
  };
  const heldMissed = (): number => {
    const i = interval();
    const anchor = anchorOf();
    if (i === null || span === undefined || anchor === undefined) return 0;
    const received = span.slots.filter((s) => s <= anchor).length;
    return Math.max(0, nearestHalfDown((anchor - span.oldest) / i) + 1 - received);
  };
  const settledMissed = (): number => {
    const i = interval();
    if (i === null || span === undefined) return 0;
    return Math.max(0, nearestHalfDown((span.newest - span.oldest) / i) + 1 - span.slots.length);
  };
  for (const arrival of plan.arrivals) {
    const ts = arrival.sentAtMs;
    const recent = span?.messages.slice(-WINDOW) ?? [];
    if (recent.some((m) => m.sentAtMs === ts && m.checksum === arrival.checksum)) {
      duplicates++;
      continue;
    }
    messages++;
    if (span === undefined) {
      span = { oldest: ts, newest: ts, slots: [ts], messages: [arrival] };
    } else if (ts > span.newest) {
      const gap = ts - span.newest;
      const i = interval();
      if (i !== null && window.length >= 3 && gap < i / 2) {
        shortRun.push(gap);
        const sum = shortRun.reduce((a, b) => a + b, 0);
        if (shortRun.length >= 4 && sum >= 2 * i) {
          // The run was a new interval: its extra heartbeats fill slots.
          extras -= runExtras.length;
          span.slots.push(...runExtras);
          runExtras = [];
          const mean = sum / shortRun.length;
          shortRun = [];
          if (window.length < 8) {
            window = [mean];
            span.slots.push(ts);
            span.newest = ts;
            span.messages.push(arrival);
          } else {
            closed += settledMissed();
            window = [mean];
            span = { oldest: ts, newest: ts, slots: [ts], messages: [arrival] };
          }
        } else {
          // A burst fills the slots the span still lacks (a sender catching up), no more.
          const slots = nearestHalfDown((ts - span.oldest) / i) + 1;
          if (slots > span.slots.length) {
            span.slots.push(ts);
          } else {
            extras++;
            runExtras.push(ts);
          }
          span.newest = ts;
          span.messages.push(arrival);
        }
      } else {
        // The gap right after a burst runs from its last heartbeat: no gap of the interval.
        if (shortRun.length === 0) window = [...window, gap].slice(-GAPS);
        shortRun = [];
        runExtras = [];
        span.slots.push(ts);
        span.newest = ts;
        span.messages.push(arrival);
      }
    } else if (ts < span.newest) {
      reordered++;
      const anchor = anchorOf();
      if (anchor !== undefined && ts < anchor) late++;
      if (ts < span.oldest) span.oldest = ts;
      span.slots.push(ts);
      span.messages.push(arrival);
    } else {
      extras++;
      span.messages.push(arrival);
    }
    shown = Math.max(shown, closed + heldMissed() + late);
  }
  const missed = Math.max(shown, closed + settledMissed() + late);
  const total = missed + messages - extras;
  return {
    messages,
    duplicates,
    reordered,
    intervalMs: interval(),
    missed,
    lossPercent: total <= 0 ? 0 : (missed / total) * 100,
  };
}

// ---- running and comparing --------------------------------------------------------------------

/**
 * Feeds a plan to a real `StreamHealth` and reads its figures. Under the `held` model it
 * reads the missed count after every arrival, as a scrape or `--watch` would, and settles
 * the stream at the end, as the final summary does.
 */
function measure(plan: Plan, asRun = model === "held"): Figures {
  const stream = new StreamHealth("127.0.0.1", 5006);
  for (const a of plan.arrivals) {
    stream.record(a.sentAtMs, a.checksum, a.receivedAtMs);
    if (asRun) void stream.missed;
  }
  if (asRun) stream.settle();
  return {
    messages: stream.messages,
    duplicates: stream.duplicates,
    reordered: stream.reordered,
    intervalMs: stream.intervalMs,
    missed: stream.missed,
    lossPercent: stream.lossPercent,
  };
}

/** The names of the figures that differ ("" when none). */
function compare(truth: Figures, measured: Figures): string {
  const wrong: string[] = [];
  for (const key of Object.keys(truth) as (keyof Figures)[]) {
    const a = truth[key];
    const b = measured[key];
    const same = typeof a === "number" && typeof b === "number"
      ? Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a))
      : a === b;
    if (!same) wrong.push(`${key}: truth ${a}, StreamHealth ${b}`);
  }
  return wrong.join("; ");
}

function describe(plan: Plan): string {
  const order = plan.arrivals.map((a) => a.k).join(",");
  return `seed ${plan.seed} (rerun: UDPEER_ORACLE_CASE=${plan.seed}): interval ${plan.intervalMs} ms, ` +
    `${plan.sent} sent, ${plan.features.join(", ") || "clean"}; arrival order ${order}`;
}

function readEnv(name: string): string | undefined {
  return Deno.permissions.querySync({ name: "env", variable: name }).state === "granted"
    ? Deno.env.get(name)
    : undefined;
}

/** `held` (what a running peer does, the default), or one of {@linkcode MISSED_MODELS}. */
const model = (readEnv("UDPEER_ORACLE_MISSED") ?? "held") as MissedModel | "held";
if (model !== "held" && !(model in MISSED_MODELS)) {
  throw new Error(`UDPEER_ORACLE_MISSED must be held, plain or max`);
}
/** The truth for a plan under the chosen model. */
const truthOf = (plan: Plan): Figures => model === "held" ? held(plan) : oracle(plan, model);
const baseSeed = Number(readEnv("UDPEER_ORACLE_SEED") ?? 20261202) >>> 0;
const onlyCase = readEnv("UDPEER_ORACLE_CASE");
const CASES = 4000;

/** Seeds of the cases: one from the environment, or CASES derived from the base seed. */
function seeds(): number[] {
  if (onlyCase !== undefined) return [Number(onlyCase) >>> 0];
  const random = new Random(baseSeed);
  return Array.from({ length: CASES }, () => random.int(0, 0xffffffff));
}

/** Runs every case through `check` and fails with the first few that differ, by seed. */
function runCases(check: (plan: Plan) => string): void {
  const failures: string[] = [];
  for (const seed of seeds()) {
    const plan = makePlan(seed);
    const wrong = check(plan);
    if (wrong !== "" && failures.push(`${describe(plan)}\n  ${wrong}`) >= 5) break;
  }
  if (failures.length > 0) {
    assert.fail(
      `StreamHealth differs from the oracle (base seed ${baseSeed}):\n${failures.join("\n")}`,
    );
  }
}

if (onlyCase !== undefined) {
  console.log(`skipped: health_oracle_test.ts: the mix of plans: UDPEER_ORACLE_CASE runs one`);
}

Deno.test({
  name: "the plans contain every case they are meant to",
  ignore: onlyCase !== undefined,
}, () => {
  const features = new Map<string, number>();
  let longest = 0;
  for (const seed of seeds()) {
    const plan = makePlan(seed);
    longest = Math.max(longest, plan.arrivals.length);
    for (const feature of plan.features) {
      const name = feature.replace(/ at \d+/, "").replace(/^\d+ /, "N ").replace(/[\d.]+$/, "p");
      features.set(name, (features.get(name) ?? 0) + 1);
    }
  }
  for (const name of ["drops p", "N moves", "reorder before the first", "N repeats"]) {
    assert.ok((features.get(name) ?? 0) >= 100, `${name}: ${features.get(name)} plans`);
  }
  assert.ok((features.get("repeat 64 back") ?? 0) >= 50, JSON.stringify([...features]));
  assert.ok((features.get("repeat 65 back") ?? 0) >= 50, JSON.stringify([...features]));
  assert.ok(longest > WINDOW + GAPS, `longest plan ${longest}`);
});

Deno.test(`StreamHealth counts messages, duplicates, reordered and the interval as the oracle on ${onlyCase === undefined ? CASES : 1} random plans`, () => {
  runCases((plan) => {
    const truth = truthOf(plan);
    const measured = measure(plan);
    const { missed: _m, lossPercent: _l, ...countsTruth } = truth;
    const { missed: _n, lossPercent: _o, ...countsMeasured } = measured;
    return compare(countsTruth as Figures, countsMeasured as Figures);
  });
});

Deno.test(`StreamHealth's missed and loss % equal the oracle's (${model}) on ${onlyCase === undefined ? CASES : 1} random plans`, () => {
  runCases((plan) => compare(truthOf(plan), measure(plan)));
});

Deno.test("the oracle itself: hand-made plans give the figures docs/link-health.md works out", () => {
  const plan = (order: number[], intervalMs = 1000): Plan => ({
    seed: 0,
    intervalMs,
    sent: Math.max(...order) + 1,
    features: ["by hand"],
    arrivals: order.map((k, i) => ({
      k,
      sentAtMs: 1_763_700_000_000 + k * intervalMs,
      checksum: checksumOf(k, 7),
      receivedAtMs: 1_763_700_000_000 + i * intervalMs + 1,
    })),
  });
  for (const name of ["plain", "max"] as const) {
    // The module's example: 2 of 0…4 lost.
    assert.deepEqual(oracle(plan([0, 1, 3, 4]), name), {
      messages: 4,
      duplicates: 0,
      reordered: 0,
      intervalMs: 1000,
      missed: 1,
      lossPercent: 20,
    });
    // A heartbeat older than the first: the span starts at 0, so 2 is missed.
    assert.deepEqual(oracle(plan([1, 0, 3, 4]), name), {
      messages: 4,
      duplicates: 0,
      reordered: 1,
      intervalMs: 1000,
      missed: 1,
      lossPercent: 20,
    });
  }
  // 66 in order, then a repeat of the 64th most recent (2: 65…2 are the last 64), then of
  // the 65th (1, which 2's repeat did not push back: a duplicate is not a message).
  const long = [...Array(66).keys()];
  assert.equal(oracle(plan([...long, 2]), "plain").duplicates, 1);
  const past = oracle(plan([...long, 1]), "plain");
  assert.deepEqual([past.duplicates, past.messages, past.reordered], [0, 67, 1]);
  // A late heartbeat fills a gap: plain missed goes back down, the counter does not.
  const late = plan([0, 1, 3, 4, 5, 2]);
  assert.equal(oracle(late, "plain").missed, 0);
  assert.equal(oracle(late, "max").missed, 1);
  // Halves round down: a span of 2.5 intervals is 2.
  assert.equal(nearestHalfDown(2.5), 2);
  assert.equal(nearestHalfDown(2.5000001), 3);
});

Deno.test("StreamHealth on the issue's cases: 1,0,3,4 is 1 missed and 20%; a repeat 64 back is a duplicate, 65 back a message", () => {
  const stream = new StreamHealth("127.0.0.1", 5006);
  for (const k of [1, 0, 3, 4]) {
    stream.record(1_763_700_000_000 + k * 1000, k, 1_763_700_000_000 + k * 1000 + 1);
  }
  stream.settle(); // the end of the run: slot 2 is no longer held
  assert.deepEqual([stream.missed, stream.lossPercent, stream.reordered], [1, 20, 1]);
  for (const [back, duplicate] of [[WINDOW, true], [WINDOW + 1, false]] as const) {
    const s = new StreamHealth("127.0.0.1", 5006);
    const t0 = 1_763_700_000_000;
    for (let k = 0; k < 70; k++) s.record(t0 + k * 1000, k, t0 + k * 1000 + 1);
    s.record(t0 + (70 - back) * 1000, 70 - back, t0 + 70_001);
    assert.equal(s.duplicates, duplicate ? 1 : 0, `repeat of the heartbeat ${back} back`);
    assert.equal(s.messages, duplicate ? 70 : 71, `repeat of the heartbeat ${back} back`);
  }
});
