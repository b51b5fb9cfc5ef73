/**
 * Link health of one stream (one UDP source IP and port), measured from the heartbeats
 * alone (see docs/link-health.md): the wire format has no sequence number, so everything comes from the
 * send timestamps, their checksums and the arrival times.
 *
 * - **interval**: the lower median of the last 16 positive gaps between a heartbeat and the
 *   newest one before it (a lost heartbeat makes a gap twice as long, so the lower median
 *   stays on the true interval while fewer than half the gaps hold a loss);
 * - **missed**: `round((newest − oldest) / interval) + 1 − heartbeats`, never below 0, with
 *   halves rounded down: a whole-second sender's truncated timestamps can stretch a span by
 *   just under one second, which is exactly half of a 2 s interval;
 * - **duplicates**: same timestamp and checksum as one of the last 64 heartbeats;
 * - **reordered**: a timestamp older than the newest already seen;
 * - **jitter**: RFC 3550 §6.4.1, `J += (|D| − J) / 16`;
 * - **silent / back**: quiet for `downAfter` intervals, then heard again.
 *
 * The receive path calls {@linkcode StreamHealth.record} once per datagram: it is O(1)
 * amortised and allocates nothing after the stream's second heartbeat (fixed rings of 16
 * gaps and 64 recent heartbeats). The median is computed only when someone reads the
 * interval, which happens per check or report, not per datagram.
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
 * for (const k of [0, 1, 3, 4]) stream.record(k * 1000, k, k * 1000 + 0.5);
 * assert.ok(stream.intervalMs === 1000 && stream.missed === 1 && stream.lossPercent === 20);
 * ```
 *
 * @module
 */

/** Whether a stream is heard (`up`) or has gone quiet for `--down-after` intervals. */
export type StreamState = "up" | "silent";

/**
 * What anyone may read about a stream: the summary, `--watch`, metrics. All times are Unix
 * milliseconds on the receiver's clock unless said otherwise.
 */
export interface StreamStats {
  /** Source IPv4, as the socket reports it. */
  readonly address: string;
  /** Source UDP port. */
  readonly port: number;
  /** Distinct valid heartbeats (reordered ones included, duplicates not). */
  readonly messages: number;
  /** Invalid datagrams from this stream. */
  readonly invalid: number;
  /** Heartbeats that repeated one of the last 64 (same timestamp and checksum). */
  readonly duplicates: number;
  /** Heartbeats older than the newest one already seen. */
  readonly reordered: number;
  /** Inferred interval in ms, null until two distinct timestamps arrived. */
  readonly intervalMs: number | null;
  /** Heartbeats expected from the span of timestamps but not received, ≥ 0. */
  readonly missed: number;
  /** `missed / expected × 100`, 0 while the interval is unknown. */
  readonly lossPercent: number;
  /** RFC 3550 interarrival jitter in ms. */
  readonly jitterMs: number;
  /** How many times the stream went silent. */
  readonly outages: number;
  /** `up` or `silent`. */
  readonly state: StreamState;
  /** Arrival time of the last distinct heartbeat, NaN before the first. */
  readonly lastHeardMs: number;
  /** Elapsed time (arrival − send) of the last distinct heartbeat, NaN before the first. */
  readonly lastElapsedMs: number;
  /** Smallest elapsed time (Infinity before the first heartbeat). */
  readonly minMs: number;
  /** Largest elapsed time (−Infinity before the first heartbeat). */
  readonly maxMs: number;
  /** Sum of elapsed times, for the mean. */
  readonly sumMs: number;
  /** Sum of squared elapsed times, for the standard deviation. */
  readonly sumSquaresMs: number;
  /** The newest send time seen (Unix ms), NaN before the first heartbeat. */
  readonly newestSentAtMs: number;
  /** Header address of the last heartbeat, `a.b.c.d:port`, "" before the first. */
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

/** Positive gaps kept for the interval's median (see docs/link-health.md). */
export const GAP_WINDOW = 16;
/** Recent heartbeats kept to recognise duplicates (see docs/link-health.md). */
export const RECENT_WINDOW = 64;
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
 * the two middle ones). Allocates a scratch copy; it runs per report, not per datagram.
 *
 * @param ring The values.
 * @param count How many are valid.
 * @returns The lower median, NaN for none.
 */
export function lowerMedian(ring: ArrayLike<number>, count: number): number {
  if (count === 0) return NaN;
  const sorted = Float64Array.from({ length: count }, (_, i) => ring[i]!).sort();
  return sorted[(count - 1) >> 1]!;
}

/** Health of one stream; see the module documentation for the definitions. */
export class StreamHealth implements StreamStats {
  /** Source IPv4. */
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
  /** RFC 3550 jitter in ms. */
  jitterMs: number = 0;
  /** Times the stream went silent. */
  outages: number = 0;
  /** `up` or `silent`. */
  state: StreamState = "up";
  /** Arrival of the last distinct heartbeat. */
  lastHeardMs: number = NaN;
  /** Elapsed time of the last distinct heartbeat. */
  lastElapsedMs: number = NaN;
  /** Smallest elapsed time. */
  minMs: number = Infinity;
  /** Largest elapsed time. */
  maxMs: number = -Infinity;
  /** Sum of elapsed times. */
  sumMs: number = 0;
  /** Sum of squared elapsed times. */
  sumSquaresMs: number = 0;
  /** Newest send time. */
  newestSentAtMs: number = NaN;
  /** Oldest send time. */
  oldestSentAtMs: number = NaN;
  /** Length of the last outage in ms (set when {@linkcode record} reports `RECORD_BACK`). */
  lastOutageMs: number = 0;
  /** Heartbeats missed in the last outage (set with {@linkcode lastOutageMs}). */
  lastOutageMissed: number = 0;

  #advertisedIpv4 = "";
  #advertisedPort = 0;
  #previousTransitMs = NaN;
  // The rings are made at the second heartbeat: a flood of forged one-datagram sources
  // then costs a small object each, not ~1 KiB.
  #gaps: Float64Array | undefined;
  #gapCount = 0;
  #gapNext = 0;
  #intervalCache: number | null = null;
  #intervalDirty = false;
  #recentSent: Float64Array | undefined;
  #recentChecksum: Uint32Array | undefined;
  #recentCount = 0;
  #recentNext = 0;

  /**
   * Creates the state of a stream that has sent nothing yet.
   *
   * @param address Source IPv4.
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
   * @param address Source IPv4.
   * @param port Source UDP port.
   */
  reset(address: string, port: number): void {
    // The fields are readonly to readers; only the table that owns the record rewrites them.
    const self = this as { address: string; port: number };
    self.address = address;
    self.port = port;
    this.messages = this.invalid = 0;
    this.duplicates = this.reordered = 0;
    this.jitterMs = 0;
    this.outages = 0;
    this.state = "up";
    this.lastHeardMs = this.lastElapsedMs = NaN;
    this.minMs = Infinity;
    this.maxMs = -Infinity;
    this.sumMs = this.sumSquaresMs = 0;
    this.newestSentAtMs = this.oldestSentAtMs = NaN;
    this.lastOutageMs = this.lastOutageMissed = 0;
    this.#advertisedIpv4 = "";
    this.#advertisedPort = 0;
    this.#previousTransitMs = NaN;
    this.#gapCount = this.#gapNext = 0;
    this.#intervalCache = null;
    this.#intervalDirty = false;
    this.#recentCount = this.#recentNext = 0;
    this.#firstSent = NaN;
    this.#firstChecksum = 0;
  }

  /** Header address of the last heartbeat, `a.b.c.d:port`. */
  get advertised(): string {
    return this.#advertisedIpv4 === "" ? "" : `${this.#advertisedIpv4}:${this.#advertisedPort}`;
  }

  /**
   * Whether the last heartbeat's header advertised exactly this address and port.
   *
   * @param ipv4 An IPv4 address.
   * @param port A UDP port.
   * @returns True on an exact match.
   */
  advertises(ipv4: string, port: number): boolean {
    return this.#advertisedIpv4 === ipv4 && this.#advertisedPort === port;
  }

  /** Inferred interval in ms, null until two distinct timestamps arrived. */
  get intervalMs(): number | null {
    if (this.#intervalDirty) {
      this.#intervalCache = lowerMedian(this.#gaps!, this.#gapCount);
      this.#intervalDirty = false;
    }
    return this.#intervalCache;
  }

  /** Heartbeats expected from the first (oldest) to the newest timestamp. */
  get expected(): number {
    const interval = this.intervalMs;
    if (interval === null) return this.messages;
    return roundHalfDown((this.newestSentAtMs - this.oldestSentAtMs) / interval) + 1;
  }

  /** Missed heartbeats, never below 0. */
  get missed(): number {
    return Math.max(0, this.expected - this.messages);
  }

  /** `missed / expected × 100`. */
  get lossPercent(): number {
    const expected = this.expected;
    return expected <= 0 ? 0 : (this.missed / expected) * 100;
  }

  /**
   * Counts one valid heartbeat. Called once per datagram on the receive path.
   *
   * @param sentAtMs Send time from the header, Unix ms.
   * @param checksum The header's Adler-32.
   * @param receivedAtMs Arrival time, Unix ms on the receiver's clock.
   * @param ipv4 Header address (for matching a target that sends from another port).
   * @param advertisedPort Header port.
   * @returns A set of `RECORD_*` bits.
   */
  record(
    sentAtMs: number,
    checksum: number,
    receivedAtMs: number,
    ipv4 = "",
    advertisedPort = 0,
  ): number {
    let result = RECORD_MESSAGE;
    const newest = this.newestSentAtMs;
    if (this.state === "silent" && !(sentAtMs <= newest && this.#isRecent(sentAtMs, checksum))) {
      // Measured before this heartbeat's gap joins the interval's window.
      this.state = "up";
      this.lastOutageMs = receivedAtMs - this.lastHeardMs;
      const interval = this.intervalMs;
      this.lastOutageMissed = interval === null || !(sentAtMs > newest)
        ? 0
        : Math.max(0, roundHalfDown((sentAtMs - newest) / interval) - 1);
      result |= RECORD_BACK;
    }
    if (this.messages === 0) {
      this.oldestSentAtMs = this.newestSentAtMs = sentAtMs;
    } else {
      // Only a timestamp at or below the newest can repeat one already seen, so in-order
      // heartbeats skip the scan.
      if (sentAtMs <= newest && this.#isRecent(sentAtMs, checksum)) {
        this.duplicates++;
        return RECORD_DUPLICATE;
      }
      if (sentAtMs > newest) {
        this.#addGap(sentAtMs - newest);
        this.newestSentAtMs = sentAtMs;
      } else if (sentAtMs < newest) {
        this.reordered++;
        result |= RECORD_REORDERED;
        if (sentAtMs < this.oldestSentAtMs) this.oldestSentAtMs = sentAtMs;
      }
    }
    this.#remember(sentAtMs, checksum);
    this.messages++;
    this.lastHeardMs = receivedAtMs;
    const transit = receivedAtMs - sentAtMs;
    if (this.#previousTransitMs === this.#previousTransitMs) { // not NaN
      this.jitterMs += (Math.abs(transit - this.#previousTransitMs) - this.jitterMs) * JITTER_GAIN;
    }
    this.#previousTransitMs = transit;
    this.lastElapsedMs = transit;
    if (transit < this.minMs) this.minMs = transit;
    if (transit > this.maxMs) this.maxMs = transit;
    this.sumMs += transit;
    this.sumSquaresMs += transit * transit;
    if (this.#advertisedIpv4 !== ipv4) this.#advertisedIpv4 = ipv4;
    this.#advertisedPort = advertisedPort;
    return result;
  }

  /**
   * Declares the stream silent if it has a known interval and nothing distinct arrived for
   * `downAfter` of them. Reports each outage once.
   *
   * @param nowMs The current time, Unix ms on the receiver's clock.
   * @param downAfter How many intervals of quiet make a stream silent.
   * @returns The quiet time that made it silent (`downAfter × interval`) when it just went
   * silent, otherwise undefined.
   */
  checkSilent(nowMs: number, downAfter: number): number | undefined {
    if (this.state !== "up" || this.messages === 0) return undefined;
    const interval = this.intervalMs;
    if (interval === null) return undefined;
    const threshold = downAfter * interval;
    if (nowMs - this.lastHeardMs < threshold) return undefined;
    this.state = "silent";
    this.outages++;
    return threshold;
  }

  #addGap(gapMs: number): void {
    this.#gaps ??= new Float64Array(GAP_WINDOW);
    this.#gaps[this.#gapNext] = gapMs;
    this.#gapNext = (this.#gapNext + 1) % GAP_WINDOW;
    if (this.#gapCount < GAP_WINDOW) this.#gapCount++;
    this.#intervalDirty = true;
  }

  #remember(sentAtMs: number, checksum: number): void {
    if (this.#recentSent === undefined) {
      // The first heartbeat waits in the fields until a second one needs the ring.
      if (this.messages === 0) {
        this.#firstSent = sentAtMs;
        this.#firstChecksum = checksum;
        return;
      }
      this.#recentSent = new Float64Array(RECENT_WINDOW);
      this.#recentChecksum = new Uint32Array(RECENT_WINDOW);
      this.#recentSent[0] = this.#firstSent;
      this.#recentChecksum[0] = this.#firstChecksum;
      this.#recentCount = this.#recentNext = 1;
    }
    this.#recentSent[this.#recentNext] = sentAtMs;
    this.#recentChecksum![this.#recentNext] = checksum;
    this.#recentNext = (this.#recentNext + 1) % RECENT_WINDOW;
    if (this.#recentCount < RECENT_WINDOW) this.#recentCount++;
  }

  #firstSent = NaN;
  #firstChecksum = 0;

  #isRecent(sentAtMs: number, checksum: number): boolean {
    const sent = this.#recentSent;
    if (sent === undefined) return this.#firstSent === sentAtMs && this.#firstChecksum === checksum;
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
