/**
 * A clock 5 s ahead, for a test peer: loaded with `deno run --preload` before `main.ts`, it
 * moves every wall-clock reading of the process (`Date.now()`, `new Date()`,
 * `performance.timeOrigin`) 5,000 ms forward, and leaves the monotonic clock
 * (`performance.now()`, the timers) alone, as a host whose NTP is off by 5 s would be.
 * Test-only; not part of the library.
 *
 * @example
 * ```ts ignore
 * import { startUdpeer } from "./testing.ts";
 * const ahead = new URL("./clock_ahead.ts", import.meta.url).pathname;
 * await using peer = startUdpeer(["--json"], { denoFlags: ["--preload", ahead] });
 * ```
 *
 * @module
 */

/** How far ahead this process's wall clock runs. */
export const CLOCK_AHEAD_MS = 5_000;

const RealDate = Date;
const origin = performance.timeOrigin + CLOCK_AHEAD_MS;
Object.defineProperty(performance, "timeOrigin", { get: () => origin, configurable: true });

class AheadDate extends RealDate {
  constructor(...args: ConstructorParameters<DateConstructor> | []) {
    super(
      ...(args.length === 0 ? [RealDate.now() + CLOCK_AHEAD_MS] : args) as ConstructorParameters<
        DateConstructor
      >,
    );
  }

  static override now(): number {
    return RealDate.now() + CLOCK_AHEAD_MS;
  }
}
globalThis.Date = AheadDate as DateConstructor;
