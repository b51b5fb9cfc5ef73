/**
 * Per-source statistics with a bounded size. Anyone can send a datagram from a forged
 * source address, so the table keeps at most `capacity` sources and drops the least
 * recently seen one first, counting how many it dropped. Beside the per-IP counts (SPEC §3)
 * it keeps the health of each stream, one per source IP and port (SPEC §3a,
 * {@linkcode StreamHealth}), bounded the same way.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SourceTable } from "./sources.ts";
 * const table = new SourceTable(2);
 * table.recordMessage("127.0.0.2", 0.4);
 * table.recordMessage("127.0.0.2", 0.6);
 * table.recordInvalid("127.0.0.3");
 * table.recordMessage("127.0.0.4", 0.1); // drops 127.0.0.2, the least recently seen
 * assert.ok(table.dropped === 1 && table.get("127.0.0.2") === undefined);
 * ```
 *
 * @module
 */

/** What the table knows about one source IP. */
export interface SourceStats {
  /** The source IPv4 address as the socket reports it. */
  address: string;
  /** Valid heartbeats received. */
  messages: number;
  /** Invalid datagrams received. */
  invalid: number;
  /** Repeated heartbeats (SPEC §3a), counted apart from messages. */
  duplicates: number;
  /** Smallest elapsed time in ms (Infinity until a message arrives). */
  minMs: number;
  /** Largest elapsed time in ms (-Infinity until a message arrives). */
  maxMs: number;
  /** Sum of elapsed times, for the mean. */
  sumMs: number;
  /** Sum of squared elapsed times, for the standard deviation. */
  sumSquaresMs: number;
}

/** The sums a source or a stream keeps of its elapsed times. */
export type ElapsedSums = Pick<
  SourceStats,
  "messages" | "minMs" | "maxMs" | "sumMs" | "sumSquaresMs"
>;

/** Elapsed-time statistics in ms, as ping prints them. */
export interface ElapsedSummary {
  /** Smallest. */
  min: number;
  /** Mean. */
  avg: number;
  /** Largest. */
  max: number;
  /** Standard deviation (ping's mdev). */
  mdev: number;
}

import { StreamHealth, type StreamStats } from "./health.ts";

/** Smallest capacity the spec allows. */
export const DEFAULT_CAPACITY = 65_536;

/** A slot in a recency list: the entries seen just before and just after it. */
interface Linked<T> {
  /** The entry seen just before this one, undefined for the least recently seen. */
  older: T | undefined;
  /** The entry seen just after this one, undefined for the most recently seen. */
  newer: T | undefined;
}

/** A table slot: a source's statistics and its neighbours in recency order. */
interface Entry extends Linked<Entry> {
  stats: SourceStats;
}

/** A stream slot, listed by recency among all streams. */
interface StreamEntry extends Linked<StreamEntry> {
  health: StreamHealth;
}

/**
 * A doubly linked list in recency order: touching a known entry relinks two objects and
 * the least recently seen is always at hand.
 */
class RecencyList<T extends Linked<T>> {
  oldest: T | undefined;
  newest: T | undefined;

  touch(entry: T): void {
    if (entry !== this.newest) {
      this.unlink(entry);
      this.append(entry);
    }
  }

  unlink(entry: T): void {
    if (entry.older === undefined) this.oldest = entry.newer;
    else entry.older.newer = entry.newer;
    if (entry.newer === undefined) this.newest = entry.older;
    else entry.newer.older = entry.older;
    entry.older = entry.newer = undefined;
  }

  append(entry: T): void {
    entry.older = this.newest;
    if (this.newest === undefined) this.oldest = entry;
    else this.newest.newer = entry;
    this.newest = entry;
  }
}

/** A bounded map from source IP to its statistics, least recently seen dropped first. */
export class SourceTable {
  /** Most sources kept at once. */
  readonly capacity: number;
  /** How many sources were dropped to stay within capacity. */
  dropped = 0;
  // Recency lives in a doubly linked list beside the Map, so touching a known source only
  // relinks two objects (~10 ns) and the oldest is always at hand. The usual Map-as-LRU
  // idiom costs far more in V8 (sources_bench.ts): re-inserting (delete + set) on every
  // datagram makes it rework its hash table, ~0.2 µs with one source and ~30 µs once a
  // flood of forged sources has filled the table, which would cap the receiver near 30,000
  // datagrams/s; and `keys().next()` to find the oldest walks over every entry deleted
  // since the table was last compacted, several µs per eviction.
  //
  // Once the table is full, a new source or stream takes over the slot (and the records)
  // of the one it evicts instead of allocating new ones: a flood of forged sources would
  // otherwise leave one dead record per datagram for the collector, and V8 answers such
  // churn by growing its old generation to several times the live size and keeping the
  // pages (docs/performance.md, "Memory under forged sources").
  #entries = new Map<string, Entry>();
  #recency = new RecencyList<Entry>();
  /** How many streams were dropped to stay within capacity. */
  droppedStreams = 0;
  // Streams by address, then port: two lookups with the strings and numbers the socket
  // already gave, instead of building an "address:port" key per datagram. An address with
  // one stream (nearly all of them, and every forged one) maps to its entry directly; a
  // Map of ports is made only for the second port of an address.
  #streams = new Map<string, StreamEntry | Map<number, StreamEntry>>();
  #streamCount = 0;
  #streamRecency = new RecencyList<StreamEntry>();
  #onEvictStream: ((stream: StreamHealth) => boolean) | undefined;

  /**
   * Creates an empty table.
   *
   * @param capacity Most sources kept, at least 1.
   * @param onEvictStream Called with each stream dropped to stay within capacity; returns
   * true if something outside the table still holds that record (a target answered by it),
   * which the table then never reuses for another stream. Anything keyed by the record
   * (a peer name, a histogram) must be forgotten here when it returns false.
   */
  constructor(
    capacity: number = DEFAULT_CAPACITY,
    onEvictStream?: (stream: StreamHealth) => boolean,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`Cannot create table: capacity ${capacity} is not a whole number ≥ 1`);
    }
    this.capacity = capacity;
    this.#onEvictStream = onEvictStream;
  }

  /** Number of sources in the table. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Looks up a source without changing its recency.
   *
   * @param address Source IPv4.
   * @returns Its statistics, or undefined if unknown or dropped.
   */
  get(address: string): SourceStats | undefined {
    return this.#entries.get(address)?.stats;
  }

  /**
   * Counts a valid message and its elapsed time.
   *
   * @param address Source IPv4.
   * @param elapsedMs Receive time minus send time, in ms.
   * @returns The source's statistics after the update.
   */
  recordMessage(address: string, elapsedMs: number): SourceStats {
    const stats = this.#touch(address);
    stats.messages++;
    if (elapsedMs < stats.minMs) stats.minMs = elapsedMs;
    if (elapsedMs > stats.maxMs) stats.maxMs = elapsedMs;
    stats.sumMs += elapsedMs;
    stats.sumSquaresMs += elapsedMs * elapsedMs;
    return stats;
  }

  /**
   * Counts an invalid datagram.
   *
   * @param address Source IPv4.
   * @returns The source's statistics after the update.
   */
  recordInvalid(address: string): SourceStats {
    const stats = this.#touch(address);
    stats.invalid++;
    return stats;
  }

  /**
   * Counts a repeated heartbeat, which is not a message.
   *
   * @param address Source IPv4.
   * @returns The source's statistics after the update.
   */
  recordDuplicate(address: string): SourceStats {
    const stats = this.#touch(address);
    stats.duplicates++;
    return stats;
  }

  /**
   * All sources, least recently seen first.
   *
   * @returns The statistics of every source in the table.
   */
  all(): SourceStats[] {
    const all: SourceStats[] = [];
    for (let entry = this.#recency.oldest; entry !== undefined; entry = entry.newer) {
      all.push(entry.stats);
    }
    return all;
  }

  /** Number of streams in the table. */
  get streamCount(): number {
    return this.#streamCount;
  }

  /**
   * The health of a stream, created if new, and marked as the most recently seen. The
   * receive path calls it once per datagram, then records into the result.
   *
   * @param address Source IPv4.
   * @param port Source UDP port.
   * @returns The stream's mutable health.
   */
  stream(address: string, port: number): StreamHealth {
    // Most datagrams come from the stream seen last (a heartbeat peer's burst, a flood):
    // then no lookup at all.
    const newest = this.#streamRecency.newest;
    if (newest !== undefined && newest.health.port === port && newest.health.address === address) {
      return newest.health;
    }
    const found = this.#findStream(address, port);
    if (found !== undefined) {
      this.#streamRecency.touch(found);
      return found.health;
    }
    let entry: StreamEntry | undefined;
    if (this.#streamCount >= this.capacity) {
      entry = this.#streamRecency.oldest!;
      this.#streamRecency.unlink(entry);
      this.#forgetStream(entry);
      this.#streamCount--;
      this.droppedStreams++;
      if (this.#onEvictStream?.(entry.health) === true) {
        entry.health = new StreamHealth(address, port);
      } else {
        entry.health.reset(address, port);
      }
    } else {
      entry = { health: new StreamHealth(address, port), older: undefined, newer: undefined };
    }
    const known = this.#streams.get(address);
    if (known === undefined) {
      this.#streams.set(address, entry);
    } else if (known instanceof Map) {
      known.set(port, entry);
    } else {
      this.#streams.set(
        address,
        new Map([[known.health.port, known], [port, entry]]),
      );
    }
    this.#streamRecency.append(entry);
    this.#streamCount++;
    return entry.health;
  }

  #findStream(address: string, port: number): StreamEntry | undefined {
    const known = this.#streams.get(address);
    if (known === undefined) return undefined;
    if (known instanceof Map) return known.get(port);
    return known.health.port === port ? known : undefined;
  }

  #forgetStream(entry: StreamEntry): void {
    const { address, port } = entry.health;
    const known = this.#streams.get(address)!;
    if (!(known instanceof Map)) {
      this.#streams.delete(address);
      return;
    }
    known.delete(port);
    if (known.size === 1) {
      // Back to the direct form, so an address's cost does not depend on its past.
      this.#streams.set(address, known.values().next().value!);
    }
  }

  /**
   * Looks up a stream without creating it or changing its recency.
   *
   * @param address Source IPv4.
   * @param port Source UDP port.
   * @returns Its statistics, or undefined if unknown or dropped.
   */
  getStream(address: string, port: number): StreamHealth | undefined {
    return this.#findStream(address, port)?.health;
  }

  /**
   * Calls `visit` for every stream, least recently seen first, without building a list.
   *
   * @param visit Called with each stream's mutable health.
   */
  forEachStream(visit: (stream: StreamHealth) => void): void {
    for (let entry = this.#streamRecency.oldest; entry !== undefined; entry = entry.newer) {
      visit(entry.health);
    }
  }

  /**
   * Every stream, most recently seen first, one at a time: a reader that wants only the
   * newest few (the metrics' bounded series) stops early.
   *
   * @returns The streams' mutable health (hand out {@linkcode StreamStats} to readers).
   */
  *streamsNewestFirst(): Generator<StreamHealth> {
    for (let entry = this.#streamRecency.newest; entry !== undefined; entry = entry.older) {
      yield entry.health;
    }
  }

  /**
   * Every stream, least recently seen first.
   *
   * @returns The streams' mutable health (hand out {@linkcode StreamStats} to readers).
   */
  streams(): StreamHealth[] {
    const all: StreamHealth[] = [];
    for (let entry = this.#streamRecency.oldest; entry !== undefined; entry = entry.newer) {
      all.push(entry.health);
    }
    return all;
  }

  /**
   * The streams of one source IP, in the order they first appeared, read-only.
   *
   * @param address Source IPv4.
   * @returns Its streams' statistics.
   */
  streamsOf(address: string): StreamStats[] {
    const known = this.#streams.get(address);
    if (known === undefined) return [];
    if (!(known instanceof Map)) return [known.health];
    return [...known.values()].map((entry) => entry.health);
  }

  #touch(address: string): SourceStats {
    const newest = this.#recency.newest;
    if (newest !== undefined && newest.stats.address === address) return newest.stats;
    let entry = this.#entries.get(address);
    if (entry !== undefined) {
      this.#recency.touch(entry);
      return entry.stats;
    }
    if (this.#entries.size >= this.capacity) {
      // Nothing outside the table keeps a source's statistics past the call that returned
      // them, so the evicted entry always becomes the new one.
      entry = this.#recency.oldest!;
      this.#recency.unlink(entry);
      this.#entries.delete(entry.stats.address);
      this.dropped++;
      const stats = entry.stats;
      stats.address = address;
      stats.messages = stats.invalid = stats.duplicates = 0;
      stats.minMs = Infinity;
      stats.maxMs = -Infinity;
      stats.sumMs = stats.sumSquaresMs = 0;
      this.#entries.set(address, entry);
      this.#recency.append(entry);
      return stats;
    }
    entry = {
      stats: {
        address,
        messages: 0,
        invalid: 0,
        duplicates: 0,
        minMs: Infinity,
        maxMs: -Infinity,
        sumMs: 0,
        sumSquaresMs: 0,
      },
      older: undefined,
      newer: undefined,
    };
    this.#entries.set(address, entry);
    this.#recency.append(entry);
    return entry.stats;
  }
}

/**
 * Min, mean, max and standard deviation of a source's elapsed times.
 *
 * @param stats A source's statistics.
 * @returns The summary, or null if the source sent no valid message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { elapsedSummary, SourceTable } from "./sources.ts";
 * const table = new SourceTable();
 * table.recordMessage("127.0.0.1", 1);
 * const stats = table.recordMessage("127.0.0.1", 3);
 * assert.ok(elapsedSummary(stats)?.avg === 2 && elapsedSummary(stats)?.mdev === 1);
 * ```
 */
export function elapsedSummary(stats: ElapsedSums): ElapsedSummary | null {
  if (stats.messages === 0) return null;
  const avg = stats.sumMs / stats.messages;
  const variance = Math.max(0, stats.sumSquaresMs / stats.messages - avg * avg);
  return { min: stats.minMs, avg, max: stats.maxMs, mdev: Math.sqrt(variance) };
}
