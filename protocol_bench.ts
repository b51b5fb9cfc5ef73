/**
 * Benchmarks of the heartbeat codec. Every group has a baseline measured in the same run, so
 * `deno bench` prints ratios, which hold on a shared machine where absolute times drift:
 *
 * - Adler-32 over 79 bytes, 64 KiB and 1 MiB against a plain byte-sum loop over the same
 *   bytes (the least work any checksum that reads every byte must do), with the textbook
 *   per-byte-modulo Adler-32 beside it;
 * - encoding and decoding a default 79-byte heartbeat and a largest (65,507-byte) one against
 *   copying the same bytes into a new array (`slice()`).
 *
 * ```sh
 * deno bench protocol_bench.ts
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
  type HeartbeatFields,
  MAX_TEXT_BYTES,
} from "./protocol.ts";

/** Sum of the bytes modulo 2^32: reads every byte once and does one add, nothing more. */
function byteSum(data: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum = (sum + data[i]!) | 0;
  return sum >>> 0;
}

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

/** `length` bytes that look like traffic rather than zeros (a zero run would flatter s1). */
function pseudoRandomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let x = 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 255;
  }
  return bytes;
}

const sizes: [group: string, bytes: Uint8Array][] = [
  ["adler32 79 B", pseudoRandomBytes(79)],
  ["adler32 64 KiB", pseudoRandomBytes(64 * 1024)],
  ["adler32 1 MiB", pseudoRandomBytes(1024 * 1024)],
];
for (const [group, bytes] of sizes) {
  if (adler32(bytes) !== naiveAdler32(bytes)) throw new Error(`adler32 disagrees on ${group}`);
  Deno.bench({
    name: `byte sum ${group.slice(8)}`,
    group,
    baseline: true,
    fn: () => void byteSum(bytes),
  });
  Deno.bench({ name: `naive ${group}`, group, fn: () => void naiveAdler32(bytes) });
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
  const size = group.slice(6);
  Deno.bench({ name: `slice ${size}`, group, baseline: true, fn: () => void datagram.slice() });
  Deno.bench({ name: `encode ${size}`, group, fn: () => void encodeHeartbeat(fields) });
  Deno.bench({ name: `decode ${size}`, group, fn: () => void decodeHeartbeat(datagram) });
}
