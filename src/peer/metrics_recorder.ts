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

import type { StreamStats } from "./health.ts";
import {
  addToOther,
  type DelayHistogram,
  type MetricsSnapshot,
  newDelayHistogram,
  newOtherStreams,
  observeDelay,
  type OtherStreams,
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

interface Extras {
  delay: DelayHistogram;
  /**
   * The largest `missed` shown so far. `missed` is computed from the span of timestamps and
   * goes down by one when a late (reordered) heartbeat fills a gap; a counter must not.
   */
  missedShown: number;
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
  const extras = new WeakMap<StreamStats, Extras>();
  const extrasOf = (stream: StreamStats): Extras => {
    let found = extras.get(stream);
    if (found === undefined) {
      found = { delay: newDelayHistogram(), missedShown: 0 };
      extras.set(stream, found);
    }
    return found;
  };
  const missedOf = (stream: StreamStats, own: Extras | undefined): number => {
    let missed = stream.missed;
    if (own !== undefined) {
      if (missed < own.missedShown) missed = own.missedShown;
      own.missedShown = missed;
    }
    return missed;
  };
  const metricsOf = (
    stream: StreamStats,
    target: string | undefined,
    peer: string | undefined,
  ): StreamMetrics => {
    const own = extras.get(stream);
    const missed = missedOf(stream, own);
    return {
      source: `${stream.address}:${stream.port}`,
      ...(target === undefined ? {} : { target }),
      ...(peer === undefined ? {} : { peer }),
      received: stream.messages,
      missed,
      duplicates: stream.duplicates,
      reordered: stream.reordered,
      up: stream.state === "up" && stream.messages > 0,
      jitterSeconds: stream.jitterMs / 1000,
      lossRatio: stream.lossPercent / 100,
      lastHeartbeatSeconds: Number.isNaN(stream.lastHeardMs) ? 0 : stream.lastHeardMs / 1000,
      delay: own?.delay ?? NO_DELAY,
    };
  };
  return {
    observe(stream, elapsedMs) {
      observeDelay(extrasOf(stream).delay, elapsedMs / 1000);
    },
    forget(stream) {
      extras.delete(stream);
    },
    snapshot(monitor, version, maxSources) {
      const answering = new Set<StreamStats>();
      const targetStreams = monitor.targets.map((target): StreamMetrics => {
        const peer = target.name;
        if (target.stream !== undefined) {
          answering.add(target.stream);
          return metricsOf(target.stream, target.to, peer);
        }
        // Never heard: a series all the same, so that udpeer_peer_up can say 0.
        return {
          source: `${target.address}:${target.port}`,
          target: target.to,
          ...(peer === undefined ? {} : { peer }),
          received: 0,
          missed: 0,
          duplicates: 0,
          reordered: 0,
          up: false,
          jitterSeconds: 0,
          lossRatio: 0,
          lastHeartbeatSeconds: 0,
          delay: NO_DELAY,
        };
      });
      // The newest others get series of their own; the rest are summed as they come, with
      // no object made for each (a flood of forged sources fills the table).
      const streams = targetStreams;
      let shown = 0;
      let other: OtherStreams | undefined;
      for (const stream of monitor.table.streamsNewestFirst()) {
        if (answering.has(stream)) continue;
        if (shown < maxSources) {
          streams.push(metricsOf(stream, undefined, undefined));
          shown++;
          continue;
        }
        const own = extras.get(stream);
        addToOther(other ??= newOtherStreams(), {
          received: stream.messages,
          missed: missedOf(stream, own),
          duplicates: stream.duplicates,
          reordered: stream.reordered,
          delay: own?.delay ?? NO_DELAY,
        });
      }
      return {
        version,
        targets: monitor.targets.map((target) => ({
          target: target.to,
          ...(target.name === undefined ? {} : { peer: target.name }),
          sent: target.sent,
          sendErrors: target.sendErrors,
        })),
        streams,
        other,
        invalid: monitor.invalidByReason,
        sourcesEvicted: monitor.table.dropped,
        ...about?.(),
      };
    },
  };
}
