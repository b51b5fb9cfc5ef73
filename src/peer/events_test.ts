import assert from "node:assert/strict";
import { jsonLine, RAW_CONTROL } from "../common/escape.ts";
import { decodeHeartbeat, encodeHeartbeat, type Heartbeat } from "../../protocol.ts";
import {
  formatBack,
  formatEvent,
  formatInvalid,
  formatListening,
  formatMessage,
  formatReload,
  formatSilent,
  formatSummary,
  type MessageEvent,
  messageEvent,
  summaryEvent,
  writeMessageHuman,
  writeMessageJson,
} from "./events.ts";
import { ByteQueue } from "../common/output.ts";
import { escapeForTerminal } from "../common/escape.ts";
import { joinHostPort } from "../common/endpoint.ts";
import { SourceTable } from "./sources.ts";

const TIME = "2026-12-02T01:02:03.456Z";
const TIME_MS = Date.parse(TIME);

/**
 * The `--json` line the receive path writes for a message event, read back. The queue starts
 * small, so that a line also grows it; the emit time's sub-millisecond part is dropped.
 */
function writtenJson(event: MessageEvent): string {
  const queue = new ByteQueue(8);
  writeMessageJson(queue, event, TIME_MS + 0.7);
  return new TextDecoder().decode(queue.bytes());
}

/** What jsonEventLine() writes for an event: `event`, then `time`, then its own fields. */
function jsonWithTime(event: MessageEvent): string {
  const { event: name, ...fields } = event;
  return jsonLine({ event: name, time: TIME, ...fields });
}

function heartbeat(timestamp: number, text = "hi", ipv4 = "127.0.0.1", port = 5006): Heartbeat {
  const result = decodeHeartbeat(encodeHeartbeat({ timestamp, ipv4, port, text }));
  assert.ok(result.ok);
  return result.heartbeat;
}

const remote = { hostname: "127.0.0.1", port: 5006 };

Deno.test("messageEvent() computes elapsed time, send time and the advertised address", () => {
  const event = messageEvent(heartbeat(1763700000123), remote, 4, 1763700000123.4567);
  assert.equal(event.elapsedMs, 0.457);
  assert.equal(event.sentAt, "2025-11-21T04:40:00.123Z");
  assert.equal(event.unit, "ms");
  assert.equal(event.advertised, "127.0.0.1:5006");
  assert.equal(event.count, 4);
  assert.equal(event.bytes, 20);
});

Deno.test("formatMessage() shows source, count, elapsed with one decimal and the text", () => {
  const event = messageEvent(heartbeat(1763700000123), remote, 3, 1763700000123.44);
  assert.equal(formatMessage(event), "127.0.0.1:5006 count=3 time=0.4 ms | hi");
});

Deno.test("formatMessage() marks whole-second senders, clock disagreement and a differing header", () => {
  const seconds = formatMessage(messageEvent(heartbeat(1763700000), remote, 1, 1763700000350));
  assert.match(seconds, /time=350\.0 ms \(sender's clock in whole seconds\)/);
  const negative = formatMessage(messageEvent(heartbeat(1763700000123), remote, 1, 1763700000120));
  assert.match(negative, /time=-3\.0 ms \(negative: the clocks disagree\)/);
  const forged = formatMessage(
    messageEvent(heartbeat(1763700000123, "x", "10.9.9.9", 1), remote, 1, 1763700000124),
  );
  assert.match(forged, /advertised=10\.9\.9\.9:1 \| x$/);
});

Deno.test("formatMessage() escapes hostile text", () => {
  const event = messageEvent(heartbeat(1763700000123, "\x1b[2J\x07\r\n"), remote, 1, 1763700000124);
  const line = formatMessage(event);
  assert.doesNotMatch(line, RAW_CONTROL);
  assert.match(line, /\| \\x1b\[2J\\x07\\r\\n$/);
  assert.equal(event.text, "\x1b[2J\x07\r\n"); // the event keeps the truth; JSON escapes it
});

Deno.test("formatInvalid() names source, size and reason", () => {
  assert.equal(
    formatInvalid({ event: "invalid", from: "127.0.0.2", fromPort: 9, reason: "short", bytes: 17 }),
    "127.0.0.2:9 invalid datagram: 17 bytes, shorter than the 18-byte header",
  );
  assert.equal(
    formatInvalid({
      event: "invalid",
      from: "127.0.0.2",
      fromPort: 9,
      reason: "checksum",
      bytes: 79,
    }),
    "127.0.0.2:9 invalid datagram: 79 bytes, checksum mismatch",
  );
});

Deno.test("formatListening() says where it listens and sends", () => {
  const line = formatListening({
    event: "listening",
    address: "0.0.0.0",
    port: 5005,
    advertise: "127.0.0.1",
    targets: [{ to: "localhost:5006", address: "127.0.0.1", advertise: "127.0.0.1" }],
    intervalS: 2,
  });
  assert.equal(
    line,
    "udpeer listening on 0.0.0.0:5005, advertising 127.0.0.1; sending to localhost:5006 (127.0.0.1) every 2 s; Ctrl-C for the summary",
  );
});

Deno.test("summaryEvent() and formatSummary() give ping's statistics per target and per source", () => {
  const table = new SourceTable();
  const stream = table.stream("127.0.0.1", 5006);
  // Heartbeats 0, 1 and 3 of a 2 s stream, elapsed 0.1, 0.2 and 0.3 ms; 2 was lost.
  for (const [k, ms] of [[0, 0.1], [1, 0.2], [3, 0.3]] as const) {
    stream.record(1e12 + k * 2000, k, 1e12 + k * 2000 + ms);
    table.recordMessage("127.0.0.1");
  }
  table.recordInvalid("127.0.0.1");
  table.stream("127.0.0.1", 5006).invalid++;
  table.recordInvalid("127.0.0.9");
  table.stream("127.0.0.9", 40000).invalid++;
  stream.settle(); // the run's end: slot 2 counts
  const summary = summaryEvent(
    [{
      to: "127.0.0.1:5006",
      address: "127.0.0.1",
      peer: "b",
      sent: 9,
      sendErrors: 0,
      skipped: 0,
      stream,
      silentBeforeHeard: false,
    }],
    table,
    6012.4,
  );
  assert.equal(summary.sent, 9);
  assert.equal(summary.durationMs, 6012);
  assert.deepEqual(
    { ...summary.targets[0]!, elapsedMs: null },
    {
      to: "127.0.0.1:5006",
      address: "127.0.0.1",
      peer: "b",
      sent: 9,
      sendErrors: 0,
      skipped: 0,
      received: 3,
      invalid: 1,
      fromPort: 5006,
      intervalMs: 2000,
      missed: 1,
      lossPercent: 25,
      duplicates: 0,
      reordered: 0,
      jitterMs: 0.012,
      outages: 0,
      outliers: 0,
      elapsedMs: null,
    },
  );
  assert.deepEqual(summary.sources[1], {
    from: "127.0.0.9",
    messages: 0,
    invalid: 1,
    duplicates: 0,
    outliers: 0,
    elapsedMs: null,
    streams: [{
      fromPort: 40000,
      messages: 0,
      invalid: 1,
      intervalMs: null,
      missed: 0,
      lossPercent: 0,
      duplicates: 0,
      reordered: 0,
      jitterMs: 0,
      outages: 0,
      outliers: 0,
      state: "up",
      elapsedMs: null,
    }],
  });
  assert.deepEqual(formatSummary(summary), [
    "",
    "--- b 127.0.0.1:5006 udpeer statistics ---",
    "9 heartbeats sent, 3 received, 1 invalid, 1 missed, 25% loss, 0 send errors, time 6012ms",
    "0 duplicates, 0 reordered, 0 outages, interval 2000 ms, jitter 0.012 ms",
    "elapsed min/avg/max/mdev = 0.100/0.200/0.300/0.082 ms",
    "--- from 127.0.0.9 ---",
    "0 received, 1 invalid, time 6012ms",
  ]);
});

Deno.test("summaryEvent() gives a target never heard 100% loss and an unknown missed count", () => {
  const summary = summaryEvent(
    [{
      to: "127.0.0.1:40049",
      address: "127.0.0.1",
      sent: 6,
      sendErrors: 0,
      skipped: 0,
      stream: undefined,
      silentBeforeHeard: true,
    }],
    new SourceTable(),
    3000,
  );
  const target = summary.targets[0]!;
  assert.deepEqual([target.received, target.missed, target.lossPercent, target.outages], [
    0,
    null,
    100,
    1,
  ]);
  assert.equal(
    formatSummary(summary)[2],
    "6 heartbeats sent, 0 received, 0 invalid, 100% loss (nothing came back), 0 send errors, time 3000ms",
  );
});

Deno.test("formatSilent() and formatBack() name the peer and use singular wording for one", () => {
  assert.equal(
    formatSilent({
      event: "silent",
      from: "127.0.0.1",
      fromPort: 5006,
      peer: "b",
      silentForMs: 500,
      intervalMs: 500,
    }),
    "127.0.0.1:5006 (b) silent: no heartbeat for 0.5 s (1 interval)",
  );
  assert.equal(
    formatBack({ event: "back", from: "127.0.0.1", fromPort: 5006, outageMs: 3000, missed: 1 }),
    "127.0.0.1:5006 back after 3.0 s, 1 heartbeat missed",
  );
});

Deno.test("formatMessage() marks a reordered heartbeat and writeMessageJson() carries it", () => {
  const event = messageEvent(heartbeat(1763700000123), remote, 3, 1763700000123.44);
  event.reordered = true;
  assert.equal(formatMessage(event), "127.0.0.1:5006 count=3 time=0.4 ms (reordered) | hi");
  assert.equal(writtenJson(event), jsonWithTime(event));
  assert.equal(JSON.parse(writtenJson(event)).reordered, true);
});

Deno.test("writeMessageJson() writes the generic JSON line as the source, address, send time and peer change", () => {
  const events = [
    messageEvent(heartbeat(1763700000123), remote, 1, 1763700000123.44),
    messageEvent(
      heartbeat(1763700000124, "hi", "0.0.0.0", 5007),
      { hostname: "::1", port: 5007 },
      1,
      1763700000124.5,
    ),
    messageEvent(heartbeat(1763700000124), remote, 2, 1763700000125),
    messageEvent(heartbeat(1763700000125), { hostname: 'a"b\\c', port: 1 }, 1, 1763700000125),
    { ...messageEvent(heartbeat(1763700000126), remote, 3, 1763700000126), elapsedMs: NaN },
    { ...messageEvent(heartbeat(1763700000126), remote, 4, 1763700000126), peer: "web\u0085" },
    { ...messageEvent(heartbeat(1763700000126), remote, 5, 1763700000126), peer: "web-2" },
    messageEvent(heartbeat(1763700000123), remote, 6, 1763700000123.44),
  ];
  for (const event of events) assert.equal(writtenJson(event), jsonWithTime(event));
});

/** The human message line as plain templates build it: the reference for the written bytes. */
function referenceMessageLine(event: MessageEvent): string {
  const source = joinHostPort(event.from, event.fromPort);
  const name = event.peer === undefined ? source : `${source} (${escapeForTerminal(event.peer)})`;
  return `${name} count=${event.count} time=${event.elapsedMs.toFixed(1)} ms` +
    (event.reordered ? " (reordered)" : "") +
    (event.unit === "s" ? " (sender's clock in whole seconds)" : "") +
    (event.elapsedMs < 0 ? " (negative: the clocks disagree)" : "") +
    (event.advertised === source ? "" : ` advertised=${event.advertised}`) +
    ` | ${escapeForTerminal(event.text)}`;
}

Deno.test("writeMessageHuman() writes the reference line as the source, text, address and peer change", () => {
  const events: MessageEvent[] = [
    messageEvent(heartbeat(1763700000123), remote, 1, 1763700000123.44),
    messageEvent(heartbeat(1763700000124, "\x1b[2Jhé"), remote, 2, 1763700000124.5),
    messageEvent(
      heartbeat(1763700000124, "hi", "0.0.0.0", 5007),
      { hostname: "::1", port: 5007 },
      1,
      1763700000125,
    ),
    { ...messageEvent(heartbeat(1763700000, "hi"), remote, 3, 1763699999000.25), reordered: true },
    { ...messageEvent(heartbeat(1763700000126), remote, 4, 1763700000126), peer: "web\u0085" },
    { ...messageEvent(heartbeat(1763700000126), remote, 5, 1763700000126), peer: "web-2" },
    messageEvent(heartbeat(1763700000123, "\x1b[2Jhé"), remote, 6, 1763700000123.44),
    messageEvent(
      heartbeat(1763700000123),
      { hostname: "127.0.0.2", port: 5006 },
      1,
      1763700000123.44,
    ),
  ];
  for (const event of events) {
    const queue = new ByteQueue(8);
    writeMessageHuman(queue, event);
    assert.equal(new TextDecoder().decode(queue.bytes()), referenceMessageLine(event));
    assert.equal(formatMessage(event), referenceMessageLine(event));
  }
});

Deno.test("formatMessage() names a peers-file target and writeMessageJson() carries it as peer", () => {
  const event = messageEvent(heartbeat(1763700000123), remote, 3, 1763700000123.44);
  event.reordered = true;
  event.peer = "web-1";
  assert.equal(formatMessage(event), "127.0.0.1:5006 (web-1) count=3 time=0.4 ms (reordered) | hi");
  assert.equal(writtenJson(event), jsonWithTime(event));
  assert.equal(JSON.parse(writtenJson(event)).peer, "web-1");
});

Deno.test("formatListening() names peers-file targets and says where the metrics are", () => {
  const line = formatListening({
    event: "listening",
    address: "0.0.0.0",
    port: 5005,
    advertise: "127.0.0.1",
    targets: [
      { to: "127.0.0.1:5006", address: "127.0.0.1", advertise: "127.0.0.1", peer: "b" },
      { to: "localhost:5007", address: "127.0.0.1", advertise: "127.0.0.1" },
    ],
    intervalS: 2,
    metrics: "127.0.0.1:15005",
  });
  assert.equal(
    line,
    "udpeer listening on 0.0.0.0:5005, metrics on http://127.0.0.1:15005/metrics, advertising 127.0.0.1; sending to 127.0.0.1:5006 (b), localhost:5007 (127.0.0.1) every 2 s; Ctrl-C for the summary",
  );
});

Deno.test("formatReload() lists what a reload started and stopped", () => {
  assert.equal(
    formatReload({
      event: "reload",
      added: ["10.0.0.4:5005"],
      removed: [],
      renamed: [],
      targets: 3,
    }),
    "peers reloaded: 3 targets; added 10.0.0.4:5005; removed none; renamed none",
  );
  assert.equal(
    formatReload({
      event: "reload",
      added: [],
      removed: ["a:1", "b\x1b:2"],
      renamed: [],
      targets: 1,
    }),
    "peers reloaded: 1 target; added none; removed a:1, b\\x1b:2; renamed none",
  );
});

Deno.test("formatReload() names each rename, escaped", () => {
  assert.equal(
    formatReload({
      event: "reload",
      added: [],
      removed: [],
      renamed: [
        { target: "192.0.2.10:5005", from: "web-1", to: "web-one" },
        { target: "192.0.2.11:5005", from: null, to: "db\x1b" },
      ],
      targets: 2,
    }),
    "peers reloaded: 2 targets; added none; removed none; renamed 192.0.2.10:5005 web-1 → web-one, 192.0.2.11:5005 (no name) → db\\x1b",
  );
});

Deno.test("formatSummary() says when sources were dropped from the table", () => {
  const table = new SourceTable(1);
  table.recordInvalid("127.0.0.2");
  table.recordInvalid("127.0.0.3");
  const lines = formatSummary(summaryEvent([], table, 10));
  assert.match(lines.at(-1)!, /^1 source dropped from the table/);
});

Deno.test("writeMessageJson() writes the same text as jsonLine() of the event", () => {
  const texts = [
    "",
    "hi",
    '"quoted" \\ back\\slash',
    "\x00\x1b[2J\n\t",
    "\x7f\x80\x9f\u00a0",
    "\u2028\u2029\u202e",
    "héllo wörld 👋",
    "\ud800 lone surrogate",
  ];
  for (const text of texts) {
    for (
      const [timestamp, receivedAtMs] of [
        [1763700000123, 1763700000123.4567],
        [1763700000, 1763699999000.25], // seconds, received "before" it was sent
        [1763700000123456, 1763700000124],
      ] as const
    ) {
      const event = messageEvent(heartbeat(timestamp, text), remote, 7, receivedAtMs);
      assert.equal(writtenJson(event), jsonWithTime(event), JSON.stringify(text));
    }
  }
});

Deno.test("formatSummary() says 1 heartbeat, 1 send error and 1 source in the singular", () => {
  const table = new SourceTable(1);
  table.recordMessage("127.0.0.2");
  table.recordMessage("127.0.0.3"); // drops 127.0.0.2
  const summary = summaryEvent(
    [{
      to: "127.0.0.1:5006",
      address: "127.0.0.1",
      sent: 1,
      sendErrors: 1,
      skipped: 0,
      stream: undefined,
      silentBeforeHeard: true,
    }],
    table,
    1000,
  );
  const lines = formatSummary(summary);
  assert.equal(
    lines[2],
    "1 heartbeat sent, 0 received, 0 invalid, 100% loss (nothing came back), 1 send error, time 1000ms",
  );
  assert.equal(lines.at(-1), "1 source dropped from the table (it keeps the 1 most recently seen)");
});

Deno.test("formatSummary() of a listen-only run with data ends each block's counts with the time", () => {
  const table = new SourceTable();
  table.recordMessage("127.0.0.2");
  const lines = formatSummary(summaryEvent([], table, 2970.2));
  assert.deepEqual(lines.slice(0, 3), [
    "",
    "--- from 127.0.0.2 ---",
    "1 received, 0 invalid, time 2970ms",
  ]);
});

Deno.test("formatInvalid() says 1 byte in the singular", () => {
  assert.equal(
    formatInvalid({ event: "invalid", from: "127.0.0.1", fromPort: 1, reason: "short", bytes: 1 }),
    "127.0.0.1:1 invalid datagram: 1 byte, shorter than the 18-byte header",
  );
});

Deno.test("formatEvent() words a failed send and a failed reload, and echoes no send", () => {
  assert.equal(
    formatEvent({
      event: "error",
      op: "send",
      to: "192.0.2.1:5005",
      message: "Network is unreachable",
    }),
    "Cannot send to 192.0.2.1:5005: Network is unreachable",
  );
  assert.equal(
    formatEvent({ event: "error", op: "reload", peers: "hosts\x1b.txt", message: "No such file" }),
    'Cannot reload --peers "hosts\\x1b.txt": No such file',
  );
  assert.equal(formatEvent({ event: "sent", to: "127.0.0.1:5006", seq: 1, bytes: 79 }), undefined);
});
