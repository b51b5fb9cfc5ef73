/**
 * Hostile traffic for the reliability tests: a seeded pseudo-random generator, datagrams
 * that are random, mutated (bit flips, truncations) or forged (a valid checksum over text
 * full of control characters, escape sequences and broken UTF-8), and a sender that floods
 * a UDP port with them. Test-only; not part of the library.
 *
 * Run as a script it is the flood sender that the tests start inside a network namespace:
 *
 * ```sh
 * deno run --allow-net hostile.ts --to 127.0.0.1:5005 --count 100000 --seed 7 --marker end
 * ```
 *
 * It prints one JSON line: `{"sent":…,"sendErrors":…,"floodMs":…,"rate":…,"markers":…}`.
 *
 * @example Reproducible hostile datagrams
 * ```ts
 * import assert from "node:assert/strict";
 * import { hostileDatagram, Prng } from "./hostile.ts";
 * const a = hostileDatagram(new Prng(42));
 * const b = hostileDatagram(new Prng(42));
 * assert.equal(a.kind, b.kind);
 * assert.deepEqual(a.datagram, b.datagram);
 * ```
 *
 * @module
 */

import { adler32, encodeHeartbeat, HEADER_BYTES, MAX_DATAGRAM_BYTES } from "../../protocol.ts";

/**
 * A small, fast, seeded pseudo-random generator (sfc32), so that a failing case can be
 * reproduced from its seed.
 */
export class Prng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** @param seed Any 32-bit unsigned number. */
  constructor(seed: number) {
    this.#a = 0x9e3779b9;
    this.#b = 0x243f6a88;
    this.#c = 0xb7e15162;
    this.#d = seed >>> 0;
    for (let i = 0; i < 16; i++) this.uint32();
  }

  /** @returns The next unsigned 32-bit number. */
  uint32(): number {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /**
   * @param n Upper bound, exclusive, at most 2^32.
   * @returns A whole number in 0..n-1.
   */
  int(n: number): number {
    return Math.floor((this.uint32() / 0x1_0000_0000) * n);
  }

  /**
   * @param min Smallest value.
   * @param max Largest value, inclusive.
   * @returns A whole number in min..max.
   */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  /**
   * @param items A non-empty list.
   * @returns One of them.
   */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /**
   * @param length How many bytes.
   * @returns Random bytes.
   */
  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    let i = 0;
    for (; i + 4 <= length; i += 4) {
      const v = this.uint32();
      out[i] = v;
      out[i + 1] = v >>> 8;
      out[i + 2] = v >>> 16;
      out[i + 3] = v >>> 24;
    }
    for (; i < length; i++) out[i] = this.uint32();
    return out;
  }
}

/**
 * Lengths worth hitting on purpose: around the header, the Ethernet MTU, the chunk sizes
 * of Adler-32 implementations (3,854 and 5,552 bytes after the checksum), the maximum.
 */
export const EDGE_LENGTHS: readonly number[] = [
  0,
  1,
  HEADER_BYTES - 1,
  HEADER_BYTES,
  HEADER_BYTES + 1,
  79,
  1472,
  3857,
  3858,
  3859,
  1473,
  5552,
  5553,
  5556,
  MAX_DATAGRAM_BYTES - 1,
  MAX_DATAGRAM_BYTES,
];

/**
 * A datagram length in 0..65,507, weighted toward small sizes: 50% up to 40 bytes, 30% up
 * to 600, 14% up to 9,000, 2% up to 65,507, 4% an {@linkcode EDGE_LENGTHS} value.
 *
 * @param prng The generator.
 * @returns The length.
 */
export function randomLength(prng: Prng): number {
  const roll = prng.int(100);
  if (roll < 50) return prng.range(0, 40);
  if (roll < 80) return prng.range(41, 600);
  if (roll < 94) return prng.range(601, 9000);
  if (roll < 96) return prng.range(9001, MAX_DATAGRAM_BYTES);
  return prng.pick(EDGE_LENGTHS);
}

const utf8 = new TextEncoder();
const hex = (text: string): Uint8Array =>
  Uint8Array.from(text.match(/../g)!.map((byte) => parseInt(byte, 16)));

/** Pieces of hostile text: terminal escapes, C0/C1/DEL, bidi overrides, forged escapes, broken UTF-8. */
const hostilePieces: readonly Uint8Array[] = [
  ...Array.from({ length: 32 }, (_, code) => Uint8Array.of(code)),
  Uint8Array.of(0x7f),
  ...[
    "\x1b[2J\x1b[H", // clear the screen, cursor home
    "\x1b]0;owned\x07", // retitle the window
    "\x1b]8;;http://example.invalid\x1b\\link\x1b]8;;\x1b\\", // hyperlink
    "\x1b[31;1mred\x1b[0m",
    "\x1bP+q544e\x1b\\", // DCS query
    "\x1b[6n", // cursor position report: makes the terminal type back
    "\r\n",
    "\u0085\u009b31m\u0090\u009c", // C1 as UTF-8: NEL, CSI, DCS, ST
    "\u202eevil\u202c", // right-to-left override
    "\u2066\u2067\u2068\u2069\u200e\u200f",
    "\u2028\u2029",
    "\\x1b[2J", // forged escapes: must not read back as the real thing
    "\\n\\\\\\u{202e}",
    "\ufeff\u00ad\u200b", // BOM, soft hyphen, zero width space
    "e\u0301\u{1f600}\u{1f469}\u200d\u{1f4bb}", // combining accent, emoji, ZWJ sequence
    "hello, world",
    " - Nelson Mandela",
  ].map((text) => utf8.encode(text)),
  hex("9b"), // a raw C1 byte: invalid UTF-8
  hex("c29b"), // U+009B CSI, encoded
  hex("80"), // lone continuation byte
  hex("e282"), // truncated sequence
  hex("c0af"), // overlong "/"
  hex("e08080"), // overlong NUL
  hex("eda080"), // UTF-16 surrogate D800 encoded in UTF-8
  hex("edbfbf"),
  hex("f4908080"), // above U+10FFFF
  hex("f8888080"), // 5-byte form
  hex("fffe"),
  hex("efbbbf"), // BOM bytes
];

/**
 * Text meant to attack a terminal or a decoder: a mix of {@linkcode hostilePieces}
 * and random bytes.
 *
 * @param prng The generator.
 * @param maxBytes Upper bound on the length.
 * @returns The text bytes (often invalid UTF-8).
 */
export function hostileText(prng: Prng, maxBytes: number): Uint8Array {
  // Mostly short, like real messages; now and then long; rarely as long as it can be.
  const roll = prng.int(1000);
  const target = Math.min(
    maxBytes,
    roll < 930 ? prng.range(0, 300) : roll < 995 ? prng.range(301, 4000) : maxBytes,
  );
  const out = new Uint8Array(target);
  let length = 0;
  while (length < target) {
    const piece = prng.int(4) === 0 ? prng.bytes(prng.range(1, 8)) : prng.pick(hostilePieces);
    const take = Math.min(piece.length, target - length);
    out.set(piece.subarray(0, take), length);
    length += take;
  }
  return out;
}

/**
 * The "now" of generated timestamps (2025-11-21T04:40:00Z), fixed so that a seed gives the
 * same bytes on every run.
 */
export const FUZZ_EPOCH_MS = 1_763_700_000_000;

/**
 * A timestamp that is plausible in some unit (s, ms, µs, ns, around now) or any 64-bit value.
 *
 * @param prng The generator.
 * @returns High and low 32-bit halves.
 */
function randomTimestamp(prng: Prng): [number, number] {
  const roll = prng.int(6);
  if (roll === 0) return [prng.uint32(), prng.uint32()];
  if (roll === 1) return [0, prng.int(3) === 0 ? 0 : prng.uint32()];
  const scale = [1e-3, 1, 1e3, 1e6][roll - 2]!;
  // Around the epoch ± a day, in that unit: the elapsed time may come out negative.
  const value = Math.floor((FUZZ_EPOCH_MS + (prng.uint32() - 0x8000_0000) / 25_000) * scale);
  return [Math.floor(value / 0x1_0000_0000), value >>> 0];
}

/**
 * A datagram with a correct checksum over random header fields and hostile text: it must
 * decode as a heartbeat, and its text must still be shown inert.
 *
 * @param prng The generator.
 * @param maxBytes Upper bound on the datagram length, at least 18.
 * @returns The datagram.
 */
export function forgedHeartbeat(prng: Prng, maxBytes: number = MAX_DATAGRAM_BYTES): Uint8Array {
  const text = hostileText(prng, maxBytes - HEADER_BYTES);
  const datagram = new Uint8Array(HEADER_BYTES + text.length);
  datagram.set(text, HEADER_BYTES);
  const view = new DataView(datagram.buffer);
  const [high, low] = randomTimestamp(prng);
  view.setUint32(4, high);
  view.setUint32(8, low);
  view.setUint32(12, prng.uint32());
  view.setUint16(16, prng.int(65536));
  view.setUint32(0, adler32(datagram.subarray(4)));
  return datagram;
}

/**
 * A heartbeat as udpeer sends it, with printable or default-like text.
 *
 * @param prng The generator.
 * @returns The datagram.
 */
export function validHeartbeat(prng: Prng): Uint8Array {
  return encodeHeartbeat({
    timestamp: FUZZ_EPOCH_MS + prng.int(60_000),
    ipv4: `127.0.${prng.int(256)}.${prng.int(256)}`,
    port: prng.int(65536),
    text: `heartbeat ${prng.uint32().toString(36)} ${"x".repeat(prng.int(100))}`,
  });
}

/**
 * A copy of `datagram` with 1 to 8 random bits flipped.
 *
 * @param prng The generator.
 * @param datagram At least one byte.
 * @returns The mutated copy.
 */
export function flipBits(prng: Prng, datagram: Uint8Array): Uint8Array {
  const copy = datagram.slice();
  const flips = prng.range(1, 8);
  for (let i = 0; i < flips; i++) copy[prng.int(copy.length)]! ^= 1 << prng.int(8);
  return copy;
}

/**
 * A strict prefix of `datagram`, often shorter than the header.
 *
 * @param prng The generator.
 * @param datagram At least one byte.
 * @returns The truncated copy.
 */
export function truncate(prng: Prng, datagram: Uint8Array): Uint8Array {
  const length = prng.int(2) === 0 ? prng.int(Math.min(datagram.length, HEADER_BYTES + 1)) : prng
    .int(datagram.length);
  return datagram.slice(0, length);
}

/** How a hostile datagram was made. */
export type HostileKind = "random" | "flipped" | "truncated" | "forged" | "valid";

/**
 * One datagram of the mix: 35% random bytes of {@linkcode randomLength}, 20% bit flips of
 * a heartbeat, 15% truncations of one, 20% forged heartbeats, 10% plain valid heartbeats.
 *
 * @param prng The generator.
 * @returns The datagram and how it was made.
 */
export function hostileDatagram(prng: Prng): { kind: HostileKind; datagram: Uint8Array } {
  const roll = prng.int(100);
  if (roll < 35) return { kind: "random", datagram: prng.bytes(randomLength(prng)) };
  const source = () => prng.int(3) === 0 ? forgedHeartbeat(prng) : validHeartbeat(prng);
  if (roll < 55) return { kind: "flipped", datagram: flipBits(prng, source()) };
  if (roll < 70) return { kind: "truncated", datagram: truncate(prng, source()) };
  if (roll < 90) return { kind: "forged", datagram: forgedHeartbeat(prng) };
  return { kind: "valid", datagram: validHeartbeat(prng) };
}

/** What {@linkcode flood} did. */
export interface FloodReport {
  /** Datagrams the kernel accepted, markers included. */
  sent: number;
  /** Sends that failed. */
  sendErrors: number;
  /** Length of the burst, markers excluded. */
  floodMs: number;
  /** Datagrams per second during the burst. */
  rate: number;
  /** Marker heartbeats sent after the burst. */
  markers: number;
}

/** Options of {@linkcode flood}. */
export interface FloodOptions {
  /** Where to send. */
  hostname: string;
  /** Destination port. */
  port: number;
  /** Datagrams in the burst. */
  count: number;
  /** Seed of the mix. */
  seed: number;
  /** Text of the valid heartbeats sent after the burst, if any. */
  marker?: string | undefined;
  /** Marker heartbeats, one every 100 ms. Default 3. */
  markers?: number;
  /** Sends in flight at once. Default 16. */
  concurrency?: number;
}

/**
 * Sends a burst of hostile datagrams as fast as one socket can, then a few valid
 * heartbeats carrying `marker` so that the receiver shows it is still alive.
 *
 * @param options Destination, size of the burst and seed.
 * @returns Counts and the rate reached.
 */
export async function flood(options: FloodOptions): Promise<FloodReport> {
  const prng = new Prng(options.seed);
  // A pool built up front, so the burst measures sending and not generating.
  const pool = Array.from({ length: 4096 }, () => {
    const { datagram } = hostileDatagram(prng);
    // Few but some full-size datagrams: each fills a large part of the receive buffer.
    return datagram.length > 9000 && prng.int(4) !== 0 ? datagram.subarray(0, 9000) : datagram;
  });
  const conn = Deno.listenDatagram({ transport: "udp", hostname: options.hostname, port: 0 });
  const to = { transport: "udp" as const, hostname: options.hostname, port: options.port };
  let sent = 0;
  let sendErrors = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < options.count) {
      const datagram = pool[next++ % pool.length]!;
      try {
        await conn.send(datagram, to);
        sent++;
      } catch {
        sendErrors++;
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: options.concurrency ?? 16 }, worker));
  const floodMs = performance.now() - started;
  const rate = Math.round(sent / (floodMs / 1000));
  let markers = 0;
  if (options.marker !== undefined) {
    for (let i = 0; i < (options.markers ?? 3); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      const heartbeat = encodeHeartbeat({
        timestamp: Date.now(),
        ipv4: "127.0.0.1",
        port: (conn.addr as Deno.NetAddr).port,
        text: options.marker,
      });
      await conn.send(heartbeat, to);
      sent++;
      markers++;
    }
  }
  conn.close();
  return { sent, sendErrors, floodMs: Math.round(floodMs), rate, markers };
}

if (import.meta.main) {
  const { parseArgs } = await import("node:util");
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      to: { type: "string" },
      count: { type: "string", default: "100000" },
      seed: { type: "string", default: "1" },
      marker: { type: "string" },
      markers: { type: "string", default: "3" },
    },
  });
  const [hostname, port] = (values.to ?? "127.0.0.1:5005").split(":");
  const report = await flood({
    hostname: hostname!,
    port: Number(port),
    count: Number(values.count),
    seed: Number(values.seed),
    marker: values.marker,
    markers: Number(values.markers),
  });
  console.log(JSON.stringify(report));
}
