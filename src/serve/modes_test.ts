import assert from "node:assert/strict";
import {
  ACK_REPLY,
  characters,
  isMode,
  MODES,
  reverseSwapcase,
  swapcase,
  transform,
} from "./modes.ts";

Deno.test("reverseSwapcase() reverses then swaps case", () => {
  assert.equal(reverseSwapcase("Hello"), "OLLEh");
  assert.equal(reverseSwapcase("Hello, World!"), "!DLROw ,OLLEh");
  assert.equal(reverseSwapcase(""), "");
});

Deno.test("reverseSwapcase() keeps an emoji whole", () => {
  assert.equal(reverseSwapcase("ab😀"), "😀BA");
  // UTF-16 reversal would split the surrogate pair into two lone surrogates.
  assert.ok(reverseSwapcase("x😀y").isWellFormed());
  assert.equal(reverseSwapcase("x😀y"), "Y😀X");
});

Deno.test("reverseSwapcase() keeps emoji sequences, flags and skin tones whole", () => {
  const family = "👨‍👩‍👧";
  const flag = "🇫🇷";
  const thumb = "👍🏽";
  assert.equal(reverseSwapcase(`a${family}b${flag}c${thumb}`), `${thumb}C${flag}B${family}A`);
});

Deno.test("reverseSwapcase() and swapcase() handle non-ASCII letters", () => {
  const cases: [(text: string) => string, string, string][] = [
    [reverseSwapcase, "café", "ÉFAC"],
    [reverseSwapcase, "Straße", "ESSARTs"],
    [reverseSwapcase, "Ωμέγα", "ΑΓΈΜω"],
    [reverseSwapcase, "日本語", "語本日"],
    // A combining accent (é written as e + U+0301) stays on its letter.
    [reverseSwapcase, "cafe\u0301", "E\u0301FAC"],
    [swapcase, "aBc123", "AbC123"],
    // Lowercasing a whole word would turn a final Σ into ς; per code point it stays σ.
    [swapcase, "ΟΔΟΣ", "οδοσ"],
    [swapcase, "ß", "SS"],
    [swapcase, "\ufffd", "\ufffd"],
  ];
  for (const [f, text, expected] of cases) assert.equal(f(text), expected, `${f.name}(${text})`);
});

Deno.test("characters() splits into grapheme clusters that join back", () => {
  const text = "e\u0301👨‍👩‍👧🇫🇷x";
  assert.deepEqual(characters(text), ["e\u0301", "👨‍👩‍👧", "🇫🇷", "x"]);
  assert.equal(characters(text).join(""), text);
});

Deno.test("transform() computes each mode's reply", () => {
  assert.equal(transform("upper", "hello wörld 😀"), "HELLO WÖRLD 😀");
  assert.equal(transform("reverse-swapcase", "Hello"), "OLLEh");
  assert.equal(transform("ack", "anything at all"), ACK_REPLY);
  assert.equal(ACK_REPLY, "Message received");
  assert.equal(transform("echo", " as it is\t\n"), " as it is\t\n");
});

Deno.test("transform() keeps replacement characters from invalid UTF-8", () => {
  const text = new TextDecoder().decode(new Uint8Array([0x68, 0xff, 0x69]));
  assert.equal(transform("upper", text), "H\ufffdI");
  assert.equal(transform("reverse-swapcase", text), "I\ufffdH");
});

Deno.test("isMode() accepts exactly the four modes", () => {
  assert.deepEqual(MODES, ["upper", "reverse-swapcase", "ack", "echo"]);
  for (const mode of MODES) assert.ok(isMode(mode));
  for (const other of ["", "UPPER", "reverse", "lower", "toString"]) assert.ok(!isMode(other));
});
