/**
 * The replies of `udpeer serve`: pure functions from request text to reply text, with no I/O.
 * Text is handled as Unicode, not as UTF-16 code units, so reversing keeps an emoji, a flag
 * or a letter with a combining accent whole.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reverseSwapcase, transform } from "./modes.ts";
 * assert.ok(transform("upper", "hello") === "HELLO");
 * assert.ok(reverseSwapcase("Hello") === "OLLEh");
 * assert.ok(reverseSwapcase("café 👍") === "👍 ÉFAC");
 * assert.ok(transform("ack", "anything") === "Message received");
 * ```
 *
 * @module
 */

/** What the server does to each request. */
export type Mode = "upper" | "reverse-swapcase" | "ack" | "echo";

/** Every mode, in the order `--help` lists them; the first is the default. */
export const MODES: readonly Mode[] = ["upper", "reverse-swapcase", "ack", "echo"];

/** The reply of the `ack` mode, whatever the request. */
export const ACK_REPLY = "Message received";

/**
 * Tells whether a string names a mode.
 *
 * @param value The text given, for example to `--mode`.
 * @returns True if it is one of {@linkcode MODES}.
 */
export function isMode(value: string): value is Mode {
  return (MODES as readonly string[]).includes(value);
}

const graphemes: Intl.Segmenter | undefined = typeof Intl.Segmenter === "function"
  ? new Intl.Segmenter(undefined, { granularity: "grapheme" })
  : undefined;

/**
 * Splits text into user-perceived characters (extended grapheme clusters): `e` + U+0301,
 * a flag, or an emoji joined with ZWJ is one element. Falls back to code points where
 * `Intl.Segmenter` is missing.
 *
 * @param text Any text.
 * @returns Its characters, in order; joining them gives `text` back.
 */
export function characters(text: string): string[] {
  if (graphemes === undefined) return Array.from(text);
  const result: string[] = [];
  for (const { segment } of graphemes.segment(text)) result.push(segment);
  return result;
}

const UPPERCASE = /^\p{Uppercase}$/u;
const LOWERCASE = /^\p{Lowercase}$/u;
const CASED = /^\p{Cased}$/u;
const CASE_IGNORABLE = /^\p{Case_Ignorable}$/u;

/**
 * Swaps case like Python's `str.swapcase`: a code point with the Unicode property Uppercase
 * is lowercased, one with Lowercase is uppercased (full mappings: `ß` → `SS`), and any other
 * is kept, so a titlecase letter such as `ǅ` stays as it is. A capital sigma becomes the
 * final `ς` where Unicode's Final_Sigma context holds (after a cased letter, not before one,
 * case-ignorable characters skipped): `ΣΑΣ` → `σας`, as Python gives.
 *
 * @param text Any text.
 * @returns The text with every cased letter swapped.
 */
export function swapcase(text: string): string {
  const chars = Array.from(text);
  let result = "";
  for (const [index, char] of chars.entries()) {
    if (char === "\u03A3") result += finalSigma(chars, index) ? "\u03C2" : "\u03C3";
    else if (UPPERCASE.test(char)) result += char.toLowerCase();
    else if (LOWERCASE.test(char)) result += char.toUpperCase();
    else result += char;
  }
  return result;
}

/** Unicode's Final_Sigma condition for the capital sigma at `index` (as CPython checks it). */
function finalSigma(chars: readonly string[], index: number): boolean {
  let before = index - 1;
  while (before >= 0 && CASE_IGNORABLE.test(chars[before]!)) before--;
  if (before < 0 || !CASED.test(chars[before]!)) return false;
  let after = index + 1;
  while (after < chars.length && CASE_IGNORABLE.test(chars[after]!)) after++;
  return after === chars.length || !CASED.test(chars[after]!);
}

/**
 * Reverses the text by characters (grapheme clusters, never UTF-16 units), then swaps case:
 * `Hello` → `OLLEh`.
 *
 * @param text The request.
 * @returns The reply.
 */
export function reverseSwapcase(text: string): string {
  return swapcase(characters(text).reverse().join(""));
}

/**
 * Computes the reply to one request.
 *
 * @param mode What to do.
 * @param text The request, already decoded (invalid UTF-8 replaced by U+FFFD).
 * @returns The reply text: uppercased, reversed and case-swapped, `Message received`, or
 *   the request unchanged.
 */
export function transform(mode: Mode, text: string): string {
  switch (mode) {
    case "upper":
      return text.toUpperCase();
    case "reverse-swapcase":
      return reverseSwapcase(text);
    case "ack":
      return ACK_REPLY;
    case "echo":
      return text;
  }
}
