/**
 * What the heartbeat peer reports: the `--json` events (README "JSON events") and their human-readable
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
import { plural } from "../common/words.ts";
import {
  HEADER_BYTES,
  type Heartbeat,
  type InvalidReason,
  type TimestampUnit,
} from "../../protocol.ts";
import type { StreamState, StreamStats } from "./health.ts";
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
  /** Address advertised to the first target; with no target `--advertise` or the bound address. */
  advertise: string;
  /** Each target with the address advertised to it, and its name from a peers file. */
  targets: { to: string; address: string; advertise: string; peer?: string }[];
  /** Seconds between heartbeats. */
  intervalS: number;
  /** Where `--metrics` serves `GET /metrics`, `ADDR:PORT`, when it is on. */
  metrics?: string;
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
  let line = `${event.peer === undefined ? source : streamName(event)} count=${event.count} time=${
    event.elapsedMs.toFixed(1)
  } ms`;
  if (event.reordered) line += " (reordered)";
  if (event.unit === "s") line += " (sender's clock in whole seconds)";
  if (event.elapsedMs < 0) line += " (negative: the clocks disagree)";
  if (event.advertised !== source) line += ` advertised=${event.advertised}`;
  return `${line} | ${escapeForTerminal(event.text)}`;
}

/**
 * The `--json` line of a `message` event: the same text as `jsonEventLine(event)`, but built
 * field by field, so that only the text is serialised and scanned for DEL, C1 and the line
 * separators rather than the whole line. A flood of heartbeats spends most of its `--json`
 * cost here: ~0.6 µs a datagram instead of ~1 µs.
 *
 * @param event The `message` event.
 * @param time When it is emitted, ISO 8601.
 * @returns One line of JSON with no raw control character.
 */
export function messageJsonLine(event: MessageEvent, time: string): string {
  // Keys in the order jsonEventLine() gives every event: event, time, then the event's own.
  return '{"event":"message","time":"' + time + '","from":' + JSON.stringify(event.from) +
    ',"fromPort":' + event.fromPort +
    ',"count":' + event.count +
    ',"text":' + jsonLine(event.text) +
    ',"sentAt":' + JSON.stringify(event.sentAt) +
    ',"elapsedMs":' + JSON.stringify(event.elapsedMs) +
    ',"unit":' + JSON.stringify(event.unit) +
    ',"advertised":' + JSON.stringify(event.advertised) +
    ',"bytes":' + event.bytes + (event.reordered ? ',"reordered":true' : "") +
    (event.peer === undefined ? "}" : ',"peer":' + JSON.stringify(event.peer) + "}");
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
  return `${event.from}:${event.fromPort} invalid datagram: ${plural(event.bytes, "byte")}, ${
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
  const metrics = event.metrics === undefined ? "" : `, metrics on http://${event.metrics}/metrics`;
  const listen = `udpeer listening on ${event.address}:${event.port}${metrics}`;
  if (event.targets.length === 0) return `${listen}, not sending (no --to); Ctrl-C to stop`;
  const targets = event.targets.map((target) => {
    const named = target.peer === undefined
      ? target.to
      : `${target.to} (${escapeForTerminal(target.peer)})`;
    return target.to.startsWith(`${target.address}:`) ? named : `${named} (${target.address})`;
  });
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
 * The human line for a duplicate heartbeat.
 *
 * @param event The `duplicate` event.
 * @returns One line naming the source and the repeated send time.
 */
export function formatDuplicate(event: DuplicateEvent): string {
  return `${event.from}:${event.fromPort} duplicate of the heartbeat sent at ${event.sentAt}, not counted`;
}

/** A stream as people name it: `127.0.0.1:5006`, or `127.0.0.1:5006 (b)` for a named peer. */
function streamName(event: { from: string; fromPort: number; peer?: string }): string {
  const source = `${event.from}:${event.fromPort}`;
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
 * import { formatSilent } from "./events.ts";
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
 * import { formatBack } from "./events.ts";
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

/** `10`, `33.3`: a percentage for people, at most one decimal. */
function formatPercent(value: number): string {
  return `${Number(value.toFixed(1))}%`;
}

const round2 = (value: number): number => Math.round(value * 100) / 100;

function roundedElapsed(stats: Parameters<typeof elapsedSummary>[0]): ElapsedSummary | null {
  const elapsed = elapsedSummary(stats);
  return elapsed === null ? null : {
    min: round3(elapsed.min),
    avg: round3(elapsed.avg),
    max: round3(elapsed.max),
    mdev: round3(elapsed.mdev),
  };
}

function healthOf(stream: StreamStats): HealthSummary & { missed: number } {
  const interval = stream.intervalMs;
  return {
    intervalMs: interval === null ? null : round3(interval),
    missed: stream.missed,
    lossPercent: round2(stream.lossPercent),
    duplicates: stream.duplicates,
    reordered: stream.reordered,
    jitterMs: round3(stream.jitterMs),
    outages: stream.outages,
    outliers: stream.outliers,
  };
}

/**
 * Builds the summary event from the run's counters and the source table (see README "What it prints", docs/link-health.md).
 * A target's figures are those of its own stream, never derived from what this peer sent.
 *
 * @param targets Per-target counters and the stream that answers each.
 * @param table The source table with its streams.
 * @param durationMs Length of the run.
 * @param peerOf The target name of a stream, if it is a named target.
 * @returns The `summary` event.
 */
export function summaryEvent(
  targets: readonly TargetCounters[],
  table: SourceTable,
  durationMs: number,
  peerOf: (stream: StreamStats) => string | undefined = () => undefined,
): SummaryEvent {
  const sources = table.all().map((stats): SourceSummary => ({
    from: stats.address,
    messages: stats.messages,
    invalid: stats.invalid,
    duplicates: stats.duplicates,
    outliers: stats.outliers,
    elapsedMs: roundedElapsed(stats),
    streams: table.streamsOf(stats.address).map((stream): StreamSummary => {
      const peer = peerOf(stream);
      return {
        fromPort: stream.port,
        ...(peer === undefined ? {} : { peer }),
        messages: stream.messages,
        invalid: stream.invalid,
        ...healthOf(stream),
        state: stream.state,
        elapsedMs: roundedElapsed(stream),
      };
    }),
  }));
  return {
    event: "summary",
    sent: targets.reduce((sum, target) => sum + target.sent, 0),
    sendErrors: targets.reduce((sum, target) => sum + target.sendErrors, 0),
    dropped: table.dropped,
    droppedStreams: table.droppedStreams,
    durationMs: Math.round(durationMs),
    targets: targets.map((target): TargetSummary => {
      const { stream } = target;
      const heard = stream !== undefined && stream.messages > 0;
      const own = target.silentBeforeHeard ? 1 : 0;
      return {
        to: target.to,
        address: target.address,
        ...(target.peer === undefined ? {} : { peer: target.peer }),
        sent: target.sent,
        sendErrors: target.sendErrors,
        skipped: target.skipped,
        received: stream?.messages ?? 0,
        invalid: stream?.invalid ?? 0,
        fromPort: stream?.port ?? null,
        ...(heard ? { ...healthOf(stream), outages: stream.outages + own } : {
          intervalMs: null,
          missed: null,
          lossPercent: 100,
          duplicates: stream?.duplicates ?? 0,
          reordered: 0,
          jitterMs: 0,
          outages: own,
          outliers: stream?.outliers ?? 0,
        }),
        elapsedMs: stream === undefined ? null : roundedElapsed(stream),
      };
    }),
    sources,
  };
}

function elapsedLine(elapsed: ElapsedSummary | null): string[] {
  return elapsed
    ? [
      `elapsed min/avg/max/mdev = ${
        [elapsed.min, elapsed.avg, elapsed.max, elapsed.mdev].map((v) => v.toFixed(3)).join("/")
      } ms`,
    ]
    : [];
}

/** `0 duplicates, 0 reordered, 1 outage, interval 2000 ms, jitter 0.050 ms`. */
function healthLine(health: HealthSummary): string {
  const interval = health.intervalMs === null
    ? "interval unknown"
    : `interval ${health.intervalMs} ms`;
  // Outliers only when there were some: they are rare, and a sign of a forged datagram.
  const outliers = health.outliers > 0 ? `, ${plural(health.outliers, "outlier")}` : "";
  return `${plural(health.duplicates, "duplicate")}, ${health.reordered} reordered, ${
    plural(health.outages, "outage")
  }${outliers}, ${interval}, jitter ${health.jitterMs.toFixed(3)} ms`;
}

/**
 * The human summary, in the shape of ping's statistics block: one block per target (the
 * figures of the stream that answers it), then one per other source IP with a line per
 * stream that is not a target.
 *
 * @param summary The `summary` event.
 * @returns The lines to print.
 */
export function formatSummary(summary: SummaryEvent): string[] {
  // A blank line first, as ping does, so the block stands apart from the ^C echo.
  const lines: string[] = [""];
  const answering = new Set<string>();
  for (const target of summary.targets) {
    if (target.fromPort !== null) answering.add(`${target.address}:${target.fromPort}`);
    const name = target.peer === undefined
      ? target.to
      : `${escapeForTerminal(target.peer)} ${target.to}`;
    const loss = target.missed === null
      ? `${formatPercent(target.lossPercent)} loss (nothing came back)`
      : `${target.missed} missed, ${formatPercent(target.lossPercent)} loss`;
    lines.push(
      `--- ${name} udpeer statistics ---`,
      `${
        plural(target.sent, "heartbeat")
      } sent, ${target.received} received, ${target.invalid} invalid, ${loss}, ${
        plural(target.sendErrors, "send error")
      }${
        target.skipped > 0 ? `, ${plural(target.skipped, "slot")} skipped (this peer was late)` : ""
      }, time ${summary.durationMs}ms`,
    );
    if (target.missed !== null) lines.push(healthLine(target));
    lines.push(...elapsedLine(target.elapsedMs));
  }
  let others = 0;
  for (const source of summary.sources) {
    const streams = source.streams.filter((stream) =>
      !answering.has(`${source.from}:${stream.fromPort}`)
    );
    if (streams.length === 0 && source.streams.length > 0) continue;
    others++;
    lines.push(
      `--- from ${source.from} ---`,
      // Duplicates only when there were some: they are rare, and never a message.
      `${source.messages} received, ${source.invalid} invalid, ${
        source.duplicates > 0 ? `${plural(source.duplicates, "duplicate")}, ` : ""
      }${
        source.outliers > 0 ? `${plural(source.outliers, "outlier")}, ` : ""
      }time ${summary.durationMs}ms`,
      ...elapsedLine(source.elapsedMs),
    );
    for (const stream of streams) {
      if (stream.messages === 0) continue;
      lines.push(
        `port ${stream.fromPort}: ${stream.messages} received, ${stream.missed} missed, ${
          formatPercent(stream.lossPercent)
        } loss, ${healthLine(stream)}`,
      );
    }
  }
  if (summary.targets.length === 0 && others === 0) {
    lines.push("--- udpeer statistics ---", `nothing received, time ${summary.durationMs}ms`);
  }
  if (summary.dropped > 0) {
    lines.push(
      `${
        plural(summary.dropped, "source")
      } dropped from the table (it keeps the ${summary.sources.length} most recently seen)`,
    );
  }
  return lines;
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
  return `${event.from}:${event.fromPort} heartbeat with an absurd send time (${event.sentAt}), not counted`;
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
 * import { localTimestamp } from "./events.ts";
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
 * import { jsonEventLine } from "./events.ts";
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

/**
 * The human line of any event but the summary (which is {@linkcode formatSummary}'s block).
 *
 * @param event The event.
 * @returns Its line, or undefined for `sent`: sends are not echoed in human mode.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatEvent } from "./events.ts";
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
