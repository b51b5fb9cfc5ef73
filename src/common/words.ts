/**
 * Words for counts in human lines, one rule for every subcommand: `1 heartbeat sent`,
 * `2 heartbeats sent`, `1 try`, `3 tries`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { plural } from "./words.ts";
 * assert.equal(plural(1, "heartbeat"), "1 heartbeat");
 * assert.equal(plural(0, "send error"), "0 send errors");
 * assert.equal(plural(3, "try", "tries"), "3 tries");
 * ```
 *
 * @module
 */

/**
 * A count and its noun, singular for exactly 1 and plural otherwise (0 included, as in
 * English).
 *
 * @param count The number.
 * @param one The noun for one.
 * @param many The noun for any other count; default `one` + `s`.
 * @returns For example `1 heartbeat` or `2 heartbeats`.
 */
export function plural(count: number, one: string, many: string = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}
