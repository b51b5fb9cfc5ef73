/**
 * `--peers FILE` end to end (see docs/many-hosts.md): the real program as a subprocess on loopback, its
 * targets in a file the test writes, read back through `--json`. A bad line at start is a
 * usage error naming `FILE:LINE`; SIGHUP re-reads the file, starting added targets,
 * stopping removed ones and keeping the statistics of the others; a broken file on reload
 * keeps the old list and reports an `error`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { RAW_CONTROL } from "../src/common/escape.ts";
import {
  assertUsageError,
  freePort,
  type JsonEvent,
  runUdpeer,
  startUdpeer,
  type UdpeerProcess,
} from "./_helpers/testing.ts";

async function withPeersFile<T>(fn: (path: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "udpeer-peers-" });
  try {
    return await fn(`${dir}/hosts.txt`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The `sent` events to `to` so far, from index `from` of the events on (`events` parses anew). */
function sentTo(peer: UdpeerProcess, to: string, from = 0): JsonEvent[] {
  return peer.events.slice(from).filter((e) => e.event === "sent" && e.to === to);
}

Deno.test("--peers with a bad line exits 2 naming the file and the line", async () => {
  await withPeersFile(async (path) => {
    await Deno.writeTextFile(path, "# two hosts\n127.0.0.1:5006 b\n127.0.0.1 c\n");
    await assertUsageError(["--port", "0", "--peers", path], `${path}:3:`);
    const { stderr } = await runUdpeer(["--port", "0", "--peers", path]);
    assert.equal(
      stderr.split("\n")[0],
      `udpeer: ${path}:3: Cannot parse target: "127.0.0.1" has no port (write HOST:PORT)`,
    );

    await Deno.writeTextFile(path, "127.0.0.1:5006 b\n127.0.0.1:5007 b\n");
    await assertUsageError(["--port", "0", "--peers", path], `${path}:2: name "b" is already used`);
  });
});

Deno.test("--peers with a file that cannot be read exits 1 with one line", async () => {
  const path = `/nonexistent-${crypto.randomUUID()}/hosts.txt`;
  const { code, stdout, stderr } = await runUdpeer(["--port", "0", "--peers", path]);
  assert.equal(code, 1);
  assert.equal(stdout, "");
  assert.equal(stderr, `udpeer: Cannot read --peers "${path}": no such file\n`);
});

Deno.test("--peers targets are added to --to and their names show in JSON and human lines", async () => {
  await withPeersFile(async (path) => {
    const portB = freePort();
    const portC = freePort();
    await Deno.writeTextFile(path, `127.0.0.1:${portB} b   # a named peer\n`);
    await using b = startUdpeer(["--port", `${portB}`, "--json", "--interval", "0.05"]);
    await b.waitForEvent((e) => e.event === "listening");
    const { code, stdout, stderr } = await runUdpeer([
      "--port",
      "0",
      "--peers",
      path,
      "--to",
      `127.0.0.1:${portC}`,
      "--interval",
      "0.05",
      "--count",
      "3",
      "--json",
    ]);
    // Nothing listens on portC: a --count run exits 1 when a target never answered.
    assert.equal(code, 1, stderr);
    const events: JsonEvent[] = stdout.split("\n").map((line) => JSON.parse(line));
    const listening = events.find((e) => e.event === "listening")!;
    assert.deepEqual(
      (listening.targets as JsonEvent[]).map((t) => [t.to, t.peer]),
      [[`127.0.0.1:${portC}`, undefined], [`127.0.0.1:${portB}`, "b"]],
    );
    const summary = events.find((e) => e.event === "summary")!;
    const targets = summary.targets as JsonEvent[];
    assert.deepEqual(targets.map((t) => [t.to, t.peer, t.sent]), [
      [`127.0.0.1:${portC}`, undefined, 3],
      [`127.0.0.1:${portB}`, "b", 3],
    ]);
    await b.waitUntil(
      () => b.events.filter((e) => e.event === "message").length === 3,
      5_000,
      "b to receive the 3 heartbeats sent to the peers file's target",
    );

    const human = await runUdpeer([
      "--port",
      "0",
      "--peers",
      path,
      "--interval",
      "0.05",
      "--count",
      "2",
    ]);
    assert.match(human.stdout, new RegExp(`127\\.0\\.0\\.1:${portB} \\(b\\)`));
  });
});

Deno.test("SIGHUP re-reads --peers: added targets start, removed ones stop, kept ones keep counting", async () => {
  await withPeersFile(async (path) => {
    const portA = freePort();
    const portB = freePort();
    const portC = freePort();
    const b = `127.0.0.1:${portB}`;
    const c = `127.0.0.1:${portC}`;
    const common = ["--interval", "0.05", "--json"];
    await using peerB = startUdpeer([
      "--port",
      `${portB}`,
      "--to",
      `127.0.0.1:${portA}`,
      ...common,
    ]);
    await using peerC = startUdpeer([
      "--port",
      `${portC}`,
      "--to",
      `127.0.0.1:${portA}`,
      ...common,
    ]);
    await Deno.writeTextFile(path, `${b} b\n`);
    await using a = startUdpeer(["--port", `${portA}`, "--peers", path, ...common]);
    await a.waitUntil(() => sentTo(a, b).length >= 5, 10_000, "5 heartbeats to b");

    // Add c.
    await Deno.writeTextFile(path, `${b} b\n${c} c\n`);
    const seqBefore = sentTo(a, b).at(-1)!.seq as number;
    a.kill("SIGHUP");
    const added = await a.waitForEvent((e) => e.event === "reload");
    assert.deepEqual(added, {
      event: "reload",
      time: added.time,
      added: [c],
      removed: [],
      renamed: [],
      targets: 2,
    });
    const afterAdd = a.events.findIndex((e) => e.event === "reload");
    await a.waitUntil(() => sentTo(a, c, afterAdd).length >= 3, 10_000, "heartbeats to c");
    // b kept its statistics: its sequence goes on from where it was.
    const seqsB = sentTo(a, b, afterAdd).map((e) => e.seq as number);
    assert.ok(seqsB.length > 0 && seqsB[0]! > seqBefore, `b's seq restarted: ${seqsB}`);
    assert.deepEqual(sentTo(a, c, afterAdd).slice(0, 3).map((e) => e.seq), [1, 2, 3]);
    await a.waitUntil(
      () => a.events.some((e) => e.event === "message" && e.fromPort === portC),
      10_000,
      "a heartbeat from c",
    );

    // Remove b, and rename c.
    await Deno.writeTextFile(path, `# b is gone\n${c} sea\n`);
    a.kill("SIGHUP");
    await a.waitUntil(() => a.events.filter((e) => e.event === "reload").length === 2);
    const removed = a.events.filter((e) => e.event === "reload")[1]!;
    assert.deepEqual(removed, {
      event: "reload",
      time: removed.time,
      added: [],
      removed: [b],
      renamed: [{ target: c, from: "c", to: "sea" }],
      targets: 1,
    });
    const afterRemove = a.events.findLastIndex((e) => e.event === "reload");
    await a.waitUntil(() => sentTo(a, c, afterRemove).length >= 5, 10_000, "5 more to c");
    // At most one heartbeat to b was already on its way when the reload came.
    assert.ok(sentTo(a, b, afterRemove).length <= 1, "b is still sent heartbeats");

    // A broken file: an error naming the line, and the old list stays.
    await Deno.writeTextFile(path, `${c} c\n${b} b\nnot-a-target\n`);
    a.kill("SIGHUP");
    const error = await a.waitForEvent((e) => e.event === "error");
    assert.equal(error.op, "reload");
    assert.match(error.message as string, new RegExp(`^${path}:3: Cannot parse target`));
    const afterError = a.events.findIndex((e) => e.event === "error");
    await a.waitUntil(() => sentTo(a, c, afterError).length >= 3, 10_000, "c after the error");
    assert.equal(sentTo(a, b, afterError).length, 0, "the broken file's b was not started");
    assert.equal(a.events.filter((e) => e.event === "reload").length, 2);

    // Both ends really exchanged heartbeats with A.
    for (const peer of [peerB, peerC]) {
      assert.ok(peer.events.some((e) => e.event === "message" && e.fromPort === portA));
    }
    a.kill("SIGTERM");
    assert.equal((await a.exited()).code, 0, a.stderr);
    const summary = a.events.find((e) => e.event === "summary")!;
    const targets = summary.targets as JsonEvent[];
    assert.deepEqual(targets.map((t) => [t.to, t.peer]), [[c, "sea"]]);
    // c's figures cover the whole time it was a target: every heartbeat sent to it.
    assert.equal(targets[0]!.sent, sentTo(a, c).length);
    assert.ok((targets[0]!.received as number) > 0);
  });
});

Deno.test("SIGHUP without --peers is ignored with a note, and the peer goes on to its summary", async () => {
  await using peer = startUdpeer(["--port", "0", "--bind", "127.0.0.1", "--json", "--quiet"]);
  await peer.waitForEvent((e) => e.event === "listening");
  peer.kill("SIGHUP");
  await peer.waitUntil(() => peer.stderr.includes("SIGHUP ignored"), 5000, "the note on stderr");
  peer.kill("SIGINT");
  const status = await peer.exited();
  assert.equal(status.code, 0, "not 129: SIGHUP did not end it");
  assert.ok(peer.events.some((e) => e.event === "summary"));
});

Deno.test("a storm of SIGHUPs with 5,000 targets is merged into few reloads and no stream goes silent", async () => {
  await withPeersFile(async (path) => {
    // 5,000 targets on distinct loopback addresses, all of them one socket of the test's
    // that never reads: the kernel drops what does not fit, and nothing answers with ICMP.
    using sink = Object.assign(
      Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 0 }),
      { [Symbol.dispose]() {} },
    );
    const sinkPort = (sink.addr as Deno.NetAddr).port;
    const lines = Array.from(
      { length: 5000 },
      (_, i) => `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}:${sinkPort} t${i}`,
    );
    await Deno.writeTextFile(path, lines.join("\n") + "\n");
    const portA = freePort();
    await using a = startUdpeer([
      "--port",
      `${portA}`,
      "--bind",
      "127.0.0.1",
      "--peers",
      path,
      "--interval",
      "1",
      "--json",
      "--quiet",
    ]);
    await a.waitForEvent((e) => e.event === "listening", 20_000);
    // A 0.1 s stream into A: 3 intervals of quiet would make it silent.
    await using b = startUdpeer([
      "--port",
      "0",
      "--bind",
      "127.0.0.1",
      "--to",
      `127.0.0.1:${portA}`,
      "--interval",
      "0.1",
      "--quiet",
      "--json",
    ]);
    await a.waitUntil(
      () =>
        a.events.some((e) => e.event === "message" || e.event === "summary") ||
        a.lines.length > 0,
      10_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // 100 SIGHUPs within about a second.
    for (let i = 0; i < 100; i++) {
      a.kill("SIGHUP");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const lastSighup = Date.now();
    await a.waitUntil(
      () => a.events.some((e) => e.event === "reload"),
      30_000,
      "a reload",
    );
    // Let the merged reloads finish, and the stream go on for a few more intervals.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const started = performance.now();
    a.kill("SIGTERM");
    const status = await a.exited(20_000);
    assert.equal(status.code, 0, a.stderr);
    assert.ok(performance.now() - started < 10_000, "SIGTERM ends the peer promptly");
    const reloads = a.events.filter((e) => e.event === "reload");
    // Merged: one reload at a time and at most one more queued. So after the last SIGHUP at
    // most three reloads end, however fast a reload is: the one running, the one it queued,
    // and one more that the signals' last notification may queue once the queued one has
    // started (the runtime hands signals sent before `lastSighup` to the program when its
    // busy loop next polls, after that clock read; however many arrived in between, they
    // come as one notification). And fewer than the signals in all (unmerged, 100 SIGHUPs
    // gave 73 reloads, each after its own signal).
    const afterLast = reloads.filter((e) => Date.parse(e.time as string) > lastSighup);
    assert.ok(afterLast.length <= 3, `${afterLast.length} reloads ended after the last SIGHUP`);
    assert.ok(reloads.length >= 1 && reloads.length < 100, `${reloads.length} reloads`);
    for (const reload of reloads) assert.equal(reload.targets, 5000);
    // The 5,000 targets never answer: each is reported silent once. The 0.1 s stream is not.
    const portB = (await b.waitForEvent((e) => e.event === "listening")).port;
    const fromB = a.events.filter((e) =>
      (e.event === "silent" || e.event === "back") && e.fromPort === portB
    );
    assert.deepEqual(fromB, [], "the 0.1 s stream was never silent");
    const summary = a.events.find((e) => e.event === "summary")!;
    assert.equal((summary.targets as JsonEvent[]).length, 5000);
    b.kill("SIGTERM");
    await b.exited();
  });
});

/**
 * Runs a peer on `file` and checks it is refused at once as docs/many-hosts.md says: exit 2,
 * nothing on stdout, on stderr the one line naming the file (then the usual --help hint), no
 * stack trace, no raw control byte. Returns the line.
 */
async function assertRefused(file: string, env: Record<string, string> = {}): Promise<string> {
  const started = performance.now();
  const { code, stdout, stderr } = await runUdpeer(["--port", "0", "--peers", file], 10_000, {
    env,
  });
  const context = `${file}: exit ${code}, after ${Math.round(performance.now() - started)} ms: ${
    stderr.slice(0, 500)
  }`;
  assert.equal(code, 2, context);
  assert.equal(stdout, "", context);
  const lines = stderr.trimEnd().split("\n");
  assert.equal(lines.length, 2, context);
  assert.ok(lines[0]!.startsWith("udpeer: "), context);
  assert.equal(lines[1], "Try 'udpeer --help' for more information.", context);
  for (const line of lines) assert.doesNotMatch(line, RAW_CONTROL, context);
  assert.ok(lines[0]!.length < 300, context);
  return lines[0]!;
}

Deno.test("--peers refuses a device, a FIFO and a /proc file at once, in one line, exit 2", async () => {
  await withPeersFile(async (path) => {
    // /dev/zero: read whole, it grew memory at ~700 MB/s.
    assert.equal(
      await assertRefused("/dev/zero"),
      'udpeer: Cannot read --peers "/dev/zero": it is a character device, not a regular file',
    );
    // A FIFO with no writer: opening it would hang the start with no output.
    const made = await new Deno.Command("mkfifo", { args: [path] }).output();
    assert.ok(made.success, "mkfifo");
    assert.equal(
      await assertRefused(path),
      `udpeer: Cannot read --peers "${path}": it is a FIFO, not a regular file`,
    );
    await Deno.remove(path);
    // /proc/self/environ through a symlink: it printed the whole environment.
    const secret = `udpeer-secret-${crypto.randomUUID()}`;
    await Deno.symlink("/proc/self/environ", path);
    const line = await assertRefused(path, { UDPEER_TEST_SECRET: secret });
    assert.ok(!line.includes(secret) && !line.includes("UDPEER_TEST_SECRET"), line);
    assert.equal(
      line,
      `udpeer: Cannot read --peers "${path}": it is a file of /proc, not a regular file`,
    );
  });
});

Deno.test("--peers refuses a file over 10 MB, over 65,536 targets, and quotes a hostile line escaped", async () => {
  await withPeersFile(async (path) => {
    await Deno.writeTextFile(path, `# big\n${"#".repeat(10_000_000)}\n`);
    assert.match(
      await assertRefused(path),
      /: it is 10,000,007 bytes; a peers file has at most 10,000,000 bytes$/,
    );
    const lines = Array.from(
      { length: 65_537 },
      (_, i) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}:5005`,
    );
    await Deno.writeTextFile(path, lines.join("\n"));
    assert.equal(
      await assertRefused(path),
      `udpeer: ${path}:65537: more than 65,536 targets; a peers file lists at most as many`,
    );
    // It reached the terminal raw: Cannot resolve --to "^[[2J^[]0;pwned^G".
    await Deno.writeTextFile(path, "127.0.0.1:5006 b\n# c\n\x1b[2J\x1b]0;pwned\x07:5005 x\n");
    assert.equal(
      await assertRefused(path),
      `udpeer: ${path}:3: Cannot parse target "\\x1b[2J\\x1b]0;pwned\\x07:5005": write HOST:PORT, HOST an IPv4 address or a name of letters, digits, . - _`,
    );
  });
});

Deno.test("SIGHUP with the peers file turned into a FIFO: an error, the list kept, and the peer still stops", async () => {
  await withPeersFile(async (path) => {
    const portB = freePort();
    const b = `127.0.0.1:${portB}`;
    await Deno.writeTextFile(path, `${b} b\n`);
    await using a = startUdpeer(["--port", "0", "--peers", path, "--interval", "0.05", "--json"]);
    await a.waitUntil(() => sentTo(a, b).length >= 2, 10_000, "heartbeats to b");
    await Deno.remove(path);
    const made = await new Deno.Command("mkfifo", { args: [path] }).output();
    assert.ok(made.success, "mkfifo");
    a.kill("SIGHUP");
    const error = await a.waitForEvent((e) => e.event === "error", 5_000);
    // run.ts adds that the list stays.
    assert.ok(
      (error.message as string).startsWith(
        `Cannot read --peers "${path}": it is a FIFO, not a regular file; `,
      ),
      error.message as string,
    );
    const after = a.events.length;
    await a.waitUntil(() => sentTo(a, b, after).length >= 2, 10_000, "b still sent to");
    // A regular file again: the next SIGHUP reads it.
    await Deno.remove(path);
    await Deno.writeTextFile(path, `${b} b\n127.0.0.1:${freePort()} c\n`);
    a.kill("SIGHUP");
    const reload = await a.waitForEvent((e) => e.event === "reload", 5_000);
    assert.equal(reload.targets, 2);
    a.kill("SIGTERM");
    const status = await a.exited(5_000);
    assert.equal(status.code, 0, a.stderr);
    assert.ok(a.events.some((e) => e.event === "summary"));
  });
});
