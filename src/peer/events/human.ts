/**
 * The heartbeat peer's human lines: one per event (the summary's block is in
 * `summary.ts`). Text from the network is escaped for the terminal; pure functions of the
 * event, so each wording is tested without a socket.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatMessage } from "./human.ts";
 * import { messageEvent } from "./types.ts";
 * import { decodeHeartbeat, encodeHeartbeat } from "../../../protocol.ts";
 * const result = decodeHeartbeat(
 *   encodeHeartbeat({ timestamp: 1763700000123, ipv4: "127.0.0.1", port: 5006, text: "hi" }),
 * );
 * if (!result.ok) throw new Error(result.reason);
 * const event = messageEvent(result.heartbeat, { hostname: "127.0.0.1", port: 5006 }, 3, 1763700000123.4);
 * assert.ok(formatMessage(event) === "127.0.0.1:5006 count=3 time=0.4 ms | hi");
 * ```
 *
 * @module
 */

import { formatHost, joinHostPort, joinHostPortMemo } from "../../common/endpoint.ts";
import { escapeForTerminal } from "../../common/escape.ts";
import { memoLast } from "../../common/memo.ts";
import { ByteQueue, NOTHING, type Printed, toStderr, toStdout } from "../../common/output.ts";
import { plural } from "../../common/words.ts";
import { formatSummary } from "./summary.ts";
import { HEADER_BYTES, type InvalidReason } from "../../../protocol.ts";
import type {
  BackEvent,
  DuplicateEvent,
  ErrorEvent,
  InvalidEvent,
  ListeningEvent,
  MessageEvent,
  OutlierEvent,
  PausedEvent,
  PeerEvent,
  ReloadEvent,
  SilentEvent,
  SummaryEvent,
  WaitingEvent,
} from "./types.ts";

/**
 * The human line for a received heartbeat: source, count, elapsed time, then the text with
 * every control character escaped.
 *
 * @param event The `message` event.
 * @returns One line, for example `127.0.0.1:5006 count=3 time=0.4 ms | hello`.
 */
export function formatMessage(event: MessageEvent): string {
  // One rule for the line: the bytes the receive path writes, read back.
  const queue = new ByteQueue(256);
  writeMessageHuman(queue, event);
  return decoder.decode(queue.bytes());
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// Called for every heartbeat printed: a flood comes from one source, with one text.
const joinSource = joinHostPortMemo();
const nameBytes = memoLast((name) => encoder.encode(name));
const advertisedBytes = memoLast((address) => encoder.encode(address));
const textBytes = memoLast((text) => encoder.encode(escapeForTerminal(text)));

const COUNT = encoder.encode(" count=");
const TIME = encoder.encode(" time=");
const MS = encoder.encode(" ms");
const REORDERED = encoder.encode(" (reordered)");
const WHOLE_SECONDS = encoder.encode(" (sender's clock in whole seconds)");
const NEGATIVE = encoder.encode(" (negative: the clocks disagree)");
const ADVERTISED = encoder.encode(" advertised=");
const BEFORE_TEXT = encoder.encode(" | ");

/**
 * Writes the human line of a `message` event ({@linkcode formatMessage}) as bytes, with
 * nothing joined, escaped or encoded that repeats from the line before (the source, the
 * text), and no string built for the line: the receive path's form of it.
 *
 * @param queue Where the line goes (without its newline): `LineWriter.beginLine()`.
 * @param event The `message` event.
 */
export function writeMessageHuman(queue: ByteQueue, event: MessageEvent): void {
  const source = joinSource(event.from, event.fromPort);
  queue.put(nameBytes(event.peer === undefined ? source : streamName(event)));
  queue.put(COUNT);
  queue.putAscii(String(event.count));
  queue.put(TIME);
  queue.putAscii(event.elapsedMs.toFixed(1));
  queue.put(MS);
  if (event.reordered) queue.put(REORDERED);
  if (event.unit === "s") queue.put(WHOLE_SECONDS);
  if (event.elapsedMs < 0) queue.put(NEGATIVE);
  if (event.advertised !== source) {
    queue.put(ADVERTISED);
    queue.put(advertisedBytes(event.advertised));
  }
  queue.put(BEFORE_TEXT);
  queue.put(textBytes(event.text));
}

const reasonText: Record<InvalidReason, string> = {
  short: `shorter than the ${HEADER_BYTES}-byte header`,
  checksum: "checksum mismatch",
};

/**
 * The human line for an invalid datagram.
 *
 * @param event The `invalid` event.
 * @returns One line naming source, size and reason.
 */
export function formatInvalid(event: InvalidEvent): string {
  return `${joinHostPort(event.from, event.fromPort)} invalid datagram: ${
    plural(event.bytes, "byte")
  }, ${reasonText[event.reason]}`;
}

/**
 * The human line printed at start.
 *
 * @param event The `listening` event.
 * @returns Where udpeer listens, what it advertises and where it sends.
 */
export function formatListening(event: ListeningEvent): string {
  const metrics = event.metrics === undefined ? "" : `, metrics on http://${event.metrics}/metrics`;
  const batch = event.receiveBatch === undefined
    ? ""
    : ` (reading up to ${event.receiveBatch} datagrams per system call)`;
  const listen = `udpeer listening on ${joinHostPort(event.address, event.port)}${batch}${metrics}`;
  if (event.targets.length === 0) return `${listen}, not sending (no --to); Ctrl-C to stop`;
  const targets = event.targets.map((target) => {
    const named = target.peer === undefined
      ? target.to
      : `${target.to} (${escapeForTerminal(target.peer)})`;
    return target.to.startsWith(`${formatHost(target.address)}:`)
      ? named
      : `${named} (${target.address})`;
  });
  const advertised = [...new Set(event.targets.map((target) => target.advertise))].join(", ");
  return `${listen}, advertising ${advertised}; sending to ${
    targets.join(", ")
  } every ${event.intervalS} s; Ctrl-C for the summary`;
}

/**
 * A duration for people: `3.2 s`, `4 min 5 s`, `2 h 5 min`, `403 days 2 h`.
 *
 * @param ms The duration.
 * @returns It in the two largest units that matter.
 */
export function formatDuration(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const whole = Math.round(s);
  const [days, hours, minutes, seconds] = [
    Math.floor(whole / 86_400),
    Math.floor(whole / 3600) % 24,
    Math.floor(whole / 60) % 60,
    whole % 60,
  ];
  if (days > 0) return `${plural(days, "day")} ${hours} h`;
  if (hours > 0) return `${hours} h ${minutes} min`;
  return `${minutes} min ${seconds} s`;
}

/**
 * The human line for a future `--start-at`: the UTC time of day (with the date when it is
 * a day or more away) and how long until then.
 *
 * @param event The `waiting` event.
 * @returns For example `waiting until 05:00:00Z (in 3.2 s)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatWaiting } from "../events.ts";
 * const line = formatWaiting({ event: "waiting", startAt: "2026-11-21T05:00:00.000Z", inMs: 3200 });
 * assert.equal(line, "waiting until 05:00:00Z (in 3.2 s)");
 * ```
 */
export function formatWaiting(event: WaitingEvent): string {
  // Milliseconds only when the start has them.
  const iso = event.startAt.replace(/\.000Z$/, "Z");
  const when = event.inMs < 86_400_000 ? iso.slice(11) : iso.replace("T", " ");
  return `waiting until ${when} (in ${formatDuration(event.inMs)})`;
}

/**
 * The human line for a duplicate heartbeat.
 *
 * @param event The `duplicate` event.
 * @returns One line naming the source and the repeated send time.
 */
export function formatDuplicate(event: DuplicateEvent): string {
  return `${
    joinHostPort(event.from, event.fromPort)
  } duplicate of the heartbeat sent at ${event.sentAt}, not counted`;
}

/** A stream as people name it: `127.0.0.1:5006`, or `127.0.0.1:5006 (b)` for a named peer. */
function streamName(event: { from: string; fromPort: number; peer?: string }): string {
  const source = joinHostPort(event.from, event.fromPort);
  return event.peer === undefined ? source : `${source} (${escapeForTerminal(event.peer)})`;
}

/**
 * The human line for a stream gone silent.
 *
 * @param event The `silent` event.
 * @returns For example `127.0.0.1:5006 silent: no heartbeat for 6.0 s (3 intervals)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatSilent } from "../events.ts";
 * const line = formatSilent({
 *   event: "silent", from: "127.0.0.1", fromPort: 5006, silentForMs: 6000, intervalMs: 2000,
 * });
 * assert.equal(line, "127.0.0.1:5006 silent: no heartbeat for 6.0 s (3 intervals)");
 * ```
 */
export function formatSilent(event: SilentEvent): string {
  const intervals = Math.round(event.silentForMs / event.intervalMs);
  return `${streamName(event)} silent: no heartbeat for ${
    (event.silentForMs / 1000).toFixed(1)
  } s (${plural(intervals, "interval")})`;
}

/**
 * The human line for a stream heard again after being silent.
 *
 * @param event The `back` event.
 * @returns For example `127.0.0.1:5006 back after 14.0 s, 6 heartbeats missed`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatBack } from "../events.ts";
 * const line = formatBack({
 *   event: "back", from: "127.0.0.1", fromPort: 5006, outageMs: 14000, missed: 6,
 * });
 * assert.equal(line, "127.0.0.1:5006 back after 14.0 s, 6 heartbeats missed");
 * ```
 */
export function formatBack(event: BackEvent): string {
  return `${streamName(event)} back after ${formatDuration(event.outageMs)}, ${
    plural(event.missed, "heartbeat")
  } missed`;
}

/**
 * The human line for a reload of the peers file.
 *
 * @param event The `reload` event.
 * @returns One line, for example `peers reloaded: 3 targets; added 10.0.0.4:5005; removed none;
 * renamed none`.
 */
export function formatReload(event: ReloadEvent): string {
  const list = (items: string[]): string =>
    items.length === 0 ? "none" : escapeForTerminal(items.join(", "));
  const renamed = event.renamed.map(({ target, from, to }) =>
    `${target} ${from ?? "(no name)"} → ${to ?? "(no name)"}`
  );
  return `peers reloaded: ${plural(event.targets, "target")}; added ${list(event.added)}; removed ${
    list(event.removed)
  }; renamed ${list(renamed)}`;
}

/**
 * The human line of an `error` event: a failed send, or a peers file not read again.
 *
 * @param event The error.
 * @returns The line, without the `udpeer: ` that stderr adds.
 */
export function formatError(event: ErrorEvent): string {
  switch (event.op) {
    case "send":
      return `Cannot send to ${event.to}: ${event.message}`;
    case "resolve":
      return `Cannot resolve ${event.to}: ${event.message}`;
    case "receive":
      return `Cannot receive on ${event.address}: ${event.message}`;
    case "metrics":
      return `Metrics server on ${event.address}: ${event.message}`;
    case "reload":
      return `Cannot reload --peers "${escapeForTerminal(event.peers ?? "")}": ${event.message}`;
  }
}

/**
 * The human line for an outlier.
 *
 * @param event The `outlier` event.
 * @returns One line naming the source and the absurd send time.
 */
export function formatOutlier(event: OutlierEvent): string {
  return `${
    joinHostPort(event.from, event.fromPort)
  } heartbeat with an absurd send time (${event.sentAt}), not counted`;
}

/**
 * The human line for this peer's own pause.
 *
 * @param event The `paused` event.
 * @returns For example `udpeer itself was paused for 48.4 s; the pause is left out of the figures`.
 */
export function formatPaused(event: PausedEvent): string {
  return `udpeer itself was paused for ${
    formatDuration(event.pausedMs)
  } (stopped, suspended or blocked); no link is blamed for it, and the figures leave it out`;
}

/** The events whose human lines start with the date and time: what changed, and when. */
export const STAMPED_EVENTS: ReadonlySet<PeerEvent["event"]> = new Set([
  "silent",
  "back",
  "paused",
  "reload",
  "error",
]);

/**
 * The local date and time at the start of a state-change line: `2026-12-02 01:23:45.678`.
 *
 * @param ms Unix ms.
 * @returns The local date and time, to the millisecond.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { localTimestamp } from "../events.ts";
 * assert.match(localTimestamp(Date.UTC(2026, 11, 2, 1, 2, 3, 45)), /^2026-12-0[12] \d\d:\d2:03\.045$/);
 * ```
 */
export function localTimestamp(ms: number): string {
  const d = new Date(ms);
  const two = (n: number): string => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${
    two(d.getMinutes())
  }:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

/**
 * The human line of any event but the summary (which is {@linkcode formatSummary}'s block).
 *
 * @param event The event.
 * @returns Its line, or undefined for `sent`: sends are not echoed in human mode.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatEvent } from "../events.ts";
 * assert.equal(formatEvent({ event: "sent", to: "127.0.0.1:5006", seq: 1, bytes: 79 }), undefined);
 * ```
 */
export function formatEvent(event: Exclude<PeerEvent, SummaryEvent>): string | undefined {
  switch (event.event) {
    case "listening":
      return formatListening(event);
    case "message":
      return formatMessage(event);
    case "duplicate":
      return formatDuplicate(event);
    case "outlier":
      return formatOutlier(event);
    case "paused":
      return formatPaused(event);
    case "invalid":
      return formatInvalid(event);
    case "waiting":
      return formatWaiting(event);
    case "silent":
      return formatSilent(event);
    case "back":
      return formatBack(event);
    case "reload":
      return formatReload(event);
    case "error":
      return formatError(event);
    case "sent":
      return undefined;
  }
}

/**
 * What the peer prints for an event, in the shape every subcommand prints: the summary's
 * block on stdout, an error on stderr (after `udpeer: `), any other line on stdout.
 *
 * @param event The event.
 * @returns The lines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { printEvent } from "./human.ts";
 * const printed = printEvent({ event: "error", op: "send", to: "192.0.2.1:5005", message: "Network is unreachable" });
 * assert.deepEqual(printed.stderr, ["udpeer: Cannot send to 192.0.2.1:5005: Network is unreachable"]);
 * ```
 */
export function printEvent(event: PeerEvent): Printed {
  if (event.event === "summary") return toStdout(...formatSummary(event));
  const text = formatEvent(event);
  if (text === undefined) return NOTHING;
  return event.event === "error" ? toStderr(`udpeer: ${text}`) : toStdout(text);
}
