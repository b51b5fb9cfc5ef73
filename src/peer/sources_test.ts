import assert from "node:assert/strict";
import { RECORD_DUPLICATE, RECORD_MESSAGE, RECORD_REORDERED, StreamHealth } from "./health.ts";
import { addElapsed, DEFAULT_CAPACITY, elapsedSummary, SourceTable } from "./sources.ts";

/** A send time of today: before 2000 a timestamp is an outlier (a clock never set). */
const T0 = 1_763_700_000_000;

Deno.test("SourceTable counts messages and invalid datagrams per source", () => {
  const table = new SourceTable();
  table.recordMessage("127.0.0.2");
  table.recordMessage("127.0.0.2");
  table.recordInvalid("127.0.0.2");
  table.recordMessage("127.0.0.3");
  assert.equal(table.get("127.0.0.2")?.messages, 2);
  assert.equal(table.get("127.0.0.2")?.invalid, 1);
  assert.equal(table.get("127.0.0.3")?.messages, 1);
  assert.equal(table.get("127.0.0.3")?.invalid, 0);
  assert.equal(table.size, 2);
  assert.equal(table.dropped, 0);
});

Deno.test("SourceTable drops the least recently seen source first", () => {
  const table = new SourceTable(3);
  table.recordMessage("a");
  table.recordMessage("b");
  table.recordMessage("c");
  table.recordInvalid("a"); // a is now the most recent; b the least
  table.recordMessage("d");
  assert.equal(table.get("b"), undefined);
  assert.deepEqual(table.all().map((s) => s.address), ["c", "a", "d"]);
  assert.equal(table.dropped, 1);
  assert.equal(table.size, 3);
});

Deno.test("SourceTable stays within its bound under 200,000 distinct sources", () => {
  const table = new SourceTable();
  assert.equal(table.capacity, DEFAULT_CAPACITY);
  for (let i = 0; i < 200_000; i++) {
    table.recordInvalid(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
  }
  assert.equal(table.size, DEFAULT_CAPACITY);
  assert.equal(table.dropped, 200_000 - DEFAULT_CAPACITY);
  // The newest survive, the oldest are gone.
  assert.notEqual(table.get("10.3.13.63"), undefined); // i = 199,999
  assert.equal(table.get("10.0.0.0"), undefined);
});

Deno.test("SourceTable refuses a capacity below 1", () => {
  assert.throws(() => new SourceTable(0), RangeError);
  assert.throws(() => new SourceTable(1.5), RangeError);
});

/** The sums of a stream that heard these elapsed times. */
function sumsOf(...elapsed: number[]) {
  const stream = new StreamHealth("127.0.0.1", 5006);
  elapsed.forEach((ms, k) => stream.record(T0 + k * 1000, k, T0 + k * 1000 + ms));
  return stream;
}

Deno.test("elapsedSummary() gives ping's min/avg/max/mdev", () => {
  assert.equal(elapsedSummary(sumsOf()), null);
  const summary = elapsedSummary(sumsOf(0.1, 0.2, 0.3, 0.6))!;
  assert.ok(Math.abs(summary.min - 0.1) < 1e-3 && Math.abs(summary.max - 0.6) < 1e-3);
  assert.ok(Math.abs(summary.avg - 0.3) < 1e-3);
  // population standard deviation of 0.1, 0.2, 0.3, 0.6
  assert.ok(Math.abs(summary.mdev - Math.sqrt(0.035)) < 1e-3, `${summary.mdev}`);
});

Deno.test("elapsedSummary() keeps a negative elapsed time (clocks that disagree)", () => {
  const summary = elapsedSummary(sumsOf(-3, 1))!;
  assert.ok(Math.abs(summary.min + 3) < 1e-3);
});

Deno.test("addElapsed() gives a source the sums of its streams together", () => {
  const sums = { delays: 0, minMs: Infinity, maxMs: -Infinity, sumMs: 0, sumSquaresMs: 0 };
  addElapsed(sums, sumsOf(0.1, 0.2));
  addElapsed(sums, sumsOf(0.3, 0.6));
  const together = elapsedSummary(sums)!;
  const one = elapsedSummary(sumsOf(0.1, 0.2, 0.3, 0.6))!;
  for (const key of ["min", "avg", "max", "mdev"] as const) {
    assert.ok(Math.abs(together[key] - one[key]) < 1e-3, key);
  }
});

Deno.test("SourceTable.stream() keeps one stream per address and port, and drops the least recently seen", () => {
  const table = new SourceTable(2);
  const a = table.stream("127.0.0.1", 5006);
  assert.equal(table.stream("127.0.0.1", 5006), a, "the same stream again");
  const b = table.stream("127.0.0.1", 5007);
  assert.notEqual(b, a, "another port is another stream");
  assert.equal(table.stream("127.0.0.1", 5006), a);
  table.stream("127.0.0.2", 5006); // drops 127.0.0.1:5007, the least recently seen
  assert.equal(table.getStream("127.0.0.1", 5007), undefined);
  assert.equal(table.droppedStreams, 1);
  assert.deepEqual(table.streams().map((s) => `${s.address}:${s.port}`), [
    "127.0.0.1:5006",
    "127.0.0.2:5006",
  ]);
  assert.deepEqual(table.streamsOf("127.0.0.1").map((s) => s.port), [5006]);
});

Deno.test("SourceTable reuses an evicted stream's record with nothing of the old stream left in it", () => {
  const table = new SourceTable(1);
  const old = table.stream("127.0.0.2", 5006);
  // A full history: rings of gaps and recent heartbeats, a duplicate, a reordered one, an
  // advertised address, jitter, an outage.
  for (const k of [0, 1, 2, 4, 3]) {
    old.record(T0 + k * 1000, k, T0 + k * 1000 + 0.5 + k * 0.1, "10.0.0.9", 7);
  }
  old.record(T0 + 4000, 4, T0 + 4000.9, "10.0.0.9", 7); // a duplicate
  old.checkSilent(T0 + 20_000, 3);
  old.invalid++;
  assert.ok(old.duplicates === 1 && old.reordered === 1 && old.outages === 1 && old.jitterMs > 0);

  const fresh = table.stream("127.0.0.3", 5007); // evicts 127.0.0.2:5006
  assert.equal(fresh, old, "the record is reused (else this test tests nothing)");
  assert.equal(table.droppedStreams, 1);
  assert.equal(table.getStream("127.0.0.2", 5006), undefined);
  assert.equal(table.getStream("127.0.0.3", 5007), fresh);
  const blank = new StreamHealth("127.0.0.3", 5007);
  const view = (s: StreamHealth) => ({
    ...Object.fromEntries(Object.entries(s)),
    advertised: s.advertised,
    intervalMs: s.intervalMs,
    missed: s.missed,
    lossPercent: s.lossPercent,
  });
  assert.deepEqual(view(fresh), view(blank));
  assert.equal(fresh.record(T0 + 5000, 5, T0 + 5000.5), RECORD_MESSAGE);
  assert.equal(fresh.jitterMs, 0, "no transit time is left from the old stream");
  // The old heartbeats are no longer recent: a late one with the same timestamp and
  // checksum as one of them is a message, not a duplicate.
  assert.equal(fresh.record(T0 + 4000, 4, T0 + 4000.5), RECORD_MESSAGE | RECORD_REORDERED);
  assert.equal(fresh.record(T0 + 4000, 4, T0 + 4000.6), RECORD_DUPLICATE);
  assert.equal(fresh.record(T0 + 5500, 55, T0 + 5500.5), RECORD_MESSAGE);
  assert.equal(fresh.intervalMs, 500, "the interval comes from the new stream's gaps alone");
  assert.deepEqual(table.streamsOf("127.0.0.3").map((s) => s.port), [5007]);
  assert.deepEqual(table.streamsOf("127.0.0.2"), []);
});

Deno.test("SourceTable reuses a one-heartbeat stream's record without its heartbeat", () => {
  const table = new SourceTable(1);
  const old = table.stream("127.0.0.2", 5006);
  old.record(T0 + 9000, 9, T0 + 9000.5);
  const fresh = table.stream("127.0.0.3", 5006);
  assert.equal(fresh, old);
  assert.equal(fresh.record(T0 + 10_000, 10, T0 + 10_000.5), RECORD_MESSAGE);
  assert.equal(fresh.record(T0 + 9000, 9, T0 + 10_000.7), RECORD_MESSAGE | RECORD_REORDERED);
});

Deno.test("SourceTable reuses an evicted source's record with zeroed counts", () => {
  const table = new SourceTable(1);
  table.recordMessage("127.0.0.2");
  table.recordInvalid("127.0.0.2");
  table.recordDuplicate("127.0.0.2");
  const stats = table.recordInvalid("127.0.0.3");
  assert.equal(table.get("127.0.0.2"), undefined);
  assert.deepEqual({ ...stats }, {
    address: "127.0.0.3",
    messages: 0,
    invalid: 1,
    duplicates: 0,
    outliers: 0,
  });
});

Deno.test("SourceTable never reuses a stream the eviction hook says is still held", () => {
  const evicted: string[] = [];
  const table = new SourceTable(1, (stream) => {
    evicted.push(`${stream.address}:${stream.port}`);
    return stream.port === 1; // port 1 is held elsewhere
  });
  const held = table.stream("127.0.0.2", 1);
  held.record(T0, 0, T0 + 0.5);
  const next = table.stream("127.0.0.3", 2);
  assert.notEqual(next, held);
  assert.ok(held.address === "127.0.0.2" && held.port === 1 && held.messages === 1);
  const third = table.stream("127.0.0.4", 3);
  assert.equal(third, next, "a record nobody holds is reused");
  assert.ok(third.address === "127.0.0.4" && third.port === 3 && third.messages === 0);
  assert.deepEqual(evicted, ["127.0.0.2:1", "127.0.0.3:2"]);
});

Deno.test("SourceTable finds every stream among many addresses and ports as they come and go", () => {
  // The index is open addressing with deletion by shifting: churn it and compare with a Map.
  const table = new SourceTable(500);
  const model = new Map<string, StreamHealth>();
  const order: string[] = [];
  let seed = 7;
  const random = (n: number) => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
  for (let i = 0; i < 20_000; i++) {
    const address = `10.0.${random(4)}.${random(256)}`;
    const port = random(3) * 65535;
    const key = `${address}:${port}`;
    const stream = table.stream(address, port);
    if (!model.has(key)) {
      if (model.size === 500) model.delete(order.shift()!);
      model.set(key, stream);
    } else {
      order.splice(order.indexOf(key), 1);
      assert.equal(stream, model.get(key));
    }
    order.push(key);
  }
  assert.equal(table.streamCount, 500);
  for (const [key, stream] of model) {
    assert.equal(table.getStream(stream.address, stream.port), stream, key);
  }
  assert.deepEqual(table.streams().map((s) => `${s.address}:${s.port}`), order);
});

Deno.test("SourceTable counts IPv6 sources beside IPv4 ones, each address and stream once", () => {
  const table = new SourceTable(3);
  table.recordMessage("::1");
  table.recordMessage("127.0.0.1");
  table.recordMessage("::1");
  table.recordInvalid("fd00:75:64::2");
  assert.equal(table.get("::1")?.messages, 2);
  assert.equal(table.get("127.0.0.1")?.messages, 1);
  assert.equal(table.get("fd00:75:64::2")?.invalid, 1);
  assert.equal(table.size, 3);
  // The least recently seen goes first, whatever its family.
  table.recordMessage("2001:db8::9");
  assert.equal(table.get("127.0.0.1"), undefined);
  assert.equal(table.dropped, 1);
  assert.deepEqual(table.all().map((s) => s.address), ["::1", "fd00:75:64::2", "2001:db8::9"]);

  const streams = new SourceTable(4);
  const a = streams.stream("::1", 5005);
  const b = streams.stream("::1", 5006);
  const c = streams.stream("127.0.0.1", 5005);
  assert.ok(a !== b && a !== c);
  assert.equal(streams.stream("::1", 5005), a);
  assert.equal(streams.getStream("::1", 5006), b);
  assert.equal(streams.getStream("::2", 5006), undefined);
  assert.deepEqual(streams.streamsOf("::1").map((s) => s.port), [5005, 5006]);
});

Deno.test("SourceTable finds every IPv6 stream as forged sources of both families come and go", () => {
  // The IPv6 index is open addressing with deletion by shifting, like the IPv4 one: churn a
  // mix of both families through a small table and compare with a Map.
  const capacity = 300;
  const table = new SourceTable(capacity);
  const model = new Map<string, StreamHealth>();
  const order: string[] = [];
  let seed = 11;
  const random = (n: number) => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
  for (let i = 0; i < 20_000; i++) {
    const address = random(3) === 0
      ? `10.1.${random(2)}.${random(256)}`
      : `2001:db8::${random(600).toString(16)}`;
    const port = 5000 + random(2);
    const key = `${address} ${port}`;
    const stream = table.stream(address, port);
    table.recordMessage(address);
    if (!model.has(key)) {
      if (model.size === capacity) model.delete(order.shift()!);
      model.set(key, stream);
    } else {
      order.splice(order.indexOf(key), 1);
      assert.equal(stream, model.get(key), key);
    }
    order.push(key);
  }
  assert.equal(table.streamCount, capacity);
  assert.ok(table.size <= capacity);
  for (const [key, stream] of model) {
    assert.equal(table.getStream(stream.address, stream.port), stream, key);
  }
  assert.deepEqual(table.streams().map((s) => `${s.address} ${s.port}`), order);
  for (const stats of table.all()) assert.equal(table.get(stats.address), stats);
});
