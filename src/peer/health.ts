/**
 * Link health of one stream (one UDP source IP and port), measured from the heartbeats
 * alone (docs/link-health.md): the wire format has no sequence number, so everything
 * comes from the send timestamps, their checksums and the arrival times.
 *
 * - **interval**: the mean of the last 16 gaps between a heartbeat and the newest one
 *   before it that lie within a tenth of their lower median (a lost heartbeat makes a gap
 *   twice as long, so the lower median stays on the true interval while fewer than half the
 *   gaps hold a loss; the mean around it is as precise as the timestamps). A gap shorter than half
 *   the interval (once 3 gaps are known) is a **burst**'s (a sender catching up, a queue
 *   released): it joins the window only once short gaps are sustained (4 or more, over 2
 *   intervals or more), and the gap right after a burst never does, so 30 heartbeats 1 ms
 *   apart leave a 100 ms interval where it was;
 * - **missed**: the slots of the sender's grid, from the oldest timestamp to the newest,
 *   that no heartbeat filled: `round((newest − oldest) / interval) + 1 − slots received`,
 *   halves rounded down (a whole-second sender's truncated timestamps can stretch a span by
 *   just under one second, half of a 2 s interval), the interval here being the span's own
 *   once it holds 16 slots (its gaps summed over the slots they span; see #spanIntervalMs),
 *   so that a sender's jitter does not add up over thousands of slots. A burst fills the
 *   slots the span still lacks (a sender catching up), no more.
 *   A slot counts as missed once a heartbeat more than {@linkcode HOLD_INTERVALS} intervals
 *   past it has arrived (until then a reordered heartbeat may still fill it), when the
 *   stream goes silent, or at the end of the run; one that arrives later still is reordered
 *   and stays counted. While the stream is silent, one more is counted for each interval
 *   that passes. It is a counter:
 *   it never goes down, and the summary, the metrics and `--watch` all read this one value;
 * - **outliers**: a timestamp that jumps by more than max(1 h, 1,000 intervals) from the
 *   newest, or (for a stream's first heartbeat) lies more than a day ahead of its arrival or
 *   before 2000 (a clock never set), is counted and changes nothing else. Three consistent outliers in a row (a sender whose
 *   clock really moved) start a new span; the old span's missed count is kept;
 * - **duplicates**: same timestamp and checksum as one of the last 64 heartbeats;
 * - **reordered**: a timestamp older than the newest already seen;
 * - **jitter**: RFC 3550 §6.4.1, `J += (|D| − J) / 16`;
 * - **silent / back**: quiet for `downAfter` intervals, then heard again. Quiet time is
 *   measured from the last arrival, and a pause of the receiver itself is taken out of it
 *   ({@linkcode StreamHealth.forgivePause}).
 *
 * The receive path calls {@linkcode StreamHealth.record} once per datagram: it is O(1)
 * amortised and allocates nothing after the stream's second heartbeat (fixed rings of 16
 * gaps, kept with a sorted copy, and 64 recent heartbeats). The interval is computed only for
 * a gap that may be a burst's, and the missed count when someone reads it (a check, a
 * report, a scrape), not per datagram.
 *
 * Readers outside the receive path (the summary, `--watch`, a metrics renderer) use the
 * read-only {@linkcode StreamStats} view.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StreamHealth } from "./health.ts";
 * const stream = new StreamHealth("127.0.0.1", 5006);
 * // Heartbeats 0, 1, 3 and 4 of a 1 s stream arrive; 2 is lost.
 * const t0 = Date.UTC(2026, 11, 2);
 * for (const k of [0, 1, 3, 4]) stream.record(t0 + k * 1000, k, t0 + k * 1000 + 0.5);
 * assert.equal(stream.missed, 0, "slot 2 may still come late");
 * stream.settle(); // the run is over
 * assert.deepEqual([stream.intervalMs, stream.missed, stream.lossPercent], [1000, 1, 20]);
 * ```
 *
 * @module
 */

import { advertisedEndpoint } from "./advertise.ts";

/** Whether a stream is heard (`up`) or has gone quiet for `--down-after` intervals. */
export type StreamState = "up" | "silent";

/**
 * What anyone may read about a stream: the summary, `--watch`, metrics. All times are Unix
 * milliseconds on the receiver's clock unless said otherwise.
 */
export interface StreamStats {
  /** Source address, as the socket reports it. */
  readonly address: string;
  /** Source UDP port. */
  readonly port: number;
  /** Distinct valid heartbeats (reordered ones and a burst's extras included, duplicates and outliers not). */
  readonly messages: number;
  /** Invalid datagrams from this stream. */
  readonly invalid: number;
  /** Heartbeats that repeated one of the last 64 (same timestamp and checksum). */
  readonly duplicates: number;
  /** Heartbeats older than the newest one already seen. */
  readonly reordered: number;
  /** Heartbeats whose timestamp was absurd for the stream: counted, nothing else. */
  readonly outliers: number;
  /** Inferred interval in ms, null until two distinct timestamps arrived. */
  readonly intervalMs: number | null;
  /** Heartbeats missed, a counter that never goes down (see the module documentation). */
  readonly missed: number;
  /** `missed / (missed + slots received) × 100`, 0 while nothing is known. */
  readonly lossPercent: number;
  /** RFC 3550 interarrival jitter in ms. */
  readonly jitterMs: number;
  /** How many times the stream went silent. */
  readonly outages: number;
  /** `up` or `silent`. */
  readonly state: StreamState;
  /** Arrival time of the last distinct heartbeat, NaN before the first. */
  readonly lastHeardMs: number;
  /** Elapsed time (arrival − send) of the last heartbeat with a delay, NaN before the first. */
  readonly lastElapsedMs: number;
  /** Smallest elapsed time (Infinity before the first heartbeat). */
  readonly minMs: number;
  /** Largest elapsed time (−Infinity before the first heartbeat). */
  readonly maxMs: number;
  /** Sum of the elapsed times counted, for the mean. */
  readonly sumMs: number;
  /** Sum of their squares, for the standard deviation. */
  readonly sumSquaresMs: number;
  /** How many elapsed times the sums hold (heartbeats that waited out a pause are left out). */
  readonly delays: number;
  /** The newest send time seen (Unix ms), NaN before the first heartbeat. */
  readonly newestSentAtMs: number;
  /**
   * Header address of the last heartbeat, `a.b.c.d:port` (0.0.0.0 in the header: the source
   * address, `[IPV6]:port` for an IPv6 sender), "" before the first.
   */
  readonly advertised: string;
}

/** Bit set in {@linkcode StreamHealth.record}'s result: counted as a message. */
export const RECORD_MESSAGE = 1;
/** Bit set in {@linkcode StreamHealth.record}'s result: older than the newest (also a message). */
export const RECORD_REORDERED = 2;
/** Bit set in {@linkcode StreamHealth.record}'s result: a duplicate, not a message. */
export const RECORD_DUPLICATE = 4;
/** Bit set in {@linkcode StreamHealth.record}'s result: the stream was silent and is back. */
export const RECORD_BACK = 8;
/** Bit set in {@linkcode StreamHealth.record}'s result: an absurd timestamp, not a message. */
export const RECORD_OUTLIER = 16;

/** Gaps kept for the interval's median (docs/link-health.md). */
export const GAP_WINDOW = 16;
/** Recent heartbeats kept to recognise duplicates (docs/link-health.md). */
export const RECENT_WINDOW = 64;
/**
 * A slot counts as missed once the stream is more than this many intervals past it: a
 * heartbeat delayed past one or two later ones (a reordering link) still fills its slot,
 * and the counter never has to go back down.
 */
export const HOLD_INTERVALS = 2;
/** A gap shorter than this share of the interval is a burst, not a new interval. */
const BURST_GAP = 0.5;
/** The longest gap, in slots, that joins the span's interval (longer ones round less surely). */
const MAX_SPAN_GAP_SLOTS = 4;
/** Below this many gaps the median is too young to call a gap a burst's. */
const BURST_MIN_GAPS = 3;
/** Short gaps become the new interval once there are this many in a row… */
const SUSTAIN_GAPS = 4;
/** …spanning at least this many of the old intervals. */
const SUSTAIN_INTERVALS = 2;
/** An outlier jumps from the newest timestamp by more than this… */
const OUTLIER_MIN_JUMP_MS = 3_600_000;
/** …or by more than this many intervals, whichever is larger. */
const OUTLIER_INTERVALS = 1000;
/** A stream's first timestamp this far ahead of its arrival is an outlier… */
const OUTLIER_AHEAD_MS = 86_400_000;
/** …and so is one before 2000: a clock that was never set (0 is 1970). */
const OUTLIER_BEFORE_MS = Date.UTC(2000, 0, 1);
/** Consistent outliers in a row that start a new span (a clock that really moved). */
const OUTLIERS_FOR_NEW_SPAN = 3;
/** Weight of a new sample in the RFC 3550 jitter estimate. */
const JITTER_GAIN = 1 / 16;

/**
 * Rounds to the nearest integer with halves going down: 2.5 → 2, 2.51 → 3.
 *
 * @param value Any finite number.
 * @returns The nearest integer, the smaller one on a tie.
 */
export function roundHalfDown(value: number): number {
  return Math.ceil(value - 0.5);
}

/**
 * The lower median of the first `count` values of `ring` (the middle one, or the smaller of
 * the two middle ones). The definition the stream's sorted window is checked against
 * (health_test.ts); the receive path reads that window's middle instead of sorting.
 *
 * @param ring The values.
 * @param count How many are valid.
 * @returns The lower median, NaN for none.
 */
export function lowerMedian(ring: ArrayLike<number>, count: number): number {
  if (count === 0) return NaN;
  const sorted = Array.from(ring).slice(0, count).sort((a, b) => a - b);
  return sorted[(count - 1) >> 1]!;
}

/**
 * The typical gap of a window: the mean of the gaps within a tenth of their lower median.
 * The lower median finds the interval despite losses (their gaps are two or three times
 * as long); the mean of the gaps around it is as precise as the timestamps allow, where a
 * median of millisecond stamps is off by up to 1 ms, which a long span multiplies.
 *
 * @param ring The gaps.
 * @param count How many are valid.
 * @returns The interval, NaN for none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { typicalGap } from "./health.ts";
 * assert.equal(typicalGap([100, 101, 99, 200, 100, 101], 6), 100.2);
 * ```
 */
export function typicalGap(ring: ArrayLike<number>, count: number): number {
  return meanAroundMedian(ring, count, lowerMedian(ring, count));
}

/**
 * {@linkcode typicalGap} of a window kept with its sorted copy: `gaps` holds the window in
 * arrival order, then the same gaps sorted (from index {@linkcode GAP_WINDOW}). The median
 * is read, not sorted for: sorting for it once per datagram was the largest share of
 * udpeer's own work under a flood (docs/performance.md). The sum runs in arrival order, as
 * typicalGap's does, so both give the same number to the last bit.
 */
function typicalGapSorted(gaps: Float64Array, count: number): number {
  return meanAroundMedian(gaps, count, windowMedian(gaps, count));
}

/** The lower median of a window kept with its sorted copy (see typicalGapSorted); NaN for none. */
function windowMedian(gaps: Float64Array, count: number): number {
  return count === 0 ? NaN : gaps[GAP_WINDOW + ((count - 1) >> 1)]!;
}

/** The mean of the first `count` gaps within a tenth of `median`; the median when none is. */
function meanAroundMedian(ring: ArrayLike<number>, count: number, median: number): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < count; i++) {
    const gap = ring[i]!;
    if (Math.abs(gap - median) <= median / 10) {
      sum += gap;
      n++;
    }
  }
  return n === 0 ? median : sum / n;
}

/** Health of one stream; see the module documentation for the definitions. */
export class StreamHealth implements StreamStats {
  /** Source address. */
  readonly address: string;
  /** Source UDP port. */
  readonly port: number;
  /** Distinct valid heartbeats. */
  messages: number = 0;
  /** Invalid datagrams. */
  invalid: number = 0;
  /** Duplicates. */
  duplicates: number = 0;
  /** Reordered heartbeats. */
  reordered: number = 0;
  /** Outliers. */
  outliers: number = 0;
  /** RFC 3550 jitter in ms. */
  jitterMs: number = 0;
  /** Times the stream went silent. */
  outages: number = 0;
  /** `up` or `silent`. */
  state: StreamState = "up";
  /** Arrival of the last distinct heartbeat. */
  lastHeardMs: number = NaN;
  /** Elapsed time of the last heartbeat with a delay. */
  lastElapsedMs: number = NaN;
  /** Smallest elapsed time. */
  minMs: number = Infinity;
  /** Largest elapsed time. */
  maxMs: number = -Infinity;
  /** Sum of elapsed times. */
  sumMs: number = 0;
  /** Sum of squared elapsed times. */
  sumSquaresMs: number = 0;
  /** Elapsed times counted in the sums. */
  delays: number = 0;
  /** Newest send time of the current span. */
  newestSentAtMs: number = NaN;
  /** Length of the last outage in ms (set when {@linkcode record} reports `RECORD_BACK`). */
  lastOutageMs: number = 0;
  /** Heartbeats missed in the last outage (set with {@linkcode lastOutageMs}). */
  lastOutageMissed: number = 0;

  #advertisedIpv4 = "";
  #advertisedPort = 0;
  #previousTransitMs = NaN;
  /** Silence is timed from here: the last arrival, moved on by the receiver's own pauses. */
  #quietSinceMs = NaN;
  // The span: the run of timestamps missed is counted over.
  #spanOldestMs = NaN;
  #spanSlots = 0;
  #extras = 0;
  #missedClosed = 0;
  /** Heartbeats that came after their slot was counted missed. */
  #late = 0;
  #ongoing = 0;
  #missedShown = 0;
  #settled = false;
  // A run of short gaps, not (yet) the interval.
  #shortGaps = 0;
  #shortSpanMs = 0;
  /** Heartbeats of the run of short gaps that filled no slot. */
  #shortRunExtras = 0;
  // A run of outliers, perhaps a clock that moved.
  #outlierRun = 0;
  #lastOutlierMs = NaN;
  // The rings are made at the second heartbeat: a flood of forged one-datagram sources
  // then costs a small object each, not ~1 KiB.
  #gaps: Float64Array | undefined;
  #gapCount = 0;
  #gapNext = 0;
  #intervalCache: number | null = null;
  #intervalDirty = false;
  // The span's gaps of one to MAX_SPAN_GAP_SLOTS slots, summed with the slots they span: the
  // interval a span's slot count divides by (#spanIntervalMs).
  #spanGapSum = 0;
  #spanGapSlots = 0;
  /** The window's median the span's sum was made with. */
  #spanGapUnit = NaN;
  #recentSent: Float64Array | undefined;
  #recentChecksum: Uint32Array | undefined;
  /** 1 where the recent heartbeat was a burst's extra (it filled no slot). */
  #recentExtra: Uint8Array | undefined;
  #recentCount = 0;
  #recentNext = 0;
  #firstSent = NaN;
  #firstChecksum = 0;

  /**
   * Creates the state of a stream that has sent nothing yet.
   *
   * @param address Source address.
   * @param port Source UDP port.
   */
  constructor(address: string, port: number) {
    this.address = address;
    this.port = port;
  }

  /**
   * Makes this record the state of another stream that has sent nothing yet, as the
   * constructor would, keeping the rings it already has (cleared by their counts). The
   * source table reuses an evicted stream's record this way, so a flood of forged sources
   * allocates nothing per new stream; it never reuses one that anything else still holds.
   *
   * @param address Source address.
   * @param port Source UDP port.
   */
  reset(address: string, port: number): void {
    // The fields are readonly to readers; only the table that owns the record rewrites them.
    const self = this as { address: string; port: number };
    self.address = address;
    self.port = port;
    this.messages = this.invalid = 0;
    this.duplicates = this.reordered = this.outliers = 0;
    this.jitterMs = 0;
    this.outages = 0;
    this.state = "up";
    this.lastHeardMs = this.lastElapsedMs = NaN;
    this.minMs = Infinity;
    this.maxMs = -Infinity;
    this.sumMs = this.sumSquaresMs = this.delays = 0;
    this.lastOutageMs = this.lastOutageMissed = 0;
    this.#advertisedIpv4 = "";
    this.#advertisedPort = 0;
    this.#quietSinceMs = NaN;
    this.#extras =
      this.#missedClosed =
      this.#late =
      this.#ongoing =
      this.#missedShown =
        0;
    this.#settled = false;
    this.#outlierRun = 0;
    this.#lastOutlierMs = NaN;
    this.#newSpan();
  }

  /**
   * Header address of the last heartbeat, `a.b.c.d:port`; a header that gives 0.0.0.0 (a
   * sender on IPv6) stands for the UDP source address, with the header's port.
   */
  get advertised(): string {
    if (this.#advertisedIpv4 === "") return "";
    return advertisedEndpoint(this.#advertisedIpv4, this.#advertisedPort, this.address);
  }

  /** Inferred interval in ms, null until two distinct timestamps arrived. */
  get intervalMs(): number | null {
    if (this.#intervalDirty) {
      this.#intervalCache = typicalGapSorted(this.#gaps!, this.#gapCount);
      this.#intervalDirty = false;
    }
    return this.#intervalCache;
  }

  /**
   * Heartbeats missed: closed spans, the current span up to {@linkcode HOLD_INTERVALS}
   * before its newest heartbeat (all of it while silent or once {@linkcode settle} was
   * called), late heartbeats, and the outage still going on. Never goes down.
   */
  get missed(): number {
    // A silent stream has no late heartbeat to wait for: its last slots count at once.
    const value = this.#missedClosed +
      this.#spanMissed(this.#settled || this.state === "silent") + this.#late + this.#ongoing;
    if (value > this.#missedShown) this.#missedShown = value;
    return this.#missedShown;
  }

  /** `missed / (missed + slots received) × 100`. */
  get lossPercent(): number {
    const missed = this.missed;
    const total = missed + this.messages - this.#extras;
    return total <= 0 ? 0 : (missed / total) * 100;
  }

  /**
   * Counts every slot of the span as settled, the last {@linkcode HOLD_INTERVALS} too: the
   * run is over, and no late heartbeat can fill them any more. Called before the final
   * summary.
   */
  settle(): void {
    this.#settled = true;
  }

  /**
   * Takes a pause of the receiver itself out of the stream's quiet time: nothing is
   * reported silent because the peer was stopped, suspended or blocked.
   *
   * @param pausedMs How long the receiver was paused.
   */
  forgivePause(pausedMs: number): void {
    this.#quietSinceMs += pausedMs;
  }

  /**
   * Counts one valid heartbeat. Called once per datagram on the receive path.
   *
   * @param sentAtMs Send time from the header, Unix ms.
   * @param checksum The header's Adler-32.
   * @param receivedAtMs Arrival time, Unix ms on the receiver's clock.
   * @param ipv4 Header address (for matching a target that sends from another port).
   * @param advertisedPort Header port.
   * @param withDelay False for a heartbeat that waited in the socket while the receiver was
   * paused: counted, but kept out of the delay and jitter figures.
   * @returns A set of `RECORD_*` bits.
   */
  record(
    sentAtMs: number,
    checksum: number,
    receivedAtMs: number,
    ipv4 = "",
    advertisedPort = 0,
    withDelay = true,
  ): number {
    if (this.#isOutlier(sentAtMs, receivedAtMs)) {
      if (!this.#clockMoved(sentAtMs)) {
        this.outliers++;
        return RECORD_OUTLIER;
      }
      // Three consistent outliers: the sender's clock moved. The old span is closed with
      // what it missed, and this heartbeat opens a new one.
      this.#closeSpan();
    } else {
      this.#outlierRun = 0;
    }
    const newest = this.newestSentAtMs;
    // Only a timestamp at or below the newest can repeat one already seen, so in-order
    // heartbeats skip the scan.
    if (sentAtMs <= newest && this.#isRecent(sentAtMs, checksum)) {
      this.duplicates++;
      return RECORD_DUPLICATE;
    }
    let result = RECORD_MESSAGE;
    if (this.state === "silent") {
      this.state = "up";
      this.lastOutageMs = receivedAtMs - this.lastHeardMs;
      const interval = this.intervalMs;
      this.lastOutageMissed = interval === null || !(sentAtMs > newest)
        ? 0
        : Math.max(0, roundHalfDown((sentAtMs - newest) / interval) - 1);
      // The outage's count so far stays in the counter; from here the timestamps say it.
      this.#missedShown = this.missed;
      this.#ongoing = 0;
      result |= RECORD_BACK;
    }
    let extra = false;
    if (!(newest === newest)) { // NaN: the span's first heartbeat
      this.#spanOldestMs = this.newestSentAtMs = sentAtMs;
      this.#spanSlots = 1;
    } else if (sentAtMs > newest) {
      const gap = this.#addGap(sentAtMs - newest);
      if (gap === "slot") {
        this.#spanSlots++;
      } else if (gap === "extra") {
        // A sender catching up: its extra heartbeat fills a slot the span still lacks, if
        // any (every slot was sent, late); past that it fills none, so it cannot hide a
        // later loss.
        const slots = roundHalfDown((sentAtMs - this.#spanOldestMs) / this.#spanIntervalMs()!) +
          1;
        if (slots > this.#spanSlots) {
          this.#spanSlots++;
        } else {
          extra = true;
          this.#extras++;
          this.#shortRunExtras++;
        }
      } else {
        // A new, shorter interval is sustained: the span of the old one is closed, and this
        // heartbeat opens one with the new interval.
        this.#closeSpan();
        this.#pushGap(gap);
        this.#spanOldestMs = sentAtMs;
        this.#spanSlots = 1;
      }
      this.newestSentAtMs = sentAtMs;
    } else if (sentAtMs < newest) {
      this.reordered++;
      result |= RECORD_REORDERED;
      if (sentAtMs < this.#spanOldestMs) this.#spanOldestMs = sentAtMs;
      const interval = this.intervalMs;
      if (interval !== null && !this.#settled && sentAtMs < this.#anchorMs(interval)) {
        // Its slot was already counted missed, and a counter does not go back: it stays
        // missed (and is a message, reordered). Counted here so the span's figure, which
        // it now fills, does not hide a later loss.
        this.#late++;
      }
      this.#spanSlots++;
    } else {
      // The newest timestamp again with another checksum: another heartbeat of that slot.
      extra = true;
      this.#extras++;
    }
    this.#remember(sentAtMs, checksum, extra);
    this.messages++;
    this.lastHeardMs = this.#quietSinceMs = receivedAtMs;
    if (withDelay) {
      const transit = receivedAtMs - sentAtMs;
      if (this.#previousTransitMs === this.#previousTransitMs) { // not NaN
        this.jitterMs += (Math.abs(transit - this.#previousTransitMs) - this.jitterMs) *
          JITTER_GAIN;
      }
      this.#previousTransitMs = transit;
      this.lastElapsedMs = transit;
      if (transit < this.minMs) this.minMs = transit;
      if (transit > this.maxMs) this.maxMs = transit;
      this.sumMs += transit;
      this.sumSquaresMs += transit * transit;
      this.delays++;
    } else {
      // The next delay's change is measured from a heartbeat that did not wait.
      this.#previousTransitMs = NaN;
    }
    if (this.#advertisedIpv4 !== ipv4) this.#advertisedIpv4 = ipv4;
    this.#advertisedPort = advertisedPort;
    return result;
  }

  /**
   * Declares the stream silent if it has a known interval and nothing distinct arrived for
   * `downAfter` of them, reporting each outage once; while it is silent, counts one more
   * missed heartbeat for each interval that passes.
   *
   * @param nowMs The current time, Unix ms on the receiver's clock.
   * @param downAfter How many intervals of quiet make a stream silent.
   * @returns The quiet time that made it silent (`downAfter × interval`) when it just went
   * silent, otherwise undefined.
   */
  checkSilent(nowMs: number, downAfter: number): number | undefined {
    if (this.messages === 0) return undefined;
    const interval = this.intervalMs;
    if (interval === null) return undefined;
    const quietMs = nowMs - this.#quietSinceMs;
    // A slot is missed once half an interval has passed since its heartbeat was due.
    const ongoing = Math.max(0, Math.floor(quietMs / interval - 0.5));
    if (this.state === "silent") {
      if (ongoing > this.#ongoing) this.#ongoing = ongoing;
      return undefined;
    }
    const threshold = downAfter * interval;
    if (quietMs < threshold) return undefined;
    this.state = "silent";
    this.outages++;
    this.#ongoing = ongoing;
    return threshold;
  }

  /** The current span's missed slots, up to the hold or, settled, all of them. */
  #spanMissed(settled: boolean): number {
    const interval = this.intervalMs;
    if (interval === null || this.#spanSlots === 0) return 0;
    const oldest = this.#spanOldestMs;
    const spanInterval = this.#spanIntervalMs()!;
    if (settled) {
      return Math.max(
        0,
        roundHalfDown((this.newestSentAtMs - oldest) / spanInterval) + 1 - this.#spanSlots,
      );
    }
    // Counted up to a heartbeat that arrived, not up to a computed time: a whole-second
    // sender's truncated stamps wander by up to a second, and the span's own formula holds.
    const anchor = this.#anchorMs(interval);
    if (!(anchor === anchor)) return 0;
    const slots = roundHalfDown((anchor - oldest) / spanInterval) + 1;
    return Math.max(0, slots - (this.#spanSlots - this.#slotsAfter(anchor)));
  }

  /**
   * The newest heartbeat that filled a slot more than {@linkcode HOLD_INTERVALS} intervals
   * before the newest: the slots up to it are counted, later ones may still be filled by a
   * late heartbeat. NaN when there is none.
   */
  #anchorMs(interval: number): number {
    const limit = this.newestSentAtMs - (HOLD_INTERVALS + 0.5) * interval;
    if (this.#recentCount === 0) return this.#firstSent <= limit ? this.#firstSent : NaN;
    const sent = this.#recentSent!;
    const extra = this.#recentExtra!;
    let anchor = NaN;
    for (let i = 0; i < this.#recentCount; i++) {
      const at = sent[i]!;
      if (at <= limit && extra[i] === 0 && !(at <= anchor)) anchor = at;
    }
    // Every recent heartbeat is newer (a burst filled the ring): the oldest of the span is.
    if (!(anchor === anchor) && this.#spanSlots > this.#recentCount) return this.#spanOldestMs;
    return anchor;
  }

  /** Recent heartbeats that filled a slot after `sentAtMs`. */
  #slotsAfter(sentAtMs: number): number {
    if (this.#recentCount === 0) return this.#firstSent > sentAtMs ? 1 : 0;
    const sent = this.#recentSent!;
    const extra = this.#recentExtra!;
    let count = 0;
    for (let i = 0; i < this.#recentCount; i++) {
      if (sent[i]! > sentAtMs && extra[i] === 0) count++;
    }
    return count;
  }

  /** Whether a timestamp is absurd for this stream (see the module documentation). */
  #isOutlier(sentAtMs: number, receivedAtMs: number): boolean {
    const newest = this.newestSentAtMs;
    if (!(newest === newest)) {
      return sentAtMs - receivedAtMs > OUTLIER_AHEAD_MS || sentAtMs < OUTLIER_BEFORE_MS;
    }
    // Within an hour is never a jump: the interval is not computed for it.
    const jump = Math.abs(sentAtMs - newest);
    return jump > OUTLIER_MIN_JUMP_MS && jump > this.#outlierJumpMs();
  }

  #outlierJumpMs(): number {
    return Math.max(OUTLIER_MIN_JUMP_MS, OUTLIER_INTERVALS * (this.intervalMs ?? 0));
  }

  /** Counts an outlier into the run of consistent ones; true when the run is long enough. */
  #clockMoved(sentAtMs: number): boolean {
    const last = this.#lastOutlierMs;
    const consistent = this.#outlierRun > 0 && sentAtMs > last &&
      sentAtMs - last <= this.#outlierJumpMs();
    this.#outlierRun = consistent ? this.#outlierRun + 1 : 1;
    this.#lastOutlierMs = sentAtMs;
    if (this.#outlierRun < OUTLIERS_FOR_NEW_SPAN) return false;
    this.#outlierRun = 0;
    return true;
  }

  /** Settles the current span into the missed count and starts an empty one. */
  #closeSpan(): void {
    this.#missedClosed += this.#spanMissed(true);
    this.#newSpan();
  }

  #newSpan(): void {
    this.newestSentAtMs = this.#spanOldestMs = NaN;
    this.#spanSlots = 0;
    this.#previousTransitMs = NaN;
    this.#shortGaps = this.#shortSpanMs = this.#shortRunExtras = 0;
    this.#clearGaps();
    this.#intervalCache = null;
    this.#intervalDirty = false;
    this.#recentCount = this.#recentNext = 0;
    this.#firstSent = NaN;
    this.#firstChecksum = 0;
  }

  /**
   * Adds a gap to the interval's window, unless it is a burst's.
   *
   * @returns `slot` for a gap of the interval (the heartbeat fills a slot), `extra` for a
   * burst's gap, or the new interval in ms when short gaps were sustained.
   */
  #addGap(gapMs: number): "slot" | "extra" | number {
    // The interval is within a tenth of the window's lower median (typicalGap), so a gap of
    // 0.6 of that median or more (over (1 + 1/10) × BURST_GAP = 0.55, with room for
    // rounding) is no burst's whatever the interval: the interval is computed only for a gap
    // that may be short, not once per datagram.
    const mayBeShort = this.#gapCount >= BURST_MIN_GAPS &&
      gapMs < windowMedian(this.#gaps!, this.#gapCount) * 0.6;
    const interval = mayBeShort ? this.intervalMs : null;
    if (interval !== null && gapMs < interval * BURST_GAP) {
      this.#shortGaps++;
      this.#shortSpanMs += gapMs;
      if (this.#shortGaps < SUSTAIN_GAPS || this.#shortSpanMs < SUSTAIN_INTERVALS * interval) {
        return "extra";
      }
      // Sustained: the run's extra heartbeats (this one aside) filled slots after all.
      this.#extras -= this.#shortRunExtras;
      this.#spanSlots += this.#shortRunExtras;
      this.#unmarkExtras(this.#shortGaps - 1);
      const mean = this.#shortSpanMs / this.#shortGaps;
      this.#shortGaps = this.#shortSpanMs = this.#shortRunExtras = 0;
      if (this.#gapCount < GAP_WINDOW / 2) {
        // A young stream whose first gaps held losses (two or three intervals each): the
        // estimate was too long, the span is right. The true interval takes over the window.
        this.#clearGaps();
        this.#pushGap(mean);
        return "slot";
      }
      // An established stream whose sender really changed its interval: a new span.
      return mean;
    }
    // The first gap after a burst runs from its last heartbeat, not from a slot: it says
    // nothing of the interval.
    if (this.#shortGaps === 0) this.#pushGap(gapMs);
    this.#shortGaps = this.#shortSpanMs = this.#shortRunExtras = 0;
    return "slot";
  }

  /** The last `count` recent heartbeats filled slots after all: no longer marked extra. */
  #unmarkExtras(count: number): void {
    const extra = this.#recentExtra;
    if (extra === undefined) return;
    for (let n = 0, i = this.#recentNext; n < Math.min(count, this.#recentCount); n++) {
      i = i === 0 ? RECENT_WINDOW - 1 : i - 1;
      extra[i] = 0;
    }
  }

  /** Empties the interval's window and the span's sum of gaps made with it. */
  #clearGaps(): void {
    this.#gapCount = this.#gapNext = 0;
    this.#spanGapSum = this.#spanGapSlots = 0;
    this.#spanGapUnit = NaN;
  }

  #pushGap(gapMs: number): void {
    // One array: the window in arrival order, then the same gaps sorted.
    const gaps = this.#gaps ??= new Float64Array(2 * GAP_WINDOW);
    let count = this.#gapCount;
    if (count === GAP_WINDOW) {
      // The gap this one replaces leaves the sorted copy (it is there: the same value).
      const evicted = gaps[this.#gapNext]!;
      let i = GAP_WINDOW;
      const end = GAP_WINDOW + count;
      while (i < end - 1 && gaps[i] !== evicted) i++;
      for (; i < end - 1; i++) gaps[i] = gaps[i + 1]!;
      count--;
    }
    let j = GAP_WINDOW + count - 1;
    while (j >= GAP_WINDOW && gaps[j]! > gapMs) {
      gaps[j + 1] = gaps[j]!;
      j--;
    }
    gaps[j + 1] = gapMs;
    gaps[this.#gapNext] = gapMs;
    this.#gapNext = (this.#gapNext + 1) % GAP_WINDOW;
    this.#gapCount = count + 1;
    this.#intervalDirty = true;
    // Once the window holds half its gaps (its median past a loss or two at the start), a
    // gap of k slots, within an eighth of k times that median, joins the span's sum; only
    // while no gap of the window is under three quarters of its median: under heavy loss
    // the median can be two intervals, and a window holding a gap of one says so.
    if (count + 1 < GAP_WINDOW / 2) return;
    const median = windowMedian(gaps, count + 1);
    if (gaps[GAP_WINDOW]! < median * 0.75) return;
    // Summed in one unit: a window whose median moved by an eighth (losses at the start, or
    // a young stream's corrected interval) starts the sum again, where a looser unit let a
    // gap of three slots count as two (health_oracle_test.ts).
    if (!(Math.abs(median - this.#spanGapUnit) <= this.#spanGapUnit / 8)) {
      this.#spanGapSum = this.#spanGapSlots = 0;
      this.#spanGapUnit = median;
    }
    const slots = Math.round(gapMs / median);
    if (
      slots >= 1 && slots <= MAX_SPAN_GAP_SLOTS &&
      Math.abs(gapMs - slots * median) <= slots * median / 8
    ) {
      this.#spanGapSum += gapMs;
      this.#spanGapSlots += slots;
    }
  }

  /**
   * The interval a span's slots are counted by: the span's gaps summed and divided by the
   * slots they span, once {@linkcode GAP_WINDOW} slots are known and while it agrees with
   * {@linkcode intervalMs} (the last 16 gaps) within a tenth; else intervalMs. The sum
   * telescopes: the send times' jitter enters it at the ends of its runs only, where the
   * mean of 16 gaps carries a sixteenth of it, which a span of thousands of slots multiplies
   * into slots missed that never were (a lossless hour at 100 ms ±3 ms: 30 to 102 missed;
   * at 20 ms ±1 ms: 222; now none, health_test.ts).
   */
  #spanIntervalMs(): number | null {
    const interval = this.intervalMs;
    if (interval === null || this.#spanGapSlots < GAP_WINDOW) return interval;
    const spanInterval = this.#spanGapSum / this.#spanGapSlots;
    return Math.abs(spanInterval - interval) <= interval / 10 ? spanInterval : interval;
  }

  #remember(sentAtMs: number, checksum: number, extra: boolean): void {
    if (this.#recentSent === undefined) {
      // The first heartbeat waits in the fields until a second one needs the ring.
      if (!(this.#firstSent === this.#firstSent)) {
        this.#firstSent = sentAtMs;
        this.#firstChecksum = checksum;
        return;
      }
      this.#recentSent = new Float64Array(RECENT_WINDOW);
      this.#recentChecksum = new Uint32Array(RECENT_WINDOW);
      this.#recentExtra = new Uint8Array(RECENT_WINDOW);
      this.#recentSent[0] = this.#firstSent;
      this.#recentChecksum[0] = this.#firstChecksum;
      this.#recentExtra[0] = 0;
      this.#recentCount = this.#recentNext = 1;
    } else if (this.#recentCount === 0 && this.#firstSent === this.#firstSent) {
      // A reused ring after a new span: the span's first heartbeat joins it now.
      this.#recentSent[0] = this.#firstSent;
      this.#recentChecksum![0] = this.#firstChecksum;
      this.#recentExtra![0] = 0;
      this.#recentCount = this.#recentNext = 1;
    } else if (this.#recentCount === 0) {
      this.#firstSent = sentAtMs;
      this.#firstChecksum = checksum;
      return;
    }
    this.#recentSent[this.#recentNext] = sentAtMs;
    this.#recentChecksum![this.#recentNext] = checksum;
    this.#recentExtra![this.#recentNext] = extra ? 1 : 0;
    this.#recentNext = (this.#recentNext + 1) % RECENT_WINDOW;
    if (this.#recentCount < RECENT_WINDOW) this.#recentCount++;
  }

  #isRecent(sentAtMs: number, checksum: number): boolean {
    if (this.#recentCount === 0) {
      return this.#firstSent === sentAtMs && this.#firstChecksum === checksum;
    }
    const sent = this.#recentSent!;
    const checksums = this.#recentChecksum!;
    // Newest first: a repeat usually follows its original closely (a flood that sends one
    // datagram many times, a link that duplicates), so the scan ends at once.
    for (let n = 0, i = this.#recentNext; n < this.#recentCount; n++) {
      i = i === 0 ? RECENT_WINDOW - 1 : i - 1;
      if (sent[i] === sentAtMs && checksums[i] === checksum) return true;
    }
    return false;
  }
}
