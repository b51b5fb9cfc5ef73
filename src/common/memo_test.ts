import assert from "node:assert/strict";
import { memoLast } from "./memo.ts";

Deno.test("memoLast() computes again only when the string changes", () => {
  const seen: string[] = [];
  const upper = memoLast((text) => (seen.push(text), text.toUpperCase()));
  assert.deepEqual(["a", "a", "b", "a", "a"].map(upper), ["A", "A", "B", "A", "A"]);
  assert.deepEqual(seen, ["a", "b", "a"]);
});

Deno.test("memoLast() computes its first call even for the empty string", () => {
  const seen: string[] = [];
  const quoted = memoLast((text) => (seen.push(text), JSON.stringify(text)));
  assert.equal(quoted(""), '""');
  assert.equal(quoted(""), '""');
  assert.deepEqual(seen, [""]);
});

Deno.test("memoLast() keeps a string equal to the last, whatever its origin", () => {
  let calls = 0;
  const length = memoLast((text) => (calls++, text.length));
  // The same characters built two ways: equal strings, one computation.
  assert.equal(length("127.0.0.1"), 9);
  assert.equal(length(["127", "0", "0", "1"].join(".")), 9);
  assert.equal(calls, 1);
});
