/**
 * The metrics port under attack, end to end (see docs/many-hosts.md, "Metrics"): the real
 * peer as a subprocess with `--metrics`, under a lowered descriptor limit (`prlimit`), given
 * hundreds of idle connections, and 20,000 pipelined scrapes. Whatever the sockets do, the
 * peer must go on: scrapes work again once the connections close, SIGINT prints the summary
 * and the exit code is 0.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  commandWorks,
  type JsonEvent,
  startUdpeer,
  type UdpeerProcess,
} from "./_helpers/testing.ts";

const encoder = new TextEncoder();

async function startMetricsPeer(limit: number): Promise<{ peer: UdpeerProcess; port: number }> {
  const peer = startUdpeer(["--port", "0", "--metrics", "0", "--json"], {
    prefix: ["prlimit", `--nofile=${limit}:${limit}`],
  });
  const listening = await peer.waitForEvent((e) => e.event === "listening");
  return { peer, port: Number((listening.metrics as string).split(":")[1]) };
}

async function scrape(port: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  await response.body?.cancel();
  return response.status;
}

/** Opens `count` connections that send nothing; bounded: each connect completes in the kernel. */
async function openIdle(port: number, count: number): Promise<Deno.Conn[]> {
  const conns: Deno.Conn[] = [];
  for (let i = 0; i < count; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
  return conns;
}

function closeAll(conns: Deno.Conn[]): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch { /* closed by the peer */ }
  }
}

async function stopWithSummary(peer: UdpeerProcess): Promise<JsonEvent> {
  peer.kill("SIGINT");
  const status = await peer.exited(10_000);
  assert.equal(status.code, 0, `exit ${status.code}: ${peer.stderr}`);
  const summary = peer.events.at(-1);
  assert.equal(summary?.event, "summary", peer.lines.slice(-3).join("\n"));
  return summary!;
}

const hasPrlimit = await commandWorks("prlimit", ["--version"]);

for (const limit of [256, 64]) {
  Deno.test({
    name: `--metrics under ulimit -n ${limit}: 400 idle connections do not end the peer`,
    ignore: !hasPrlimit,
    async fn() {
      // Before: Deno.serve threw "Too many open files" uncaught, exit 1 and no summary (at
      // 312 connections under 256). At 64 the descriptors run out before the 64-connection
      // cap is reached, so accept itself fails (EMFILE).
      const { peer, port } = await startMetricsPeer(limit);
      await using _ = peer;
      const base = openDescriptors(peer.child.pid);
      const conns = await openIdle(port, 400);
      try {
        // Let the server accept, fail, close and retry for a while.
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        assert.ok(!peer.lines.some((line) => line.includes('"summary"')), "the peer ended");
        // The cap counts sockets really closed: at most 64 held, whatever the clients do.
        const held = openDescriptors(peer.child.pid);
        assert.ok(held <= base + 64 + 2, `${held} descriptors open, ${base} before`);
        // Room is made for a scrape even now: the oldest idle connection is closed.
        assert.equal(await scrape(port), 200);
      } finally {
        closeAll(conns);
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      for (let i = 0; i < 3; i++) assert.equal(await scrape(port), 200);
      await stopWithSummary(peer);
      console.log(
        `ulimit -n ${limit}: errors reported: ${
          peer.events.filter((e) => e.event === "error").length
        } events; stderr: ${peer.stderr.trim().split("\n").slice(0, 2).join(" | ")}`,
      );
      assert.doesNotMatch(peer.stderr, /Unexpected failure|Uncaught|panicked/);
      if (limit === 64) {
        // Said once (on stderr, or as an error event once the run wires onError to one).
        const said = peer.stderr + peer.events.filter((e) => e.event === "error")
          .map((e) => e.message).join("\n");
        assert.match(said, /Cannot accept a connection on --metrics: Too many open files/);
      }
    },
  });
}

/**
 * Runs a command on another process's /proc entry: Deno asks for --allow-all to read
 * /proc/PID itself, and the test task does not grant it.
 */
function readProc(command: "ls" | "cat", path: string): string {
  const { success, stdout } = new Deno.Command(command, {
    args: command === "ls" ? ["-1", path] : [path],
    stdout: "piped",
    stderr: "null",
  }).outputSync();
  if (!success) throw new Error(`Cannot ${command} ${path}`);
  return new TextDecoder().decode(stdout);
}

/** How many descriptors a process has open. */
function openDescriptors(pid: number): number {
  return readProc("ls", `/proc/${pid}/fd`).split("\n").filter((line) => line !== "").length;
}

/** The resident set of a process, in bytes, from /proc. */
function rssBytes(pid: number): Promise<number> {
  const status = readProc("cat", `/proc/${pid}/status`);
  return Promise.resolve(Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)![1]) * 1024);
}

/** Sends `count` scrapes on one connection, `batch` requests a write, and reads every answer. */
async function pipelined(port: number, count: number, batch: number): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const marker = "HTTP/1.1 200 OK";
  let seen = 0;
  const reading = (async () => {
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(256 * 1024);
    let carry = "";
    while (seen < count) {
      const read = await conn.read(buffer);
      if (read === null) break;
      const text = carry + decoder.decode(buffer.subarray(0, read), { stream: true });
      let at = text.indexOf(marker);
      let last = 0;
      while (at >= 0) {
        seen++;
        last = at + marker.length;
        at = text.indexOf(marker, last);
      }
      carry = text.slice(Math.max(last, text.length - marker.length));
    }
  })();
  const request = encoder.encode("GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n".repeat(batch));
  for (let sent = 0; sent < count; sent += batch) {
    await conn.write(request);
    // Stay at most a few batches ahead of the answers: the test's own memory stays small.
    for (let i = 0; i < 1_000 && seen < sent - 4 * batch; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    reading,
    new Promise((resolve) => timer = setTimeout(resolve, 60_000)),
  ]);
  clearTimeout(timer);
  conn.close();
  await reading.catch(() => {});
  return seen;
}

Deno.test("--metrics answers 20,000 pipelined scrapes without growing the peer's memory", async () => {
  const { peer, port } = await startMetricsPeer(1024);
  await using _ = peer;
  assert.equal(await pipelined(port, 1_000, 100), 1_000); // warm up: compiled, heap sized
  const before = await rssBytes(peer.child.pid);
  const started = performance.now();
  assert.equal(await pipelined(port, 20_000, 100), 20_000);
  const seconds = (performance.now() - started) / 1000;
  const after = await rssBytes(peer.child.pid);
  const grownMb = (after - before) / 1e6;
  console.log(
    `20,000 pipelined scrapes in ${seconds.toFixed(1)} s: RSS ${(before / 1e6).toFixed(1)} MB → ${
      (after / 1e6).toFixed(1)
    } MB (${grownMb >= 0 ? "+" : ""}${grownMb.toFixed(1)} MB)`,
  );
  // Before: +57 MB. One request at a time per connection, so what grows is the heap's own
  // slack, not a queue of requests or responses.
  assert.ok(grownMb < 20, `RSS grew ${grownMb.toFixed(1)} MB`);
  await stopWithSummary(peer);
});
