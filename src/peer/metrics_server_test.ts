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
  assert.deepEqual(parseListenAddress("--metrics", "[::1]:15005"), {
    hostname: "::1",
    port: 15005,
  });
  assert.deepEqual(parseListenAddress("--metrics", "[::]:9"), { hostname: "::", port: 9 });
});

Deno.test("parseListenAddress() names the flag and the problem of a bad value", () => {
  const cases: [string, string][] = [
    ["70000", 'Cannot parse --metrics: "70000" is not a port in 0..65535'],
    ["", 'Cannot parse --metrics: "" is not a port in 0..65535'],
    ["http", 'Cannot parse --metrics: "http" is not a port in 0..65535'],
    [":15005", 'Cannot parse --metrics: ":15005" has no address before the colon'],
    ["localhost:15005", 'Cannot parse --metrics: "localhost" is not an IPv4 address'],
    ["0.0.0.0:", 'Cannot parse --metrics: "" is not a port in 0..65535'],
    ["::1:9", 'Cannot parse --metrics: "::1:9" is not ADDR:PORT (an IPv6 address goes in brackets'],
    ["[::1]", 'Cannot parse --metrics: "[::1]" is not ADDR:PORT'],
    ["[fd00::zz]:9", 'Cannot parse --metrics: "fd00::zz" is not an IPv4 address'],
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

const decoder = new TextDecoder();

/** Reads from `conn` until it is closed; the bytes read and when it closed (ms from start). */
async function readUntilClosed(
  conn: Deno.Conn,
  withinMs: number,
): Promise<{ text: string; closedAfterMs: number }> {
  const started = performance.now();
  const buffer = new Uint8Array(65_536);
  let text = "";
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, withinMs);
  try {
    while (true) {
      const count = await conn.read(buffer);
      if (count === null) break;
      text += decoder.decode(buffer.subarray(0, count));
    }
  } catch { /* a reset is a close too; our own close on time out is not */ }
  clearTimeout(timer);
  if (timedOut) throw new Error(`still open after ${withinMs} ms: ${text.slice(0, 200)}`);
  const closedAfterMs = performance.now() - started;
  try {
    conn.close();
  } catch { /* closed */ }
  return { text, closedAfterMs };
}

const GET = "GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n";

Deno.test("serveMetrics() answers pipelined requests in order, keeps the connection, and says 400/405/431", async () => {
  let scrapes = 0;
  const server = serveMetrics({ hostname: "127.0.0.1", port: 0 }, () => `scrape ${++scrapes}\n`, {
    idleTimeoutMs: 300,
  });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await conn.write(new TextEncoder().encode(GET + GET + "HEAD /metrics HTTP/1.1\r\n\r\n" + GET));
    const { text } = await readUntilClosed(conn, 5_000);
    const bodies = [...text.matchAll(/\r\n\r\n(scrape \d+\n)/g)].map((m) => m[1]);
    assert.deepEqual(bodies, ["scrape 1\n", "scrape 2\n", "scrape 3\n"]);
    assert.equal(text.match(/HTTP\/1\.1 200 OK/g)?.length, 4);

    const cases: [string, string][] = [
      ["garbage\r\n\r\n", "HTTP/1.1 400 Bad Request"],
      ["DELETE /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 405 Method Not Allowed"],
      ["GET /metrics HTTP/1.1\r\nx: " + "a".repeat(10_000) + "\r\n\r\n", "HTTP/1.1 431"],
      ["POST /metrics HTTP/1.1\r\ncontent-length: 5\r\n\r\nGET /", "HTTP/1.1 405"],
    ];
    for (const [request, status] of cases) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      await conn.write(new TextEncoder().encode(request)).catch(() => {});
      const { text } = await readUntilClosed(conn, 5_000);
      assert.ok(text.startsWith(status), `${request.slice(0, 30)}: ${text.slice(0, 80)}`);
      // Closed after it: one response, the body of the POST never read as a request.
      assert.equal(text.match(/HTTP\/1\.1/g)?.length, 1, text);
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("serveMetrics() closes an idle kept-alive connection and a slowloris after their limits", async () => {
  const limits = { headerTimeoutMs: 300, idleTimeoutMs: 500 };
  const server = serveMetrics({ hostname: "127.0.0.1", port: 0 }, () => "up 1\n", limits);
  try {
    // Idle after a scrape: closed once idleTimeoutMs passed without a byte.
    const idle = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await idle.write(new TextEncoder().encode(GET));
    // Slowloris: a head begun and never finished, one byte every 50 ms.
    const slow = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    let trickling = true;
    const trickle = (async () => {
      await slow.write(new TextEncoder().encode("GET /metrics HTTP/1.1\r\n"));
      for (let i = 0; i < 100 && trickling; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        await slow.write(new TextEncoder().encode("x")).catch(() => trickling = false);
      }
    })();
    // Silent: connects and never sends a byte.
    const silent = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const [a, b, c] = await Promise.all([
      readUntilClosed(idle, 5_000),
      readUntilClosed(slow, 5_000),
      readUntilClosed(silent, 5_000),
    ]);
    trickling = false;
    await trickle;
    assert.match(a.text, /^HTTP\/1\.1 200 OK/);
    assert.ok(a.closedAfterMs >= 400, `idle closed after ${a.closedAfterMs} ms`);
    assert.equal(b.text, "", "the slowloris got no response");
    assert.ok(b.closedAfterMs >= 250, `slowloris closed after ${b.closedAfterMs} ms`);
    assert.ok(c.closedAfterMs >= 250, `silent closed after ${c.closedAfterMs} ms`);
    assert.equal(server.connections, 0);
  } finally {
    await server.shutdown();
  }
});

Deno.test("serveMetrics() keeps at most 64 connections: 150 idle ones do not stop a scrape", async () => {
  const server = serveMetrics({ hostname: "127.0.0.1", port: 0 }, () => "up 1\n");
  const conns: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 150; i++) {
      conns.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
    }
    // The first 86 were closed, oldest first, to make room.
    const first = await readUntilClosed(conns[0]!, 5_000);
    assert.equal(first.text, "");
    const response = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    assert.equal(await response.text(), "up 1\n");
    assert.ok(server.connections <= 64, `${server.connections} open`);
    // Counted from the client's side: how many of the 150 the server still holds open.
    const ends = await Promise.allSettled(conns.slice(1).map((conn) => readUntilClosed(conn, 500)));
    const stillOpen = ends.filter((end) => end.status === "rejected").length;
    assert.ok(stillOpen <= 64, `${stillOpen} of 150 idle connections still open`);
    assert.ok(stillOpen >= 32, `${stillOpen}: the newest idle ones stay`);
  } finally {
    for (const conn of conns) {
      try {
        conn.close();
      } catch { /* closed by the server */ }
    }
    await server.shutdown();
  }
});

Deno.test("serveMetrics() makes room by closing the oldest idle connection, never one being answered", async () => {
  // A 16 MB body, more than the socket buffers hold (4 MB to send, 128 KiB to receive
  // unread): a reader that never reads keeps its connection busy in the write.
  const server = serveMetrics(
    { hostname: "127.0.0.1", port: 0 },
    () => ["x".repeat(16 * 1024 * 1024)],
    { maxConnections: 3, idleTimeoutMs: 10_000 },
  );
  const conns: Deno.Conn[] = [];
  try {
    const busy = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    conns.push(busy);
    await busy.write(new TextEncoder().encode(GET)); // 16 MB it never reads: busy
    await new Promise((resolve) => setTimeout(resolve, 200));
    const idle1 = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const idle2 = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    conns.push(idle1, idle2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const newer = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    conns.push(newer);
    // idle1 goes, the busy one stays.
    assert.equal((await readUntilClosed(idle1, 5_000)).text, "");
    const buffer = new Uint8Array(16);
    assert.ok((await busy.read(buffer))! > 0, "the busy connection is still answered");
    assert.ok(server.connections <= 3);
  } finally {
    for (const conn of conns) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
    await server.shutdown();
  }
});

Deno.test("serveMetrics() sends HTTP/1.0 a body that ends with the connection, and reports a render that fails", async () => {
  const errors: string[] = [];
  let fail = false;
  const server = serveMetrics(
    { hostname: "127.0.0.1", port: 0 },
    function* () {
      yield "a 1\n";
      if (fail) throw new Error("broken series");
      yield "b 2\n";
    },
    { onError: (message) => errors.push(message) },
  );
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await conn.write(new TextEncoder().encode("GET /metrics HTTP/1.0\r\n\r\n"));
    const { text } = await readUntilClosed(conn, 5_000);
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.doesNotMatch(text, /transfer-encoding/i);
    assert.ok(text.endsWith("\r\n\r\na 1\nb 2\n"), text);

    fail = true;
    const response = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    await assert.rejects(response.text());
    assert.deepEqual(errors, ["Cannot render --metrics: broken series"]);
    fail = false;
    assert.equal(
      await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text(),
      "a 1\nb 2\n",
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("serveMetrics() counts a new connection's head time from the accept, not from its first byte", async () => {
  const server = serveMetrics({ hostname: "127.0.0.1", port: 0 }, () => "up 1\n", {
    headerTimeoutMs: 500,
  });
  try {
    const late = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const closing = readUntilClosed(late, 5_000);
    // Silent 400 ms, then a head begun: from its first byte it would have 500 ms more.
    await new Promise((resolve) => setTimeout(resolve, 400));
    await late.write(new TextEncoder().encode("GET /metrics HTTP/1.1\r\n")).catch(() => {});
    const { text, closedAfterMs } = await closing;
    assert.equal(text, "");
    assert.ok(closedAfterMs < 800, `closed after ${closedAfterMs.toFixed(0)} ms`);
  } finally {
    await server.shutdown();
  }
});
