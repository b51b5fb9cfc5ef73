/**
 * Lines over a byte stream, as `serve --tcp` and `chat --tcp` exchange them: one splitter
 * that holds at most a bounded partial line (so a client sending no newline cannot make the
 * other side hoard memory), and one UTF-8 decoding that replaces invalid bytes but keeps a
 * leading BOM (echo must not eat it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeText, LineSplitter } from "./lines.ts";
 * const splitter = new LineSplitter(100);
 * const lines = splitter.push(new TextEncoder().encode("one\r\ntwo\nthr"));
 * assert.deepEqual(lines?.map(decodeText), ["one\r", "two"]);
 * assert.equal(decodeText(splitter.rest()), "thr");
 * assert.equal(splitter.push(new Uint8Array(102)), undefined); // longer than the limit
 * ```
 *
 * @module
 */

/**
 * Longest request or reply line that `serve --tcp` accepts, in bytes without the line end.
 * A client that sends more without a newline is disconnected; `chat` refuses to send more.
 */
export const MAX_LINE_BYTES = 65_536;

/**
 * Decodes UTF-8 with U+FFFD for invalid bytes, keeping a leading BOM.
 *
 * @param bytes The bytes.
 * @returns The text.
 */
export function decodeText(bytes: Uint8Array): string {
  return new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
}

/**
 * Removes one trailing `\r` (the CR of a CRLF line end).
 *
 * @param line A line without its `\n`.
 * @returns The line without its `\r`, and whether there was one.
 */
export function stripCr(line: Uint8Array): [Uint8Array, boolean] {
  return line.at(-1) === 13 ? [line.subarray(0, -1), true] : [line, false];
}

/** Splits a byte stream into lines at `\n`, holding at most `limit` bytes of a partial line. */
export class LineSplitter {
  #parts: Uint8Array[] = [];
  #length = 0;
  #limit: number;

  /**
   * Creates a splitter.
   *
   * @param limit Longest line in bytes, not counting a `\r\n` or `\n` end; `Infinity` for
   *   no limit.
   */
  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Bytes of the partial line held so far. */
  get pending(): number {
    return this.#length;
  }

  /**
   * Adds a chunk and returns the complete lines in it, without their `\n` (a `\r` before
   * it stays: see {@linkcode stripCr}). The chunk is copied where kept, so the caller may
   * reuse its buffer.
   *
   * @param chunk The next bytes of the stream.
   * @returns The complete lines, or `undefined` if a line is longer than the limit.
   */
  push(chunk: Uint8Array): Uint8Array[] | undefined {
    const lines: Uint8Array[] = [];
    let start = 0;
    for (let index = chunk.indexOf(10); index >= 0; index = chunk.indexOf(10, start)) {
      if (this.#length + index - start > this.#limit + 1) return undefined; // +1: a \r
      lines.push(this.#take(chunk.subarray(start, index)));
      start = index + 1;
    }
    if (this.#length + chunk.length - start > this.#limit + 1) return undefined;
    if (start < chunk.length) {
      this.#parts.push(chunk.slice(start));
      this.#length += chunk.length - start;
    }
    return lines;
  }

  /**
   * Returns the partial line held so far and forgets it.
   *
   * @returns The bytes after the last `\n`, possibly none.
   */
  rest(): Uint8Array {
    return this.#take(new Uint8Array(0));
  }

  #take(tail: Uint8Array): Uint8Array {
    if (this.#parts.length === 0) return tail.slice();
    const line = new Uint8Array(this.#length + tail.length);
    let offset = 0;
    for (const part of this.#parts) {
      line.set(part, offset);
      offset += part.length;
    }
    line.set(tail, offset);
    this.#parts = [];
    this.#length = 0;
    return line;
  }
}
