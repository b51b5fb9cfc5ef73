/**
 * Memory of the source table after many distinct sources: 65,536 (its capacity), 100,000
 * and 200,000 sources are recorded, each address a fresh string as the socket would give
 * it, and after a full garbage collection the heap and the resident memory are read. The
 * heap that 65,536 entries take is the table's bound; past capacity it must stay there.
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

import { DEFAULT_CAPACITY, SourceTable } from "../src/peer/sources.ts";

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

function measure(table: SourceTable, sources: number): MemoryPoint {
  gc?.();
  const { heapUsed, rss } = Deno.memoryUsage();
  return { sources, size: table.size, heapUsed, rss };
}

if (import.meta.main) {
  if (!gc) {
    console.error("Run with --v8-flags=--expose-gc");
    Deno.exit(2);
  }
  const table = new SourceTable();
  const empty = measure(table, 0);
  const points: MemoryPoint[] = [];
  let recorded = 0;
  for (const target of [DEFAULT_CAPACITY, 100_000, 200_000]) {
    for (; recorded < target; recorded++) {
      const i = recorded;
      table.recordMessage(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, 0.25 + (i % 7));
    }
    points.push(measure(table, recorded));
  }
  const result: MemoryResult = { capacity: table.capacity, empty, points };
  console.log(JSON.stringify(result));
}
