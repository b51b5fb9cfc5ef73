import assert from "node:assert/strict";
import { commandWorks } from "../../tests/_helpers/testing.ts";
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
    // A final capital sigma becomes ς, as in Python; a titlecase letter is kept.
    [swapcase, "ΟΔΟΣ", "οδος"],
    [swapcase, "ΣΑΣ", "σας"],
    [swapcase, "ǅ", "ǅ"],
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

const pythonSwapcase = `
import json, sys, unicodedata
def known(s):
    return all(unicodedata.category(c) != "Cn" for c in s)
texts = json.load(sys.stdin)
json.dump({"version": unicodedata.unidata_version,
           "swapped": [t.swapcase() if known(t) else None for t in texts],
           "reversed": [t[::-1].swapcase() for t in texts[:64]]}, sys.stdout)
`;

/** Case mappings that Unicode added after Python 3.11's database (14.0): Ƛ and Ɤ (16.0). */
const NEWER_THAN_UNICODE_14 = new Set(["\u019B", "\u0264"]);

Deno.test({
  name: "swapcase() and reverseSwapcase() match python3's str.swapcase on every code point",
  ignore: !(await commandWorks("python3")),
  fn: async () => {
    // Sigma in its contexts first (reversed as well), then every code point up to U+1FFFF.
    const texts = [
      "ΣΑΣ",
      "ΑΣ",
      "Σ",
      "ΑΣ.",
      "ΑΣ'Β",
      "Α'Σ",
      "ΑΣ'",
      "ΣΣ",
      "aΣ b",
      "ΟΔΟΣ ΣΑΣ",
      "Α\u00adΣ",
      "1Σ",
      "Hello ǅ ǈ ß İ ΣΑΣ",
      ...Array.from({ length: 0x20000 }, (_, cp) => cp)
        .filter((cp) => cp < 0xd800 || cp > 0xdfff)
        .map((cp) => String.fromCodePoint(cp)),
    ];
    const child = new Deno.Command("python3", {
      args: ["-c", pythonSwapcase],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(JSON.stringify(texts)));
    await writer.close();
    const { version, swapped, reversed } = JSON.parse(
      new TextDecoder().decode((await child.output()).stdout),
    ) as { version: string; swapped: (string | null)[]; reversed: string[] };
    const differences: string[] = [];
    for (const [index, text] of texts.entries()) {
      const expected = swapped[index];
      if (expected === null || expected === undefined) continue; // unassigned in Python's Unicode
      if (NEWER_THAN_UNICODE_14.has(text) && Number(version.split(".")[0]) < 16) continue;
      if (swapcase(text) !== expected) differences.push(`${JSON.stringify(text)} → ${expected}`);
    }
    assert.deepEqual(differences.slice(0, 10), [], `${differences.length} differ from Python`);
    for (const [index, text] of texts.slice(0, 13).entries()) {
      assert.equal(reverseSwapcase(text), reversed[index], text);
    }
  },
});
