import assert from "node:assert/strict";
import {
  lowerMedian,
  RECENT_WINDOW,
  RECORD_BACK,
  RECORD_DUPLICATE,
  RECORD_MESSAGE,
  RECORD_REORDERED,
  roundHalfDown,
  StreamHealth,
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
  assert.equal(stream.missed, 6, "the outage counts as loss, as ping counts it");
});

Deno.test("StreamHealth remembers the advertised address of the last heartbeat", () => {
  const stream = new StreamHealth("127.0.0.1", 40000);
  assert.equal(stream.advertised, "");
  stream.record(T0, 1, T0 + 1, "127.0.0.1", 5006);
  assert.equal(stream.advertised, "127.0.0.1:5006");
  assert.ok(stream.advertises("127.0.0.1", 5006));
  assert.ok(!stream.advertises("127.0.0.1", 40000));
});
