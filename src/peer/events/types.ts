/**
 * The heartbeat peer's events: what each `--json` line holds (README "JSON events"), and
 * the builders of the events made from a datagram or a time. The human lines are in
 * `human.ts`, the JSON lines in `json.ts`, the summary in `summary.ts`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { waitingEvent } from "./types.ts";
 * const event = waitingEvent(Date.UTC(2026, 10, 21, 5), Date.UTC(2026, 10, 21, 4, 59, 56, 800));
 * assert.equal(event.inMs, 3200);
 * ```
 *
 * @module
 */

import type { Heartbeat, InvalidReason, TimestampUnit } from "../../../protocol.ts";
import type { StreamState, StreamStats } from "../health.ts";
import type { ElapsedSummary } from "../sources.ts";
import { advertisedEndpoint } from "../advertise.ts";

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
  /** Address advertised to the first target; with no target `--advertise` or the bound address. */
  advertise: string;
  /** Each target with the address advertised to it, and its name from a peers file. */
  targets: { to: string; address: string; advertise: string; peer?: string }[];
  /** Seconds between heartbeats. */
  intervalS: number;
  /** Where `--metrics` serves `GET /metrics`, `ADDR:PORT`, when it is on. */
  metrics?: string;
  /**
   * Datagrams read per system call at most, when more than one: with `--allow-ffi` on Linux
   * udpeer reads the socket with `recvmmsg` (src/common/batch_receive.ts).
   */
  receiveBatch?: number;
  /** This peer's name: `--name`, its own line in the peers file, or the host (src/peer/fleet.ts). */
  name?: string;
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
  /** Present and true when it is older than the newest heartbeat of its stream (see docs/link-health.md). */
  reordered?: true;
  /** The name of the target this stream answers, from a peers file. */
  peer?: string;
}

/** `duplicate`: a heartbeat seen before (same timestamp and checksum); not a message. */
export interface DuplicateEvent {
  /** Always `"duplicate"`. */
  event: "duplicate";
  /** UDP source IPv4. */
  from: string;
  /** UDP source port. */
  fromPort: number;
  /** Send time from the header, ISO 8601. */
  sentAt: string;
  /** Datagram length. */
  bytes: number;
}

/** `silent`: a stream (or a target never heard) has been quiet for `--down-after` intervals. */
export interface SilentEvent {
  /** Always `"silent"`. */
  event: "silent";
  /** Source IPv4 of the stream, or the target's address. */
  from: string;
  /** Source port of the stream, or the target's port. */
  fromPort: number;
  /** The target's name, when the stream is a named target. */
  peer?: string;
  /** The quiet time that made it silent: `--down-after` × its interval. */
  silentForMs: number;
  /** The stream's interval (a target never heard: this peer's own interval). */
  intervalMs: number;
}

/** `back`: a silent stream is heard again. */
export interface BackEvent {
  /** Always `"back"`. */
  event: "back";
  /** Source IPv4 of the stream. */
  from: string;
  /** Source port of the stream. */
  fromPort: number;
  /** The target's name, when the stream is a named target. */
  peer?: string;
  /** Time from the last heartbeat before the outage to this one. */
  outageMs: number;
  /** Heartbeats missed in the outage, from the gap in send timestamps. */
  missed: number;
}

/** `outlier`: a heartbeat whose timestamp is absurd for its stream; counted, moves nothing. */
export interface OutlierEvent {
  /** Always `"outlier"`. */
  event: "outlier";
  /** UDP source address. */
  from: string;
  /** UDP source port. */
  fromPort: number;
  /** Send time from the header, ISO 8601 (`invalid date` when out of range). */
  sentAt: string;
  /** Datagram length. */
  bytes: number;
}

/** `paused`: this peer itself was stopped, suspended or blocked; no link is blamed for it. */
export interface PausedEvent {
  /** Always `"paused"`. */
  event: "paused";
  /** How long its timers were held up, in whole ms. */
  pausedMs: number;
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

/** What an `error` event's operation was. */
export type ErrorOp = "send" | "receive" | "resolve" | "reload" | "metrics";

/** `error`: an operation failed; the peer goes on. */
export interface ErrorEvent {
  /** Always `"error"`. */
  event: "error";
  /** The operation that failed. */
  op: ErrorOp;
  /** The target as given (a send or a name lookup failed). */
  to?: string;
  /** The peers file (it could not be read again on SIGHUP; the old list stays). */
  peers?: string;
  /** The local address (receive, metrics). */
  address?: string;
  /** What went wrong. */
  message: string;
}

/** `reload`: SIGHUP read the peers file again (see docs/many-hosts.md). */
export interface ReloadEvent {
  /** Always `"reload"`. */
  event: "reload";
  /** Targets started, `HOST:PORT`. */
  added: string[];
  /** Targets stopped, `HOST:PORT`. */
  removed: string[];
  /** Kept targets whose name changed. */
  renamed: { target: string; from: string | null; to: string | null }[];
  /** Targets now, `--to` ones included. */
  targets: number;
}

/** The health figures of a stream as the summary gives them (see docs/link-health.md). */
export interface HealthSummary {
  /** Inferred interval in ms, null until two distinct timestamps arrived. */
  intervalMs: number | null;
  /** Missed heartbeats; null for a target never heard (its interval is unknown). */
  missed: number | null;
  /** Missed / expected × 100, two decimals; 100 for a target never heard. */
  lossPercent: number;
  /** Duplicates (not counted as messages). */
  duplicates: number;
  /** Reordered heartbeats (counted as messages). */
  reordered: number;
  /** RFC 3550 jitter, ms. */
  jitterMs: number;
  /** Times it went silent. */
  outages: number;
  /** Heartbeats with an absurd timestamp, counted apart. */
  outliers: number;
}

/** One stream of a source in the summary. */
export interface StreamSummary extends HealthSummary {
  /** Source UDP port. */
  fromPort: number;
  /** The target's name, when the stream is a named target. */
  peer?: string;
  /** Distinct valid heartbeats. */
  messages: number;
  /** Invalid datagrams. */
  invalid: number;
  /** Missed heartbeats. */
  missed: number;
  /** `up` or `silent` at the time of the summary. */
  state: StreamState;
  /** Elapsed statistics, null with no valid message. */
  elapsedMs: ElapsedSummary | null;
}

/** One source in the summary. */
export interface SourceSummary {
  /** Source IPv4. */
  from: string;
  /** Valid messages. */
  messages: number;
  /** Invalid datagrams. */
  invalid: number;
  /** Repeated heartbeats, not counted as messages. */
  duplicates: number;
  /** Heartbeats with an absurd timestamp, not counted as messages. */
  outliers: number;
  /** Elapsed statistics, null with no valid message. */
  elapsedMs: ElapsedSummary | null;
  /** Its streams, one per source port. */
  streams: StreamSummary[];
}

/** One target in the summary: its sends, and the health of the stream that answers it. */
export interface TargetSummary extends HealthSummary {
  /** The target as given. */
  to: string;
  /** Its resolved address. */
  address: string;
  /** Its name (from a peers file), if it has one. */
  peer?: string;
  /** Heartbeats sent to it. */
  sent: number;
  /** Sends that failed. */
  sendErrors: number;
  /** Slots of the send grid skipped because a tick came late. */
  skipped: number;
  /** Distinct valid heartbeats from its stream. */
  received: number;
  /** Invalid datagrams from its stream. */
  invalid: number;
  /** UDP source port of its stream, null if never heard. */
  fromPort: number | null;
  /** Elapsed statistics of its stream, null if never heard. */
  elapsedMs: ElapsedSummary | null;
}

/** What the summary needs to know about a target (see {@linkcode summaryEvent}). */
export interface TargetCounters {
  /** The target as given. */
  to: string;
  /** Its resolved address. */
  address: string;
  /** Its name, if it has one. */
  peer?: string | undefined;
  /** Heartbeats sent to it. */
  sent: number;
  /** Sends that failed. */
  sendErrors: number;
  /** Slots of the send grid skipped. */
  skipped: number;
  /** The stream that answers it, if any (by source address and port, else advertised). */
  stream: StreamStats | undefined;
  /** Whether it was reported silent before it was ever heard (an outage of its own). */
  silentBeforeHeard: boolean;
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
  /** Streams evicted from the bounded table. */
  droppedStreams: number;
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
  | DuplicateEvent
  | OutlierEvent
  | PausedEvent
  | InvalidEvent
  | SilentEvent
  | BackEvent
  | ErrorEvent
  | ReloadEvent
  | SummaryEvent;

/** Rounds to 3 decimals (µs in ms). */
export const round3 = (value: number): number => Math.round(value * 1000) / 1000;

// toISOString costs ~370 ns, more than decoding the datagram; under a flood most datagrams
// carry the same millisecond as the one before, so the last string is kept.
let lastIsoMs = NaN;
let lastIso = "";

/**
 * A send time as the events give it, ISO 8601 (`invalid date` out of range); a Date keeps
 * whole milliseconds, so the cache's key is truncated.
 *
 * @param sentAtMs Unix ms.
 * @returns The ISO 8601 text.
 */
export function isoString(sentAtMs: number): string {
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
    advertised: advertisedEndpoint(heartbeat.ipv4, heartbeat.port, remote.hostname),
    bytes: heartbeat.bytes,
  };
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
 * import { waitingEvent } from "../events.ts";
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
