import assert from "node:assert/strict";
import {
  lowerMedian,
  RECENT_WINDOW,
  RECORD_BACK,
  RECORD_DUPLICATE,
  RECORD_MESSAGE,
  RECORD_OUTLIER,
  RECORD_REORDERED,
  roundHalfDown,
  StreamHealth,
  typicalGap,
} from "./health.ts";

const T0 = 1_763_700_000_000;

/** Feeds heartbeats `[k, checksum?, delayMs?]` of a stream of interval `intervalMs`. */
function feed(
  stream: StreamHealth,
  beats: readonly (number | [number, number?, number?])[],
  intervalMs: number,
): number[] {
  return beats.map((beat) => {
    const [k, checksum = k, delay = 0.5] = typeof beat === "number" ? [beat] : beat;
    return stream.record(T0 + k * intervalMs, checksum, T0 + k * intervalMs + delay);
  });
}

Deno.test("roundHalfDown() rounds halves down and everything else to the nearest", () => {
  const cases: [number, number][] = [[2.5, 2], [2.51, 3], [2.49, 2], [3, 3], [0.5, 0], [-0.5, -1]];
  for (const [value, expected] of cases) assert.equal(roundHalfDown(value), expected, `${value}`);
});

Deno.test("lowerMedian() takes the middle value, the smaller of two middles", () => {
  const cases: [number[], number][] = [
    [[5], 5],
    [[100, 50], 50],
    [[3, 1, 2], 2],
    [[1000, 2000, 1000, 1000], 1000],
    [[2000, 3000], 2000],
  ];
  for (const [values, expected] of cases) {
    assert.equal(lowerMedian(values, values.length), expected, `${values}`);
  }
  assert.ok(Number.isNaN(lowerMedian([], 0)));
});

Deno.test("StreamHealth's interval is typicalGap() of its last 16 gaps, to the last bit", () => {
  // Seeded gaps of 90–200 ms (never half the interval: no burst), with repeats, so the
  // window's sorted copy is shifted, evicted from and inserted into at every position.
  let seed = 7;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const stream = new StreamHealth("127.0.0.1", 5006);
  const ring: number[] = [];
  let sentAt = T0;
  stream.record(sentAt, 0, sentAt + 0.5);
  for (let k = 1; k <= 300; k++) {
    const next = sentAt + (random() < 0.2 ? 100 : 90 + Math.round(random() * 1100) / 10);
    // The ring's order: gap k sits at (k - 1) % 16, as the stream keeps it.
    ring[(k - 1) % 16] = next - sentAt;
    sentAt = next;
    stream.record(sentAt, k, sentAt + 0.5);
    assert.equal(stream.intervalMs, typicalGap(ring, ring.length), `after gap ${k}`);
  }
});

Deno.test("StreamHealth counts no loss a sender's jitter did not cause, over thousands of slots", () => {
  // A sender on a grid whose send times wander (a busy host's timers), each heartbeat
  // arriving, or every 10th dropped. The mean of the last 16 gaps carries a sixteenth of the
  // jitter; times a span of thousands of slots it counted slots that never were (100 ms ±3
  // ms for an hour: 30 to 102 missed of a lossless stream, by the seed; 20 ms ±1 ms: 222).
  let seed = 2463534242;
  const random = () => {
    seed ^= seed << 13;
    seed >>>= 0;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    seed >>>= 0;
    return seed / 2 ** 32;
  };
  const cases: [intervalMs: number, jitterMs: number, count: number, dropEvery: number][] = [
    [100, 3, 36_000, 0],
    [20, 1, 30_000, 0],
    [1000, 50, 3_600, 0],
    [100, 3, 20_000, 10],
  ];
  for (const [intervalMs, jitterMs, count, dropEvery] of cases) {
    const stream = new StreamHealth("127.0.0.1", 5006);
    let dropped = 0;
    for (let k = 0; k < count; k++) {
      const sentAt = T0 + k * intervalMs + (random() * 2 - 1) * jitterMs;
      // The last heartbeat always arrives: the truth is then every drop.
      if (dropEvery > 0 && k % dropEvery === dropEvery - 1 && k < count - 1) {
        dropped++;
        continue;
      }
      stream.record(sentAt, k, sentAt + 0.3);
    }
    const what = `${intervalMs} ms ±${jitterMs} ms, ${count} sent, ${dropped} dropped`;
    // Interim: the last 2 intervals are held; settled: every slot counts.
    assert.ok(Math.abs(stream.missed - dropped) <= 1, `${what}: ${stream.missed} missed`);
    stream.settle();
    assert.ok(Math.abs(stream.missed - dropped) <= 1, `${what}: ${stream.missed} missed, settled`);
  }
});

Deno.test("StreamHealth counts missed, loss, duplicates and reordering exactly", () => {
  // Each case: the order in which heartbeats k (as [k, checksum]) arrive, and the truth.
  const cases: {
    name: string;
    beats: (number | [number, number?, number?])[];
    missed: number;
    duplicates: number;
    reordered: number;
    lossPercent: number;
    messages: number;
  }[] = [
    {
      name: "all in order",
      beats: [0, 1, 2, 3, 4],
      missed: 0,
      duplicates: 0,
      reordered: 0,
      lossPercent: 0,
      messages: 5,
    },
    {
      name: "one lost",
      beats: [0, 1, 3, 4],
      missed: 1,
      duplicates: 0,
      reordered: 0,
      lossPercent: 20,
      messages: 4,
    },
    {
      name: "two lost in a row, one alone",
      beats: [0, 1, 4, 5, 7, 8, 9],
      missed: 3,
      duplicates: 0,
      reordered: 0,
      lossPercent: 30,
      messages: 7,
    },
    {
      name: "a duplicate",
      beats: [0, 1, 2, 2, 3],
      missed: 0,
      duplicates: 1,
      reordered: 0,
      lossPercent: 0,
      messages: 4,
    },
    {
      name: "a late duplicate of an older one",
      beats: [0, 1, 2, 3, 1],
      missed: 0,
      duplicates: 1,
      reordered: 0,
      lossPercent: 0,
      messages: 4,
    },
    {
      name: "two swapped",
      beats: [0, 1, 3, 2, 4],
      missed: 0,
      duplicates: 0,
      reordered: 1,
      lossPercent: 0,
      messages: 5,
    },
    {
      name: "one delayed past two others",
      beats: [0, 1, 3, 4, 2, 5],
      missed: 0,
      duplicates: 0,
      reordered: 1,
      lossPercent: 0,
      messages: 6,
    },
    {
      name: "same timestamp, other checksum: a message, not a duplicate",
      beats: [0, 1, [1, 99], 2],
      missed: 0,
      duplicates: 0,
      reordered: 0,
      lossPercent: 0,
      messages: 4,
    },
    {
      name: "loss, duplicate and swap together",
      beats: [0, 2, 2, 4, 3, 5, 6, 7, 9],
      missed: 2,
      duplicates: 1,
      reordered: 1,
      lossPercent: 20,
      messages: 8,
    },
  ];
  for (const c of cases) {
    const stream = new StreamHealth("127.0.0.1", 5006);
    feed(stream, c.beats, 2000);
    // The run is over: the last slots are settled too.
    stream.settle();
    assert.equal(stream.intervalMs, 2000, c.name);
    assert.deepEqual(
      [stream.messages, stream.missed, stream.duplicates, stream.reordered, stream.lossPercent],
      [c.messages, c.missed, c.duplicates, c.reordered, c.lossPercent],
      c.name,
    );
  }
});

Deno.test("StreamHealth.record() says what each heartbeat was", () => {
  const stream = new StreamHealth("127.0.0.1", 5006);
  assert.deepEqual(feed(stream, [0, 2, 1, 1], 1000), [
    RECORD_MESSAGE,
    RECORD_MESSAGE,
    RECORD_MESSAGE | RECORD_REORDERED,
    RECORD_DUPLICATE,
  ]);
});

Deno.test("StreamHealth remembers 64 heartbeats for duplicates, not more", () => {
  const stream = new StreamHealth("127.0.0.1", 5006);
  feed(stream, Array.from({ length: RECENT_WINDOW + 1 }, (_, k) => k), 10);
  // Heartbeat 0 has left the window of 64: seen again it is reordered, not a duplicate;
  // heartbeat 64 is still in it.
  feed(stream, [0, 64], 10);
  assert.equal(stream.duplicates, 1);
  assert.equal(stream.reordered, 1);
});

Deno.test("StreamHealth infers the interval of whole-second, sleep-loop senders", () => {
  // A Python loop `send(int(time.time())); sleep(2)` drifts by a few ms a round, so its
  // truncated timestamps step by 2 s and now and then by 3 s; a start just before a whole
  // second makes the span one second longer than 2 × (n − 1).
  for (const start of [0.1, 0.995]) {
    const stream = new StreamHealth("127.0.0.1", 5006);
    for (let k = 0; k < 6; k++) {
      const trueSendS = 1_763_700_000 + start + k * 2.004;
      stream.record(Math.floor(trueSendS) * 1000, k, trueSendS * 1000 + 0.3);
    }
    assert.equal(stream.intervalMs, 2000, `start ${start}`);
    assert.equal(stream.missed, 0, `start ${start}`);
    assert.equal(stream.lossPercent, 0, `start ${start}`);
  }
});

Deno.test("StreamHealth needs two distinct timestamps before it knows the interval", () => {
  const stream = new StreamHealth("127.0.0.1", 5006);
  assert.equal(stream.intervalMs, null);
  stream.record(T0, 1, T0 + 1);
  assert.equal(stream.intervalMs, null);
  assert.equal(stream.missed, 0);
  assert.equal(stream.checkSilent(T0 + 1e9, 3), undefined, "never silent without an interval");
  stream.record(T0 + 500, 2, T0 + 501);
  assert.equal(stream.intervalMs, 500);
});

Deno.test("StreamHealth computes RFC 3550 jitter from the change in transit time", () => {
  const stream = new StreamHealth("127.0.0.1", 5006);
  // Transit times 1, 3, 3, 7 ms: |D| = 2, 0, 4.
  feed(stream, [[0, 0, 1], [1, 1, 3], [2, 2, 3], [3, 3, 7]], 100);
  let expected = 0;
  for (const d of [2, 0, 4]) expected += (d - expected) / 16;
  assert.equal(stream.jitterMs, expected);
  assert.equal(stream.lastElapsedMs, 7);
  assert.deepEqual([stream.minMs, stream.maxMs, stream.sumMs], [1, 7, 14]);
});

Deno.test("StreamHealth goes silent once after downAfter intervals and comes back with the missed count", () => {
  const stream = new StreamHealth("127.0.0.1", 5006);
  feed(stream, [0, 1, 2, 3], 2000);
  const lastHeard = T0 + 3 * 2000 + 0.5;
  assert.equal(stream.checkSilent(lastHeard + 5999, 3), undefined);
  assert.equal(stream.checkSilent(lastHeard + 6000, 3), 6000);
  assert.equal(stream.state, "silent");
  assert.equal(stream.checkSilent(lastHeard + 9000, 3), undefined, "one silent per outage");
  // Heartbeats 4..9 were never sent (the sender was stopped); 10 arrives.
  const result = stream.record(T0 + 10 * 2000, 10, T0 + 10 * 2000 + 0.5);
  assert.equal(result, RECORD_MESSAGE | RECORD_BACK);
  assert.equal(stream.state, "up");
  assert.equal(stream.lastOutageMs, 14000);
  assert.equal(stream.lastOutageMissed, 6);
  assert.equal(stream.outages, 1);
  assert.equal(stream.missed, 4, "the count the outage reached while it went on stays");
  feed(stream, [11, 12, 13], 2000);
  assert.equal(stream.missed, 6, "the outage counts as loss, as ping counts it");
});

Deno.test("StreamHealth counts an outage still going on, one per interval, and never counts down", () => {
  const stream = new StreamHealth("127.0.0.1", 5006);
  feed(stream, [0, 1, 2, 3], 100);
  const lastHeard = T0 + 300 + 0.5;
  const seen: number[] = [];
  for (let t = 0; t <= 1000; t += 50) {
    stream.checkSilent(lastHeard + t, 3);
    seen.push(stream.missed);
  }
  // Silent at 300 ms with 2 slots overdue by half an interval or more, then one more for each
  // 100 ms that passes.
  assert.deepEqual(seen, [0, 0, 0, 0, 0, 0, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9]);
  // The sender was down for slots 4..13 and is back with 14: the timestamps agree.
  feed(stream, [14, 15, 16], 100);
  assert.equal(stream.missed, 9, "the count reached while it went on");
  feed(stream, [17], 100);
  assert.equal(stream.missed, 10, "settled from the timestamps once 14 is three intervals old");
  assert.equal(stream.lossPercent, (10 / 18) * 100);
});

Deno.test("StreamHealth waits until a gap is three intervals old, so a late heartbeat fills it", () => {
  const stream = new StreamHealth("127.0.0.1", 5006);
  const missedAfter = (k: number): number => {
    feed(stream, [k], 1000);
    return stream.missed;
  };
  assert.deepEqual([0, 1, 3, 4].map(missedAfter), [0, 0, 0, 0], "slot 2 is held");
  assert.equal(missedAfter(2), 0, "2 arrives late: reordered, not missed");
  assert.equal(stream.reordered, 1);
  assert.deepEqual([6, 7, 8].map(missedAfter), [0, 0, 0], "slot 5 held");
  assert.equal(missedAfter(9), 1, "slot 5 counted once 6 is three intervals old");
  assert.equal(missedAfter(5), 1, "too late: still counted, a counter never goes down");
  assert.equal(stream.reordered, 2);
  assert.equal(missedAfter(11), 1, "slot 10 is held");
  stream.settle();
  assert.equal(stream.missed, 2, "at the end of the run every slot is settled");
});

Deno.test("StreamHealth counts the held slots at once when the stream goes silent", () => {
  const stream = new StreamHealth("127.0.0.1", 5006);
  // 8 of 0..9 arrive: 3 and 8 are lost; 8 is within the hold when the stream stops.
  feed(stream, [0, 1, 2, 4, 5, 6, 7, 9], 100);
  assert.equal(stream.missed, 1, "slot 8 may still come late");
  const lastHeard = T0 + 900.5;
  assert.equal(stream.checkSilent(lastHeard + 300, 3), 300);
  assert.equal(stream.missed, 2 + 2, "3 and 8, and the two slots overdue since");
});

Deno.test("StreamHealth keeps a burst out of the interval and the missed count", () => {
  const stream = new StreamHealth("127.0.0.1", 5006);
  feed(stream, [0, 1, 2, 3, 4, 5], 100);
  // 30 heartbeats 1 ms apart after heartbeat 5, with their true send times.
  for (let i = 1; i <= 30; i++) stream.record(T0 + 500 + i, 1000 + i, T0 + 500 + i + 0.2);
  feed(stream, [6, 7, 8, 9, 10, 11, 12, 13], 100);
  assert.equal(stream.intervalMs, 100);
  assert.equal(stream.messages, 44);
  stream.settle();
  assert.equal(stream.missed, 0);
  // Extras fill no slot: a loss after the burst is still seen.
  feed(stream, [15, 16, 17], 100);
  assert.equal(stream.missed, 1);
});

Deno.test("StreamHealth lets a sender that catches up fill the slots it had left empty, no more", () => {
  const stream = new StreamHealth("127.0.0.1", 5006);
  feed(stream, [0, 1, 2, 3, 4, 5], 100);
  // Slots 6..14 pass unsent (a foreign sender stalled); at 15 it sends 10 heartbeats 1 ms
  // apart, stamped as it sends them, then goes on at 16.
  for (let i = 0; i < 10; i++) stream.record(T0 + 1500 + i, 100 + i, T0 + 1500 + i + 0.3);
  feed(stream, [16, 17, 18, 19, 20], 100);
  assert.equal(stream.intervalMs, 100);
  stream.settle();
  assert.equal(stream.missed, 0, "every slot was sent, late");
  // 20 more 1 ms apart at 21: no slot is empty, so they fill none and hide nothing.
  for (let i = 0; i < 20; i++) stream.record(T0 + 2100 + i, 200 + i, T0 + 2100 + i + 0.3);
  feed(stream, [23, 24, 25, 26], 100);
  assert.equal(stream.missed, 1, "22 is lost, and still seen");
});

Deno.test("StreamHealth takes a new, shorter interval once it is sustained", () => {
  const stream = new StreamHealth("127.0.0.1", 5006);
  feed(stream, [...Array(12).keys()], 1000);
  // From 11 s on the sender sends every 100 ms: 40 heartbeats over 4 s.
  for (let i = 1; i <= 40; i++) {
    stream.record(T0 + 11_000 + i * 100, 100 + i, T0 + 11_000 + i * 100 + 0.5);
  }
  assert.equal(stream.intervalMs, 100);
  stream.settle();
  assert.equal(stream.missed, 0, "the 1 s part is not counted again at 100 ms");
});

Deno.test("StreamHealth corrects an interval that losses at the start made too long", () => {
  const stream = new StreamHealth("127.0.0.1", 5006);
  // 1, 2, 4 and 5 are lost: the first gaps are 300 ms, the true interval 100 ms.
  const arrived = [0, 3, 6, ...Array.from({ length: 14 }, (_, i) => 7 + i)];
  feed(stream, arrived, 100);
  assert.equal(stream.intervalMs, 100);
  stream.settle();
  assert.equal(stream.missed, 4);
  assert.equal(stream.lossPercent, (4 / 21) * 100);
});

Deno.test("StreamHealth counts an absurd timestamp as an outlier and lets it move nothing", () => {
  for (const absurd of [0, 2 ** 53, T0 + 10 * 365 * 86_400_000, T0 - 7_200_000]) {
    const stream = new StreamHealth("127.0.0.1", 5006);
    feed(stream, [0, 1, 2, 3], 100);
    const before = JSON.stringify([stream.intervalMs, stream.missed, stream.jitterMs]);
    const result = stream.record(absurd, 7, T0 + 350);
    assert.equal(result, RECORD_OUTLIER, `${absurd}`);
    feed(stream, [4, 5, 6, 7], 100);
    stream.settle();
    assert.equal(stream.outliers, 1);
    assert.equal(stream.messages, 8);
    assert.equal(stream.missed, 0, `${absurd}`);
    assert.equal(stream.intervalMs, 100);
    assert.equal(stream.maxMs, 0.5, "no delay from the outlier");
    assert.notEqual(before, "", "sanity");
    assert.equal(stream.checkSilent(T0 + 750, 3), undefined, "the stream is still heard");
    assert.equal(stream.checkSilent(T0 + 1001, 3), 300, "and an outage is still seen");
  }
});

Deno.test("StreamHealth refuses an absurd first heartbeat and follows a clock that really moved", () => {
  const stream = new StreamHealth("127.0.0.1", 5006);
  assert.equal(stream.record(0, 1, T0), RECORD_OUTLIER, "1970 from a host of today");
  assert.equal(stream.messages, 0);
  feed(stream, [0, 1, 2], 100);
  // The sender's clock is stepped back two hours: three consistent heartbeats start a span.
  const stepped = (k: number) => stream.record(T0 - 7_200_000 + k * 100, 50 + k, T0 + k * 100);
  assert.deepEqual([3, 4, 5, 6].map(stepped), [
    RECORD_OUTLIER,
    RECORD_OUTLIER,
    RECORD_MESSAGE,
    RECORD_MESSAGE,
  ]);
  assert.equal(stream.outliers, 3);
  assert.equal(stream.newestSentAtMs, T0 - 7_200_000 + 600);
  stream.settle();
  assert.equal(stream.missed, 0, "no span from 1970, no loss across the step");
});

Deno.test("StreamHealth remembers the advertised address of the last heartbeat", () => {
  const stream = new StreamHealth("127.0.0.1", 40000);
  assert.equal(stream.advertised, "");
  stream.record(T0, 1, T0 + 1, "127.0.0.1", 5006);
  assert.equal(stream.advertised, "127.0.0.1:5006");
});

Deno.test("StreamHealth reads a header address of 0.0.0.0 (a sender on IPv6) as the UDP source", () => {
  const six = new StreamHealth("fd00:75:64::1", 40000);
  six.record(T0, 1, T0 + 1, "0.0.0.0", 5006);
  assert.equal(six.advertised, "[fd00:75:64::1]:5006");
  const four = new StreamHealth("10.0.0.1", 40000);
  four.record(T0, 1, T0 + 1, "0.0.0.0", 5006);
  assert.equal(four.advertised, "10.0.0.1:5006");
});
