// Long waits as a user gives them (see README "The heartbeat peer" "Timers never overflow"): a JavaScript timer past
// 2^31 − 1 ms fires at once, so each of these once flooded or spun.
import assert from "node:assert/strict";
import { assertUsageError, freePort, startUdpeer, type UdpeerProcess } from "./_helpers/testing.ts";

/** A UDP socket of the test's own that counts what arrives until disposed. */
function counter(): { port: number; count: () => number } & AsyncDisposable {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  let received = 0;
  const loop = (async () => {
    try {
      while (true) {
        await conn.receive();
        received++;
      }
    } catch { /* closed */ }
  })();
  return {
    port: (conn.addr as Deno.NetAddr).port,
    count: () => received,
    [Symbol.asyncDispose]: async () => {
      conn.close();
      await loop;
    },
  };
}

/** CPU time (user + system) the process has used so far, in ms, from /proc. */
async function cpuMs(pid: number): Promise<number> {
  // Read through cat: `deno task test` grants --allow-run, and /proc needs --allow-all.
  const { stdout } = await new Deno.Command("cat", { args: [`/proc/${pid}/stat`] }).output();
  const stat = new TextDecoder().decode(stdout);
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticksPerSecond = 100; // USER_HZ is 100 on Linux
  return (Number(fields[11]) + Number(fields[12])) * 1000 / ticksPerSecond;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits `ms` and returns how much CPU the process used meanwhile. */
async function cpuOver(process: UdpeerProcess, ms: number): Promise<number> {
  const before = await cpuMs(process.child.pid);
  await sleep(ms);
  return await cpuMs(process.child.pid) - before;
}

Deno.test("--interval 1e9 sends one heartbeat in 2 s and no TimeoutOverflowWarning", async () => {
  await using target = counter();
  await using peer = startUdpeer(
    ["--port", "0", "--to", `127.0.0.1:${target.port}`, "--interval", "1e9", "--json"],
  );
  await peer.waitForEvent((e) => e.event === "sent");
  const cpu = await cpuOver(peer, 2000);
  const sent = peer.events.filter((e) => e.event === "sent").length;
  assert.equal(sent, 1, `${sent} sent events`);
  assert.equal(target.count(), 1, `${target.count()} datagrams arrived`);
  assert.ok(cpu < 500, `the peer used ${cpu} ms of CPU in 2 s`);
  assert.doesNotMatch(peer.stderr, /TimeoutOverflow/);
});

Deno.test("--start-at 40 days ahead says when, even with --quiet, and sends nothing in 2 s", async () => {
  await using target = counter();
  const startAt = new Date(Date.now() + 40 * 86_400_000);
  await using peer = startUdpeer(
    // --quiet keeps the waiting line: it is no per-datagram line.
    [
      "--port",
      "0",
      "--to",
      `127.0.0.1:${target.port}`,
      "--start-at",
      startAt.toISOString(),
      "--quiet",
    ],
  );
  await peer.waitUntil(() => peer.lines.some((line) => line.startsWith("waiting until")));
  await sleep(2000);
  assert.equal(target.count(), 0);
  const waiting = peer.lines.find((line) => line.startsWith("waiting until"));
  const day = startAt.toISOString().slice(0, 10);
  assert.match(
    waiting!,
    new RegExp(
      `^waiting until ${day} \\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z \\(in (39 days 23|40 days 0) h\\)$`,
    ),
  );
  assert.doesNotMatch(peer.stderr, /TimeoutOverflow/);
});

Deno.test("--start-at a few seconds ahead prints a waiting event, then starts on time", async () => {
  const port = freePort();
  const startAtMs = Math.ceil((Date.now() + 1500) / 1000) * 1000 + 1000; // a whole second
  const startAt = new Date(startAtMs).toISOString();
  await using peer = startUdpeer(
    [
      "--port",
      `${port}`,
      "--to",
      `127.0.0.1:${port}`,
      "--start-at",
      startAt,
      "--json",
      "--count",
      "1",
      "--interval",
      "0.1",
    ],
  );
  const waiting = await peer.waitForEvent((e) => e.event === "waiting");
  assert.equal(waiting.startAt, startAt);
  assert.ok(
    typeof waiting.inMs === "number" && waiting.inMs > 0 && waiting.inMs <= 4000,
    `inMs ${waiting.inMs}`,
  );
  const message = await peer.waitForEvent((e) => e.event === "message", 10_000);
  assert.ok(Date.parse(message.sentAt as string) >= startAtMs, `sent at ${message.sentAt}`);
  assert.ok(Date.parse(message.sentAt as string) < startAtMs + 500, `sent at ${message.sentAt}`);
  assert.equal((await peer.exited()).code, 0);
  const kinds = peer.events.map((e) => e.event);
  assert.deepEqual(kinds.slice(0, 2), ["listening", "waiting"]);
});

Deno.test("--start-at in the past, past the year 275760 or without --to exits 2 naming the flag", async () => {
  await assertUsageError(
    ["--to", "127.0.0.1:9", "--start-at", "2020-01-01T00:00:00Z"],
    "--start-at",
  );
  await assertUsageError(["--to", "127.0.0.1:9", "--start-at", "1"], "--start-at");
  // Beyond what a Date holds: once an "Unexpected failure: Invalid time value", exit 1.
  await assertUsageError(["--to", "127.0.0.1:9", "--start-at", "99999999999999"], "--start-at");
  // Listening only, there is nothing to start.
  await assertUsageError(
    ["peer", "--start-at", `${Math.ceil(Date.now() / 1000) + 60}`],
    "--start-at",
  );
});

Deno.test("chat --timeout 3000000 with no server waits without spinning", async () => {
  await using nobody = counter(); // receives, never answers
  await using client = startUdpeer(
    ["chat", "--to", `127.0.0.1:${nobody.port}`, "--timeout", "3000000"],
    { stdin: true },
  );
  await client.write("anyone?\n");
  const deadline = Date.now() + 10_000;
  while (nobody.count() === 0 && Date.now() < deadline) await sleep(50);
  assert.equal(nobody.count(), 1);
  const cpu = await cpuOver(client, 2000);
  assert.ok(cpu < 500, `chat used ${cpu} ms of CPU in 2 s`);
  assert.equal(nobody.count(), 1, "no resend before the timeout");
  assert.ok(client.lines.length < 5, `${client.lines.length} lines`);
  assert.doesNotMatch(client.stderr, /TimeoutOverflow/);
});
