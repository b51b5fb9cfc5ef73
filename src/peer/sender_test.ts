import assert from "node:assert/strict";
import { gridStep, type ScheduleClock, scheduleSends, SEND_BATCH, sendRound } from "./sender.ts";

/** A clock whose time moves only when told, with the timers due run in order. */
class FakeClock implements ScheduleClock {
  nowMs = 0;
  #timers: { at: number; callback: () => void; id: number }[] = [];
  #nextId = 0;
  now(): number {
    return this.nowMs;
  }
  setTimer(callback: () => void, delayMs: number): () => void {
    const id = this.#nextId++;
    this.#timers.push({ at: this.nowMs + Math.max(0, delayMs), callback, id });
    return () => {
      this.#timers = this.#timers.filter((timer) => timer.id !== id);
    };
  }
  /** Moves time to `toMs`, running each timer due on the way at its own time. */
  async advanceTo(toMs: number): Promise<void> {
    for (let guard = 0; guard < 10_000; guard++) {
      this.#timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.#timers[0];
      if (next === undefined || next.at > toMs) break;
      this.#timers.shift();
      this.nowMs = Math.max(this.nowMs, next.at);
      next.callback();
      // Let the tick's awaited round settle before the next timer.
      for (let i = 0; i < 10; i++) await Promise.resolve();
    }
    this.nowMs = toMs;
  }
}

Deno.test("gridStep() keeps a tick late by less than an interval on its own slot", () => {
  assert.deepEqual(gridStep(1000, 100, 5, 1599), { skipped: 0, next: 6 });
  assert.deepEqual(gridStep(1000, 100, 5, 1600), { skipped: 1, next: 7 });
  assert.deepEqual(gridStep(1000, 100, 5, 3549), { skipped: 20, next: 26 });
});

Deno.test("scheduleSends() ticks on absolute times, count times, then calls onDone an interval later", async () => {
  const clock = new FakeClock();
  const ticks: number[] = [];
  let doneAt = NaN;
  scheduleSends({
    firstMs: 0,
    intervalMs: 40,
    count: 4,
    onTick: async () => {
      ticks.push(clock.now());
      // A round that takes longer than the interval does not push back the ones after it.
      if (ticks.length === 1) clock.nowMs += 60;
      await Promise.resolve();
    },
    onDone: () => doneAt = clock.now(),
    clock,
  });
  await clock.advanceTo(1000);
  // The first round ended at 60 ms, past slot 1 (40 ms) but not by a whole interval: slot 1
  // goes out at once, late, and slots 2 and 3 on time.
  assert.deepEqual(ticks, [0, 60, 80, 120]);
  assert.equal(doneAt, 160);
});

Deno.test("scheduleSends() after a pause sends once, skips the slots that passed and counts them", async () => {
  const clock = new FakeClock();
  const ticks: { at: number; skipped: number }[] = [];
  scheduleSends({
    firstMs: 0,
    intervalMs: 100,
    onTick: (skipped) => {
      ticks.push({ at: clock.now(), skipped });
      return Promise.resolve();
    },
    onDone: () => {},
    clock,
  });
  await clock.advanceTo(200);
  // The process is stopped from 250 ms to 2,250 ms: no timer runs.
  clock.nowMs = 2250;
  await clock.advanceTo(2450);
  assert.deepEqual(ticks, [
    { at: 0, skipped: 0 },
    { at: 100, skipped: 0 },
    { at: 200, skipped: 0 },
    // Slot 3 was due at 300: slots 3..21 passed (19), the late tick is slot 22's.
    { at: 2250, skipped: 19 },
    { at: 2300, skipped: 0 },
    { at: 2400, skipped: 0 },
  ]);
});

Deno.test("scheduleSends() with a count still sends the last slot when a tick is late", async () => {
  const clock = new FakeClock();
  const ticks: number[] = [];
  let done = false;
  scheduleSends({
    firstMs: 0,
    intervalMs: 100,
    count: 5,
    onTick: (skipped) => {
      ticks.push(skipped);
      if (ticks.length === 1) clock.nowMs = 10_000; // paused far past the whole run
      return Promise.resolve();
    },
    onDone: () => done = true,
    clock,
  });
  await clock.advanceTo(20_000);
  assert.deepEqual(ticks, [0, 3], "slots 1..3 skipped, slot 4 sent");
  assert.ok(done);
});

Deno.test("scheduleSends() starts a grid from now where its first tick really runs", async () => {
  const clock = new FakeClock();
  const ticks: number[] = [];
  scheduleSends({
    firstMs: 0,
    fromFirstTick: true,
    intervalMs: 20,
    onTick: () => {
      ticks.push(clock.now());
      return Promise.resolve();
    },
    onDone: () => {},
    clock,
  });
  clock.nowMs = 13; // start-up held the first tick up
  await clock.advanceTo(80);
  assert.deepEqual(ticks, [13, 33, 53, 73], "no 7 ms first gap");
});

Deno.test("scheduleSends() stops ticking once cancelled", async () => {
  const clock = new FakeClock();
  let ticks = 0;
  const schedule = scheduleSends({
    firstMs: 0,
    intervalMs: 10,
    onTick: () => {
      ticks++;
      return Promise.resolve();
    },
    onDone: () => {},
    clock,
  });
  await clock.advanceTo(35);
  schedule.cancel();
  await clock.advanceTo(1000);
  assert.equal(ticks, 4, "0, 10, 20 and 30 ms");
});

Deno.test("sendRound() sends in batches and lets the event loop run between them", async () => {
  const sent: number[] = [];
  let timerRanAfter = -1;
  setTimeout(() => timerRanAfter = sent.length, 0);
  await sendRound(3 * SEND_BATCH + 5, (index) => {
    sent.push(index);
    return Promise.resolve();
  });
  assert.deepEqual(sent, Array.from({ length: 3 * SEND_BATCH + 5 }, (_, i) => i));
  assert.ok(
    timerRanAfter >= SEND_BATCH && timerRanAfter < sent.length,
    `a timer ran after ${timerRanAfter} sends`,
  );
});

Deno.test("sendRound() ends early once the run stops", async () => {
  const sent: number[] = [];
  await sendRound(10 * SEND_BATCH, (index) => {
    sent.push(index);
    return Promise.resolve();
  }, () => sent.length >= SEND_BATCH);
  assert.equal(sent.length, SEND_BATCH);
});
