/**
 * Memory of the peer's accounting after many distinct sources: 65,536 (the table's
 * capacity), 100,000 and 200,000 heartbeats, each from another source address (a fresh
 * string, as the socket would give it), go through `PeerMonitor.receive()` as the receive
 * loop hands them over (source table, stream health, no output), and after a full garbage
 * collection the heap and the resident memory are read. The heap at capacity is the
 * table's bound; past capacity it must stay there.
 *
 * Run it in a process of its own, with `--expose-gc` so that the heap is measured after a
 * collection rather than whenever V8 last ran one:
 *
 * ```sh
 * deno run --v8-flags=--expose-gc bench/memory.ts
 * ```
 *
 * It prints one JSON object ({@linkcode MemoryResult}).
 *
 * @module
 */

import { encodeHeartbeat } from "../protocol.ts";
import { PeerMonitor } from "../src/peer/monitor.ts";
import { DEFAULT_CAPACITY } from "../src/peer/sources.ts";

/** Heap and resident memory at one point. */
export interface MemoryPoint {
  /** Distinct sources recorded so far. */
  sources: number;
  /** Sources in the table. */
  size: number;
  /** V8 heap in use, bytes. */
  heapUsed: number;
  /** Resident set size of the process, bytes. */
  rss: number;
}

/** What memory.ts prints. */
export interface MemoryResult {
  /** The table's capacity. */
  capacity: number;
  /** Before any source. */
  empty: MemoryPoint;
  /** At capacity, 100,000 and 200,000 sources. */
  points: MemoryPoint[];
}

const gc = (globalThis as { gc?: () => void }).gc;

function measure(monitor: PeerMonitor, sources: number): MemoryPoint {
  gc?.();
  const { heapUsed, rss } = Deno.memoryUsage();
  return { sources, size: monitor.table.size, heapUsed, rss };
}

if (import.meta.main) {
  if (!gc) {
    console.error("Run with --v8-flags=--expose-gc");
    Deno.exit(2);
  }
  const monitor = new PeerMonitor({
    targets: [],
    ownIntervalMs: 1000,
    downAfter: 3,
    emit: () => {},
    verbose: false,
  });
  const empty = measure(monitor, 0);
  const points: MemoryPoint[] = [];
  const text = new TextEncoder().encode("hello");
  const startMs = 1_763_700_000_000;
  let recorded = 0;
  for (const target of [DEFAULT_CAPACITY, 100_000, 200_000]) {
    for (; recorded < target; recorded++) {
      const i = recorded;
      const datagram = encodeHeartbeat({
        timestamp: startMs + i,
        ipv4: "10.0.0.1",
        port: 5005,
        text,
      });
      const hostname = `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`;
      monitor.receive(datagram, { hostname, port: 40_000 }, startMs + i + 0.25);
    }
    points.push(measure(monitor, recorded));
  }
  const result: MemoryResult = { capacity: monitor.table.capacity, empty, points };
  console.log(JSON.stringify(result));
}
