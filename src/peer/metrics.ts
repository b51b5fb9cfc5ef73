/**
 * The peer's figures in the Prometheus text exposition format 0.0.4 (see docs/many-hosts.md): a pure
 * renderer from a read-only snapshot, so the format is tested without a socket, and the
 * one-way delay histogram the receive path feeds.
 *
 * Names follow the Prometheus naming guide: prefix `udpeer_`, base units (seconds), `_total`
 * on counters. `source` is a stream's `IP:PORT`; a stream that is a `--to` or peers-file
 * target also carries `target` (`HOST:PORT` as given) and, when the peers file names it,
 * `peer`. Series are bounded whatever arrives: targets always, other streams up to
 * `maxSources` most recently heard, the rest summed under `source="other"`, so a flood of
 * forged sources cannot blow up a Prometheus server.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boundStreams, newDelayHistogram, observeDelay, renderMetrics } from "./metrics.ts";
 * const delay = newDelayHistogram();
 * observeDelay(delay, 0.0004);
 * const stream = {
 *   source: "127.0.0.1:5006", target: "127.0.0.1:5006", peer: "b", received: 3, missed: 1,
 *   duplicates: 0, reordered: 0, outliers: 0, up: true, jitterSeconds: 0.00002, lossRatio: 0.25,
 *   lastHeartbeatSeconds: 1763700000.5, delay,
 * };
 * const text = renderMetrics({
 *   version: "0.1.0",
 *   targets: [{ target: "127.0.0.1:5006", peer: "b", sent: 4, sendErrors: 0, skipped: 0 }],
 *   ...boundStreams([stream], [], 1000),
 *   invalid: { short: 0, checksum: 2 },
 *   sourcesEvicted: 0,
 * });
 * assert.ok(text.includes('udpeer_peer_up{source="127.0.0.1:5006",target="127.0.0.1:5006",peer="b"} 1\n'));
 * assert.ok(text.includes('udpeer_invalid_datagrams_total{reason="checksum"} 2\n'));
 * ```
 *
 * @module
 */

/** Content-Type of the text exposition format this module writes. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Default of `--metrics-max-sources`: other streams given their own series. */
export const DEFAULT_MAX_SOURCES = 1_000;

/**
 * Upper bounds of the one-way delay buckets, in seconds. The first is 0: a heartbeat that
 * arrives "before" it was sent lands there, so `le="0"` counts what the clocks disagree on.
 * From 100 µs (loopback) to 10 s (a satellite link with queues), roughly ×2.5 a step.
 */
export const DELAY_BUCKETS_SECONDS: readonly number[] = [
  0,
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** Observations of the one-way delay of one stream (or of a sum of streams). */
export interface DelayHistogram {
  /** Observations per bucket, not cumulative; the last slot is above the last bound (+Inf). */
  counts: number[];
  /** Sum of the observations, in seconds (negative ones included, as they are). */
  sum: number;
  /** Number of observations. */
  count: number;
}

/** The figures of one stream (one UDP source IP and port), as the metrics show them. */
export interface StreamMetrics {
  /** `IP:PORT` of the stream. */
  source: string;
  /** `HOST:PORT` of the target this stream belongs to, if it is one. */
  target?: string;
  /** The target's name from the peers file, if it has one. */
  peer?: string;
  /** Distinct valid heartbeats received (duplicates not counted). */
  received: number;
  /** Heartbeats missed (see docs/link-health.md). */
  missed: number;
  /** Duplicates received. */
  duplicates: number;
  /** Heartbeats received out of order. */
  reordered: number;
  /** Heartbeats with an absurd timestamp (counted, moving nothing else). */
  outliers: number;
  /** Heard within `--down-after` of its intervals (false when silent or never heard). */
  up: boolean;
  /** RFC 3550 interarrival jitter, in seconds. */
  jitterSeconds: number;
  /** Missed over expected, 0..1 (lossPercent / 100, docs/link-health.md). */
  lossRatio: number;
  /** Unix time of the last valid heartbeat, in seconds; 0 if none. */
  lastHeartbeatSeconds: number;
  /** One-way delay observations. */
  delay: DelayHistogram;
}

/** The counters of the streams that get no series of their own, summed. */
export interface OtherStreams {
  /** How many streams are summed. */
  streams: number;
  /** Sum of their `received`. */
  received: number;
  /** Sum of their `missed`. */
  missed: number;
  /** Sum of their `duplicates`. */
  duplicates: number;
  /** Sum of their `reordered`. */
  reordered: number;
  /** Sum of their `outliers`. */
  outliers: number;
  /** Their delay histograms, added. */
  delay: DelayHistogram;
}

/** What the peer sent to one target. */
export interface TargetMetrics {
  /** `HOST:PORT` as given. */
  target: string;
  /** Its name from the peers file, if any. */
  peer?: string;
  /** Heartbeats sent. */
  sent: number;
  /** Sends that failed. */
  sendErrors: number;
  /** Slots of the send grid skipped because a tick came late. */
  skipped: number;
}

/** Everything one scrape shows: a read-only view, built by the peer at scrape time. */
export interface MetricsSnapshot {
  /** udpeer's version, for `udpeer_build_info`. */
  version: string;
  /** Every target. */
  targets: readonly TargetMetrics[];
  /** Streams with their own series: the targets' first, then the most recent others. */
  streams: readonly StreamMetrics[];
  /** The rest, summed under `source="other"`; undefined when there is none. */
  other: OtherStreams | undefined;
  /** Invalid datagrams by reason. */
  invalid: Readonly<Record<string, number>>;
  /** Sources dropped from the bounded table so far. */
  sourcesEvicted: number;
  /**
   * Who this peer is, for `udpeer_info{name,address}`: its name and the `IP:PORT` the others
   * see as its `source` (src/peer/fleet.ts). Left out when undefined.
   */
  info?: { name: string; address: string } | undefined;
  /** Unix time the process started, for `process_start_time_seconds`; left out when undefined. */
  processStartTimeSeconds?: number | undefined;
}

/**
 * Creates an empty delay histogram.
 *
 * @returns A histogram with no observation.
 */
export function newDelayHistogram(): DelayHistogram {
  return { counts: new Array(DELAY_BUCKETS_SECONDS.length + 1).fill(0), sum: 0, count: 0 };
}

/**
 * Adds one observation. Cheap enough for the receive path: a scan of 17 bounds, most
 * delays stop in the first few.
 *
 * @param histogram The histogram to update.
 * @param seconds The one-way delay (receive time minus send time), possibly negative.
 */
export function observeDelay(histogram: DelayHistogram, seconds: number): void {
  let index = 0;
  while (index < DELAY_BUCKETS_SECONDS.length && seconds > DELAY_BUCKETS_SECONDS[index]!) index++;
  histogram.counts[index]!++;
  histogram.sum += seconds;
  histogram.count++;
}

function addHistogram(into: DelayHistogram, from: DelayHistogram): void {
  for (let i = 0; i < into.counts.length; i++) into.counts[i]! += from.counts[i] ?? 0;
  into.sum += from.sum;
  into.count += from.count;
}

/**
 * Creates an empty sum of streams for `source="other"`.
 *
 * @returns A sum of no stream.
 */
export function newOtherStreams(): OtherStreams {
  return {
    streams: 0,
    received: 0,
    missed: 0,
    duplicates: 0,
    reordered: 0,
    outliers: 0,
    delay: newDelayHistogram(),
  };
}

/**
 * Adds one stream's counters and delays to the sum of `source="other"`.
 *
 * @param other The sum, changed in place.
 * @param stream The stream's counters and delays.
 */
export function addToOther(other: OtherStreams, stream: OtherCounts): void {
  other.streams++;
  other.outliers += stream.outliers;
  other.received += stream.received;
  other.missed += stream.missed;
  other.duplicates += stream.duplicates;
  other.reordered += stream.reordered;
  addHistogram(other.delay, stream.delay);
}

/** What `source="other"` sums of a stream. */
export type OtherCounts = Pick<
  StreamMetrics,
  "received" | "missed" | "duplicates" | "reordered" | "outliers" | "delay"
>;

/**
 * Bounds the streams that get series of their own: every target's stream, then at most
 * `maxSources` of the others, most recently heard first; the rest are summed. The others
 * may be any records: `seriesOf` makes the series of one shown, `countsOf` reads the
 * counts of one summed (a flood of forged sources fills the table: those get no series).
 *
 * @param targetStreams The targets' streams, in target order.
 * @param othersNewestFirst Every other stream, most recently heard first.
 * @param maxSources `--metrics-max-sources`.
 * @param seriesOf The series of a stream shown (by default, the stream itself).
 * @param countsOf The counts of a stream summed (by default, its series).
 * @param skip True for a stream of `othersNewestFirst` that is no other (a target's).
 * @returns The `streams` and `other` of a {@linkcode MetricsSnapshot}.
 */
export function boundStreams<S = StreamMetrics>(
  targetStreams: StreamMetrics[],
  othersNewestFirst: Iterable<S>,
  maxSources: number,
  seriesOf: (stream: S) => StreamMetrics = (stream) => stream as unknown as StreamMetrics,
  countsOf: (stream: S) => OtherCounts = seriesOf,
  skip: (stream: S) => boolean = () => false,
): Pick<MetricsSnapshot, "streams" | "other"> {
  // Measured: a generator or a copy per scrape here made the peer's resident memory grow
  // by ~45 MB more over 20,000 scrapes; the list is extended in place and filtered inline.
  const streams = targetStreams;
  let shown = 0;
  let other: OtherStreams | undefined;
  for (const stream of othersNewestFirst) {
    if (skip(stream)) continue;
    if (shown < maxSources) {
      streams.push(seriesOf(stream));
      shown++;
    } else addToOther(other ??= newOtherStreams(), countsOf(stream));
  }
  return { streams, other };
}

/**
 * Escapes a label value: backslash, double quote and line feed, as the format requires.
 *
 * @param value The raw value.
 * @returns The value, safe between double quotes.
 */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (char) => char === "\n" ? "\\n" : `\\${char}`);
}

/** A sample value in the format: Go's float syntax, with +Inf, -Inf and NaN spelled out. */
function formatValue(value: number): string {
  if (Number.isFinite(value)) return String(value);
  if (Number.isNaN(value)) return "NaN";
  return value > 0 ? "+Inf" : "-Inf";
}

type Labels = readonly (readonly [string, string | undefined])[];

/** The labels inside the braces, `a="x",b="y"`; labels without a value are left out. */
function innerLabels(labels: Labels): string {
  let text = "";
  for (const [name, value] of labels) {
    if (value === undefined) continue;
    text += `${text === "" ? "" : ","}${name}="${escapeLabelValue(value)}"`;
  }
  return text;
}

function labelText(labels: Labels): string {
  const inner = innerLabels(labels);
  return inner === "" ? "" : `{${inner}}`;
}

interface Family {
  name: string;
  type: "counter" | "gauge" | "histogram";
  help: string;
}

const families = {
  buildInfo: {
    name: "udpeer_build_info",
    type: "gauge",
    help: "Always 1; the version label says which udpeer this is.",
  },
  info: {
    name: "udpeer_info",
    type: "gauge",
    help:
      "Always 1; name is this peer's name, address the IP:PORT the other peers see as its source.",
  },
  startTime: {
    name: "process_start_time_seconds",
    type: "gauge",
    help: "Start time of the process since unix epoch in seconds.",
  },
  sent: {
    name: "udpeer_heartbeats_sent_total",
    type: "counter",
    help: "Heartbeats sent to each target.",
  },
  sendErrors: {
    name: "udpeer_send_errors_total",
    type: "counter",
    help: "Sends to each target that failed.",
  },
  skipped: {
    name: "udpeer_heartbeats_skipped_total",
    type: "counter",
    help: "Slots of the send grid skipped, not sent in a burst, because this peer was late.",
  },
  received: {
    name: "udpeer_heartbeats_received_total",
    type: "counter",
    help: "Distinct valid heartbeats received from each stream (source IP:PORT).",
  },
  missed: {
    name: "udpeer_heartbeats_missed_total",
    type: "counter",
    help: "Heartbeats missed from each stream, inferred from the send timestamps.",
  },
  duplicates: {
    name: "udpeer_duplicates_total",
    type: "counter",
    help: "Duplicate heartbeats received from each stream.",
  },
  reordered: {
    name: "udpeer_reordered_total",
    type: "counter",
    help: "Heartbeats received out of order from each stream.",
  },
  outliers: {
    name: "udpeer_outliers_total",
    type: "counter",
    help: "Heartbeats with an absurd timestamp from each stream; they change no other figure.",
  },
  up: {
    name: "udpeer_peer_up",
    type: "gauge",
    help: "1 if the stream was heard within --down-after of its intervals, else 0.",
  },
  loss: {
    name: "udpeer_loss_ratio",
    type: "gauge",
    help: "Heartbeats missed over heartbeats expected from each stream since it was first heard.",
  },
  jitter: {
    name: "udpeer_jitter_seconds",
    type: "gauge",
    help: "RFC 3550 interarrival jitter of each stream.",
  },
  last: {
    name: "udpeer_last_heartbeat_timestamp_seconds",
    type: "gauge",
    help: "Unix time of the last valid heartbeat from each stream.",
  },
  delay: {
    name: "udpeer_one_way_delay_seconds",
    type: "histogram",
    help:
      'Receive time minus send time of each heartbeat; needs synchronised clocks, le="0" counts the heartbeats the clocks disagree on.',
  },
  invalid: {
    name: "udpeer_invalid_datagrams_total",
    type: "counter",
    help: "Datagrams received that are not heartbeats, by reason.",
  },
  evicted: {
    name: "udpeer_sources_evicted_total",
    type: "counter",
    help: "Sources dropped from the bounded source table to make room for new ones.",
  },
} satisfies Record<string, Family>;

function header(lines: string[], family: Family): void {
  const help = family.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
  lines.push(`# HELP ${family.name} ${help}`, `# TYPE ${family.name} ${family.type}`);
}

// Bucket bounds as they appear in `le`, computed once.
const BUCKET_LABELS: readonly string[] = [...DELAY_BUCKETS_SECONDS.map(String), "+Inf"];

/**
 * The lines of one histogram. `inner` is the series' labels without braces ("" for none):
 * built once per series and reused for every bucket, which is most of a scrape's lines.
 */
function histogramLines(
  lines: string[],
  name: string,
  inner: string,
  histogram: DelayHistogram,
): void {
  const bucket = `${name}_bucket{${inner === "" ? "" : `${inner},`}le="`;
  let cumulative = 0;
  for (let i = 0; i < histogram.counts.length; i++) {
    cumulative += histogram.counts[i]!;
    lines.push(`${bucket}${BUCKET_LABELS[i]}"} ${cumulative}`);
  }
  const text = inner === "" ? "" : `{${inner}}`;
  lines.push(
    `${name}_sum${text} ${formatValue(histogram.sum)}`,
    `${name}_count${text} ${histogram.count}`,
  );
}

/** Lines per chunk of {@linkcode renderMetricsChunks}: about 100 KiB, 1–2 ms of work. */
export const CHUNK_LINES = 1_000;

/**
 * Renders a snapshot in the Prometheus text exposition format 0.0.4, in chunks of about
 * `chunkLines` lines. A scrape runs on the thread that reads the socket: served chunk by
 * chunk, a large scrape (1,000 streams are 27,000 lines) lets the receive loop run between
 * chunks instead of waiting for the whole body.
 *
 * @param snapshot What to show.
 * @param chunkLines Lines per chunk, at least 1.
 * @returns The body, chunk after chunk; each chunk ends with a line feed.
 */
export function* renderMetricsChunks(
  snapshot: MetricsSnapshot,
  chunkLines: number = CHUNK_LINES,
): Generator<string> {
  const lines: string[] = [];
  const flush = (): string => {
    const text = `${lines.join("\n")}\n`;
    lines.length = 0;
    return text;
  };
  // Each stream's labels are escaped once per scrape and reused by every family.
  const streamInner = snapshot.streams.map((stream) =>
    innerLabels([["source", stream.source], ["target", stream.target], ["peer", stream.peer]])
  );
  const otherInner = innerLabels([["source", "other"]]);
  const { other, streams } = snapshot;

  header(lines, families.buildInfo);
  lines.push(`${families.buildInfo.name}${labelText([["version", snapshot.version]])} 1`);
  if (snapshot.info !== undefined) {
    header(lines, families.info);
    const { name, address } = snapshot.info;
    lines.push(`${families.info.name}${labelText([["name", name], ["address", address]])} 1`);
  }
  if (snapshot.processStartTimeSeconds !== undefined) {
    header(lines, families.startTime);
    lines.push(`${families.startTime.name} ${formatValue(snapshot.processStartTimeSeconds)}`);
  }

  for (
    const [family, value] of [
      [families.sent, "sent"],
      [families.sendErrors, "sendErrors"],
      [families.skipped, "skipped"],
    ] as const
  ) {
    header(lines, family);
    for (const target of snapshot.targets) {
      const labels = labelText([["target", target.target], ["peer", target.peer]]);
      lines.push(`${family.name}${labels} ${formatValue(target[value])}`);
    }
  }

  const perStream: [Family, (stream: StreamMetrics) => number, ((o: OtherStreams) => number)?][] = [
    [families.received, (s) => s.received, (o) => o.received],
    [families.missed, (s) => s.missed, (o) => o.missed],
    [families.duplicates, (s) => s.duplicates, (o) => o.duplicates],
    [families.reordered, (s) => s.reordered, (o) => o.reordered],
    [families.outliers, (s) => s.outliers, (o) => o.outliers],
    // Gauges of state (up, loss, jitter, last heard) mean nothing summed over many
    // streams: "other" has only the counters and the histogram.
    [families.up, (s) => s.up ? 1 : 0],
    [families.loss, (s) => s.lossRatio],
    [families.jitter, (s) => s.jitterSeconds],
    [families.last, (s) => s.lastHeartbeatSeconds],
  ];
  for (const [family, value, otherValue] of perStream) {
    header(lines, family);
    for (let i = 0; i < streams.length; i++) {
      lines.push(`${family.name}{${streamInner[i]}} ${formatValue(value(streams[i]!))}`);
      if (lines.length >= chunkLines) yield flush();
    }
    if (other !== undefined && otherValue !== undefined) {
      lines.push(`${family.name}{${otherInner}} ${formatValue(otherValue(other))}`);
    }
  }

  header(lines, families.delay);
  for (let i = 0; i < streams.length; i++) {
    histogramLines(lines, families.delay.name, streamInner[i]!, streams[i]!.delay);
    if (lines.length >= chunkLines) yield flush();
  }
  if (other !== undefined) histogramLines(lines, families.delay.name, otherInner, other.delay);

  header(lines, families.invalid);
  for (const [reason, count] of Object.entries(snapshot.invalid)) {
    lines.push(`${families.invalid.name}${labelText([["reason", reason]])} ${formatValue(count)}`);
  }
  header(lines, families.evicted);
  lines.push(`${families.evicted.name} ${formatValue(snapshot.sourcesEvicted)}`);
  yield flush();
}

/**
 * Renders a snapshot in the Prometheus text exposition format 0.0.4, all at once. The work
 * is linear in the number of series the snapshot holds, which {@linkcode boundStreams}
 * bounds.
 *
 * @param snapshot What to show.
 * @returns The body of a `GET /metrics` reply, ending in a line feed.
 */
export function renderMetrics(snapshot: MetricsSnapshot): string {
  let text = "";
  for (const chunk of renderMetricsChunks(snapshot, Infinity)) text += chunk;
  return text;
}
