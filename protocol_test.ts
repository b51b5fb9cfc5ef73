import assert from "node:assert/strict";
import { referenceAdler32 } from "./tests/_helpers/testing.ts";
import {
  adler32,
  decodeHeartbeat,
  decodeHeartbeatInto,
  DEFAULT_MESSAGE,
  emptyHeartbeat,
  encodeHeartbeat,
  formatIpv4,
  HEADER_BYTES,
  inferTimestampUnit,
  MAX_DATAGRAM_BYTES,
  MAX_TEXT_BYTES,
  parseIpv4,
  timestampFromMs,
  timestampToMs,
} from "./protocol.ts";

const vectorsDir = new URL("./tests/testdata/", import.meta.url);

interface AdlerVector {
  name: string;
  length: number;
  adler32: number;
  hex?: string;
  rule?: string;
}

interface PacketVector {
  name: string;
  hex: string;
  bytes: number;
  valid: boolean;
  reason?: string;
  timestamp?: number;
  unit?: string;
  ipv4?: string;
  port?: number;
  quote?: string;
  quoteHex?: string;
  sentAtMs?: number;
}

async function loadJson<T>(name: string): Promise<T> {
  return JSON.parse(await Deno.readTextFile(new URL(name, vectorsDir))) as T;
}

/** Builds the input of a vector given by a rule instead of hex. */
function inputOf(vector: AdlerVector): Uint8Array {
  if (vector.hex !== undefined) return Uint8Array.fromHex(vector.hex);
  const data = new Uint8Array(vector.length);
  if (vector.rule?.includes("every byte 0xff")) data.fill(0xff);
  else if (vector.rule?.includes("(i*31 + 7) & 255")) {
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 255;
  } else throw new Error(`Cannot build vector "${vector.name}": unknown rule "${vector.rule}"`);
  return data;
}

Deno.test("adler32() agrees with every zlib vector", async () => {
  const { vectors } = await loadJson<{ vectors: AdlerVector[] }>("adler32.json");
  assert(vectors.length >= 19, `expected the full vector table, got ${vectors.length} rows`);
  for (const vector of vectors) {
    const input = inputOf(vector);
    assert.deepEqual(input.length, vector.length, vector.name);
    assert.deepEqual(adler32(input), vector.adler32, vector.name);
  }
});

Deno.test("adler32() matches the RFC 1950 reference around the deferred-modulo boundary", () => {
  // 5552 is nmax (as in zlib and Go): the chunk after which the modulo runs; 0xff bytes
  // drive s2 closest to 2^32 there. 3854 is where a signed 32-bit s2 would first overflow,
  // which the unsigned reading must survive.
  for (const boundary of [3854, 5552, 2 * 5552]) {
    for (let length = boundary - 14; length <= boundary + 16; length++) {
      for (const fill of [0xff, 0x00, 0x80]) {
        const data = new Uint8Array(length).fill(fill);
        assert.deepEqual(adler32(data), referenceAdler32(data), `${length} bytes of ${fill}`);
      }
    }
  }
  // Lengths that end mid-way through the 8-byte unrolled step, at every offset.
  const pattern = Uint8Array.from({ length: 5552 * 3 + 7 }, (_, i) => (i * 131 + 17) & 255);
  for (let length = 0; length < 40; length++) {
    assert.deepEqual(
      adler32(pattern.subarray(0, length)),
      referenceAdler32(pattern.subarray(0, length)),
    );
  }
  assert.deepEqual(adler32(pattern), referenceAdler32(pattern));
});

Deno.test("adler32() gives the reference at every alignment and around the word loop's edges", () => {
  // From 256 bytes up the checksum reads 4-byte words from the buffer's first 4-byte
  // boundary, in lanes moved out every 16 words: every start offset modulo 4 (and 8), and
  // lengths around 256, a lane (64 bytes), nmax and twice nmax, with all bytes 0xff (the
  // largest lane and chunk sums) and a pattern.
  const buffer = new Uint8Array(2 * 5552 + 64);
  const pattern = Uint8Array.from(buffer, (_, i) => (i * 131 + 17) & 255);
  for (const source of [buffer.fill(0xff), pattern]) {
    for (let offset = 0; offset < 8; offset++) {
      for (const around of [256, 320, 5552, 2 * 5552]) {
        for (let length = around - 5; length <= around + 5; length++) {
          if (offset + length > source.length) continue;
          const data = source.subarray(offset, offset + length);
          assert.equal(adler32(data), referenceAdler32(data), `offset ${offset}, ${length} bytes`);
        }
      }
    }
  }
});

Deno.test("adler32() checksums a subarray, not its whole buffer", () => {
  const whole = new TextEncoder().encode("xxWikipediayy");
  assert.deepEqual(adler32(whole.subarray(2, 11)), 300286872);
});

Deno.test("decodeHeartbeat() agrees with every packet vector", async () => {
  const { packets } = await loadJson<{ packets: PacketVector[] }>("packets.json");
  assert(packets.length >= 12, `expected the full packet table, got ${packets.length} rows`);
  for (const vector of packets) {
    const datagram = Uint8Array.fromHex(vector.hex);
    assert.deepEqual(datagram.length, vector.bytes, vector.name);
    const result = decodeHeartbeat(datagram);
    if (!vector.valid) {
      assert.deepEqual(
        result,
        { ok: false, reason: vector.reason, bytes: vector.bytes },
        vector.name,
      );
      continue;
    }
    assert(result.ok, `${vector.name}: expected a valid heartbeat`);
    const { heartbeat } = result;
    assert.deepEqual(heartbeat.timestamp, vector.timestamp, vector.name);
    assert.deepEqual(heartbeat.unit, vector.unit, vector.name);
    assert.deepEqual(heartbeat.sentAtMs, vector.sentAtMs, vector.name);
    assert.deepEqual(heartbeat.ipv4, vector.ipv4, vector.name);
    assert.deepEqual(heartbeat.port, vector.port, vector.name);
    assert.deepEqual(heartbeat.bytes, vector.bytes, vector.name);
    const text = new TextEncoder().encode(heartbeat.text);
    if (vector.quote !== undefined) assert.deepEqual(heartbeat.text, vector.quote, vector.name);
    else if (vector.quoteHex !== undefined) {
      const expected = new TextDecoder().decode(Uint8Array.fromHex(vector.quoteHex));
      assert.deepEqual(heartbeat.text, expected, vector.name);
    } else {
      // The "largest" vector's text follows the rule byte i = (i*31 + 7) & 255.
      const raw = datagram.subarray(HEADER_BYTES);
      raw.forEach((byte, i) => assert.deepEqual(byte, (i * 31 + 7) & 255));
      assert(text.length > 0);
    }
  }
});

Deno.test("encodeHeartbeat() rebuilds every valid packet vector byte for byte", async () => {
  const { packets } = await loadJson<{ packets: PacketVector[] }>("packets.json");
  const valid = packets.filter((vector) => vector.valid);
  assert(valid.length >= 6);
  for (const vector of valid) {
    const datagram = Uint8Array.fromHex(vector.hex);
    const rebuilt = encodeHeartbeat({
      timestamp: vector.timestamp!,
      ipv4: vector.ipv4!,
      port: vector.port!,
      text: datagram.subarray(HEADER_BYTES),
    });
    assert.deepEqual(rebuilt.toHex(), vector.hex, vector.name);
  }
});

Deno.test("encodeHeartbeat() writes the default 79-byte datagram", () => {
  const datagram = encodeHeartbeat({
    timestamp: 1763700000,
    ipv4: "127.0.0.1",
    port: 5005,
    text: DEFAULT_MESSAGE,
  });
  assert.deepEqual(datagram.length, 79);
  assert.deepEqual(
    datagram.toHex(),
    "5b57185300000000691fed207f000001138d22497420616c77617973207365656d7320696d706f737369626c6520756e74696c206974277320646f6e6522202d204e656c736f6e204d616e64656c61",
  );
});

Deno.test("encodeHeartbeat() and decodeHeartbeat() round-trip the largest datagram", () => {
  const text = "é".repeat(MAX_TEXT_BYTES / 2) + "!"; // 65,489 bytes of UTF-8
  const datagram = encodeHeartbeat({
    timestamp: 1763700000123456,
    ipv4: "10.1.2.3",
    port: 65535,
    text,
  });
  assert.deepEqual(datagram.length, MAX_DATAGRAM_BYTES);
  const result = decodeHeartbeat(datagram);
  assert(result.ok);
  assert.deepEqual(result.heartbeat.text, text);
  assert.deepEqual(result.heartbeat.unit, "us");
  assert.deepEqual(result.heartbeat.ipv4, "10.1.2.3");
  assert.deepEqual(result.heartbeat.port, 65535);
});

Deno.test("encodeHeartbeat() refuses a text of 65,490 bytes", () => {
  assert.throws(
    () =>
      encodeHeartbeat({
        timestamp: 1,
        ipv4: "127.0.0.1",
        port: 1,
        text: new Uint8Array(MAX_TEXT_BYTES + 1),
      }),
    { name: "RangeError", message: /65490 bytes/ },
  );
});

Deno.test("encodeHeartbeat() refuses a bad address, port or timestamp", () => {
  const base = { timestamp: 1, ipv4: "127.0.0.1", port: 1, text: "" };
  for (const ipv4 of ["", "1.2.3", "256.0.0.1", "1.2.3.4.5", "01.2.3.4", "localhost", "::1"]) {
    assert.throws(() => encodeHeartbeat({ ...base, ipv4 }), {
      name: "RangeError",
      message: /IPv4/,
    });
  }
  for (const port of [-1, 65536, 1.5, NaN]) {
    assert.throws(() => encodeHeartbeat({ ...base, port }), {
      name: "RangeError",
      message: /port/,
    });
  }
  for (const timestamp of [-1, 0.5, 2 ** 53, Infinity]) {
    assert.throws(() => encodeHeartbeat({ ...base, timestamp }), {
      name: "RangeError",
      message: /timestamp/,
    });
  }
});

Deno.test("decodeHeartbeat() rejects a datagram shorter than the header", () => {
  for (let length = 0; length < HEADER_BYTES; length++) {
    assert.deepEqual(decodeHeartbeat(new Uint8Array(length)), {
      ok: false,
      reason: "short",
      bytes: length,
    });
  }
});

Deno.test("decodeHeartbeat() rejects every single-bit flip of a heartbeat", () => {
  const datagram = encodeHeartbeat({
    timestamp: 1763700000123,
    ipv4: "127.0.0.1",
    port: 5005,
    text: DEFAULT_MESSAGE,
  });
  for (let bit = 0; bit < datagram.length * 8; bit++) {
    const copy = datagram.slice();
    copy[bit >> 3]! ^= 1 << (bit & 7);
    const result = decodeHeartbeat(copy);
    assert.deepEqual(result.ok, false, `bit ${bit}`);
  }
});

Deno.test("decodeHeartbeat() reads a datagram that sits inside a larger buffer", () => {
  const datagram = encodeHeartbeat({ timestamp: 1763700000, ipv4: "1.2.3.4", port: 9, text: "hi" });
  const buffer = new Uint8Array(100);
  buffer.set(datagram, 7);
  const result = decodeHeartbeat(buffer.subarray(7, 7 + datagram.length));
  assert(result.ok);
  assert.deepEqual(result.heartbeat.text, "hi");
  assert.deepEqual(result.heartbeat.ipv4, "1.2.3.4");
});

Deno.test("inferTimestampUnit() draws the band edges where the spec puts them", () => {
  const cases: [number, string][] = [
    [0, "s"],
    [1763700000, "s"],
    [1e11 - 1, "s"],
    [1e11, "ms"],
    [1e14 - 1, "ms"],
    [1e14, "us"],
    [9.9e16, "us"],
    [1e17, "ns"],
    [2 ** 64 - 1, "ns"],
  ];
  for (const [value, unit] of cases) assert.deepEqual(inferTimestampUnit(value), unit, `${value}`);
});

Deno.test("timestampFromMs() truncates to the unit and timestampToMs() reads it back", () => {
  const now = 1763700000123.4567;
  assert.deepEqual(timestampFromMs(now, "s"), 1763700000);
  assert.deepEqual(timestampFromMs(now, "ms"), 1763700000123);
  assert.deepEqual(timestampFromMs(now, "us"), 1763700000123456);
  assert.deepEqual(timestampFromMs(1763700000123.9, "us"), 1763700000123900);
  assert.deepEqual(timestampToMs(1763700000), 1763700000000);
  assert.deepEqual(timestampToMs(1763700000123), 1763700000123);
  assert.deepEqual(timestampToMs(1763700000123456), 1763700000123.456);
  assert.deepEqual(timestampToMs(1763700000123456789), 1763700000123.4568);
});

Deno.test("decodeHeartbeat() reads a nanosecond timestamp above 2^53", () => {
  const datagram = Uint8Array.fromHex("00000000187a0b1c3b0c5b157f000001138d");
  const view = new DataView(datagram.buffer);
  view.setUint32(0, adler32(datagram.subarray(4)));
  const result = decodeHeartbeat(datagram);
  assert(result.ok);
  assert.deepEqual(result.heartbeat.unit, "ns");
  assert(Math.abs(result.heartbeat.sentAtMs - 0x187a0b1c3b0c5b15 / 1e6) < 1e-3);
});

Deno.test("parseIpv4() and formatIpv4() are inverse on valid addresses", () => {
  for (const address of ["0.0.0.0", "127.0.0.1", "192.0.2.10", "255.255.255.255", "10.1.2.3"]) {
    const value = parseIpv4(address);
    assert(value !== undefined, address);
    assert.deepEqual(formatIpv4(value), address);
  }
  assert.deepEqual(parseIpv4("255.255.255.255"), 0xffffffff);
  const badAddresses = [
    "1.2.3.-4",
    "1..2.3",
    " 1.2.3.4",
    "1.2.3.4 ",
    "1e2.0.0.1",
    "0x7f.0.0.1",
    "01.2.3.4",
  ];
  badAddresses.push("1.2.3.4.5", "1.2.3", "1.2.3.", "256.0.0.1", "1.2.3.1000", "", ".1.2.3");
  for (const bad of badAddresses) {
    assert.deepEqual(parseIpv4(bad), undefined, bad);
  }
});

Deno.test("decodeHeartbeat() with text: false checks the datagram but leaves the text empty", () => {
  const datagram = encodeHeartbeat({
    timestamp: 1_763_700_000_123,
    ipv4: "192.0.2.1",
    port: 5005,
    text: "hello",
  });
  const full = decodeHeartbeat(datagram);
  const bare = decodeHeartbeat(datagram, { text: false });
  assert.ok(full.ok && bare.ok);
  assert.equal(full.heartbeat.text, "hello");
  assert.deepEqual(bare.heartbeat, { ...full.heartbeat, text: "" });
  const corrupted = datagram.slice();
  corrupted[20]! ^= 1;
  assert.deepEqual(decodeHeartbeat(corrupted, { text: false }), {
    ok: false,
    reason: "checksum",
    bytes: datagram.length,
  });
});

Deno.test("decodeHeartbeatInto() fills a reused heartbeat as decodeHeartbeat() builds one", () => {
  const into = emptyHeartbeat();
  const datagrams = [
    encodeHeartbeat({ timestamp: 1763700000123456, ipv4: "10.1.2.3", port: 5006, text: "µs" }),
    encodeHeartbeat({ timestamp: 1763700000, ipv4: "192.0.2.7", port: 1, text: "" }),
  ];
  for (const datagram of datagrams) {
    assert.equal(decodeHeartbeatInto(datagram, into), undefined);
    const result = decodeHeartbeat(datagram);
    assert.ok(result.ok);
    assert.deepEqual({ ...into }, result.heartbeat);
  }
  const before = { ...into };
  assert.equal(decodeHeartbeatInto(new Uint8Array(17), into), "short");
  assert.equal(into.bytes, 17);
  const flipped = datagrams[0]!.slice();
  flipped[20]! ^= 1;
  assert.equal(decodeHeartbeatInto(flipped, into), "checksum");
  assert.deepEqual({ ...into, bytes: before.bytes }, before, "only bytes changes when invalid");
  assert.equal(decodeHeartbeatInto(datagrams[0]!, into, { text: false }), undefined);
  assert.equal(into.text, "");
});

Deno.test("decodeHeartbeat() reads each text afresh: a repeated text, one of the same length, a long one", () => {
  const texts = [
    "hello",
    "hello",
    "hellp",
    "",
    "héllo",
    "x".repeat(300),
    "x".repeat(299) + "y",
    "hello",
  ];
  for (const text of texts) {
    const datagram = encodeHeartbeat({
      timestamp: 1763700000123456,
      ipv4: "127.0.0.1",
      port: 1,
      text,
    });
    const result = decodeHeartbeat(datagram);
    assert.ok(result.ok);
    assert.equal(result.heartbeat.text, text);
  }
  // Invalid UTF-8 is replaced the same way the first time and when it repeats.
  for (let i = 0; i < 2; i++) {
    const datagram = encodeHeartbeat({
      timestamp: 1763700000123456,
      ipv4: "127.0.0.1",
      port: 1,
      text: new Uint8Array([0x61, 0xff, 0x62]),
    });
    const result = decodeHeartbeat(datagram);
    assert.ok(result.ok);
    assert.equal(result.heartbeat.text, "a\ufffdb");
  }
});
