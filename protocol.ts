/**
 * The udpeer heartbeat wire format: an 18-byte big-endian header followed by UTF-8 text.
 *
 * | offset | size | field                                        |
 * | -----: | ---: | -------------------------------------------- |
 * |      0 |    4 | Adler-32 (RFC 1950) of bytes 4..end          |
 * |      4 |    8 | send time since the Unix epoch (s, ms or µs) |
 * |     12 |    4 | IPv4 address the sender listens on           |
 * |     16 |    2 | UDP port the sender listens on               |
 * |     18 |    n | text, UTF-8                                  |
 *
 * The address field holds IPv4 only. A sender on IPv6 writes `0.0.0.0` there
 * ({@linkcode NO_IPV4_ADDRESS}; the header keeps its 18 bytes), and a receiver that reads
 * `0.0.0.0` takes the UDP source address as the sender's, with the header's port.
 *
 * This module does no I/O and needs no permissions, so other programs can build and check
 * heartbeats with it.
 *
 * @example Build a heartbeat and read it back
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeHeartbeat, encodeHeartbeat } from "./protocol.ts";
 *
 * const datagram = encodeHeartbeat({
 *   timestamp: 1763700000123,
 *   ipv4: "127.0.0.1",
 *   port: 5005,
 *   text: "hello",
 * });
 * const result = decodeHeartbeat(datagram);
 * if (!result.ok) throw new Error(result.reason);
 * assert.ok(result.heartbeat.text === "hello");
 * assert.ok(result.heartbeat.unit === "ms");
 * ```
 *
 * @module
 */

/** Length of the fixed header in bytes. */
export const HEADER_BYTES = 18;

/** Largest UDP payload over IPv4: 65,535 − 20 (IP header) − 8 (UDP header). */
export const MAX_DATAGRAM_BYTES = 65_507;

/** Largest text a heartbeat can carry: {@linkcode MAX_DATAGRAM_BYTES} − {@linkcode HEADER_BYTES}. */
export const MAX_TEXT_BYTES: number = MAX_DATAGRAM_BYTES - HEADER_BYTES;

/**
 * The address field of a heartbeat sent over IPv6: the sender's address does not fit, and
 * the receiver takes the UDP source instead.
 */
export const NO_IPV4_ADDRESS = "0.0.0.0";

/** The text a heartbeat carries when none is given (61 bytes). */
export const DEFAULT_MESSAGE = `"It always seems impossible until it's done" - Nelson Mandela`;

/** Unit of a heartbeat's timestamp. Senders write `s`, `ms` or `us`; `ns` is only inferred. */
export type TimestampUnit = "s" | "ms" | "us" | "ns";

/** Why a datagram is not a heartbeat: fewer than 18 bytes, or a checksum that does not match. */
export type InvalidReason = "short" | "checksum";

/** The fields a sender puts into a heartbeat. */
export interface HeartbeatFields {
  /** Send time since the Unix epoch, a whole number in the sender's unit. */
  timestamp: number;
  /** IPv4 address the sender listens on, dotted quad; `0.0.0.0` from a sender on IPv6. */
  ipv4: string;
  /** UDP port the sender listens on, 0..65535. */
  port: number;
  /** The text, as a string (encoded as UTF-8) or as bytes. */
  text: string | Uint8Array;
}

/** A decoded, checksum-verified heartbeat. */
export interface Heartbeat {
  /** The Adler-32 carried in the header (it matched the rest of the datagram). */
  checksum: number;
  /**
   * The raw timestamp. Exact up to 2^53; a nanosecond value loses its last digits, which is
   * far below what the elapsed time can resolve.
   */
  timestamp: number;
  /** Unit inferred from the timestamp's magnitude, see {@linkcode inferTimestampUnit}. */
  unit: TimestampUnit;
  /** The send time in Unix milliseconds (fractional for µs and ns senders). */
  sentAtMs: number;
  /** Advertised IPv4 address, dotted quad; `0.0.0.0`: take the UDP source (an IPv6 sender). */
  ipv4: string;
  /** Advertised UDP port. */
  port: number;
  /** The text, decoded as UTF-8 with U+FFFD for invalid sequences; not escaped. */
  text: string;
  /** Total datagram length in bytes. */
  bytes: number;
}

/** What {@linkcode decodeHeartbeat} returns: a heartbeat, or the reason there is none. */
export type DecodeResult =
  | { ok: true; heartbeat: Heartbeat }
  | { ok: false; reason: InvalidReason; bytes: number };

// Adler-32 constants, as in Go's hash/adler32 and zlib.
// mod is the largest prime smaller than 2^16.
const mod = 65521;
// nmax is the largest n such that 255·n·(n+1)/2 + (n+1)·(mod−1) ≤ 2^32−1: the number of
// bytes that can be summed before s2 could overflow 32 bits, so `% mod` runs once per nmax
// bytes instead of once per byte. As in Go, s2 is kept in 32-bit arithmetic (`| 0` wraps
// it, and `>>> 0` reads it back unsigned): that keeps V8 on int32 registers, where a plain
// sum past 2^31 would fall back to float64 at 60% of the speed (protocol_bench.ts).
//
// The bound for the 8-byte blocks below is the same inequality. After a block, s1 and s2
// are exactly what eight single-byte steps would give (s2 gains 8·s1 + 8·b0 + 7·b1 + … +
// 1·b7, which is s1+b0, then s1+b0+b1, …, summed), and every term is non-negative, so s2
// never exceeds its value at the end of the chunk, which the inequality bounds by 2^32−1.
// Chunks of nmax bytes hold whole blocks (5552 = 8·694), so no block straddles a modulo.
// Inside a block the increment is at most 8·s1 + 36·255, where s1 ≤ (mod−1) + 255·nmax =
// 1,481,280: under 2^24, so it too stays an int32.
const nmax = 5552;
/** Bytes per block of the inner loop; nmax is a multiple of it. */
const block = 8;

/**
 * Adler-32 checksum of `data`, as defined in RFC 1950:
 *
 * > Adler-32 is composed of two sums accumulated per byte: s1 is the sum of all bytes, s2 is
 * > the sum of all s1 values. Both sums are done modulo 65521. s1 is initialized to 1, s2 to
 * > zero. The Adler-32 checksum is stored as s2*65536 + s1.
 *
 * The sums are reduced once every 5,552 bytes, as zlib and Go's hash/adler32 do, and taken
 * 8 bytes at a time, or from 256 bytes on a 32-bit word at a time in 16-bit lanes.
 *
 * @param data The bytes to checksum.
 * @returns The checksum as an unsigned 32-bit integer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { adler32 } from "./protocol.ts";
 * assert.ok(adler32(new TextEncoder().encode("Wikipedia")) === 0x11e60398);
 * ```
 */
export function adler32(data: Uint8Array): number {
  return adler32Range(data, 0, data.length);
}

// Adler-32 of data[start..end): decoding checks bytes 4..end in place, since a subarray
// for the range would cost a third as much as the checksum of a 79-byte heartbeat.
function adler32Range(data: Uint8Array, start: number, end: number): number {
  return end - start >= WORDS_MIN_BYTES && littleEndian
    ? adler32Words(data, start, end)
    : adler32Bytes(data, start, end);
}

/** Below this many bytes the word loop's view and alignment cost more than they save. */
const WORDS_MIN_BYTES = 256;
/** Whether a Uint32Array reads byte 0 of a word as its low byte (every platform Deno runs on). */
const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** Words summed in 16-bit lanes before the lanes are moved out: 255 × 16 × 17 / 2 < 2^16. */
const LANE_WORDS = 16;

/**
 * Adler-32 of data[start..end) read 4 bytes at a time, two bytes per 32-bit add (SIMD within
 * a register): about 1.5× the byte loop over 64 KiB (bench/adler.ts: 2.34 → 3.3–3.5 GB/s).
 * For m words whose bytes b(t,k) sit at 4t + k, s1 gains Σ A_k and s2 gains 4m·s1 + Σ_k (4·B_k − k·A_k), where
 * A_k = Σ_t b(t,k) and B_k = Σ_t (m − t)·b(t,k), the sum of A_k's running values. The words'
 * even bytes (k = 0, 2) are summed in the two 16-bit halves of one int, the odd bytes in
 * another, and the running sums likewise; after LANE_WORDS words the halves are moved into
 * full-width sums, before a half could carry into the next. Bytes before the first 4-byte
 * boundary of the buffer and after the last go one at a time.
 */
function adler32Words(data: Uint8Array, start: number, end: number): number {
  let s1 = 1;
  let s2 = 0;
  let i = start;
  while (((data.byteOffset + i) & 3) !== 0) {
    s1 += data[i++]!;
    s2 += s1;
  }
  let word = (data.byteOffset + i) >> 2;
  const wordsEnd = (data.byteOffset + end) >> 2;
  const words = new Uint32Array(data.buffer, 0, wordsEnd);
  while (word < wordsEnd) {
    // nmax bytes at most between two reductions, as in the byte loop (5552 = 4 × 1388).
    const chunkEnd = Math.min(word + nmax / 4, wordsEnd);
    const chunkBytes = 4 * (chunkEnd - word);
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
    while (word < chunkEnd) {
      const laneEnd = Math.min(word + LANE_WORDS, chunkEnd);
      const lanes = laneEnd - word;
      let evenA = 0, oddA = 0, evenB = 0, oddB = 0;
      while (word < laneEnd) {
        const w = words[word++]!;
        evenA = (evenA + (w & 0x00ff00ff)) | 0;
        oddA = (oddA + ((w >>> 8) & 0x00ff00ff)) | 0;
        evenB = (evenB + evenA) | 0;
        oddB = (oddB + oddA) | 0;
      }
      // The running sums of these words start from the sums of the words before them.
      b0 += (evenB & 0xffff) + lanes * a0;
      b1 += (oddB & 0xffff) + lanes * a1;
      b2 += (evenB >>> 16) + lanes * a2;
      b3 += (oddB >>> 16) + lanes * a3;
      a0 += evenA & 0xffff;
      a1 += oddA & 0xffff;
      a2 += evenA >>> 16;
      a3 += oddA >>> 16;
    }
    // Whole numbers below 2^53: exact as doubles, reduced at once.
    s2 = (s2 + chunkBytes * s1 + 4 * (b0 + b1 + b2 + b3) - a1 - 2 * a2 - 3 * a3) % mod;
    s1 = (s1 + a0 + a1 + a2 + a3) % mod;
  }
  i = wordsEnd * 4 - data.byteOffset;
  while (i < end) {
    s1 += data[i++]!;
    s2 += s1;
  }
  return (((s2 % mod) << 16) | (s1 % mod)) >>> 0;
}

/** Adler-32 of data[start..end) a byte at a time, in blocks of 8 (a heartbeat's 61 bytes). */
function adler32Bytes(data: Uint8Array, start: number, end: number): number {
  let s1 = 1;
  let s2 = 0;
  let i = start;
  while (i < end) {
    const chunkEnd = Math.min(i + nmax, end);
    // Whole 8-byte blocks. Each block would add 8·s1 + 8·b0 + 7·b1 + … + 1·b7 to s2 and
    // b0 + … + b7 to s1; here the blocks' own terms are summed apart from s1: `weighted`
    // gathers 8·b0 + … + 1·b7 of every block, `bytes` the bytes so far, and `earlier` the
    // sum of `bytes` before each block, which is what the blocks' s1 gained in between.
    // After n blocks s2 has gained 8·n·s1 + 8·earlier + weighted, exactly. No sum waits on
    // the one before it, where s2 += 8·s1 … did on every block: 8% faster over 64 KiB in
    // bench/adler.ts (0.60 → 0.65 of zlib), 20% in a loop within one process. `earlier` ≤
    // 694 × 1,415,760 < 2^31; 8·earlier may pass 2^32, but the whole of s2 is bounded by the
    // inequality above, so wrapping each term mod 2^32 (`| 0`) and reading s2 back unsigned
    // gives its exact value.
    const blocksEnd = chunkEnd - ((chunkEnd - i) % block);
    const blocks = (blocksEnd - i) / block;
    let bytes = 0;
    let earlier = 0;
    let weighted = 0;
    while (i < blocksEnd) {
      const b0 = data[i]!;
      const b1 = data[i + 1]!;
      const b2 = data[i + 2]!;
      const b3 = data[i + 3]!;
      const b4 = data[i + 4]!;
      const b5 = data[i + 5]!;
      const b6 = data[i + 6]!;
      const b7 = data[i + 7]!;
      earlier = (earlier + bytes) | 0;
      weighted = (weighted + 8 * b0 + 7 * b1 + 6 * b2 + 5 * b3 + 4 * b4 + 3 * b5 + 2 * b6 + b7) | 0;
      bytes += b0 + b1 + b2 + b3 + b4 + b5 + b6 + b7;
      i += block;
    }
    s2 = (s2 + block * blocks * s1 + ((block * earlier) | 0) + weighted) | 0;
    s1 += bytes;
    // The last 0–7 bytes of the data, one at a time.
    while (i < chunkEnd) {
      s1 += data[i++]!;
      s2 = (s2 + s1) | 0;
    }
    s1 %= mod;
    s2 = (s2 >>> 0) % mod;
  }
  return ((s2 << 16) | s1) >>> 0;
}

/**
 * Infers the unit of a raw timestamp from its magnitude: below 1e11 seconds, below 1e14
 * milliseconds, below 1e17 microseconds, otherwise nanoseconds. The bands do not overlap for
 * any date between 1973 and 5138, so peers that send whole seconds are read correctly.
 *
 * @param value The raw timestamp from the header.
 * @returns The inferred unit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inferTimestampUnit } from "./protocol.ts";
 * assert.ok(inferTimestampUnit(1763700000) === "s");
 * assert.ok(inferTimestampUnit(1763700000123) === "ms");
 * ```
 */
export function inferTimestampUnit(value: number): TimestampUnit {
  if (value < 1e11) return "s";
  if (value < 1e14) return "ms";
  if (value < 1e17) return "us";
  return "ns";
}

const unitsPerMs: Record<TimestampUnit, number> = { s: 1e-3, ms: 1, us: 1e3, ns: 1e6 };

/**
 * Converts a wall-clock time in Unix milliseconds to the whole number a sender writes in
 * `unit`, truncated toward the past as the spec requires.
 *
 * @param unixMs Wall-clock time in (possibly fractional) Unix milliseconds.
 * @param unit The unit to write.
 * @returns The timestamp as a whole number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { timestampFromMs } from "./protocol.ts";
 * assert.ok(timestampFromMs(1763700000123.9, "s") === 1763700000);
 * assert.ok(timestampFromMs(1763700000123.9, "us") === 1763700000123900);
 * ```
 */
export function timestampFromMs(unixMs: number, unit: TimestampUnit): number {
  // Scaling by 1e3 is exact for ms values with µs resolution only after rounding away the
  // float error (123.9 * 1000 = 123899.99…), so round to 1 ns before flooring.
  const scaled = unixMs * unitsPerMs[unit];
  return Math.floor(Math.round(scaled * 1e3) / 1e3);
}

/**
 * Converts a raw timestamp to Unix milliseconds, inferring its unit.
 *
 * @param timestamp The raw timestamp from the header.
 * @returns The send time in Unix milliseconds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { timestampToMs } from "./protocol.ts";
 * assert.ok(timestampToMs(1763700000) === 1763700000000);
 * ```
 */
export function timestampToMs(timestamp: number): number {
  return toMs(timestamp, inferTimestampUnit(timestamp));
}

// Division by the exact power of ten gives the correctly rounded result (µs 123456 → 123.456
// ms); multiplying by 1e-3 would not.
function toMs(timestamp: number, unit: TimestampUnit): number {
  return unit === "s" ? timestamp * 1000 : timestamp / unitsPerMs[unit];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

/**
 * Parses a dotted-quad IPv4 address into its four bytes.
 *
 * @param ipv4 An address such as `"192.0.2.10"`.
 * @returns The address as a 32-bit unsigned number, or `undefined` if it is not a dotted quad.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseIpv4 } from "./protocol.ts";
 * assert.ok(parseIpv4("127.0.0.1") === 0x7f000001);
 * assert.ok(parseIpv4("localhost") === undefined);
 * ```
 */
export function parseIpv4(ipv4: string): number | undefined {
  // One pass over the characters, allocating nothing: the peer's source table calls this
  // for every datagram.
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ipv4.length; i++) {
    const c = ipv4.charCodeAt(i);
    if (c === 46) { // "."
      if (digits === 0 || dots === 3) return undefined;
      value = value * 256 + octet;
      octet = digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57 && digits < 3 && !(digits === 1 && octet === 0)) {
      // A leading zero ("01") is refused: some parsers read it as octal.
      octet = octet * 10 + (c - 48);
      if (octet > 255) return undefined;
      digits++;
    } else {
      return undefined;
    }
  }
  if (digits === 0 || dots !== 3) return undefined;
  return value * 256 + octet;
}

/**
 * Formats a 32-bit unsigned number as a dotted-quad IPv4 address.
 *
 * @param value The address as a number.
 * @returns The dotted quad, for example `"127.0.0.1"`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatIpv4 } from "./protocol.ts";
 * assert.ok(formatIpv4(0x7f000001) === "127.0.0.1");
 * ```
 */
export function formatIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/**
 * Builds a heartbeat datagram: the header with its checksum, then the text.
 *
 * @param fields Timestamp, advertised address and port, and text.
 * @returns The datagram, between 18 and 65,507 bytes long.
 * @throws {RangeError} If the text is longer than {@linkcode MAX_TEXT_BYTES}, the port is not
 * in 0..65535, the timestamp is not a whole number in 0..2^53, or `ipv4` is not a dotted quad.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeHeartbeat } from "./protocol.ts";
 * const datagram = encodeHeartbeat({ timestamp: 1763700000, ipv4: "127.0.0.1", port: 5005, text: "" });
 * assert.ok(datagram.length === 18);
 * ```
 */
export function encodeHeartbeat(fields: HeartbeatFields): Uint8Array {
  const { address, text } = checkFields(fields);
  const datagram = new Uint8Array(HEADER_BYTES + text.length);
  writeHeartbeat(datagram, fields, address, text);
  return datagram;
}

/**
 * Writes a heartbeat datagram into the start of `target`, for a sender that reuses one
 * buffer: allocating the 79 bytes of a new datagram costs Deno more than building it.
 *
 * @param target Where to write; at least 18 bytes plus the text.
 * @param fields Timestamp, advertised address and port, and text.
 * @returns The datagram's length: send `target.subarray(0, length)`.
 * @throws {RangeError} If `target` is too short, or for the reasons
 * {@linkcode encodeHeartbeat} gives.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeHeartbeatInto, MAX_DATAGRAM_BYTES } from "./protocol.ts";
 * const buffer = new Uint8Array(MAX_DATAGRAM_BYTES);
 * const fields = { timestamp: 1763700000123, ipv4: "127.0.0.1", port: 5005, text: "hi" };
 * const length = encodeHeartbeatInto(buffer, fields);
 * assert.ok(length === 20);
 * ```
 */
export function encodeHeartbeatInto(target: Uint8Array, fields: HeartbeatFields): number {
  const { address, text } = checkFields(fields);
  const length = HEADER_BYTES + text.length;
  if (target.length < length) {
    throw new RangeError(
      `Cannot encode heartbeat: it needs ${length} bytes and the buffer has ${target.length}`,
    );
  }
  writeHeartbeat(target, fields, address, text);
  return length;
}

// A sender advertises the same address in every heartbeat to a target; parsing it each time
// (split and a regular expression per octet) was a quarter of the cost of encoding.
let lastIpv4: string | undefined;
let lastAddress = 0;

function checkFields(fields: HeartbeatFields): { address: number; text: Uint8Array } {
  if (fields.ipv4 !== lastIpv4) {
    const address = parseIpv4(fields.ipv4);
    if (address === undefined) {
      throw new RangeError(`Cannot encode heartbeat: "${fields.ipv4}" is not an IPv4 address`);
    }
    lastIpv4 = fields.ipv4;
    lastAddress = address;
  }
  const { port, timestamp } = fields;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`Cannot encode heartbeat: port ${port} is not in 0..65535`);
  }
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new RangeError(`Cannot encode heartbeat: timestamp ${timestamp} is not a whole number`);
  }
  const text = typeof fields.text === "string" ? encoder.encode(fields.text) : fields.text;
  if (text.length > MAX_TEXT_BYTES) {
    throw new RangeError(
      `Cannot encode heartbeat: text is ${text.length} bytes, at most ${MAX_TEXT_BYTES} fit`,
    );
  }
  return { address: lastAddress, text };
}

function writeHeartbeat(
  target: Uint8Array,
  fields: HeartbeatFields,
  address: number,
  text: Uint8Array,
): void {
  const length = HEADER_BYTES + text.length;
  target.set(text, HEADER_BYTES);
  // Two 32-bit halves: exact for any safe integer, and cheaper than a BigInt.
  writeUint32(target, 4, Math.floor(fields.timestamp / 0x1_0000_0000));
  writeUint32(target, 8, fields.timestamp >>> 0);
  writeUint32(target, 12, address);
  target[16] = fields.port >>> 8;
  target[17] = fields.port;
  writeUint32(target, 0, adler32Range(target, 4, length));
}

// Big-endian unsigned 32-bit write; a Uint8Array keeps the low 8 bits of what it is given.
function writeUint32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 24;
  bytes[offset + 1] = value >>> 16;
  bytes[offset + 2] = value >>> 8;
  bytes[offset + 3] = value;
}

// Big-endian unsigned 32-bit read. A DataView would do the same, but creating one for each
// received datagram costs as much as the rest of the header (~50 ns of ~200).
function readUint32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) |
    bytes[offset + 3]!) >>> 0;
}

// A receiver sees the same advertised address in nearly every datagram: the string of the
// last one is kept, so decoding builds none (four number-to-string conversions and three
// joins) and a caller comparing it with the previous one finds the same string at once.
let lastDecodedValue = -1;
let lastDecodedIpv4 = "";

function ipv4String(value: number): string {
  if (value !== lastDecodedValue) {
    lastDecodedIpv4 = formatIpv4(value);
    lastDecodedValue = value;
  }
  return lastDecodedIpv4;
}

/** Options of {@linkcode decodeHeartbeat}. */
export interface DecodeOptions {
  /**
   * Whether to decode the text (default true). A caller that never shows it (`--quiet`)
   * passes false and gets `""`, saving the UTF-8 decoding of every datagram.
   */
  text?: boolean;
}

/**
 * Reads a datagram as a heartbeat, verifying its length and checksum.
 *
 * @param datagram The bytes received.
 * @param options Whether to decode the text.
 * @returns `{ ok: true, heartbeat }`, or `{ ok: false, reason }` with `"short"` for fewer
 * than 18 bytes and `"checksum"` for a checksum mismatch. It never throws.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeHeartbeat } from "./protocol.ts";
 * const result = decodeHeartbeat(new Uint8Array(17));
 * assert.ok(!result.ok && result.reason === "short");
 * ```
 */
export function decodeHeartbeat(datagram: Uint8Array, options?: DecodeOptions): DecodeResult {
  const heartbeat = emptyHeartbeat();
  const reason = decodeHeartbeatInto(datagram, heartbeat, options);
  return reason === undefined
    ? { ok: true, heartbeat }
    : { ok: false, reason, bytes: datagram.length };
}

/**
 * A heartbeat with every field zero or empty, for {@linkcode decodeHeartbeatInto} to fill.
 *
 * @returns A new heartbeat.
 */
export function emptyHeartbeat(): Heartbeat {
  return {
    checksum: 0,
    timestamp: 0,
    unit: "ms",
    sentAtMs: 0,
    ipv4: "",
    port: 0,
    text: "",
    bytes: 0,
  };
}

/**
 * Reads a datagram as a heartbeat into an object the caller reuses, as
 * {@linkcode decodeHeartbeat} does but allocating nothing (the text aside, when decoded):
 * for a receive loop that handles each heartbeat before the next arrives.
 *
 * @param datagram The bytes received.
 * @param into Where the fields go; changed only when the datagram is valid (`bytes` is
 * always set).
 * @param options Whether to decode the text.
 * @returns undefined for a valid heartbeat, else why it is not one (`"short"`, `"checksum"`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeHeartbeatInto, emptyHeartbeat, encodeHeartbeat } from "./protocol.ts";
 * const heartbeat = emptyHeartbeat();
 * const datagram = encodeHeartbeat({ timestamp: 1763700000123456, ipv4: "127.0.0.1", port: 5005, text: "hi" });
 * assert.ok(decodeHeartbeatInto(datagram, heartbeat) === undefined);
 * assert.ok(heartbeat.unit === "us" && heartbeat.text === "hi");
 * ```
 */
export function decodeHeartbeatInto(
  datagram: Uint8Array,
  into: Heartbeat,
  options?: DecodeOptions,
): InvalidReason | undefined {
  const bytes = datagram.length;
  into.bytes = bytes;
  if (bytes < HEADER_BYTES) return "short";
  const checksum = readUint32(datagram, 0);
  if (adler32Range(datagram, 4, bytes) !== checksum) return "checksum";
  const timestamp = readUint32(datagram, 4) * 0x1_0000_0000 + readUint32(datagram, 8);
  const unit = inferTimestampUnit(timestamp);
  into.checksum = checksum;
  into.timestamp = timestamp;
  into.unit = unit;
  into.sentAtMs = toMs(timestamp, unit);
  into.ipv4 = ipv4String(readUint32(datagram, 12));
  into.port = (datagram[16]! << 8) | datagram[17]!;
  into.text = bytes === HEADER_BYTES || options?.text === false ? "" : decodeText(datagram);
  return undefined;
}

// A sender repeats its text in every heartbeat: the string of the last text (up to 256
// bytes) is kept with its bytes, and a datagram whose text bytes are the same gets the same
// string. Comparing 61 bytes costs a third of decoding them through TextDecoder.
const TEXT_CACHE_BYTES = 256;
const lastTextBytes = new Uint8Array(TEXT_CACHE_BYTES);
let lastTextLength = -1;
let lastText = "";

function decodeText(datagram: Uint8Array): string {
  const length = datagram.length - HEADER_BYTES;
  if (length === lastTextLength) {
    let i = 0;
    while (i < length && datagram[HEADER_BYTES + i] === lastTextBytes[i]) i++;
    if (i === length) return lastText;
  }
  const text = decoder.decode(datagram.subarray(HEADER_BYTES));
  if (length <= TEXT_CACHE_BYTES) {
    lastTextBytes.set(datagram.subarray(HEADER_BYTES));
    lastTextLength = length;
    lastText = text;
  }
  return text;
}
