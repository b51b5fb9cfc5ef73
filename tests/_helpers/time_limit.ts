/**
 * A time limit for every test, so that a test that hangs fails with a message naming it
 * instead of stalling the whole run. Deno's test runner has no such limit; `deno task test`
 * loads `tests/_helpers/preload.ts` with `deno test --preload`, which puts
 * {@linkcode limitTest} between each test file and `Deno.test`, so no test file changes.
 *
 * - The default limit is {@linkcode DEFAULT_LIMIT_S} seconds, or the environment variable
 *   `UDPEER_TEST_TIME_LIMIT_S` when it is set (and readable).
 * - One test gets its own limit by ending its name with `[time limit N s]`, for example
 *   `"the compiled binary runs [time limit 400 s]"`.
 * - The limit covers the test function's promise, its steps included. A test that blocks the
 *   event loop synchronously (an endless `while` loop) cannot be interrupted from JavaScript.
 * - When the limit passes, the test fails with `test "NAME" did not finish within its time
 *   limit of N s`; the runner goes on with the next test. The timer is cleared as soon as the
 *   test settles, so it leaks nothing into the op sanitizer. It is the `setTimeout` of the time
 *   this module was loaded: a test that replaces `setTimeout` (a fake clock) does not touch it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { limitOf } from "./time_limit.ts";
 * assert.equal(limitOf("slow build [time limit 400 s]", 120), 400);
 * assert.equal(limitOf("fast", 120), 120);
 * ```
 *
 * @module
 */

/** Seconds a test may take when neither its name nor the environment says otherwise. */
export const DEFAULT_LIMIT_S = 120;

/** The environment variable that sets the default limit, in seconds. */
export const LIMIT_ENV = "UDPEER_TEST_TIME_LIMIT_S";

const LIMIT_IN_NAME = /\[time limit (\d+(?:\.\d+)?) s\]\s*$/;

/**
 * The limit of one test, in seconds.
 *
 * @param name The test's name.
 * @param defaultS The limit when the name sets none.
 * @returns `N` from a name ending in `[time limit N s]`, otherwise `defaultS`.
 */
export function limitOf(name: string, defaultS: number): number {
  const match = name.match(LIMIT_IN_NAME);
  return match ? Number(match[1]) : defaultS;
}

/**
 * The default limit: {@linkcode LIMIT_ENV} if it is set to a positive number and may be
 * read, otherwise {@linkcode DEFAULT_LIMIT_S}.
 *
 * @returns Seconds.
 * @throws {Error} If the variable is set but is not a positive number.
 */
export function defaultLimitS(): number {
  const permission = Deno.permissions.querySync({ name: "env", variable: LIMIT_ENV });
  if (permission.state !== "granted") return DEFAULT_LIMIT_S;
  const value = Deno.env.get(LIMIT_ENV);
  if (value === undefined || value === "") return DEFAULT_LIMIT_S;
  const seconds = Number(value);
  if (!(seconds > 0)) throw new Error(`${LIMIT_ENV}="${value}" is not a positive number`);
  return seconds;
}

// The timers as they are when this module loads (before any test): a test that replaces
// setTimeout, to record its calls or to fake the clock, must neither see the limit's timer
// nor stop it.
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;

/** A test function, as `Deno.test` takes it. */
type TestFn = (t: Deno.TestContext) => void | Promise<void>;

/**
 * Wraps a test function so that its promise races a timer of `limitS` seconds.
 *
 * @param name The test's name, for the message.
 * @param fn The test function.
 * @param limitS The limit in seconds.
 * @returns A function with the same name that fails once the limit has passed.
 */
export function withTimeLimit(name: string, fn: TestFn, limitS: number): TestFn {
  const limited = function (this: unknown, t: Deno.TestContext): void | Promise<void> {
    const result = fn.call(this, t);
    if (!(result instanceof Promise)) return result;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = realSetTimeout(() => {
        reject(
          new Error(
            `test "${name}" did not finish within its time limit of ${limitS} s ` +
              `(tests/_helpers/time_limit.ts: end a test's name with "[time limit N s]" ` +
              `to give it another)`,
          ),
        );
      }, limitS * 1000);
    });
    // Whatever the hung test does later must not surface as an uncaught error.
    result.catch(() => {});
    return Promise.race([result, expired]).finally(() => realClearTimeout(timer));
  };
  Object.defineProperty(limited, "name", { value: fn.name });
  return limited;
}

/**
 * Rewrites the arguments of one `Deno.test` call so that its function has a time limit,
 * keeping their shape (so `Deno.test` still validates them as it would have). Arguments it
 * does not recognise are returned unchanged, for `Deno.test` to reject.
 *
 * @param args The arguments as the test file passed them.
 * @param defaultS The limit of a test whose name sets none.
 * @returns The arguments to pass on.
 */
export function limitTest(args: unknown[], defaultS: number): unknown[] {
  const [first, second, third] = args;
  const limit = (name: unknown, fn: TestFn) => {
    const text = typeof name === "string" && name !== "" ? name : fn.name;
    return withTimeLimit(text, fn, limitOf(text, defaultS));
  };
  if (typeof first === "string") {
    if (typeof second === "function") {
      return [first, limit(first, second as TestFn), ...args.slice(2)];
    }
    if (typeof third === "function") return [first, second, limit(first, third as TestFn)];
    return args;
  }
  if (typeof first === "function") return [limit(undefined, first as TestFn), ...args.slice(1)];
  if (typeof first === "object" && first !== null) {
    const options = first as { name?: unknown; fn?: unknown };
    if (typeof second === "function") return [first, limit(options.name, second as TestFn)];
    if (typeof options.fn === "function") {
      return [{ ...options, fn: limit(options.name, options.fn as TestFn) }, ...args.slice(1)];
    }
  }
  return args;
}
