/**
 * What `--metrics` adds to the peer's accounting: a one-way delay histogram per stream,
 * fed from the receive path, and the snapshot a scrape renders, read from the monitor.
 * The histograms live in a `WeakMap` keyed by the stream; the bounded table reuses an
 * evicted stream's record for a new stream, so the monitor tells {@linkcode
 * MetricsRecorder.forget} to drop its histogram (`onEvict`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeHeartbeat } from "../../protocol.ts";
 * import { renderMetrics } from "./metrics.ts";
 * import { createMetricsRecorder } from "./metrics_recorder.ts";
 * import { PeerMonitor } from "./monitor.ts";
 * const recorder = createMetricsRecorder();
 * const monitor = new PeerMonitor({
 *   targets: [{ to: "127.0.0.1:5006", address: "127.0.0.1", port: 5006, name: "b" }],
 *   ownIntervalMs: 1000,
 *   downAfter: 3,
 *   emit: () => {},
 *   onHeartbeat: recorder.observe,
 *   onEvict: recorder.forget,
 * });
 * const datagram = encodeHeartbeat({ timestamp: 1e12, ipv4: "127.0.0.1", port: 5006, text: "hi" });
 * monitor.receive(datagram, { hostname: "127.0.0.1", port: 5006 }, 1e12 + 0.4);
 * const text = renderMetrics(recorder.snapshot(monitor, "0.1.0", 1000));
 * assert.ok(text.includes('udpeer_heartbeats_received_total{source="127.0.0.1:5006",target="127.0.0.1:5006",peer="b"} 1\n'));
 * ```
 *
 * @module
 */

import { joinHostPort } from "../common/endpoint.ts";
import type { StreamStats } from "./health.ts";
import {
  boundStreams,
  type DelayHistogram,
  type MetricsSnapshot,
  newDelayHistogram,
  observeDelay,
  type StreamMetrics,
} from "./metrics.ts";
import type { PeerMonitor } from "./monitor.ts";

/** The metrics' own state beside the monitor's. */
export interface MetricsRecorder {
  /**
   * Counts one heartbeat's one-way delay: give it to the monitor as `onHeartbeat`.
   *
   * @param stream The stream it came from.
   * @param elapsedMs Receive time minus send time, ms.
   */
  observe(stream: StreamStats, elapsedMs: number): void;
  /**
   * Drops a stream's histogram: give it to the monitor as `onEvict`, since the table
   * reuses an evicted stream's record for the next new stream.
   *
   * @param stream The stream evicted.
   */
  forget(stream: StreamStats): void;
  /**
   * What a scrape shows now.
   *
   * @param monitor The peer's accounting.
   * @param version udpeer's version.
   * @param maxSources `--metrics-max-sources`.
   * @returns The snapshot to render.
   */
  snapshot(monitor: PeerMonitor, version: string, maxSources: number): MetricsSnapshot;
}

const NO_DELAY: DelayHistogram = Object.freeze(newDelayHistogram());

/**
 * Creates the recorder of a run.
 *
 * @param about Who this peer is and when it started, read at each scrape (the name can
 * change on a reload): `udpeer_info` and `process_start_time_seconds` (src/peer/fleet.ts).
 * @returns An empty recorder.
 */
export function createMetricsRecorder(
  about?: () => Pick<MetricsSnapshot, "info" | "processStartTimeSeconds">,
): MetricsRecorder {
  const delays = new WeakMap<StreamStats, DelayHistogram>();
  const delayOf = (stream: StreamStats): DelayHistogram => {
    let found = delays.get(stream);
    if (found === undefined) {
      found = newDelayHistogram();
      delays.set(stream, found);
    }
    return found;
  };
  // The stream's own figures: the summary and --watch read the very same ones, and its
  // missed count is already a counter that never goes down.
  const metricsOf = (
    stream: StreamStats | undefined,
    source: string,
    target: string | undefined,
    peer: string | undefined,
  ): StreamMetrics => ({
    source,
    ...(target === undefined ? {} : { target }),
    ...(peer === undefined ? {} : { peer }),
    received: stream?.messages ?? 0,
    missed: stream?.missed ?? 0,
    duplicates: stream?.duplicates ?? 0,
    reordered: stream?.reordered ?? 0,
    outliers: stream?.outliers ?? 0,
    // A target never heard gets a series all the same, so that udpeer_peer_up can say 0.
    up: stream !== undefined && stream.state === "up" && stream.messages > 0,
    jitterSeconds: (stream?.jitterMs ?? 0) / 1000,
    lossRatio: (stream?.lossPercent ?? 0) / 100,
    lastHeartbeatSeconds: stream === undefined || Number.isNaN(stream.lastHeardMs)
      ? 0
      : stream.lastHeardMs / 1000,
    delay: (stream === undefined ? undefined : delays.get(stream)) ?? NO_DELAY,
  });
  return {
    observe(stream, elapsedMs) {
      observeDelay(delayOf(stream), elapsedMs / 1000);
    },
    forget(stream) {
      delays.delete(stream);
    },
    snapshot(monitor, version, maxSources) {
      const answering = new Set<StreamStats>();
      const targetStreams = monitor.targets.map((target): StreamMetrics => {
        if (target.stream !== undefined) answering.add(target.stream);
        const source = target.stream === undefined
          ? joinHostPort(target.address, target.port)
          : joinHostPort(target.stream.address, target.stream.port);
        return metricsOf(target.stream, source, target.to, target.name);
      });
      // Targets first, then the newest others; the rest summed under source="other".
      const { streams, other } = boundStreams(
        targetStreams,
        monitor.table.streamsNewestFirst(),
        maxSources,
        (stream) =>
          metricsOf(stream, joinHostPort(stream.address, stream.port), undefined, undefined),
        (stream) => ({
          received: stream.messages,
          missed: stream.missed,
          duplicates: stream.duplicates,
          reordered: stream.reordered,
          outliers: stream.outliers,
          delay: delays.get(stream) ?? NO_DELAY,
        }),
        (stream) => answering.has(stream),
      );
      return {
        version,
        ...about?.(),
        targets: monitor.targets.map((target) => ({
          target: target.to,
          ...(target.name === undefined ? {} : { peer: target.name }),
          sent: target.sent,
          sendErrors: target.sendErrors,
          skipped: target.skipped,
        })),
        streams,
        other,
        invalid: monitor.invalidByReason,
        sourcesEvicted: monitor.table.dropped,
      };
    },
  };
}
