import assert from "node:assert/strict";
import { escapeForTerminal, jsonLine, RAW_CONTROL } from "./escape.ts";

// Every C0 control, DEL and every C1 control.
const controls = [
  ...Array.from({ length: 0x20 }, (_, i) => i),
  ...Array.from({ length: 0x21 }, (_, i) => 0x7f + i),
].map((code) => String.fromCharCode(code));

Deno.test("escapeForTerminal() leaves no C0, DEL or C1 control character raw", () => {
  for (const char of controls) {
    const escaped = escapeForTerminal(`a${char}b`);
    assert.doesNotMatch(escaped, RAW_CONTROL, `U+${char.charCodeAt(0).toString(16)}`);
    assert.ok(escaped.startsWith("a\\") && escaped.endsWith("b"));
  }
});

Deno.test("escapeForTerminal() turns escape sequences into inert text", () => {
  assert.equal(
    escapeForTerminal("\x1b[2J\x1b]0;owned\x07hello\r\nworld\0"),
    "\\x1b[2J\\x1b]0;owned\\x07hello\\r\\nworld\\x00",
  );
  assert.equal(escapeForTerminal("\u009b31m"), "\\x9b31m");
  assert.equal(escapeForTerminal("tab\there"), "tab\\there");
});

Deno.test("escapeForTerminal() escapes backslash so an escape cannot be forged", () => {
  assert.equal(escapeForTerminal("\\x1b"), "\\\\x1b");
  assert.notEqual(escapeForTerminal("\\x1b"), escapeForTerminal("\x1b"));
});

Deno.test("escapeForTerminal() escapes bidi overrides and line separators", () => {
  assert.equal(escapeForTerminal("abc\u202edef\u2066\u2028"), "abc\\u{202e}def\\u{2066}\\u{2028}");
  assert.equal(escapeForTerminal("\u061c\u200f"), "\\u{61c}\\u{200f}");
});

// Every bidirectional mark, embedding, override and isolate, and the line separators.
const layoutControls = [0x61c, 0x200e, 0x200f, 0x2028, 0x2029, 0x202a, 0x202b, 0x202c, 0x202d]
  .concat([0x202e, 0x2066, 0x2067, 0x2068, 0x2069])
  .map((code) => String.fromCharCode(code));

Deno.test("jsonLine() escapes bidi controls and line separators as the terminal escaping does", () => {
  for (const char of layoutControls) {
    const code = char.charCodeAt(0).toString(16).padStart(4, "0");
    const line = jsonLine({ text: `txt${char}exe` });
    assert.equal(line, `{"text":"txt\\u${code}exe"}`);
    assert.equal(JSON.parse(line).text, `txt${char}exe`);
    assert.notEqual(escapeForTerminal(char), char, `the terminal escapes U+${code} too`);
  }
});

Deno.test("escapeForTerminal() keeps printable Unicode and the default quote unchanged", () => {
  const text = `"It always seems impossible until it's done" - Nelson Mandela café 😀 日本 \ufffd`;
  assert.equal(escapeForTerminal(text), text);
});

Deno.test("jsonLine() escapes DEL, C1 and U+2028/9, which JSON.stringify leaves raw", () => {
  const line = jsonLine({ text: controls.join("") + "\u2028\u2029" });
  assert.doesNotMatch(line, /[\u2028\u2029]/);
  assert.doesNotMatch(line, RAW_CONTROL);
  assert.equal(JSON.parse(line).text, controls.join("") + "\u2028\u2029");
  assert.equal(jsonLine({ a: "\x7f\u0085" }), '{"a":"\\u007f\\u0085"}');
});

Deno.test("escapeForTerminal() and jsonLine() give the same answer for a text repeated, alternated or changed", () => {
  const texts = ["plain", "plain", "a\x1b[2Jb", "a\x1b[2Jb", "plain", "", "\u0085", "\u0085", ""];
  for (const text of texts) {
    assert.equal(escapeForTerminal(text), escapeForTerminal(`${text}`));
    assert.equal(
      jsonLine(text),
      JSON.stringify(text).replace(/[\x7f-\x9f]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`),
    );
  }
  assert.equal(escapeForTerminal("a\x1b[2Jb"), "a\\x1b[2Jb");
  assert.equal(jsonLine("\u0085"), '"\\u0085"');
  assert.equal(jsonLine({ a: "\u0085" }), '{"a":"\\u0085"}', "objects are never cached");
});
