// The time limit every test runs under (tests/_helpers/time_limit.ts, loaded by
// `deno task test` through tests/_helpers/preload.ts; see docs/development.md): a real
// `deno test` over a fixture whose tests hang must fail them, by name, within the limit.
import assert from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { DEFAULT_LIMIT_S, LIMIT_ENV, limitOf, limitTest } from "./_helpers/time_limit.ts";
import { repoDir } from "./_helpers/testing.ts";

Deno.test("a test's own limit comes from the end of its name, else the default", () => {
  assert.equal(limitOf("builds [time limit 400 s]", DEFAULT_LIMIT_S), 400);
  assert.equal(limitOf("fast [time limit 0.5 s]", DEFAULT_LIMIT_S), 0.5);
  assert.equal(limitOf("plain", 7), 7);
  // Only at the end: a name that merely mentions it keeps the default.
  assert.equal(limitOf("[time limit 1 s] in the middle", 7), 7);
});

Deno.test("limitTest() wraps the function of every form of Deno.test and keeps the rest", () => {
  const fn = () => {};
  const options = { sanitizeOps: false };
  const forms: unknown[][] = [
    ["a", fn],
    ["a", options, fn],
    [function named() {}],
    [{ name: "a", fn, sanitizeOps: false }],
    [{ name: "a", sanitizeOps: false }, fn],
  ];
  for (const args of forms) {
    const out = limitTest(args, 1);
    assert.equal(out.length, args.length, JSON.stringify(args));
    const fns = out.flatMap((arg) =>
      typeof arg === "function"
        ? [arg]
        : typeof arg === "object" && arg !== null && "fn" in arg
        ? [(arg as { fn: unknown }).fn]
        : []
    );
    assert.equal(fns.length, 1);
    assert.notEqual(fns[0], fn, "the function is wrapped");
    if (args.length === 3) assert.equal(out[1], options, "the options are passed on as they are");
  }
  assert.equal((limitTest([function named() {}], 1)[0] as () => void).name, "named");
  // Not a form Deno.test takes: left for Deno.test to reject.
  const bad = [42];
  assert.equal(limitTest(bad, 1), bad);
});

Deno.test("the limit's timer is the real one, whatever a test does to setTimeout", async () => {
  const original = globalThis.setTimeout;
  const delays: number[] = [];
  // A test that fakes setTimeout while it runs: the limit neither shows up nor stops.
  globalThis.setTimeout = ((callback: () => void, delay?: number) => {
    delays.push(delay ?? 0);
    return original(callback, delay);
  }) as typeof setTimeout;
  try {
    const [, limited] = limitTest([
      "fakes the clock [time limit 0.2 s]",
      () => new Promise<void>(() => {}), // never settles
    ], 1) as [string, () => Promise<void>];
    await assert.rejects(limited(), /did not finish within its time limit of 0.2 s/);
  } finally {
    globalThis.setTimeout = original;
  }
  assert.deepEqual(delays, []);
});

Deno.test("the test task loads the time limit before every test module", () => {
  assert.match(denoJson.tasks.test, /--preload[= ]tests\/_helpers\/preload\.ts/);
});

Deno.test("a test that hangs fails with its name and the limit, and the run goes on", async () => {
  const started = performance.now();
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "test",
      "--quiet",
      `--config=${repoDir}deno.json`,
      `--preload=${repoDir}tests/_helpers/preload.ts`,
      "--allow-env",
      `${repoDir}tests/_helpers/time_limit_fixture.ts`,
    ],
    cwd: repoDir,
    env: { NO_COLOR: "1", [LIMIT_ENV]: "2" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(90_000),
  }).output();
  const seconds = (performance.now() - started) / 1000;
  const out = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.equal(code, 1, out);
  // Four hangs of 1 or 2 s in a row, plus Deno's start: far below the hour they wait for.
  assert.ok(seconds < 60, `took ${seconds.toFixed(1)} s`);
  const result = (name: string) =>
    out.match(new RegExp(`^${RegExp.escape(name)} \\.\\.\\. (\\w+)`, "m"))?.[1];
  for (
    const [name, limit] of [
      ["hangs on a timer [time limit 1 s]", 1],
      ["hangs with options [time limit 1 s]", 1],
      ["hangs as a definition [time limit 1 s]", 1],
      ["hangsAsANamedFunction", 2],
    ] as const
  ) {
    assert.equal(result(name), "FAILED", `${name}:\n${out}`);
    assert.ok(
      out.includes(`test "${name}" did not finish within its time limit of ${limit} s`),
      `${name}: no time-limit message in\n${out}`,
    );
  }
  assert.equal(result("finishes in time [time limit 30 s]"), "ok", out);
  assert.equal(result("fails on its own"), "FAILED", out);
  assert.equal(result("ignored stays ignored"), "ignored", out);
  assert.match(out, /a failure of its own/);
  // A failure still points at its test's file and line, not at the preload.
  assert.match(out, /^fails on its own => \.\/tests\/_helpers\/time_limit_fixture\.ts:\d+:\d+$/m);
  assert.doesNotMatch(out, /=> \.\/tests\/_helpers\/(preload|time_limit)\.ts/);
  assert.match(out, /FAILED \| 1 passed \| 5 failed \| 1 ignored/);
});
