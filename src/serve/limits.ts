/**
 * The per-client reply limit of `udpeer serve` over UDP: a token bucket per source IP
 * address, `rate` replies per second with a burst of `rate`. Without it the server answers
 * any source, forged or not, as fast as requests arrive: an open reflector, as the echo and
 * chargen services on ports 7 and 19 once were. The table of buckets is bounded; a bucket
 * that is not in the table is full, so dropping the least recently used one loses nothing
 * once it has had time to refill. Pure: the time is a parameter. With a capacity of 1 and
 * one key it is the single bucket of `--rate-total`, shared by all sources.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RateLimiter } from "./limits.ts";
 * const limiter = new RateLimiter(2); // 2 replies/s, burst 2
 * assert.ok(limiter.allow("192.0.2.1", 0) && limiter.allow("192.0.2.1", 0));
 * assert.ok(!limiter.allow("192.0.2.1", 0));     // the burst is spent
 * assert.ok(limiter.allow("192.0.2.2", 0));      // another source has its own bucket
 * assert.ok(limiter.allow("192.0.2.1", 500));    // half a second refills one token
 * ```
 *
 * @module
 */

/** Source addresses whose buckets are remembered; the least recently seen goes first. */
export const MAX_RATE_CLIENTS = 65_536;

/** One source's bucket: tokens left at the time of its last request. */
interface Bucket {
  tokens: number;
  at: number;
}

/** Token buckets per source address, in a table of bounded size. */
export class RateLimiter {
  #rate: number;
  #capacity: number;
  #buckets = new Map<string, Bucket>();

  /**
   * Creates the limiter.
   *
   * @param rate Replies per second per source, and the burst (a full bucket).
   * @param capacity Most buckets remembered (default {@linkcode MAX_RATE_CLIENTS}).
   */
  constructor(rate: number, capacity: number = MAX_RATE_CLIENTS) {
    this.#rate = rate;
    this.#capacity = capacity;
  }

  /** Buckets in the table. */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Takes one token from the source's bucket if it has one.
   *
   * @param source The source address (IP only: every port of a host shares its bucket).
   * @param nowMs The current time in milliseconds (any monotonic clock).
   * @returns True if the request may be answered, false if it is over the limit.
   */
  allow(source: string, nowMs: number): boolean {
    const bucket = this.#buckets.get(source);
    let tokens = this.#rate;
    if (bucket !== undefined) {
      const refill = (Math.max(0, nowMs - bucket.at) / 1000) * this.#rate;
      tokens = Math.min(this.#rate, bucket.tokens + refill);
      this.#buckets.delete(source); // re-inserted below: Map order is recency order
    } else if (this.#buckets.size >= this.#capacity) {
      this.#buckets.delete(this.#buckets.keys().next().value!);
    }
    const allowed = tokens >= 1;
    this.#buckets.set(source, { tokens: allowed ? tokens - 1 : tokens, at: nowMs });
    return allowed;
  }
}
