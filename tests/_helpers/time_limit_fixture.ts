// Run by tests/time_limit_test.ts under `deno test --preload tests/_helpers/preload.ts` with
// UDPEER_TEST_TIME_LIMIT_S=2: tests that hang in each way Deno.test can be called, one that
// finishes in time, and one that fails on its own. Not a test file of the suite (its name does
// not end in _test.ts).

const hang = () => new Promise<void>((resolve) => setTimeout(resolve, 3_600_000));

Deno.test("hangs on a timer [time limit 1 s]", async () => {
  await hang();
});

Deno.test("hangs with options [time limit 1 s]", { sanitizeOps: true }, async () => {
  await hang();
});

Deno.test({
  name: "hangs as a definition [time limit 1 s]",
  async fn() {
    await hang();
  },
});

Deno.test(async function hangsAsANamedFunction() {
  await hang();
});

Deno.test("finishes in time [time limit 30 s]", async () => {
  await new Promise((resolve) => setTimeout(resolve, 50));
});

Deno.test("fails on its own", () => {
  throw new Error("a failure of its own");
});

Deno.test.ignore("ignored stays ignored", async () => {
  await hang();
});
