/**
 * The heartbeat peer's `--json` lines: one object per event, `event` first and `time` (when
 * it was emitted; for a datagram's events, when the datagram arrived) second, with no raw
 * control character (DEL, C1 and the line separators are escaped too).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jsonEventLine } from "./json.ts";
 * assert.equal(
 *   jsonEventLine({ event: "paused", pausedMs: 48400 }, Date.UTC(2026, 11, 2)),
 *   '{"event":"paused","time":"2026-12-02T00:00:00.000Z","pausedMs":48400}',
 * );
 * ```
 *
 * @module
 */

import { jsonLine } from "../../common/escape.ts";
import { memoLast } from "../../common/memo.ts";
import type { ByteQueue } from "../../common/output.ts";
import type { MessageEvent, PeerEvent } from "./types.ts";

const encoder = new TextEncoder();

// The emit time as ISO 8601, as text and as bytes, kept per millisecond like the send time
// (a flood emits many events in one millisecond). A number: memoLast() keeps strings only.
let timeMs = NaN;
let timeText = "";
let timeBytes = new Uint8Array(0);

function keepTime(nowMs: number): void {
  const ms = Math.trunc(nowMs);
  if (ms === timeMs) return;
  timeMs = ms;
  timeText = new Date(ms).toISOString();
  timeBytes = encoder.encode(timeText);
}

/** A string field's JSON bytes, as `jsonLine` writes it, kept while the field repeats. */
const jsonFieldBytes = (): (value: string) => Uint8Array =>
  memoLast((value) => encoder.encode(jsonLine(value)));

// One memo per field: a flood's lines repeat each on its own (the source, the text, the
// advertised address, the send time for a millisecond, the peer's name).
const fromBytes = jsonFieldBytes();
const textBytes = jsonFieldBytes();
const sentAtBytes = jsonFieldBytes();
const advertisedBytes = jsonFieldBytes();
const peerBytes = jsonFieldBytes();

// The fixed pieces of the line, keys in the order jsonEventLine() gives every event: event,
// time, then the event's own as messageEvent() makes them.
const START = encoder.encode('{"event":"message","time":"');
const FROM = encoder.encode('","from":');
const FROM_PORT = encoder.encode(',"fromPort":');
const COUNT = encoder.encode(',"count":');
const TEXT = encoder.encode(',"text":');
const SENT_AT = encoder.encode(',"sentAt":');
const ELAPSED_MS = encoder.encode(',"elapsedMs":');
const UNIT = encoder.encode(',"unit":"');
const ADVERTISED = encoder.encode('","advertised":');
const BYTES = encoder.encode(',"bytes":');
const REORDERED = encoder.encode(',"reordered":true');
const PEER = encoder.encode(',"peer":');
const END = encoder.encode("}");

/**
 * Writes the `--json` line of a `message` event as bytes: the same bytes as
 * `jsonEventLine(event, nowMs)` encoded, but with nothing serialised, escaped or encoded
 * that repeats from the line before (the source, the text, the addresses, the send time),
 * and no string built for the line. A flood of heartbeats spends most of its `--json` cost
 * here (docs/performance.md).
 *
 * @param queue Where the line goes (without its newline): `LineWriter.beginLine()`.
 * @param event The `message` event.
 * @param nowMs When it is emitted, Unix ms.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ByteQueue } from "../../common/output.ts";
 * import { jsonEventLine, writeMessageJson } from "./json.ts";
 * import { messageEvent } from "./types.ts";
 * const event = messageEvent(
 *   { checksum: 0, timestamp: 1, unit: "s", sentAtMs: 1000, ipv4: "127.0.0.1", port: 5006, text: "hi", bytes: 20 },
 *   { hostname: "127.0.0.1", port: 5006 },
 *   1,
 *   1500,
 * );
 * const queue = new ByteQueue();
 * writeMessageJson(queue, event, 1500);
 * assert.equal(new TextDecoder().decode(queue.bytes()), jsonEventLine(event, 1500));
 * ```
 */
export function writeMessageJson(queue: ByteQueue, event: MessageEvent, nowMs: number): void {
  keepTime(nowMs);
  queue.put(START);
  queue.put(timeBytes);
  queue.put(FROM);
  queue.put(fromBytes(event.from));
  // Numbers and the unit's name are ASCII; a finite number prints as JSON prints it.
  queue.put(FROM_PORT);
  queue.putAscii(String(event.fromPort));
  queue.put(COUNT);
  queue.putAscii(String(event.count));
  queue.put(TEXT);
  queue.put(textBytes(event.text));
  queue.put(SENT_AT);
  queue.put(sentAtBytes(event.sentAt));
  queue.put(ELAPSED_MS);
  const elapsed = event.elapsedMs;
  queue.putAscii(Number.isFinite(elapsed) ? String(elapsed) : "null");
  queue.put(UNIT);
  queue.putAscii(event.unit);
  queue.put(ADVERTISED);
  queue.put(advertisedBytes(event.advertised));
  queue.put(BYTES);
  queue.putAscii(String(event.bytes));
  if (event.reordered) queue.put(REORDERED);
  if (event.peer !== undefined) {
    queue.put(PEER);
    queue.put(peerBytes(event.peer));
  }
  queue.put(END);
}

/**
 * The `--json` line of any event, with `time` (ISO 8601 UTC, ms: when it was emitted) right
 * after `event`.
 *
 * @param event The event.
 * @param nowMs When it is emitted, Unix ms.
 * @returns One line of JSON with no raw control character.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jsonEventLine } from "../events.ts";
 * assert.equal(
 *   jsonEventLine({ event: "paused", pausedMs: 48400 }, Date.UTC(2026, 11, 2)),
 *   '{"event":"paused","time":"2026-12-02T00:00:00.000Z","pausedMs":48400}',
 * );
 * ```
 */
export function jsonEventLine(event: PeerEvent, nowMs: number): string {
  const { event: name, ...fields } = event;
  keepTime(nowMs);
  return jsonLine({ event: name, time: timeText, ...fields });
}
