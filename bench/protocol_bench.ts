/**
 * Benchmarks of the heartbeat codec. Every group has a baseline measured in the same run, so
 * `deno bench` prints ratios, which hold on a shared machine where absolute times drift:
 *
 * - Adler-32 over 79 bytes, 64 KiB and 1 MiB against the textbook Adler-32 that reduces
 *   both sums modulo 65521 after every byte, with a copy of the same bytes
 *   (`TypedArray.prototype.set`, a memcpy) beside them for scale. A plain byte-sum loop
 *   would be the natural floor, but under `deno bench` its speed over 64 KiB swings between
 *   0.9 and 3.4 GB/s from one run to the next (V8 does not always give it its top tier),
 *   which makes it no baseline;
 * - encoding and decoding a default 79-byte heartbeat and a largest (65,507-byte) one against
 *   copying the same bytes into an existing array, with allocating a new array of that size
 *   beside them: Deno allocates every ArrayBuffer outside V8's heap, and its average cost
 *   swings from one run to the next (0.3 to 1 µs for 79 bytes), so encoding into a new
 *   datagram is shown both ways, into a new array and into a reused one.
 *
 * ```sh
 * deno bench bench/protocol_bench.ts
 * ```
 *
 * `bench/run.ts` runs this file with `--json` and turns the averages into GB/s and ns.
 *
 * @module
 */

import {
  adler32,
  decodeHeartbeat,
  DEFAULT_MESSAGE,
  encodeHeartbeat,
  encodeHeartbeatInto,
  type HeartbeatFields,
  MAX_TEXT_BYTES,
} from "../protocol.ts";
import { pseudoRandomBytes } from "./adler.ts";

/** Adler-32 exactly as RFC 1950 states it: both sums reduced modulo 65521 after every byte. */
function naiveAdler32(data: Uint8Array): number {
  let s1 = 1;
  let s2 = 0;
  for (let i = 0; i < data.length; i++) {
    s1 = (s1 + data[i]!) % 65521;
    s2 = (s2 + s1) % 65521;
  }
  return ((s2 << 16) | s1) >>> 0;
}

const sizes: [group: string, bytes: Uint8Array][] = [
  ["adler32 79 B", pseudoRandomBytes(79)],
  ["adler32 64 KiB", pseudoRandomBytes(64 * 1024)],
  ["adler32 1 MiB", pseudoRandomBytes(1024 * 1024)],
];
for (const [group, bytes] of sizes) {
  if (adler32(bytes) !== naiveAdler32(bytes)) throw new Error(`adler32 disagrees on ${group}`);
  const copy = new Uint8Array(bytes.length);
  Deno.bench({
    name: `naive ${group}`,
    group,
    baseline: true,
    fn: () => void naiveAdler32(bytes),
  });
  Deno.bench({ name: `copy ${group.slice(8)}`, group, fn: () => copy.set(bytes) });
  Deno.bench({ name: group, group, fn: () => void adler32(bytes) });
}

const heartbeats: [group: string, fields: HeartbeatFields][] = [
  ["codec 79 B", {
    timestamp: 1763700000123,
    ipv4: "127.0.0.1",
    port: 5005,
    text: new TextEncoder().encode(DEFAULT_MESSAGE),
  }],
  ["codec 65,507 B", {
    timestamp: 1763700000123,
    ipv4: "127.0.0.1",
    port: 5005,
    text: new TextEncoder().encode("x".repeat(MAX_TEXT_BYTES)),
  }],
];
for (const [group, fields] of heartbeats) {
  const datagram = encodeHeartbeat(fields);
  const copy = new Uint8Array(datagram.length);
  const size = group.slice(6);
  Deno.bench({ name: `copy ${size}`, group, baseline: true, fn: () => copy.set(datagram) });
  Deno.bench({
    name: `allocate ${size}`,
    group,
    fn: () => void new Uint8Array(datagram.length),
  });
  Deno.bench({ name: `encode ${size}`, group, fn: () => void encodeHeartbeat(fields) });
  Deno.bench({
    name: `encode ${size} into a reused buffer`,
    group,
    fn: () => void encodeHeartbeatInto(copy, fields),
  });
  Deno.bench({ name: `decode ${size}`, group, fn: () => void decodeHeartbeat(datagram) });
}
