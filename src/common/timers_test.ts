import assert from "node:assert/strict";
import { MAX_TIMER_MS, setLongTimeout, sleep } from "./timers.ts";

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
  let fired = false;
  const cancel = setLongTimeout(() => fired = true, 40, 5);
  await new Promise((resolve) => setTimeout(resolve, 12));
  cancel();
  cancel();
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(fired, false);
});

Deno.test("sleep() resolves true after the delay and false when the signal aborts", async () => {
  assert.equal(await sleep(5), true);
  const controller = new AbortController();
  const long = sleep(2 ** 33, controller.signal);
  setTimeout(() => controller.abort(), 5);
  assert.equal(await long, false);
  assert.equal(await sleep(10, AbortSignal.abort()), false);
});
