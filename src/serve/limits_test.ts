import assert from "node:assert/strict";
import { RateLimiter } from "./limits.ts";

Deno.test("RateLimiter.allow() lets a burst of rate through, then rate per second", () => {
  const limiter = new RateLimiter(100);
  let allowed = 0;
  // 20,000 requests spread evenly over 2 s: 100 burst + 200 refilled.
  for (let i = 0; i < 20_000; i++) if (limiter.allow("192.0.2.1", i / 10)) allowed++;
  assert.ok(allowed >= 299 && allowed <= 300, `allowed ${allowed}`);
});

Deno.test("RateLimiter.allow() keeps one bucket per source address", () => {
  const limiter = new RateLimiter(1);
  assert.ok(limiter.allow("192.0.2.1", 0));
  assert.ok(!limiter.allow("192.0.2.1", 10));
  assert.ok(limiter.allow("192.0.2.2", 10));
});

Deno.test("RateLimiter.allow() refills no more than the burst after a long pause", () => {
  const limiter = new RateLimiter(3);
  for (let i = 0; i < 3; i++) assert.ok(limiter.allow("a", 0));
  let allowed = 0;
  for (let i = 0; i < 10; i++) if (limiter.allow("a", 60_000)) allowed++;
  assert.equal(allowed, 3);
});

Deno.test("RateLimiter keeps its table bounded, dropping the least recently seen source", () => {
  const limiter = new RateLimiter(1, 4);
  for (let i = 0; i < 100; i++) limiter.allow(`10.0.0.${i}`, 0);
  assert.equal(limiter.size, 4);
  limiter.allow("10.0.0.96", 0); // recently seen: stays, and is refused (spent)
  assert.ok(!limiter.allow("10.0.0.96", 0));
  assert.equal(limiter.size, 4);
});
