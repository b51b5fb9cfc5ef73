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
import type { MessageEvent, PeerEvent } from "./types.ts";

/**
 * A string as JSON, remembered: a flood's lines repeat the same source and advertised
 * address, and `JSON.stringify` of a short string costs more than comparing it.
 */
class QuotedMemo {
  #raw = "";
  #quoted = '""';
  /** The string as JSON (`JSON.stringify`'s text). */
  of(raw: string): string {
    if (raw !== this.#raw) {
      this.#raw = raw;
      this.#quoted = JSON.stringify(raw);
    }
    return this.#quoted;
  }
}

const fromJson = new QuotedMemo();
const advertisedJson = new QuotedMemo();
const sentAtJson = new QuotedMemo();

/**
 * The `--json` line of a `message` event: the same text as `jsonEventLine(event)`, but built
 * field by field, so that only the text is serialised and scanned for DEL, C1 and the line
 * separators rather than the whole line, and a source, address or send time repeated from
 * the line before is not serialised again. A flood of heartbeats spends most of its
 * `--json` cost here: ~0.6 µs a datagram instead of ~1 µs.
 *
 * @param event The `message` event.
 * @param time When it is emitted, ISO 8601.
 * @returns One line of JSON with no raw control character.
 */
export function messageJsonLine(event: MessageEvent, time: string): string {
  // Keys in the order jsonEventLine() gives every event: event, time, then the event's own.
  // The unit is one of four names and a finite number prints as JSON does: neither needs
  // JSON.stringify.
  const elapsed = event.elapsedMs;
  return '{"event":"message","time":"' + time + '","from":' + fromJson.of(event.from) +
    ',"fromPort":' + event.fromPort +
    ',"count":' + event.count +
    ',"text":' + jsonLine(event.text) +
    ',"sentAt":' + sentAtJson.of(event.sentAt) +
    ',"elapsedMs":' + (Number.isFinite(elapsed) ? elapsed : "null") +
    ',"unit":"' + event.unit +
    '","advertised":' + advertisedJson.of(event.advertised) +
    ',"bytes":' + event.bytes + (event.reordered ? ',"reordered":true' : "") +
    (event.peer === undefined ? "}" : ',"peer":' + JSON.stringify(event.peer) + "}");
}

// The emit time as ISO 8601, kept per millisecond like the send time (a flood emits many
// events in one millisecond).
let lastTimeMs = NaN;
let lastTime = "";

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
  const ms = Math.trunc(nowMs);
  if (ms !== lastTimeMs) {
    lastTime = new Date(ms).toISOString();
    lastTimeMs = ms;
  }
  if (event.event === "message") return messageJsonLine(event, lastTime);
  const { event: name, ...fields } = event;
  return jsonLine({ event: name, time: lastTime, ...fields });
}
