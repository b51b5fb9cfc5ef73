/**
 * The heartbeat peer's summary: the `summary` event built from the run's counters and the
 * source table, and its human block in the shape of ping's statistics. A target's figures
 * are those of its own stream (docs/link-health.md).
 *
 * @module
 */

import { joinHostPort } from "../../common/endpoint.ts";
import { escapeForTerminal } from "../../common/escape.ts";
import { plural } from "../../common/words.ts";
import type { StreamStats } from "../health.ts";
import { addElapsed, type ElapsedSummary, elapsedSummary, type SourceTable } from "../sources.ts";
import {
  type HealthSummary,
  round3,
  type SourceSummary,
  type StreamSummary,
  type SummaryEvent,
  type TargetCounters,
  type TargetSummary,
} from "./types.ts";

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
  const sources = table.all().map((stats): SourceSummary => {
    const streams = table.streamsOf(stats.address);
    // Each delay is recorded once, by its stream: a source's are its streams' together.
    const sums = { delays: 0, minMs: Infinity, maxMs: -Infinity, sumMs: 0, sumSquaresMs: 0 };
    for (const stream of streams) addElapsed(sums, stream);
    return {
      from: stats.address,
      messages: stats.messages,
      invalid: stats.invalid,
      duplicates: stats.duplicates,
      outliers: stats.outliers,
      elapsedMs: roundedElapsed(sums),
      streams: streams.map((stream): StreamSummary => {
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
    };
  });
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
    if (target.fromPort !== null) answering.add(joinHostPort(target.address, target.fromPort));
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
      !answering.has(joinHostPort(source.from, stream.fromPort))
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
