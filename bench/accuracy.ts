/**
 * Sender accuracy: udpeer sends 1,000 heartbeats at `--interval 0.01` to a receiver in this
 * process that records when each arrives. Heartbeat k (from 0) is due at t0 + k × 10 ms,
 * where t0, the start of udpeer's schedule, is estimated as the median of arrival − k × 10
 * ms over the run (the first heartbeat itself leaves a little late, while the program warms
 * up). The report gives how far the last one is from its due time, the jitter of the
 * intervals between arrivals, and the least-squares slope of lateness over the run, which
 * is what cumulative drift would show as (a timer re-armed with a fixed delay after each
 * send drifts by its own lateness every time).
 *
 * ```sh
 * deno run -A bench/accuracy.ts --count 1000 --interval 0.01
 * ```
 *
 * @module
 */

import { decodeHeartbeat, timestampToMs } from "../protocol.ts";
import { formatNumber, median, numberFlag, stopChild, udpeerCommand } from "./lib.ts";

/** What {@linkcode measureAccuracy} found. */
export interface AccuracyResult {
  /** Heartbeats asked for. */
  count: number;
  /** Heartbeats that arrived. */
  received: number;
  /** Seconds between heartbeats. */
  intervalS: number;
  /** Arrival of the last minus its due time, ms. */
  driftLastMs: number;
  /** Arrival of the first minus its due time (the program's start-up), ms. */
  firstLateMs: number;
  /** Mean interval between arrivals, ms. */
  meanIntervalMs: number;
  /** Standard deviation of the intervals between arrivals, ms. */
  jitterMs: number;
  /** Largest |arrival − due time| over the run, ms. */
  maxLatenessMs: number;
  /** Least-squares slope of lateness over the run, times the run's length: cumulative drift, ms. */
  trendMs: number;
  /** The same as driftLastMs from the send times in the headers (whole ms), ms. */
  headerDriftLastMs: number;
}

/**
 * Runs udpeer as a fast sender and times the arrivals.
 *
 * @param count Heartbeats to send.
 * @param intervalS Seconds between them.
 * @returns The drift and jitter.
 * @throws {Error} If udpeer fails or fewer than two heartbeats arrive.
 */
export async function measureAccuracy(count: number, intervalS: number): Promise<AccuracyResult> {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const { port } = conn.addr as Deno.NetAddr;
  const child = new Deno.Command(Deno.execPath(), {
    args: udpeerCommand([
      "peer",
      "--bind",
      "127.0.0.1",
      "--port",
      "0",
      "--to",
      `127.0.0.1:${port}`,
      "--interval",
      String(intervalS),
      "--count",
      String(count),
      "--quiet",
    ]),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const arrivals: number[] = [];
  const sentAt: number[] = [];
  const buffer = new Uint8Array(65_536);
  // Bounded: the run itself plus time to start. A late tick skips its slot (it is never sent
  // in a burst), so fewer than `count` may come: the sender's exit ends the wait too.
  const deadline = setTimeout(() => conn.close(), count * intervalS * 1000 + 15_000);
  const closeSoon = () =>
    setTimeout(() => {
      try {
        conn.close();
      } catch { /* closed already */ }
    }, 500);
  child.status.then(closeSoon, () => {});
  try {
    while (arrivals.length < count) {
      const [datagram] = await conn.receive(buffer);
      const arrival = performance.now();
      const result = decodeHeartbeat(datagram);
      if (!result.ok) continue;
      arrivals.push(arrival);
      sentAt.push(timestampToMs(result.heartbeat.timestamp));
    }
  } catch (error) {
    // Closed while a receive was in flight (Interrupted) or between two (BadResource).
    const closed = error instanceof Deno.errors.BadResource ||
      error instanceof Deno.errors.Interrupted;
    if (!closed) throw error;
  } finally {
    clearTimeout(deadline);
    try {
      conn.close();
    } catch { /* closed by the deadline */ }
  }
  const status = await stopChild(child, "SIGTERM", 5_000).catch(() => undefined);
  const stderr = new TextDecoder().decode((await child.output().catch(() => undefined))?.stderr);
  if (arrivals.length < 2) {
    throw new Error(`Only ${arrivals.length} heartbeats arrived (exit ${status?.code}): ${stderr}`);
  }

  const intervalMs = intervalS * 1000;
  const n = arrivals.length;
  /** Each time minus its due time, the schedule's start being the median offset. */
  const latenessOf = (times: number[]): number[] => {
    const offsets = times.map((t, k) => t - k * intervalMs);
    const start = median(offsets);
    return offsets.map((offset) => offset - start);
  };
  const lateness = latenessOf(arrivals);
  const intervals = arrivals.slice(1).map((t, k) => t - arrivals[k]!);
  const mean = intervals.reduce((a, b) => a + b, 0) / intervals.length;
  const variance = intervals.reduce((a, d) => a + (d - mean) ** 2, 0) / intervals.length;
  // Least-squares slope of lateness against k.
  const meanK = (n - 1) / 2;
  const meanLate = lateness.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  lateness.forEach((late, k) => {
    sxy += (k - meanK) * (late - meanLate);
    sxx += (k - meanK) ** 2;
  });
  return {
    count,
    received: n,
    intervalS,
    driftLastMs: lateness[n - 1]!,
    firstLateMs: lateness[0]!,
    meanIntervalMs: mean,
    jitterMs: Math.sqrt(variance),
    maxLatenessMs: Math.max(...lateness.map(Math.abs)),
    trendMs: (sxy / sxx) * (n - 1),
    headerDriftLastMs: latenessOf(sentAt)[n - 1]!,
  };
}

/**
 * The result as Markdown table rows.
 *
 * @param result From {@linkcode measureAccuracy}.
 * @returns Lines of a table with a header.
 */
export function accuracyTable(result: AccuracyResult): string[] {
  const ms = (value: number) => `${formatNumber(value, 3)} ms`;
  return [
    "| measure | value |",
    "| --- | ---: |",
    `| heartbeats received | ${result.received} of ${result.count} |`,
    `| drift of the last from its due time (arrivals) | ${ms(result.driftLastMs)} |`,
    `| drift of the last (send times in the headers, whole ms) | ${ms(result.headerDriftLastMs)} |`,
    `| cumulative drift (least-squares trend over the run) | ${ms(result.trendMs)} |`,
    `| first heartbeat from its due time (start-up) | ${ms(result.firstLateMs)} |`,
    `| interval between arrivals, mean | ${ms(result.meanIntervalMs)} |`,
    `| jitter (standard deviation of the intervals) | ${ms(result.jitterMs)} |`,
    `| largest distance from a due time | ${ms(result.maxLatenessMs)} |`,
  ];
}

if (import.meta.main) {
  const result = await measureAccuracy(
    numberFlag(Deno.args, "--count", 1000),
    numberFlag(Deno.args, "--interval", 0.01),
  );
  console.log(accuracyTable(result).join("\n"));
}
