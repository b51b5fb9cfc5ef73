/**
 * Timers that honour any delay. `setTimeout` keeps its delay in a signed 32-bit integer:
 * past 2^31 − 1 ms (~24.8 days) it fires at once and Deno prints a
 * `TimeoutOverflowWarning`, so `--interval 1e9` would flood and `--start-at` next year would
 * start now. Long waits are chained here in steps no longer than {@linkcode MAX_TIMER_MS}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { setLongTimeout } from "./timers.ts";
 * let fired = false;
 * const cancel = setLongTimeout(() => fired = true, 2 ** 40);
 * await new Promise((resolve) => setTimeout(resolve, 10));
 * cancel();
 * assert.equal(fired, false);
 * ```
 *
 * @module
 */

/** The longest delay `setTimeout` honours: 2^31 − 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Cancels a timer from {@linkcode setLongTimeout}; calling it again does nothing. */
export type CancelTimer = () => void;

/**
 * Like `setTimeout`, for any delay: a delay over `maxStepMs` is waited in steps, each
 * measured against the monotonic clock, so the callback runs once, never before the whole
 * delay has passed on `performance.now()`.
 *
 * @param callback What to run when the delay is over.
 * @param delayMs The delay; negative, NaN or 0 means as soon as possible; `Infinity` never.
 * @param maxStepMs The longest single `setTimeout` (tests pass a short one).
 * @returns A function that cancels the timer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { setLongTimeout } from "./timers.ts";
 * const started = performance.now();
 * await new Promise<void>((resolve) => setLongTimeout(resolve, 30, 10));
 * assert.ok(performance.now() - started >= 29);
 * ```
 */
export function setLongTimeout(
  callback: () => void,
  delayMs: number,
  maxStepMs: number = MAX_TIMER_MS,
): CancelTimer {
  const deadline = performance.now() + (delayMs > 0 ? delayMs : 0);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let cancelled = false;
  const step = (): void => {
    if (cancelled) return;
    const left = deadline - performance.now();
    // setTimeout counts whole milliseconds and may fire a fraction early: wait again then,
    // so that a start time is never anticipated.
    if (left > 0) timer = setTimeout(step, Math.min(left, maxStepMs));
    else callback();
  };
  // Never synchronously, as with setTimeout: the caller keeps the cancel function first.
  // (Deno warns of a negative delay: clamp it.)
  timer = setTimeout(step, Math.max(0, Math.min(deadline - performance.now(), maxStepMs)));
  return () => {
    cancelled = true;
    clearTimeout(timer);
  };
}
