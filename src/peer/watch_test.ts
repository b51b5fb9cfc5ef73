import assert from "node:assert/strict";
import { StreamHealth } from "./health.ts";
import { renderWatch, type WatchRow, watchRows } from "./watch.ts";

const T0 = 1_763_700_000_000;

function streamOf(address: string, port: number, beats: number): StreamHealth {
  const stream = new StreamHealth(address, port);
  for (let k = 0; k < beats; k++) stream.record(T0 + k * 1000, k, T0 + k * 1000 + 0.5);
  return stream;
}

Deno.test("watchRows() lists the targets first, in order, then the other streams by address and port", () => {
  const target = streamOf("127.0.0.1", 5006, 3);
  const others = [
    streamOf("127.0.0.9", 1, 1),
    streamOf("127.0.0.2", 7, 2),
    streamOf("127.0.0.2", 6, 1),
  ];
  const rows = watchRows(
    [
      { to: "127.0.0.1:5006", name: "b", stream: target, silentBeforeHeard: false },
      { to: "127.0.0.1:9", name: undefined, stream: undefined, silentBeforeHeard: true },
      { to: "127.0.0.1:10", name: undefined, stream: undefined, silentBeforeHeard: false },
    ],
    [...others, target],
    T0 + 2500.5,
  );
  assert.deepEqual(rows.map((row) => [row.source, row.peer, row.state, row.count]), [
    ["127.0.0.1:5006", "b", "up", 3],
    ["127.0.0.1:9", "", "silent", 0],
    ["127.0.0.1:10", "", "waiting", 0],
    ["127.0.0.2:6", "", "up", 1],
    ["127.0.0.2:7", "", "up", 2],
    ["127.0.0.9:1", "", "up", 1],
  ]);
  assert.equal(rows[0]!.heardAgoS, 0.5);
  assert.equal(rows[0]!.lossPercent, 0);
  assert.equal(rows[3]!.lossPercent, null, "one heartbeat: the interval is not known yet");
});

const row = (source: string, peer = ""): WatchRow => ({
  source,
  peer,
  state: "up",
  count: 1,
  lossPercent: 0,
  lastMs: 0.4,
  minMs: 0.4,
  avgMs: 0.4,
  maxMs: 0.4,
  jitterMs: 0,
  heardAgoS: 0.1,
});

Deno.test("renderWatch() redraws in place and fits the screen, saying how many rows it left out", () => {
  const rows = Array.from({ length: 30 }, (_, i) => row(`127.0.0.${i + 1}:5006`));
  const screen = renderWatch("header", rows, ["01:02:03 a note"], { columns: 120, rows: 12 });
  assert.ok(screen.startsWith("\x1b[H") && screen.endsWith("\x1b[J"));
  const lines = screen.slice(3, -3).split("\x1b[K\n");
  assert.ok(lines.length <= 11, `${lines.length} lines leave the last one free`);
  assert.match(lines.at(-3)!, /^… \d+ more streams$/);
  assert.equal(lines.at(-1), "01:02:03 a note\x1b[K");
  for (const line of lines) assert.ok(line.replace("\x1b[K", "").length <= 120);
});

Deno.test("renderWatch() escapes a hostile peer name and cuts lines to the width", () => {
  const screen = renderWatch("h", [row("127.0.0.1:1", "\x1b[2Jevil")], [], {
    columns: 40,
    rows: 10,
  });
  const plain = (text: string) =>
    ["\x1b[H", "\x1b[K", "\x1b[J"].reduce((rest, code) => rest.replaceAll(code, ""), text);
  assert.ok(!plain(screen).includes("\x1b"), "no escape sequence but the redraw's own");
  for (const line of screen.split("\n")) assert.ok(plain(line).length <= 40);
});

Deno.test("--watch shows an IPv6 source whole, in brackets, and widens SOURCE only then", () => {
  const six = streamOf("fd00:75:64::2", 5005, 2);
  const rows = watchRows(
    [{ to: "[::1]:5005", name: "loop", stream: undefined, silentBeforeHeard: true }],
    [six, streamOf("127.0.0.1", 5006, 1)],
    T0 + 1500,
  );
  assert.deepEqual(rows.map((r) => r.source), [
    "[::1]:5005",
    "127.0.0.1:5006",
    "[fd00:75:64::2]:5005",
  ]);
  const plain = (text: string) =>
    ["\x1b[H", "\x1b[K", "\x1b[J"].reduce((rest, code) => rest.replaceAll(code, ""), text);
  const size = { columns: 200, rows: 20 };
  // IPv4 only: SOURCE is 21 wide, as it always was.
  const four = plain(renderWatch("h", [row("255.255.255.255:65535")], [], size)).split("\n");
  assert.equal(four[2]!.indexOf("PEER"), 22);
  // The longest IPv6 source fits whole; the other columns move right to make room.
  const long = "[2001:db8:1234:5678:9abc:def0:1234:5678]:65535";
  const screen = plain(renderWatch("h", [row(long), row("127.0.0.1:1")], [], size)).split("\n");
  assert.equal(screen[2]!.indexOf("PEER"), long.length + 1);
  assert.ok(screen[3]!.startsWith(`${long} `), screen[3]);
  assert.ok(screen[4]!.startsWith(`${"127.0.0.1:1".padEnd(long.length)} `), screen[4]);
});
