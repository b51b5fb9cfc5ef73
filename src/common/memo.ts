/**
 * A one-entry memo for the receive path. A flood repeats the same source, address, text and
 * millisecond in line after line: the last argument and its result are kept, so a repeat
 * costs one `===` instead of the work (serialising, escaping, encoding).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { memoLast } from "./memo.ts";
 * let calls = 0;
 * const quoted = memoLast((text: string) => (calls++, JSON.stringify(text)));
 * assert.equal(quoted("a"), '"a"');
 * assert.equal(quoted("a"), '"a"');
 * assert.equal(quoted("b"), '"b"');
 * assert.equal(calls, 2);
 * ```
 *
 * @module
 */

/**
 * Wraps a pure function of one argument so that a call with the same argument as the call
 * before (`===`) returns the result kept from it. NaN never equals itself, so it is
 * computed each time.
 *
 * @param compute The function; it must depend on its argument alone.
 * @returns The function with its last result kept.
 */
export function memoLast<A, R>(compute: (argument: A) => R): (argument: A) => R {
  let primed = false;
  let lastArgument: A;
  let lastResult: R;
  return (argument) => {
    if (primed && argument === lastArgument) return lastResult;
    lastResult = compute(argument);
    lastArgument = argument;
    primed = true;
    return lastResult;
  };
}
