/**
 * Benchmarks of the bounded source table: the cost the receive loop pays per datagram to
 * count it, against the Map delete + set idiom (re-insert on every touch so the Map's
 * insertion order is the recency order), which is what the table used before.
 *
 * ```sh
 * deno bench sources_bench.ts
 * ```
 *
 * @module
 */

import { DEFAULT_CAPACITY, SourceTable } from "../src/peer/sources.ts";

/** The Map-only LRU, kept here as the baseline the linked list is measured against. */
class MapLru {
  #entries = new Map<string, { messages: number }>();
  constructor(readonly capacity: number) {}
  touch(address: string): void {
    let stats = this.#entries.get(address);
    if (stats !== undefined) {
      this.#entries.delete(address);
    } else {
      if (this.#entries.size >= this.capacity) {
        this.#entries.delete(this.#entries.keys().next().value!);
      }
      stats = { messages: 0 };
    }
    this.#entries.set(address, stats);
    stats.messages++;
  }
}

const addresses: string[] = [];
for (let i = 0; i < 100_000; i++) {
  addresses.push(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
}

/** A table that has seen the first `n` addresses. */
function filled<T extends { touch(address: string): void }>(table: T, n: number): T {
  for (let i = 0; i < n; i++) table.touch(addresses[i]!);
  return table;
}

const touchable = (table: SourceTable) => ({
  touch: (address: string) => void table.recordMessage(address),
});

{
  const table = new SourceTable();
  const map = new MapLru(DEFAULT_CAPACITY);
  Deno.bench({
    name: "Map delete+set: one source",
    group: "one source",
    baseline: true,
    fn: () => map.touch("127.0.0.1"),
  });
  Deno.bench({
    name: "SourceTable: one source",
    group: "one source",
    fn: () => void table.recordMessage("127.0.0.1"),
  });
}

{
  const table = new SourceTable();
  const map = new MapLru(DEFAULT_CAPACITY);
  let i = 0;
  Deno.bench({
    name: "Map delete+set: two sources in turn",
    group: "two sources",
    baseline: true,
    fn: () => map.touch((i++ & 1) === 0 ? "127.0.0.1" : "127.0.0.2"),
  });
  Deno.bench({
    name: "SourceTable: two sources in turn",
    group: "two sources",
    fn: () => void table.recordMessage((i++ & 1) === 0 ? "127.0.0.1" : "127.0.0.2"),
  });
}

{
  // After a flood of forged sources the table is full; every real datagram still has to
  // be counted.
  const table = touchable(new SourceTable());
  filled(table, DEFAULT_CAPACITY);
  const map = filled(new MapLru(DEFAULT_CAPACITY), DEFAULT_CAPACITY);
  let i = 0;
  Deno.bench({
    name: "Map delete+set: full table, two sources in turn",
    group: "full table",
    baseline: true,
    fn: () => map.touch(addresses[DEFAULT_CAPACITY - 1 - (i++ & 1)]!),
  });
  Deno.bench({
    name: "SourceTable: full table, two sources in turn",
    group: "full table",
    fn: () => table.touch(addresses[DEFAULT_CAPACITY - 1 - (i++ & 1)]!),
  });
}

Deno.bench({
  name: "Map delete+set: 100,000 new sources",
  group: "100,000 new sources",
  baseline: true,
  n: 5,
  fn: () => void filled(new MapLru(DEFAULT_CAPACITY), addresses.length),
});
Deno.bench({
  name: "SourceTable: 100,000 new sources",
  group: "100,000 new sources",
  n: 5,
  fn: () => void filled(touchable(new SourceTable()), addresses.length),
});

// IPv6 sources take the table's second index, keyed by the address text: the same cases,
// measured against the IPv4 ones.
const addresses6: string[] = [];
for (let i = 0; i < 100_000; i++) {
  addresses6.push(`2001:db8::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}`);
}

{
  const table = new SourceTable();
  Deno.bench({
    name: "SourceTable: one IPv4 source (against IPv6)",
    group: "IPv6: one source",
    baseline: true,
    fn: () => void table.recordMessage("127.0.0.1"),
  });
  Deno.bench({
    name: "SourceTable: one IPv6 source",
    group: "IPv6: one source",
    fn: () => void table.recordMessage("::1"),
  });
}

{
  const table = new SourceTable();
  let i = 0;
  Deno.bench({
    name: "SourceTable: two IPv4 streams in turn (against IPv6)",
    group: "IPv6: two streams",
    baseline: true,
    fn: () => void table.stream((i++ & 1) === 0 ? "127.0.0.1" : "127.0.0.2", 5005),
  });
  Deno.bench({
    name: "SourceTable: two IPv6 streams in turn",
    group: "IPv6: two streams",
    fn: () => void table.stream((i++ & 1) === 0 ? "fd00:75:64::1" : "fd00:75:64::2", 5005),
  });
}

{
  const table4 = touchable(new SourceTable());
  filled(table4, DEFAULT_CAPACITY);
  const table6 = new SourceTable();
  for (let n = 0; n < DEFAULT_CAPACITY; n++) table6.recordMessage(addresses6[n]!);
  let i = 0;
  Deno.bench({
    name: "SourceTable: full table, two IPv4 sources in turn (against IPv6)",
    group: "IPv6: full table",
    baseline: true,
    fn: () => table4.touch(addresses[DEFAULT_CAPACITY - 1 - (i++ & 1)]!),
  });
  Deno.bench({
    name: "SourceTable: full table, two IPv6 sources in turn",
    group: "IPv6: full table",
    fn: () => void table6.recordMessage(addresses6[DEFAULT_CAPACITY - 1 - (i++ & 1)]!),
  });
}

Deno.bench({
  name: "SourceTable: 100,000 new IPv4 sources (against IPv6)",
  group: "IPv6: 100,000 new sources",
  baseline: true,
  n: 5,
  fn: () => void filled(touchable(new SourceTable()), addresses.length),
});
Deno.bench({
  name: "SourceTable: 100,000 new IPv6 sources",
  group: "IPv6: 100,000 new sources",
  n: 5,
  fn: () => {
    const table = new SourceTable();
    for (const address of addresses6) table.recordMessage(address);
  },
});
