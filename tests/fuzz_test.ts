import assert from "node:assert/strict";
import { referenceAdler32 } from "./_helpers/testing.ts";
import { escapeForTerminal, jsonLine } from "../src/common/escape.ts";
import {
  flipBits,
  forgedHeartbeat,
  FUZZ_EPOCH_MS,
  Prng,
  randomLength,
  truncate,
  validHeartbeat,
} from "./_helpers/hostile.ts";
import { decodeHeartbeat, HEADER_BYTES, MAX_DATAGRAM_BYTES } from "../protocol.ts";
import {
  formatInvalid,
  formatMessage,
  type InvalidEvent,
  messageEvent,
} from "../src/peer/events.ts";

// Rerun a failure with UDPEER_FUZZ_SEED=<the printed seed>; UDPEER_FUZZ_CASES scales the run.
const seed = Number(Deno.env.get("UDPEER_FUZZ_SEED") ?? (Math.random() * 0x1_0000_0000) >>> 0);
const cases = Number(Deno.env.get("UDPEER_FUZZ_CASES") ?? 100_000);

// What must never reach a terminal raw: C0, DEL, C1, and what escape.ts also promises to
// escape (bidirectional controls, line and paragraph separators).
// deno-lint-ignore no-control-regex
const rawControl = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
// deno-lint-ignore no-control-regex
const jsonRaw = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** Reverses escapeForTerminal; throws on a backslash that is not one of its escapes. */
function unescapeTerminal(text: string): string {
  return text.replace(/\\(n|r|t|\\|x[0-9a-f]{2}|u\{[0-9a-f]+\}|[^])/g, (_, body: string) => {
    if (body === "n") return "\n";
    if (body === "r") return "\r";
    if (body === "t") return "\t";
    if (body === "\\") return "\\";
    if (body.startsWith("x")) return String.fromCharCode(parseInt(body.slice(1), 16));
    if (body.startsWith("u{")) return String.fromCodePoint(parseInt(body.slice(2, -1), 16));
    throw new Error(`Stray escape "\\${body}"`);
  });
}

// Keeps a leading BOM as text, as the codec does.
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
const remote = { hostname: "127.0.0.1", port: 5006 };
// A fixed receive time, so that a seed reproduces every line exactly.
const receivedAtMs = FUZZ_EPOCH_MS + 30_000.123;
const units = new Set(["s", "ms", "us", "ns"]);

type Kind = "random" | "edge" | "flipped" | "truncated" | "forged";

/** One fuzz case: a datagram and how it was made. */
function nextCase(prng: Prng): { kind: Kind; datagram: Uint8Array } {
  const roll = prng.int(100);
  if (roll < 48) return { kind: "random", datagram: prng.bytes(randomLength(prng)) };
  if (roll < 50) {
    // Random bytes of a full-size datagram, or one at an edge of the header.
    const length = prng.pick([0, 17, 18, 19, MAX_DATAGRAM_BYTES]);
    return { kind: "edge", datagram: prng.bytes(length) };
  }
  const heartbeat = () => prng.int(2) === 0 ? validHeartbeat(prng) : forgedHeartbeat(prng, 2048);
  if (roll < 65) return { kind: "flipped", datagram: flipBits(prng, heartbeat()) };
  if (roll < 75) return { kind: "truncated", datagram: truncate(prng, heartbeat()) };
  return { kind: "forged", datagram: forgedHeartbeat(prng) };
}

/** Checks one datagram end to end: decoder, event, human line, JSON line. */
function check(datagram: Uint8Array, tally: Record<string, number>, junk: Uint8Array): void {
  const result = decodeHeartbeat(datagram);
  assert.equal(typeof result.ok, "boolean");
  // The peer decodes a view into one reused receive buffer: at an offset, with the rest of
  // an earlier datagram after it. The decoder must read exactly the view.
  const offset = 1 + (datagram.length & 7);
  const reused = new Uint8Array(offset + datagram.length + junk.length);
  reused.set(junk.subarray(0, offset));
  reused.set(datagram, offset);
  reused.set(junk, offset + datagram.length);
  assert.deepEqual(decodeHeartbeat(reused.subarray(offset, offset + datagram.length)), result);
  if (!result.ok) {
    assert.equal(result.bytes, datagram.length);
    if (datagram.length < HEADER_BYTES) assert.equal(result.reason, "short");
    else {
      assert.equal(result.reason, "checksum");
      const carried = new DataView(datagram.buffer).getUint32(0);
      assert.notEqual(referenceAdler32(datagram.subarray(4)), carried);
    }
    tally[result.reason] = (tally[result.reason] ?? 0) + 1;
    const event: InvalidEvent = { event: "invalid", ...remoteFields, ...result };
    const line = formatInvalid(event);
    assert.ok(!rawControl.test(line), line);
    assert.ok(!jsonRaw.test(jsonLine(event)));
    return;
  }
  tally.valid = (tally.valid ?? 0) + 1;
  const { heartbeat } = result;
  const view = new DataView(datagram.buffer);
  assert.ok(datagram.length >= HEADER_BYTES);
  assert.equal(referenceAdler32(datagram.subarray(4)), view.getUint32(0));
  assert.equal(heartbeat.checksum, view.getUint32(0));
  assert.equal(heartbeat.bytes, datagram.length);
  assert.equal(heartbeat.timestamp, view.getUint32(4) * 2 ** 32 + view.getUint32(8));
  assert.equal(heartbeat.port, view.getUint16(16));
  assert.equal(heartbeat.ipv4, [...datagram.subarray(12, 16)].join("."));
  assert.equal(heartbeat.text, decoder.decode(datagram.subarray(HEADER_BYTES)));
  assert.ok(units.has(heartbeat.unit));
  assert.ok(Number.isFinite(heartbeat.sentAtMs));

  const event = messageEvent(heartbeat, remote, 1, receivedAtMs);
  assert.equal(event.sentAt, new Date(heartbeat.sentAtMs).toISOString());
  const line = formatMessage(event);
  assert.ok(!rawControl.test(line), `raw control character in ${JSON.stringify(line)}`);
  assert.ok(line.isWellFormed());
  // The text is the part after the first " | "; reading its escapes back gives the
  // original, so no escape was forged and nothing was lost.
  const shown = line.slice(line.indexOf(" | ") + 3);
  assert.equal(unescapeTerminal(shown), heartbeat.text);
  assert.equal(shown, escapeForTerminal(heartbeat.text));

  const json = jsonLine(event);
  assert.ok(!jsonRaw.test(json), `raw control character in ${json}`);
  assert.deepEqual(JSON.parse(json), event);
}

const remoteFields = { from: remote.hostname, fromPort: remote.port };

Deno.test(`the decoder and formatters survive ${cases} hostile datagrams (seed ${seed})`, () => {
  console.log(`fuzz seed ${seed}: rerun with UDPEER_FUZZ_SEED=${seed}`);
  const prng = new Prng(seed);
  const junk = prng.bytes(64);
  const tally: Record<string, number> = {};
  const kinds: Record<string, number> = {};
  let bytes = 0;
  const started = performance.now();
  for (let i = 0; i < cases; i++) {
    const { kind, datagram } = nextCase(prng);
    kinds[kind] = (kinds[kind] ?? 0) + 1;
    bytes += datagram.length;
    try {
      check(datagram, tally, junk);
    } catch (error) {
      const head = [...datagram.subarray(0, 64)].map((b) => b.toString(16).padStart(2, "0"));
      throw new Error(
        `Case ${i} (${kind}, ${datagram.length} bytes, seed ${seed}) failed; starts ${
          head.join("")
        }`,
        { cause: error },
      );
    }
  }
  const ms = Math.round(performance.now() - started);
  console.log(
    `${cases} cases, ${(bytes / 1e6).toFixed(0)} MB in ${ms} ms; made: ${
      JSON.stringify(kinds)
    }; decoded: ${JSON.stringify(tally)}`,
  );
  // Every kind of outcome was exercised, so the run is not vacuous.
  assert.ok((tally.valid ?? 0) > cases / 10, "too few valid heartbeats");
  assert.ok((tally.short ?? 0) > cases / 20, "too few short datagrams");
  assert.ok((tally.checksum ?? 0) > cases / 5, "too few checksum mismatches");
});

Deno.test("every single-bit flip of a heartbeat is reported as a checksum mismatch", () => {
  // Adler-32 detects every one-bit error, so a heartbeat with one flipped bit is never
  // taken for a message: exhaustive over every bit of a default-size heartbeat.
  const heartbeat = validHeartbeat(new Prng(seed));
  for (let bit = 0; bit < heartbeat.length * 8; bit++) {
    const copy = heartbeat.slice();
    copy[bit >> 3]! ^= 1 << (bit & 7);
    const result = decodeHeartbeat(copy);
    assert.ok(!result.ok && result.reason === "checksum", `bit ${bit} went unnoticed`);
  }
});

Deno.test("every control character and bidirectional override is shown escaped", () => {
  const decoded = decodeHeartbeat(validHeartbeat(new Prng(seed)));
  assert.ok(decoded.ok);
  for (let code = 0; code <= 0x2070; code++) {
    const text = `a${String.fromCharCode(code)}b`;
    const heartbeat = { ...decoded.heartbeat, text };
    const line = formatMessage(messageEvent(heartbeat, remote, 1, receivedAtMs));
    assert.ok(!rawControl.test(line), `U+${code.toString(16)} reached the line raw`);
    assert.equal(unescapeTerminal(line.slice(line.indexOf(" | ") + 3)), text);
  }
});
