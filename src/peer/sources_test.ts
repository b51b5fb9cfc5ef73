import assert from "node:assert/strict";
import { DEFAULT_CAPACITY, elapsedSummary, SourceTable } from "./sources.ts";

Deno.test("SourceTable counts messages and invalid datagrams per source", () => {
  const table = new SourceTable();
  table.recordMessage("127.0.0.2", 1);
  table.recordMessage("127.0.0.2", 2);
  table.recordInvalid("127.0.0.2");
  table.recordMessage("127.0.0.3", 5);
  assert.equal(table.get("127.0.0.2")?.messages, 2);
  assert.equal(table.get("127.0.0.2")?.invalid, 1);
  assert.equal(table.get("127.0.0.3")?.messages, 1);
  assert.equal(table.get("127.0.0.3")?.invalid, 0);
  assert.equal(table.size, 2);
  assert.equal(table.dropped, 0);
});

Deno.test("SourceTable drops the least recently seen source first", () => {
  const table = new SourceTable(3);
  table.recordMessage("a", 1);
  table.recordMessage("b", 1);
  table.recordMessage("c", 1);
  table.recordInvalid("a"); // a is now the most recent; b the least
  table.recordMessage("d", 1);
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

Deno.test("elapsedSummary() gives ping's min/avg/max/mdev", () => {
  const table = new SourceTable();
  let stats = table.recordInvalid("x");
  assert.equal(elapsedSummary(stats), null);
  for (const ms of [0.1, 0.2, 0.3, 0.6]) stats = table.recordMessage("x", ms);
  const summary = elapsedSummary(stats)!;
  assert.equal(summary.min, 0.1);
  assert.equal(summary.max, 0.6);
  assert.ok(Math.abs(summary.avg - 0.3) < 1e-12);
  // population standard deviation of 0.1, 0.2, 0.3, 0.6
  assert.ok(Math.abs(summary.mdev - Math.sqrt(0.035)) < 1e-9, `${summary.mdev}`);
});

Deno.test("elapsedSummary() keeps a negative elapsed time (clocks that disagree)", () => {
  const table = new SourceTable();
  table.recordMessage("x", -3);
  const summary = elapsedSummary(table.recordMessage("x", 1))!;
  assert.equal(summary.min, -3);
  assert.equal(summary.max, 1);
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
