/**
 * The write-everything loop: a `write` may take only part of the bytes (a socket or pipe
 * that is full), so the rest is written until none is left.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeAll } from "./write.ts";
 * const taken: number[] = [];
 * // A sink that takes at most 2 bytes per call.
 * const sink = { write: (bytes: Uint8Array) => Promise.resolve(taken.push(...bytes.subarray(0, 2)) && Math.min(2, bytes.length)) };
 * await writeAll(sink, new Uint8Array([1, 2, 3, 4, 5]));
 * assert.deepEqual(taken, [1, 2, 3, 4, 5]);
 * ```
 *
 * @module
 */

/** Where the bytes go: `Deno.stdout`, a `Deno.Conn`, or anything with the same `write`. */
export interface ByteSink {
  /** Writes some or all of `bytes`, resolving to how many were written. */
  write(bytes: Uint8Array): Promise<number>;
  /**
   * Writes some or all of `bytes` at once, returning how many were written, if it can. The
   * caller may reuse `bytes` once it returns: a sink that keeps them must copy them.
   */
  writeSync?(bytes: Uint8Array): number;
}

/**
 * Writes all of `bytes`, calling `write` again for what a call did not take.
 *
 * @param sink Where to write.
 * @param bytes What to write.
 * @throws {Error} Whatever `write` throws (a closed pipe, a reset connection).
 */
export async function writeAll(sink: ByteSink, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await sink.write(bytes.subarray(offset));
}

/**
 * Writes all of `bytes` synchronously, calling `writeSync` again for what a call did not
 * take.
 *
 * @param sink Where to write; it must have `writeSync`.
 * @param bytes What to write.
 * @throws {Error} Whatever `writeSync` throws (a closed pipe).
 */
export function writeAllSync(sink: Required<ByteSink>, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) offset += sink.writeSync(bytes.subarray(offset));
}
