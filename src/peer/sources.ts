/**
 * Per-source statistics with a bounded size. Anyone can send a datagram from a forged
 * source address, so the table keeps at most `capacity` sources and drops the least
 * recently seen one first, counting how many it dropped. Beside the per-IP counts (see README "What it prints")
 * it keeps the health of each stream, one per source IP and port (see docs/link-health.md,
 * {@linkcode StreamHealth}), bounded the same way.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SourceTable } from "./sources.ts";
 * const table = new SourceTable(2);
 * table.recordMessage("127.0.0.2");
 * table.recordMessage("127.0.0.2");
 * table.recordInvalid("127.0.0.3");
 * table.recordMessage("127.0.0.4"); // drops 127.0.0.2, the least recently seen
 * assert.ok(table.dropped === 1 && table.get("127.0.0.2") === undefined);
 * ```
 *
 * @module
 */

/** What the table knows about one source IP. */
export interface SourceStats {
  /**
   * The source address as the socket reports it: IPv4, or IPv6 (an IPv4-mapped one is
   * already plain IPv4).
   */
  address: string;
  /** Valid heartbeats received. */
  messages: number;
  /** Invalid datagrams received. */
  invalid: number;
  /** Repeated heartbeats (see docs/link-health.md), counted apart from messages. */
  duplicates: number;
  /** Heartbeats with an absurd timestamp, counted apart from messages. */
  outliers: number;
}

/**
 * The sums a stream keeps of its elapsed times; a source's are its streams' together
 * ({@linkcode addElapsed}): each delay is recorded once, by its stream.
 */
export type ElapsedSums = Pick<
  StreamStats,
  "delays" | "minMs" | "maxMs" | "sumMs" | "sumSquaresMs"
>;

/**
 * Adds the elapsed sums of `stream` to `into` (a source's, from its streams).
 *
 * @param into The sums so far, changed in place.
 * @param stream A stream's sums.
 * @returns `into`.
 */
export function addElapsed(
  into: { -readonly [K in keyof ElapsedSums]: number },
  stream: ElapsedSums,
): ElapsedSums {
  into.delays += stream.delays;
  into.minMs = Math.min(into.minMs, stream.minMs);
  into.maxMs = Math.max(into.maxMs, stream.maxMs);
  into.sumMs += stream.sumMs;
  into.sumSquaresMs += stream.sumSquaresMs;
  return into;
}

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
import { parseIpv4 } from "../../protocol.ts";

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
  /** When it was made, for listing an address's streams in the order they appeared. */
  order: number;
}

/**
 * A map from (address, port) to a table slot with a fixed number of buckets, open
 * addressing on typed arrays. A `Map` would do, but V8's `Map` reallocates its whole hash
 * table (~3.5 MB at 65,536 entries) every time as many deletions have piled up: under a
 * flood of forged sources, one new table per 65,536 datagrams, garbage that made the heap
 * grow to several times its live size. This index allocates nothing after its creation.
 *
 * IPv4 addresses, the common case the receive loop is measured on, are keyed by their 32
 * bits. Every other address (IPv6, as the socket reports it; names in tests) goes to a
 * second index of the same design keyed by the address text, made on the first such
 * address: an IPv4-only peer never pays for it, and an IPv6 flood is bounded the same way.
 */
class AddressIndex<T> {
  #bits: number;
  #mask: number;
  #ips: Int32Array;
  #ports: Int32Array;
  #values: (T | undefined)[];
  #other: TextIndex<T> | undefined;

  constructor(capacity: number) {
    // At most half the buckets used, so probe runs stay short.
    this.#bits = bucketBits(capacity);
    const buckets = 2 ** this.#bits;
    this.#mask = buckets - 1;
    this.#ips = new Int32Array(buckets);
    this.#ports = new Int32Array(buckets);
    this.#values = new Array<T | undefined>(buckets).fill(undefined);
  }

  #home(ip: number, port: number): number {
    return Math.imul(ip ^ Math.imul(port, 0x85ebca6b), 0x9e3779b1) >>> (32 - this.#bits);
  }

  get(address: string, port: number): T | undefined {
    const ip = parseIpv4(address) ?? -1;
    if (ip < 0) return this.#other?.get(address, port);
    const ip32 = ip | 0;
    const values = this.#values;
    for (let i = this.#home(ip32, port);; i = (i + 1) & this.#mask) {
      const value = values[i];
      if (value === undefined) return undefined;
      if (this.#ips[i] === ip32 && this.#ports[i] === port) return value;
    }
  }

  /** Adds a key known to be absent. */
  add(address: string, port: number, value: T): void {
    const ip = parseIpv4(address) ?? -1;
    if (ip < 0) {
      this.#other ??= new TextIndex(this.#bits);
      this.#other.add(address, port, value);
      return;
    }
    const ip32 = ip | 0;
    let i = this.#home(ip32, port);
    while (this.#values[i] !== undefined) i = (i + 1) & this.#mask;
    this.#ips[i] = ip32;
    this.#ports[i] = port;
    this.#values[i] = value;
  }

  delete(address: string, port: number): void {
    const ip = parseIpv4(address) ?? -1;
    if (ip < 0) {
      this.#other?.delete(address, port);
      return;
    }
    const ip32 = ip | 0;
    const values = this.#values;
    const mask = this.#mask;
    let i = this.#home(ip32, port);
    for (;; i = (i + 1) & mask) {
      if (values[i] === undefined) return;
      if (this.#ips[i] === ip32 && this.#ports[i] === port) break;
    }
    // Backward-shift deletion: no tombstones, so lookups never slow down with churn.
    for (let j = (i + 1) & mask;; j = (j + 1) & mask) {
      if (values[j] === undefined) break;
      const home = this.#home(this.#ips[j]!, this.#ports[j]!);
      // Move j into the hole unless its home lies cyclically in (i, j].
      if (i <= j ? i < home && home <= j : i < home || home <= j) continue;
      this.#ips[i] = this.#ips[j]!;
      this.#ports[i] = this.#ports[j]!;
      values[i] = values[j];
      i = j;
    }
    values[i] = undefined;
  }
}

/** Bits of bucket index for a capacity: at least twice as many buckets as entries. */
function bucketBits(capacity: number): number {
  return Math.max(4, Math.ceil(Math.log2(capacity * 2)));
}

/**
 * The index of {@linkcode AddressIndex} for addresses that are not IPv4: open addressing
 * keyed by the address text and the port, with backward-shift deletion, so it too allocates
 * nothing after its creation. The text is hashed with FNV-1a from a seed drawn per index, so
 * a sender cannot pick forged addresses that all land in one bucket run ahead of time.
 */
class TextIndex<T> {
  #bits: number;
  #mask: number;
  #seed = (Math.random() * 0x1_0000_0000) | 0;
  #keys: (string | undefined)[];
  #ports: Int32Array;
  #values: (T | undefined)[];

  constructor(bits: number) {
    this.#bits = bits;
    const buckets = 2 ** bits;
    this.#mask = buckets - 1;
    this.#keys = new Array<string | undefined>(buckets).fill(undefined);
    this.#ports = new Int32Array(buckets);
    this.#values = new Array<T | undefined>(buckets).fill(undefined);
  }

  #home(address: string, port: number): number {
    // An IPv6 address is at most 45 characters: the loop is short and bounded.
    let hash = this.#seed ^ Math.imul(port, 0x85ebca6b);
    for (let i = 0; i < address.length; i++) {
      hash = Math.imul(hash ^ address.charCodeAt(i), 0x01000193);
    }
    return Math.imul(hash ^ (hash >>> 15), 0x9e3779b1) >>> (32 - this.#bits);
  }

  get(address: string, port: number): T | undefined {
    const values = this.#values;
    for (let i = this.#home(address, port);; i = (i + 1) & this.#mask) {
      const value = values[i];
      if (value === undefined) return undefined;
      if (this.#ports[i] === port && this.#keys[i] === address) return value;
    }
  }

  add(address: string, port: number, value: T): void {
    let i = this.#home(address, port);
    while (this.#values[i] !== undefined) i = (i + 1) & this.#mask;
    this.#keys[i] = address;
    this.#ports[i] = port;
    this.#values[i] = value;
  }

  delete(address: string, port: number): void {
    const values = this.#values;
    const keys = this.#keys;
    const mask = this.#mask;
    let i = this.#home(address, port);
    for (;; i = (i + 1) & mask) {
      if (values[i] === undefined) return;
      if (this.#ports[i] === port && keys[i] === address) break;
    }
    for (let j = (i + 1) & mask;; j = (j + 1) & mask) {
      if (values[j] === undefined) break;
      const home = this.#home(keys[j]!, this.#ports[j]!);
      if (i <= j ? i < home && home <= j : i < home || home <= j) continue;
      keys[i] = keys[j];
      this.#ports[i] = this.#ports[j]!;
      values[i] = values[j];
      i = j;
    }
    keys[i] = values[i] = undefined;
  }
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
  // Recency lives in a doubly linked list beside the index, so touching a known source only
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
  #size = 0;
  #entries: AddressIndex<Entry>;
  #recency = new RecencyList<Entry>();
  /** How many streams were dropped to stay within capacity. */
  droppedStreams = 0;
  #streams: AddressIndex<StreamEntry>;
  #streamCount = 0;
  #streamOrder = 0;
  // The streams of each address, made when the summary first asks and dropped when a stream
  // comes or goes: nothing per address is kept while datagrams flow.
  #byAddress: Map<string, StreamEntry[]> | undefined;
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
    this.#entries = new AddressIndex(capacity);
    this.#streams = new AddressIndex(capacity);
  }

  /** Number of sources in the table. */
  get size(): number {
    return this.#size;
  }

  /**
   * Looks up a source without changing its recency.
   *
   * @param address Source address, IPv4 or IPv6.
   * @returns Its statistics, or undefined if unknown or dropped.
   */
  get(address: string): SourceStats | undefined {
    return this.#entries.get(address, 0)?.stats;
  }

  /**
   * Counts a valid message and its elapsed time.
   *
   * @param address Source address, IPv4 or IPv6.
   * @returns The source's statistics after the update.
   */
  recordMessage(address: string): SourceStats {
    const stats = this.#touch(address);
    stats.messages++;
    return stats;
  }

  /**
   * Counts an invalid datagram.
   *
   * @param address Source address, IPv4 or IPv6.
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
   * @param address Source address, IPv4 or IPv6.
   * @returns The source's statistics after the update.
   */
  recordDuplicate(address: string): SourceStats {
    const stats = this.#touch(address);
    stats.duplicates++;
    return stats;
  }

  /**
   * Counts a heartbeat whose timestamp was absurd for its stream; not a message.
   *
   * @param address Source address.
   * @returns The source's statistics after the update.
   */
  recordOutlier(address: string): SourceStats {
    const stats = this.#touch(address);
    stats.outliers++;
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
   * @param address Source address, IPv4 or IPv6.
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
    const found = this.#streams.get(address, port);
    if (found !== undefined) {
      this.#streamRecency.touch(found);
      return found.health;
    }
    let entry: StreamEntry | undefined;
    if (this.#streamCount >= this.capacity) {
      entry = this.#streamRecency.oldest!;
      this.#streamRecency.unlink(entry);
      this.#streams.delete(entry.health.address, entry.health.port);
      this.#streamCount--;
      this.droppedStreams++;
      if (this.#onEvictStream?.(entry.health) === true) {
        entry.health = new StreamHealth(address, port);
      } else {
        entry.health.reset(address, port);
      }
    } else {
      entry = {
        health: new StreamHealth(address, port),
        order: 0,
        older: undefined,
        newer: undefined,
      };
    }
    entry.order = this.#streamOrder++;
    this.#streams.add(address, port, entry);
    this.#byAddress = undefined;
    this.#streamRecency.append(entry);
    this.#streamCount++;
    return entry.health;
  }

  /**
   * Looks up a stream without creating it or changing its recency.
   *
   * @param address Source address, IPv4 or IPv6.
   * @param port Source UDP port.
   * @returns Its statistics, or undefined if unknown or dropped.
   */
  getStream(address: string, port: number): StreamHealth | undefined {
    return this.#streams.get(address, port)?.health;
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
   * @param address Source address, IPv4 or IPv6.
   * @returns Its streams' statistics.
   */
  streamsOf(address: string): StreamStats[] {
    if (this.#byAddress === undefined) {
      this.#byAddress = new Map();
      for (let entry = this.#streamRecency.oldest; entry !== undefined; entry = entry.newer) {
        const list = this.#byAddress.get(entry.health.address);
        if (list === undefined) this.#byAddress.set(entry.health.address, [entry]);
        else list.push(entry);
      }
      for (const list of this.#byAddress.values()) list.sort((a, b) => a.order - b.order);
    }
    return (this.#byAddress.get(address) ?? []).map((entry) => entry.health);
  }

  #touch(address: string): SourceStats {
    const newest = this.#recency.newest;
    if (newest !== undefined && newest.stats.address === address) return newest.stats;
    let entry = this.#entries.get(address, 0);
    if (entry !== undefined) {
      this.#recency.touch(entry);
      return entry.stats;
    }
    if (this.#size >= this.capacity) {
      // Nothing outside the table keeps a source's statistics past the call that returned
      // them, so the evicted entry always becomes the new one.
      entry = this.#recency.oldest!;
      this.#recency.unlink(entry);
      this.#entries.delete(entry.stats.address, 0);
      this.dropped++;
      const stats = entry.stats;
      stats.address = address;
      stats.messages =
        stats.invalid =
        stats.duplicates =
        stats.outliers =
          0;
      this.#entries.add(address, 0, entry);
      this.#recency.append(entry);
      return stats;
    }
    entry = {
      stats: {
        address,
        messages: 0,
        invalid: 0,
        duplicates: 0,
        outliers: 0,
      },
      older: undefined,
      newer: undefined,
    };
    this.#entries.add(address, 0, entry);
    this.#size++;
    this.#recency.append(entry);
    return entry.stats;
  }
}

/**
 * Min, mean, max and standard deviation of elapsed times.
 *
 * @param stats A stream's sums, or a source's (its streams' added).
 * @returns The summary, or null if no valid message had a delay.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { elapsedSummary } from "./sources.ts";
 * const sums = { delays: 2, minMs: 1, maxMs: 3, sumMs: 4, sumSquaresMs: 10 };
 * assert.ok(elapsedSummary(sums)?.avg === 2 && elapsedSummary(sums)?.mdev === 1);
 * ```
 */
export function elapsedSummary(stats: ElapsedSums): ElapsedSummary | null {
  if (stats.delays === 0) return null;
  const avg = stats.sumMs / stats.delays;
  const variance = Math.max(0, stats.sumSquaresMs / stats.delays - avg * avg);
  return { min: stats.minMs, avg, max: stats.maxMs, mdev: Math.sqrt(variance) };
}
