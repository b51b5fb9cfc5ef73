/**
 * Making text from the network safe to show. A datagram can carry terminal escape
 * sequences (`ESC [ 2 J` clears the screen, `ESC ] 0 ;` retitles the window), so no byte of
 * it may reach a terminal raw.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeForTerminal, jsonLine } from "./escape.ts";
 * assert.ok(escapeForTerminal("\x1b[2Jhi\n") === "\\x1b[2Jhi\\n");
 * assert.ok(jsonLine({ text: "\x7f" }) === '{"text":"\\u007f"}');
 * ```
 *
 * @module
 */

import { memoLast } from "./memo.ts";

/**
 * Matches any raw C0 control, DEL or C1 control: what must never reach a terminal. Tests and
 * callers use it to check output.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RAW_CONTROL } from "./escape.ts";
 * assert.ok(RAW_CONTROL.test("\x1b[2J") && !RAW_CONTROL.test("plain"));
 * ```
 */
// deno-lint-ignore no-control-regex
export const RAW_CONTROL: RegExp = /[\x00-\x1f\x7f-\x9f]/;

// Invisible characters that change the layout of what follows them: bidirectional marks,
// embeddings, overrides and isolates (U+202E shows "txt.exe" as "exe.txt") and the Unicode
// line and paragraph separators. Escaped on a terminal and in JSON alike.
const LAYOUT_CONTROLS = "\\u061c\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069";

// C0 controls, backslash (so an escape cannot be forged), DEL and C1, and the above.
const unsafe = new RegExp(`[\\x00-\\x1f\\\\\\x7f-\\x9f${LAYOUT_CONTROLS}]`, "g");
const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\" };

function escapeOne(char: string): string {
  const named_ = named[char];
  if (named_ !== undefined) return named_;
  const code = char.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`;
}

/**
 * Escapes every control character (C0, DEL, C1), backslash, bidirectional control and line
 * separator, so the result prints as one inert line.
 *
 * @param text Text received from the network, already decoded.
 * @returns The same text with `\n`, `\r`, `\t`, `\\`, `\xHH` and `\u{HHHH}` escapes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { escapeForTerminal } from "./escape.ts";
 * assert.ok(escapeForTerminal("a\tb") === "a\\tb");
 * ```
 */
export function escapeForTerminal(text: string): string {
  return lastEscaped(text);
}

// A peer prints the same text in every line of a stream (the decoder hands out the same
// string while the bytes repeat): the last one escaped, for the terminal and for JSON, is
// kept, so the regular-expression scan runs once per new text instead of once per datagram.
const lastEscaped = memoLast((text): string => {
  unsafe.lastIndex = 0;
  return unsafe.test(text) ? text.replace(unsafe, escapeOne) : text;
});
const lastJsonString = memoLast((text): string => escapeJson(JSON.stringify(text)));

const jsonUnsafe = new RegExp(`[\\x7f-\\x9f${LAYOUT_CONTROLS}]`, "g");

/**
 * `JSON.stringify` for one NDJSON line. `JSON.stringify` escapes C0 controls but leaves DEL,
 * C1, the bidirectional controls and U+2028/U+2029 raw; those are written as `\u007f` …
 * `\u009f`, `\u202e`, `\u2028` and so on, so that a line shown by `cat` or `jq -c` looks
 * like what it holds.
 *
 * @param value The object to serialise.
 * @returns One line of JSON with no raw control character.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jsonLine } from "./escape.ts";
 * assert.ok(jsonLine({ a: "\u0085" }) === '{"a":"\\u0085"}');
 * ```
 */
export function jsonLine(value: unknown): string {
  return typeof value === "string" ? lastJsonString(value) : escapeJson(JSON.stringify(value));
}

/** JSON text with DEL, C1 and the layout controls written as `\\uXXXX`. */
function escapeJson(json: string): string {
  jsonUnsafe.lastIndex = 0;
  return jsonUnsafe.test(json)
    ? json.replace(jsonUnsafe, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`)
    : json;
}
