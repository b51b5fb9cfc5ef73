/**
 * What the heartbeat peer reports: the `--json` events of SPEC §3 and their human-readable
 * lines. Pure functions of the event, so the formats are tested without a socket.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatMessage, messageEvent } from "./events.ts";
 * import { decodeHeartbeat, encodeHeartbeat } from "../../protocol.ts";
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

import { escapeForTerminal, jsonLine } from "../common/escape.ts";
import {
  HEADER_BYTES,
  type Heartbeat,
  type InvalidReason,
  type TimestampUnit,
} from "../../protocol.ts";
import { type ElapsedSummary, elapsedSummary, type SourceTable } from "./sources.ts";

/** Where a datagram came from, as the socket reports it. */
export interface Remote {
  /** Source IPv4. */
  hostname: string;
  /** Source UDP port. */
  port: number;
}

/** `listening`: the socket is bound. */
export interface ListeningEvent {
  /** Always `"listening"`. */
  event: "listening";
  /** Bound address. */
  address: string;
  /** Bound port (the real one when `--port 0`). */
  port: number;
  /** Address advertised to the first target (or to any, with no target). */
  advertise: string;
  /** Each target with the address advertised to it. */
  targets: { to: string; address: string; advertise: string }[];
  /** Seconds between heartbeats. */
  intervalS: number;
}

/** `waiting`: a `--start-at` in the future; nothing is sent until then. */
export interface WaitingEvent {
  /** Always `"waiting"`. */
  event: "waiting";
  /** When the first heartbeat goes out, ISO 8601. */
  startAt: string;
  /** How long until then, in whole ms. */
  inMs: number;
}

/** `sent`: one heartbeat went out. */
export interface SentEvent {
  /** Always `"sent"`. */
  event: "sent";
  /** The target as given, `HOST:PORT`. */
  to: string;
  /** 1 for the first heartbeat to this target. */
  seq: number;
  /** Datagram length. */
  bytes: number;
}

/** `message`: a valid heartbeat arrived. */
export interface MessageEvent {
  /** Always `"message"`. */
  event: "message";
  /** UDP source IPv4. */
  from: string;
  /** UDP source port. */
  fromPort: number;
  /** Valid messages from this source IP so far, this one included. */
  count: number;
  /** The text, unescaped (JSON escapes it; the human line escapes it for the terminal). */
  text: string;
  /** Send time from the header, ISO 8601. */
  sentAt: string;
  /** Receive time minus send time, in ms (µs precision). */
  elapsedMs: number;
  /** Unit the sender wrote, inferred. */
  unit: TimestampUnit;
  /** The header's `address:port`. */
  advertised: string;
  /** Datagram length. */
  bytes: number;
}

/** `invalid`: a datagram that is not a heartbeat. */
export interface InvalidEvent {
  /** Always `"invalid"`. */
  event: "invalid";
  /** UDP source IPv4. */
  from: string;
  /** UDP source port. */
  fromPort: number;
  /** Why it is not a heartbeat. */
  reason: InvalidReason;
  /** Datagram length. */
  bytes: number;
}

/** `error`: a send failed; the peer goes on. */
export interface ErrorEvent {
  /** Always `"error"`. */
  event: "error";
  /** The target as given. */
  to: string;
  /** What went wrong. */
  message: string;
}

/** One source in the summary. */
export interface SourceSummary {
  /** Source IPv4. */
  from: string;
  /** Valid messages. */
  messages: number;
  /** Invalid datagrams. */
  invalid: number;
  /** Elapsed statistics, null with no valid message. */
  elapsedMs: ElapsedSummary | null;
}

/** One target in the summary. */
export interface TargetSummary {
  /** The target as given. */
  to: string;
  /** Its resolved address. */
  address: string;
  /** Heartbeats sent to it. */
  sent: number;
  /** Sends that failed. */
  sendErrors: number;
  /** Valid messages received from its IP. */
  received: number;
}

/** `summary`: the last event of a run. */
export interface SummaryEvent {
  /** Always `"summary"`. */
  event: "summary";
  /** Heartbeats sent, all targets. */
  sent: number;
  /** Failed sends, all targets. */
  sendErrors: number;
  /** Sources evicted from the bounded table. */
  dropped: number;
  /** Length of the run. */
  durationMs: number;
  /** Per target. */
  targets: TargetSummary[];
  /** Per source IP, least recently seen first. */
  sources: SourceSummary[];
}

/** Every event the peer emits. */
export type PeerEvent =
  | ListeningEvent
  | WaitingEvent
  | SentEvent
  | MessageEvent
  | InvalidEvent
  | ErrorEvent
  | SummaryEvent;

const round3 = (value: number): number => Math.round(value * 1000) / 1000;

// toISOString costs ~370 ns, more than decoding the datagram; under a flood most datagrams
// carry the same millisecond as the one before, so the last string is kept.
let lastIsoMs = NaN;
let lastIso = "";

/** The send time as ISO 8601; a Date keeps whole milliseconds, so the key is truncated. */
function isoString(sentAtMs: number): string {
  const ms = Math.trunc(sentAtMs);
  if (ms !== lastIsoMs) {
    const date = new Date(ms);
    lastIso = Number.isNaN(date.getTime()) ? "invalid date" : date.toISOString();
    lastIsoMs = ms;
  }
  return lastIso;
}

/**
 * Builds the `message` event of a received heartbeat.
 *
 * @param heartbeat The decoded heartbeat.
 * @param remote The UDP source.
 * @param count Valid messages from this source IP so far.
 * @param receivedAtMs Receive time, Unix ms with sub-ms resolution.
 * @returns The event.
 */
export function messageEvent(
  heartbeat: Heartbeat,
  remote: Remote,
  count: number,
  receivedAtMs: number,
): MessageEvent {
  return {
    event: "message",
    from: remote.hostname,
    fromPort: remote.port,
    count,
    text: heartbeat.text,
    sentAt: isoString(heartbeat.sentAtMs),
    elapsedMs: round3(receivedAtMs - heartbeat.sentAtMs),
    unit: heartbeat.unit,
    advertised: `${heartbeat.ipv4}:${heartbeat.port}`,
    bytes: heartbeat.bytes,
  };
}

/**
 * The human line for a received heartbeat: source, count, elapsed time, then the text with
 * every control character escaped.
 *
 * @param event The `message` event.
 * @returns One line, for example `127.0.0.1:5006 count=3 time=0.4 ms | hello`.
 */
export function formatMessage(event: MessageEvent): string {
  const source = `${event.from}:${event.fromPort}`;
  let line = `${source} count=${event.count} time=${event.elapsedMs.toFixed(1)} ms`;
  if (event.unit === "s") line += " (sender's clock in whole seconds)";
  if (event.elapsedMs < 0) line += " (negative: the clocks disagree)";
  if (event.advertised !== source) line += ` advertised=${event.advertised}`;
  return `${line} | ${escapeForTerminal(event.text)}`;
}

/**
 * The `--json` line of a `message` event: the same text as `jsonLine(event)`, but built
 * field by field, so that only the text is serialised and scanned for DEL, C1 and the line
 * separators rather than the whole line. A flood of heartbeats spends most of its `--json`
 * cost here: ~0.6 µs a datagram instead of ~1 µs.
 *
 * @param event The `message` event.
 * @returns One line of JSON with no raw control character.
 */
export function messageJsonLine(event: MessageEvent): string {
  // Keys in the order messageEvent() creates them, which is the order JSON.stringify uses.
  return '{"event":"message","from":' + JSON.stringify(event.from) +
    ',"fromPort":' + event.fromPort +
    ',"count":' + event.count +
    ',"text":' + jsonLine(event.text) +
    ',"sentAt":' + JSON.stringify(event.sentAt) +
    ',"elapsedMs":' + JSON.stringify(event.elapsedMs) +
    ',"unit":' + JSON.stringify(event.unit) +
    ',"advertised":' + JSON.stringify(event.advertised) +
    ',"bytes":' + event.bytes + "}";
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
  return `${event.from}:${event.fromPort} invalid datagram: ${event.bytes} bytes, ${
    reasonText[event.reason]
  }`;
}

/**
 * The human line printed at start.
 *
 * @param event The `listening` event.
 * @returns Where udpeer listens, what it advertises and where it sends.
 */
export function formatListening(event: ListeningEvent): string {
  const listen = `udpeer listening on ${event.address}:${event.port}`;
  if (event.targets.length === 0) return `${listen}, not sending (no --to); Ctrl-C to stop`;
  const targets = event.targets.map((target) =>
    target.to.startsWith(`${target.address}:`) ? target.to : `${target.to} (${target.address})`
  );
  const advertised = [...new Set(event.targets.map((target) => target.advertise))].join(", ");
  return `${listen}, advertising ${advertised}; sending to ${
    targets.join(", ")
  } every ${event.intervalS} s; Ctrl-C for the summary`;
}

/**
 * Builds the `waiting` event of a `--start-at` in the future.
 *
 * @param startAtMs The start, Unix ms.
 * @param nowMs The wall clock now, Unix ms.
 * @returns The event.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { waitingEvent } from "./events.ts";
 * const event = waitingEvent(Date.UTC(2026, 10, 21, 5), Date.UTC(2026, 10, 21, 4, 59, 56, 800));
 * assert.deepEqual(event, { event: "waiting", startAt: "2026-11-21T05:00:00.000Z", inMs: 3200 });
 * ```
 */
export function waitingEvent(startAtMs: number, nowMs: number): WaitingEvent {
  return {
    event: "waiting",
    startAt: new Date(startAtMs).toISOString(),
    inMs: Math.max(0, Math.round(startAtMs - nowMs)),
  };
}

/**
 * A duration for people: `3.2 s`, `4 min 5 s`, `2 h 5 min`, `403 days 2 h`.
 *
 * @param ms The duration.
 * @returns It in the two largest units that matter.
 */
function formatDuration(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const whole = Math.round(s);
  const [days, hours, minutes, seconds] = [
    Math.floor(whole / 86_400),
    Math.floor(whole / 3600) % 24,
    Math.floor(whole / 60) % 60,
    whole % 60,
  ];
  if (days > 0) return `${days} ${days === 1 ? "day" : "days"} ${hours} h`;
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
 * import { formatWaiting } from "./events.ts";
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
 * Builds the summary event from the run's counters and the source table.
 *
 * @param targets Per-target counters (`received` is filled in here).
 * @param table The source table.
 * @param durationMs Length of the run.
 * @returns The `summary` event.
 */
export function summaryEvent(
  targets: Omit<TargetSummary, "received">[],
  table: SourceTable,
  durationMs: number,
): SummaryEvent {
  const sources = table.all().map((stats): SourceSummary => {
    const elapsed = elapsedSummary(stats);
    return {
      from: stats.address,
      messages: stats.messages,
      invalid: stats.invalid,
      elapsedMs: elapsed === null ? null : {
        min: round3(elapsed.min),
        avg: round3(elapsed.avg),
        max: round3(elapsed.max),
        mdev: round3(elapsed.mdev),
      },
    };
  });
  return {
    event: "summary",
    sent: targets.reduce((sum, target) => sum + target.sent, 0),
    sendErrors: targets.reduce((sum, target) => sum + target.sendErrors, 0),
    dropped: table.dropped,
    durationMs: Math.round(durationMs),
    targets: targets.map((target) => ({
      ...target,
      received: table.get(target.address)?.messages ?? 0,
    })),
    sources,
  };
}

/**
 * The human summary, in the shape of ping's statistics block: one block per target, then
 * one per source that is not a target.
 *
 * @param summary The `summary` event.
 * @returns The lines to print.
 */
export function formatSummary(summary: SummaryEvent): string[] {
  // A blank line first, as ping does, so the block stands apart from the ^C echo.
  const lines: string[] = [""];
  const byAddress = new Map(summary.sources.map((source) => [source.from, source]));
  const elapsedLine = (source: SourceSummary | undefined): string[] => {
    const e = source?.elapsedMs;
    return e
      ? [
        `elapsed min/avg/max/mdev = ${
          [e.min, e.avg, e.max, e.mdev].map((v) => v.toFixed(3)).join("/")
        } ms`,
      ]
      : [];
  };
  for (const target of summary.targets) {
    const source = byAddress.get(target.address);
    const loss = target.sent === 0 ? 0 : Math.max(0, 1 - target.received / target.sent);
    lines.push(
      `--- ${target.to} udpeer statistics ---`,
      `${target.sent} heartbeats sent, ${target.received} received, ${
        source?.invalid ?? 0
      } invalid, ${
        Math.round(loss * 100)
      }% loss, ${target.sendErrors} send errors, time ${summary.durationMs}ms`,
      ...elapsedLine(source),
    );
  }
  const targetAddresses = new Set(summary.targets.map((target) => target.address));
  const others = summary.sources.filter((source) => !targetAddresses.has(source.from));
  for (const source of others) {
    lines.push(
      `--- from ${source.from} ---`,
      `${source.messages} received, ${source.invalid} invalid`,
      ...elapsedLine(source),
    );
  }
  if (summary.targets.length === 0 && others.length === 0) {
    lines.push("--- udpeer statistics ---", `nothing received, time ${summary.durationMs}ms`);
  }
  if (summary.dropped > 0) {
    lines.push(
      `${summary.dropped} sources dropped from the table (it keeps the ${summary.sources.length} most recently seen)`,
    );
  }
  return lines;
}
