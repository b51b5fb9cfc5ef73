/**
 * The sender's schedule: heartbeat k is due at `first + k·interval` on the monotonic clock,
 * so a late timer does not push back the ones after it; and a tick that comes later than a
 * whole interval (the process was stopped, the machine suspended, the event loop blocked)
 * sends **once** and skips the slots that passed, counting them, instead of sending them
 * back to back. A burst of overdue heartbeats would tell every receiver that the link
 * misbehaves, when only this host did (docs/link-health.md, "Under faults").
 *
 * A round to many targets is sent in batches with a turn of the event loop between them,
 * so the receive loop is never held for long by the sender.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gridStep } from "./sender.ts";
 * // A 100 ms grid from t = 0; slot 1's tick runs at 2150 ms, after a 2 s pause.
 * assert.deepEqual(gridStep(0, 100, 1, 2150), { skipped: 20, next: 22 });
 * // On time: nothing skipped, the next slot is the following one.
 * assert.deepEqual(gridStep(0, 100, 3, 301), { skipped: 0, next: 4 });
 * ```
 *
 * @module
 */

import { type CancelTimer, setLongTimeout } from "../common/timers.ts";

/** Where a tick stands on the grid. */
export interface GridStep {
  /** Slots that passed before this tick and are not sent. */
  skipped: number;
  /** The slot whose tick comes next. */
  next: number;
}

/**
 * The grid arithmetic of one tick: which slots a late tick skips and which slot is next.
 *
 * @param firstMs When slot 0 is due.
 * @param intervalMs Time between slots.
 * @param slot The slot this tick was scheduled for.
 * @param nowMs When the tick runs.
 * @returns The skipped slots and the next slot.
 */
export function gridStep(
  firstMs: number,
  intervalMs: number,
  slot: number,
  nowMs: number,
): GridStep {
  const late = nowMs - (firstMs + slot * intervalMs);
  // A tick late by less than an interval is still its own slot's.
  const skipped = late >= intervalMs ? Math.floor(late / intervalMs) : 0;
  return { skipped, next: slot + skipped + 1 };
}

/** The schedule step's handle. */
export interface Schedule {
  /** Stops sending. */
  cancel(): void;
}

/** The clock and timer a schedule runs on; tests pass their own. */
export interface ScheduleClock {
  /** Monotonic time in ms. */
  now(): number;
  /** Calls `callback` after `delayMs`; returns a cancel function. */
  setTimer(callback: () => void, delayMs: number): CancelTimer;
}

const realClock: ScheduleClock = {
  now: () => performance.now(),
  setTimer: setLongTimeout,
};

/** What {@linkcode scheduleSends} runs. */
export interface ScheduleOptions {
  /** When slot 0 is due, on the clock's time. */
  firstMs: number;
  /**
   * True when the grid starts wherever the first tick really runs (a start "now", which
   * the event loop may delay by a few ms at start-up); false for a fixed start shared with
   * other hosts (`--start-at`).
   */
  fromFirstTick?: boolean;
  /** Time between slots. */
  intervalMs: number;
  /** Slots before `onDone`, or undefined for no end. */
  count?: number | undefined;
  /** Sends one round; told how many slots were skipped before it. Awaited before the next. */
  onTick: (skipped: number) => Promise<void>;
  /** Called once, an interval after the last slot. */
  onDone: () => void;
  /** The clock and timer (the real ones by default). */
  clock?: ScheduleClock;
}

/**
 * Runs the grid: a tick per slot, late ticks skipping the slots that passed. After `count`
 * slots (sent or skipped) it waits one more interval for the replies, then calls `onDone`.
 *
 * @param options The grid and what to do on it.
 * @returns A handle to cancel the schedule.
 */
export function scheduleSends(options: ScheduleOptions): Schedule {
  const { intervalMs, count, onTick, onDone, clock = realClock } = options;
  let firstMs = options.firstMs;
  let slot = 0;
  let cancelled = false;
  // Chained, so an interval or a --start-at past 2^31 − 1 ms waits as long as it says.
  let cancelTimer: CancelTimer | undefined;
  const run = async (): Promise<void> => {
    if (cancelled) return;
    // A first tick that start-up held up a few ms would make the first gap short: the grid
    // starts where it really ran.
    if (slot === 0 && options.fromFirstTick) firstMs = Math.max(firstMs, clock.now());
    const step = gridStep(firstMs, intervalMs, slot, clock.now());
    // The last slot of a --count run is sent even when late: the run owes it.
    const skipped = count === undefined ? step.skipped : Math.min(step.skipped, count - 1 - slot);
    slot += skipped + 1;
    await onTick(skipped);
    if (cancelled) return;
    if (count !== undefined && slot >= count) {
      // Wait one more interval for the replies to the last heartbeats, then stop.
      cancelTimer = clock.setTimer(onDone, intervalMs);
      return;
    }
    cancelTimer = clock.setTimer(run, firstMs + slot * intervalMs - clock.now());
  };
  cancelTimer = clock.setTimer(run, firstMs - clock.now());
  return {
    cancel: () => {
      cancelled = true;
      cancelTimer?.();
    },
  };
}

/**
 * Targets sent to in one step. At 14.8 µs of CPU a heartbeat (bench/sender.ts, AMD EPYC) a
 * batch holds the receive loop ~4 ms, under the ~10 ms budget; and a round of 1,000 takes 4
 * turns of the event loop, where 16 turns of 64 went past the 50 ms the bench allows: each
 * turn is a timer, and timers nested deeper than 5 wait at least 4 ms.
 */
export const SEND_BATCH = 256;

/**
 * Sends one round in batches of {@linkcode SEND_BATCH}, with a turn of the event loop
 * between them, so the receive loop goes on while thousands of targets are sent to.
 *
 * @param count How many targets the round has.
 * @param send Sends to target `index`; never rejects.
 * @param isStopping Checked between batches: the round ends early once the run stops.
 */
export async function sendRound(
  count: number,
  send: (index: number) => Promise<void>,
  isStopping: () => boolean = () => false,
): Promise<void> {
  for (let start = 0; start < count && !isStopping(); start += SEND_BATCH) {
    if (start > 0) await new Promise((resolve) => setTimeout(resolve, 0));
    const end = Math.min(count, start + SEND_BATCH);
    const batch: Promise<void>[] = [];
    for (let index = start; index < end; index++) batch.push(send(index));
    await Promise.all(batch);
  }
}
