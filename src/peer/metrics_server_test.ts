import assert from "node:assert/strict";
import { StartupError, UsageError } from "../common/errors.ts";
import { METRICS_CONTENT_TYPE } from "./metrics.ts";
import { parseListenAddress, serveMetrics } from "./metrics_server.ts";

Deno.test("parseListenAddress() reads PORT as loopback only and ADDR:PORT as given", () => {
  assert.deepEqual(parseListenAddress("--metrics", "15005"), {
    hostname: "127.0.0.1",
    port: 15005,
  });
  assert.deepEqual(parseListenAddress("--metrics", "0"), { hostname: "127.0.0.1", port: 0 });
  assert.deepEqual(parseListenAddress("--metrics", "0.0.0.0:9"), { hostname: "0.0.0.0", port: 9 });
  assert.deepEqual(parseListenAddress("--metrics", "192.0.2.7:15005"), {
    hostname: "192.0.2.7",
    port: 15005,
  });
});

Deno.test("parseListenAddress() names the flag and the problem of a bad value", () => {
  const cases: [string, string][] = [
    ["70000", 'Cannot parse --metrics: "70000" is not a port in 0..65535'],
    ["", 'Cannot parse --metrics: "" is not a port in 0..65535'],
    ["http", 'Cannot parse --metrics: "http" is not a port in 0..65535'],
    [":15005", 'Cannot parse --metrics: ":15005" has no address before the colon'],
    ["localhost:15005", 'Cannot parse --metrics: "localhost" is not an IPv4 address'],
    ["0.0.0.0:", 'Cannot parse --metrics: "" is not a port in 0..65535'],
  ];
  for (const [value, message] of cases) {
    assert.throws(() => parseListenAddress("--metrics", value), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.ok(error.message.startsWith(message), `${value}: ${error.message}`);
      return true;
    });
  }
});

Deno.test("serveMetrics() answers GET /metrics with a fresh render and 404 elsewhere", async () => {
  let scrapes = 0;
  const server = serveMetrics({ hostname: "127.0.0.1", port: 0 }, () => `scrape ${++scrapes}\n`);
  try {
    const base = `http://127.0.0.1:${server.port}`;
    for (const expected of ["scrape 1\n", "scrape 2\n"]) {
      const response = await fetch(`${base}/metrics`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), METRICS_CONTENT_TYPE);
      assert.equal(await response.text(), expected);
    }
    for (const path of ["/", "/metrics/", "/favicon.ico"]) {
      const response = await fetch(`${base}${path}`);
      assert.equal(response.status, 404, path);
      await response.body?.cancel();
    }
    const post = await fetch(`${base}/metrics`, { method: "POST", body: "x" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    await post.body?.cancel();
    assert.equal(scrapes, 2);
  } finally {
    await server.shutdown();
  }
});

Deno.test("serveMetrics() sends a body given in chunks whole, making each chunk as it is asked", async () => {
  let made = 0;
  const chunks = function* (): Generator<string> {
    for (let i = 0; i < 50; i++) {
      made++;
      yield `line ${i}\n`;
    }
  };
  const server = serveMetrics({ hostname: "127.0.0.1", port: 0 }, chunks);
  try {
    const response = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    const expected = Array.from({ length: 50 }, (_, i) => `line ${i}\n`).join("");
    assert.equal(await response.text(), expected);
    assert.equal(made, 50);
  } finally {
    await server.shutdown();
  }
});

Deno.test("serveMetrics() fails at start with one line when the port is taken", async () => {
  const first = serveMetrics({ hostname: "127.0.0.1", port: 0 }, () => "");
  try {
    assert.throws(
      () => serveMetrics({ hostname: "127.0.0.1", port: first.port }, () => ""),
      (error: unknown) => {
        assert.ok(error instanceof StartupError);
        assert.equal(
          error.message,
          `Cannot serve --metrics on TCP 127.0.0.1:${first.port}: the port is in use; give --metrics another port`,
        );
        return true;
      },
    );
  } finally {
    await first.shutdown();
  }
});
