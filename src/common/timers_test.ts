import assert from "node:assert/strict";
import { MAX_TIMER_MS, setLongTimeout } from "./timers.ts";

/** Records every setTimeout delay made while `body` runs, so the steps can be checked. */
async function recordingDelays(body: () => Promise<void>): Promise<number[]> {
  const delays: number[] = [];
  const original = globalThis.setTimeout;
  globalThis.setTimeout = ((callback: () => void, delay?: number) => {
    delays.push(delay ?? 0);
    return original(callback, delay);
  }) as typeof setTimeout;
  try {
    await body();
  } finally {
    globalThis.setTimeout = original;
  }
  return delays;
}

Deno.test("setLongTimeout() chains steps of at most maxStepMs and fires once, after the whole delay", async () => {
  let fired = 0;
  const started = performance.now();
  const delays = await recordingDelays(async () => {
    await new Promise<void>((resolve) =>
      setLongTimeout(
        () => {
          fired++;
          resolve();
        },
        55,
        10,
      )
    );
  });
  assert.ok(performance.now() - started >= 54, "fired before the delay was over");
  assert.equal(fired, 1);
  // Late timers (a loaded machine) need fewer steps, but never one: 55 ms > 10 ms.
  assert.ok(delays.length >= 2, `expected a chain of steps, got ${delays}`);
  assert.ok(delays.every((delay) => delay <= 10), `a step was longer than 10 ms: ${delays}`);
});

Deno.test("setLongTimeout() never passes setTimeout more than 2^31 − 1 ms and does not fire early", async () => {
  let fired = false;
  let cancel = (): void => {};
  const delays = await recordingDelays(async () => {
    cancel = setLongTimeout(() => fired = true, 1e12);
    await new Promise((resolve) => setTimeout(resolve, 30));
  });
  cancel();
  assert.equal(fired, false);
  assert.equal(delays[0], MAX_TIMER_MS);
  assert.ok(delays.every((delay) => delay <= MAX_TIMER_MS));
});

Deno.test("setLongTimeout() with a delay of 0 or less fires at once, never passing a negative delay", async () => {
  const delays = await recordingDelays(async () => {
    for (const delay of [0, -5, NaN, 1e-9]) {
      const started = performance.now();
      await new Promise<void>((resolve) => setLongTimeout(resolve, delay));
      assert.ok(performance.now() - started < 1000);
    }
  });
  assert.ok(delays.every((delay) => delay >= 0), `a negative delay: ${delays}`);
});

Deno.test("setLongTimeout() cancelled mid-chain never fires", async () => {
  // Cancelled right after the chain's second step is scheduled, however late the timers
  // fire: an order of events, not a window of wall-clock time. The delay is long enough that
  // the first 5 ms step comes before it even on a loaded machine (checked below).
  const delayMs = 400;
  const original = globalThis.setTimeout;
  let fired = false;
  let steps = 0;
  let stepsAfterCancel = 0;
  let cancelledAt: number | undefined;
  let cancel = (): void => {};
  const started = performance.now();
  globalThis.setTimeout = ((callback: () => void, delay?: number) => {
    if (cancelledAt !== undefined) stepsAfterCancel++;
    else if (++steps === 2) {
      queueMicrotask(() => {
        cancel();
        cancel();
        cancelledAt = performance.now() - started;
      });
    }
    return original(callback, delay);
  }) as typeof setTimeout;
  try {
    cancel = setLongTimeout(() => fired = true, delayMs, 5);
    // Wait past the whole delay on the monotonic clock.
    while (performance.now() - started < delayMs + 100) {
      await new Promise((resolve) => original(resolve, 20));
    }
  } finally {
    globalThis.setTimeout = original;
  }
  assert.ok(cancelledAt !== undefined, `the chain never took a second step (${steps})`);
  assert.ok(cancelledAt < delayMs, `cancelled after the delay (${cancelledAt} ms): not mid-chain`);
  assert.equal(fired, false);
  assert.equal(stepsAfterCancel, 0, "no step after the cancel");
});
