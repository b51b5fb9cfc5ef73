/**
 * Loaded before every test module by `deno task test` (`deno test --preload`, see
 * docs/development.md): gives every test a time limit ({@link ./time_limit.ts}) without
 * touching the test files.
 *
 * The replacement of `Deno.test` is a few lines of JavaScript imported from a `data:` URL.
 * Deno records where a test was registered from the first caller on the stack that is a
 * `file:` module; a replacement written in a file would become that caller, and every
 * failure would point here instead of at its test. From a `data:` module it is skipped, so
 * a failure still names the test's own file and line (`tests/time_limit_test.ts` checks
 * that it does).
 *
 * @module
 */

import { defaultLimitS, limitTest } from "./time_limit.ts";

const shim = `
export function install(deno, rewrite) {
  const test = deno.test;
  const replacement = function (a, b, c) {
    const args = rewrite([a, b, c].slice(0, arguments.length));
    return test(args[0], args[1], args[2]);
  };
  replacement.ignore = function (a, b, c) {
    const args = rewrite([a, b, c].slice(0, arguments.length));
    return test.ignore(args[0], args[1], args[2]);
  };
  replacement.only = function (a, b, c) {
    const args = rewrite([a, b, c].slice(0, arguments.length));
    return test.only(args[0], args[1], args[2]);
  };
  for (const hook of ["beforeAll", "beforeEach", "afterEach", "afterAll"]) {
    if (hook in test) replacement[hook] = test[hook];
  }
  replacement.timeLimited = true;
  deno.test = replacement;
}
`;

interface Shim {
  install(deno: typeof Deno, rewrite: (args: unknown[]) => unknown[]): void;
}

if (!(Deno.test as { timeLimited?: boolean }).timeLimited) {
  const defaultS = defaultLimitS();
  const { install } = await import(
    `data:application/javascript,${encodeURIComponent(shim)}`
  ) as Shim;
  install(Deno, (args) => limitTest(args, defaultS));
}
