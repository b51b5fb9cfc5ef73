import assert from "node:assert/strict";
import { memoLast } from "./memo.ts";

Deno.test("memoLast() computes again only when the argument changes", () => {
  const seen: string[] = [];
  const upper = memoLast((text: string) => (seen.push(text), text.toUpperCase()));
  assert.deepEqual(["a", "a", "b", "a", "a"].map(upper), ["A", "A", "B", "A", "A"]);
  assert.deepEqual(seen, ["a", "b", "a"]);
});

Deno.test("memoLast() computes its first call even for an argument like the initial state", () => {
  const seen: unknown[] = [];
  const same = memoLast((value: unknown) => (seen.push(value), value));
  assert.equal(same(undefined), undefined);
  assert.equal(same(""), "");
  assert.deepEqual(seen, [undefined, ""]);
});

Deno.test("memoLast() computes NaN every time (NaN !== NaN), with the same result", () => {
  let calls = 0;
  const text = memoLast((n: number) => (calls++, String(n)));
  assert.equal(text(NaN), "NaN");
  assert.equal(text(NaN), "NaN");
  assert.equal(calls, 2);
});
