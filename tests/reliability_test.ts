import assert from "node:assert/strict";
import { encodeHeartbeat } from "../protocol.ts";
import { hostileDatagram, Prng } from "./_helpers/hostile.ts";
import { Netns, netnsUnavailable, run } from "./_helpers/netns.ts";
import { DEFAULT_CAPACITY } from "../src/peer/sources.ts";
import {
  freePort,
  type JsonEvent,
  repoDir,
  startUdpeer,
  type UdpeerProcess,
} from "./_helpers/testing.ts";

const noNetns = await netnsUnavailable();
const seed = Number(Deno.env.get("UDPEER_FUZZ_SEED") ?? (Math.random() * 0x1_0000_0000) >>> 0);

// Nothing from the network may reach the terminal raw (C0, DEL, C1, bidi controls).
// deno-lint-ignore no-control-regex
const rawControl = /[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** Lines of human output that report one datagram (message or invalid) from 127.0.0.1. */
function datagramLines(peer: UdpeerProcess): number {
  let count = 0;
  for (const line of peer.lines) if (line.startsWith("127.0.0.1:")) count++;
  return count;
}

/** The `N received, M invalid, D duplicates` of a human summary's `--- from ADDRESS ---` block. */
function humanSummary(
  peer: UdpeerProcess,
  from: string,
): { received: number; invalid: number; duplicates: number; outliers: number } {
  const at = peer.lines.lastIndexOf(`--- from ${from} ---`);
  const match = peer.lines[at + 1]?.match(
    /^(\d+) received, (\d+) invalid, (?:(\d+) duplicates?, )?(?:(\d+) outliers?, )?time \d+ms$/,
  );
  assert.ok(at >= 0 && match, `no summary for ${from} in:\n${peer.lines.slice(-8).join("\n")}`);
  return {
    received: Number(match[1]),
    invalid: Number(match[2]),
    duplicates: Number(match[3] ?? 0),
    outliers: Number(match[4] ?? 0),
  };
}

/** The last stdout line as a JSON event. */
function lastEvent(peer: UdpeerProcess): JsonEvent {
  return JSON.parse(peer.lines.at(-1) ?? "null");
}

const tallies = new WeakMap<UdpeerProcess, { lines: number; count: number }>();

/** Per-datagram events (`message`, `invalid`) so far, counted incrementally without parsing. */
function datagramEvents(peer: UdpeerProcess): number {
  const tally = tallies.get(peer) ?? { lines: 0, count: 0 };
  for (; tally.lines < peer.lines.length; tally.lines++) {
    const line = peer.lines[tally.lines]!;
    if (line.startsWith('{"event":"message"') || line.startsWith('{"event":"invalid"')) {
      tally.count++;
    }
  }
  tallies.set(peer, tally);
  return tally.count;
}

/** Receive-buffer drops of the UDP socket bound to `port`, from /proc/net/udp. */
async function socketDrops(port: number, netns?: Netns): Promise<number> {
  // Deno refuses to read /proc/net/* without --allow-all; cat may.
  const text = (await run([...netns?.exec ?? [], "cat", "/proc/net/udp"])).stdout;
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const line = text.split("\n").find((l) => l.trim().split(/\s+/)[1]?.endsWith(`:${hexPort}`));
  assert.ok(line, `no socket on port ${port} in /proc/net/udp`);
  return Number(line.trim().split(/\s+/).at(-1));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `condition` holds, checking every 50 ms, failing after `timeoutMs`. */
async function eventually(
  condition: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms: ${what()}`);
    await sleep(50);
  }
}

const FLOOD = 200_000;

/**
 * The `deno run` flag that lets udpeer read its socket with recvmmsg batches on Linux
 * (src/common/batch_receive.ts); the tests that pass it run the same checks as without.
 */
const BATCHED = ["--allow-ffi"];

/** Whether udpeer started with these `deno run` flags reads its socket in batches. */
function readsInBatches(denoFlags: readonly string[]): boolean {
  return denoFlags.includes("--allow-ffi") && Deno.build.os === "linux";
}

/** The human listening line says when udpeer reads in batches, and only then. */
function assertBatching(listening: string, denoFlags: readonly string[]): void {
  const batched = readsInBatches(denoFlags);
  assert.equal(/reading up to 32 datagrams per system call/.test(listening), batched, listening);
}

/**
 * Floods a peer with hostile datagrams and checks that it reported every one the kernel
 * handed over. In a namespace the UDP counters are ours alone: InDatagrams is exactly what
 * udpeer read from its socket. Without one, the host's counters are shared, so the socket's
 * own drop counter (`/proc/net/udp`) stands in: a weaker check, run as a test of its own.
 */
async function flood(netns: Netns | undefined, denoFlags: string[] = []): Promise<void> {
  const prefix = netns?.exec ?? [];
  const port = netns === undefined ? freePort() : 5005;
  await using peer = startUdpeer(["--port", String(port), "--bind", "127.0.0.1"], {
    prefix,
    denoFlags,
  });
  await peer.waitUntil(() => peer.lines.length > 0, 15_000, "the listening line");
  assertBatching(peer.lines[0]!, denoFlags);
  const before = await netns?.udpCounters();

  const sender = await run([
    ...prefix,
    Deno.execPath(),
    "run",
    "--quiet",
    `--config=${repoDir}deno.json`,
    "--allow-net",
    `${repoDir}tests/_helpers/hostile.ts`,
    `--to=127.0.0.1:${port}`,
    `--count=${FLOOD}`,
    `--seed=${seed}`,
    "--marker=end of flood",
    "--markers=10", // over a second, in case the receive buffer is still full
  ], 60_000);
  assert.equal(sender.code, 0, sender.stderr);
  const report = JSON.parse(sender.stdout);

  // Alive: a valid heartbeat sent after the burst is reported.
  await peer.waitUntil(
    () => peer.lines.some((line) => line.endsWith(" | end of flood")),
    20_000,
    "the heartbeat after the flood",
  );
  // Every datagram the kernel handed over has been reported, one line each.
  let delivered = 0;
  await eventually(
    async () => {
      delivered = netns === undefined
        ? report.sent - await socketDrops(port)
        : (await netns.udpCounters()).InDatagrams - before!.InDatagrams;
      return datagramLines(peer) === delivered;
    },
    20_000,
    () => `udpeer reported ${datagramLines(peer)} datagrams, the kernel delivered ${delivered}`,
  );
  const drops = await socketDrops(port, netns);

  peer.kill("SIGTERM");
  const status = await peer.exited();
  assert.equal(status.code, 0, peer.stderr);
  const summary = humanSummary(peer, "127.0.0.1");
  // A datagram repeated within 64 of its stream is a duplicate, and one whose timestamp is
  // absurd for its stream an outlier: neither is a message (docs/link-health.md).
  assert.equal(
    summary.received + summary.invalid + summary.duplicates + summary.outliers,
    delivered,
  );
  assert.ok(summary.received >= report.markers, "the markers were counted");
  assert.ok(delivered + drops <= report.sent);
  for (const line of peer.lines) assert.ok(!rawControl.test(line), JSON.stringify(line));
  assert.equal(peer.stderr, "");
  console.log(
    `seed ${seed}: sent ${report.sent} at ${report.rate}/s; the kernel delivered ${delivered} ` +
      `and dropped ${drops} (receive buffer full); udpeer counted ${summary.received} ` +
      `messages + ${summary.invalid} invalid`,
  );
}

Deno.test({
  name:
    `in a namespace, the peer accounts for every datagram the kernel delivers from a ${FLOOD}-datagram hostile flood`,
  ignore: noNetns !== undefined,
  async fn() {
    await using netns = await Netns.create("flood");
    await flood(netns);
  },
});
if (noNetns !== undefined) {
  console.log(`skipped: reliability_test.ts: the flood in a namespace: ${noNetns}`);
}

Deno.test(
  `on the host's loopback, the peer accounts for a ${FLOOD}-datagram hostile flood less its socket's drops`,
  async () => {
    await flood(undefined);
  },
);

Deno.test(
  `with --allow-ffi (recvmmsg batches), the peer accounts for a ${FLOOD}-datagram hostile flood less its socket's drops`,
  async () => {
    await flood(undefined, BATCHED);
  },
);

Deno.test("SIGTERM in the middle of a flood prints the summary and exits 0", async () => {
  await using peer = startUdpeer(["--port", "0", "--bind", "127.0.0.1", "--json"]);
  const listening = await peer.waitForEvent((event) => event.event === "listening");
  const to = { transport: "udp" as const, hostname: "127.0.0.1", port: listening.port as number };
  const prng = new Prng(seed);
  const pool = Array.from({ length: 1024 }, () => hostileDatagram(prng).datagram);
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  let exited = false;
  let sent = 0;
  const flooding = (async () => {
    const deadline = Date.now() + 30_000;
    while (!exited && sent < 2_000_000 && Date.now() < deadline) {
      await conn.send(pool[sent++ % pool.length]!, to);
    }
  })();

  await peer.waitUntil(() => peer.lines.length > 2000, 15_000, "the flood to arrive");
  peer.kill("SIGTERM");
  const status = await peer.exited();
  exited = true;
  await flooding;
  conn.close();

  assert.equal(status.code, 0, peer.stderr);
  assert.equal(peer.stderr, "");
  const summary = lastEvent(peer);
  assert.equal(
    summary.event,
    "summary",
    `the summary is not the last line:\n${peer.lines.slice(-3).join("\n").slice(-600)}`,
  );
  const [source] = summary.sources as { from: string; messages: number; invalid: number }[];
  assert.equal(source?.from, "127.0.0.1");
  // The summary counts exactly what was reported before it.
  assert.equal(source.messages + source.invalid, datagramEvents(peer));
  console.log(`${sent} sent; ${datagramEvents(peer)} reported before SIGTERM`);
});

/** The i-th distinct loopback source address: 127.1.0.0, 127.1.0.1, … 127.2.x.y. */
function sourceAddress(i: number): string {
  return `127.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
}

/** Sends `datagrams` from their sources, `batch` at a time, each batch once udpeer has reported the one before. */
async function sendPaced(
  peer: UdpeerProcess,
  port: number,
  count: number,
  datagramAt: (i: number) => { conn: Deno.DatagramConn; datagram: Uint8Array; close: boolean },
  batch = 64,
): Promise<void> {
  const to = { transport: "udp" as const, hostname: "127.0.0.1", port };
  for (let i = 0; i < count; i++) {
    const { conn, datagram, close } = datagramAt(i);
    await conn.send(datagram, to);
    if (close) conn.close();
    // The receive buffer holds a few hundred small datagrams: waiting for udpeer to
    // report each batch keeps the kernel from dropping any, so every count is exact.
    if (i % batch === batch - 1 || i === count - 1) {
      await peer.waitUntil(() => datagramEvents(peer) >= i + 1, 15_000, `datagram ${i + 1}`);
    }
  }
}

const SOURCES = 3_000;

Deno.test(`counts stay right per source for ${SOURCES} distinct source addresses`, async () => {
  await using peer = startUdpeer(["--port", "0", "--bind", "127.0.0.1", "--json"]);
  const listening = await peer.waitForEvent((event) => event.event === "listening");
  const port = listening.port as number;
  const messages = (i: number) => 1 + (i % 4);
  const invalid = (i: number) => i % 3;
  const conns = Array.from(
    { length: SOURCES },
    (_, i) => Deno.listenDatagram({ transport: "udp", hostname: sourceAddress(i), port: 0 }),
  );
  try {
    // Round r: every source with more than r messages (invalid datagrams) sends one, so
    // the sources interleave as they would on a network.
    const plan: { source: number; valid: boolean }[] = [];
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < SOURCES; i++) {
        if (round < messages(i)) plan.push({ source: i, valid: true });
        if (round < invalid(i)) plan.push({ source: i, valid: false });
      }
    }
    const prng = new Prng(seed);
    await sendPaced(peer, port, plan.length, (n) => {
      const { source, valid } = plan[n]!;
      const conn = conns[source]!;
      const datagram = valid
        ? encodeHeartbeat({
          timestamp: Date.now(),
          ipv4: sourceAddress(source),
          port: (conn.addr as Deno.NetAddr).port,
          text: `from source ${source}`,
        })
        : prng.bytes(prng.range(0, 40)); // short, or 18+ bytes of noise: a checksum mismatch
      return { conn, datagram, close: false };
    });
  } finally {
    for (const conn of conns) conn.close();
  }
  peer.kill("SIGTERM");
  assert.equal((await peer.exited()).code, 0, peer.stderr);

  // Each message event's count is that source's running total.
  const seen = new Map<string, number>();
  for (const event of peer.events) {
    if (event.event !== "message") continue;
    const count = (seen.get(event.from as string) ?? 0) + 1;
    seen.set(event.from as string, count);
    assert.equal(event.count, count, `count of ${event.from}`);
  }
  const summary = lastEvent(peer);
  assert.equal(summary.event, "summary");
  assert.equal(summary.dropped, 0);
  const sources = summary.sources as { from: string; messages: number; invalid: number }[];
  assert.equal(sources.length, SOURCES);
  const byAddress = new Map(sources.map((source) => [source.from, source]));
  for (let i = 0; i < SOURCES; i++) {
    const source = byAddress.get(sourceAddress(i));
    assert.deepEqual(
      { messages: source?.messages, invalid: source?.invalid },
      { messages: messages(i), invalid: invalid(i) },
      sourceAddress(i),
    );
  }
});

const MANY = 70_000;

Deno.test(
  `${MANY} sources keep the table at ${DEFAULT_CAPACITY} and the summary counts those dropped`,
  async () => {
    await using peer = startUdpeer(["--port", "0", "--bind", "127.0.0.1", "--json"]);
    const listening = await peer.waitForEvent((event) => event.event === "listening");
    const port = listening.port as number;
    const started = performance.now();
    await sendPaced(peer, port, MANY, (i) => {
      const conn = Deno.listenDatagram({ transport: "udp", hostname: sourceAddress(i), port: 0 });
      const datagram = encodeHeartbeat({
        timestamp: Date.now(),
        ipv4: sourceAddress(i),
        port: (conn.addr as Deno.NetAddr).port,
        text: "one of many",
      });
      return { conn, datagram, close: true };
    }, 128);
    const sendMs = Math.round(performance.now() - started);
    peer.kill("SIGTERM");
    assert.equal((await peer.exited(30_000)).code, 0, peer.stderr);

    const summary = lastEvent(peer);
    assert.equal(summary.event, "summary");
    const sources = summary.sources as { from: string; messages: number }[];
    assert.equal(sources.length, DEFAULT_CAPACITY);
    assert.equal(summary.dropped, MANY - DEFAULT_CAPACITY);
    // The least recently seen went first: what is left is the last 65,536, in order.
    const dropped = MANY - DEFAULT_CAPACITY;
    sources.forEach((source, k) => {
      if (source.from !== sourceAddress(dropped + k) || source.messages !== 1) {
        assert.fail(`source ${k} is ${JSON.stringify(source)}, not ${sourceAddress(dropped + k)}`);
      }
    });
    console.log(`${MANY} sources sent and reported in ${sendMs} ms`);
  },
);

/**
 * Peer A sends to a port nobody listens on (each send comes back as an ICMP port
 * unreachable) while peer B sends to A. In a namespace the NoPorts counter proves the ICMP
 * errors happened; on the host's loopback it is shared, so that check is left out.
 */
async function icmp(netns: Netns | undefined, denoFlags: string[] = []): Promise<void> {
  const prefix = netns?.exec ?? [];
  const [portA, portB, closed] = netns === undefined
    ? [freePort(), freePort(), freePort()]
    : [5005, 5006, 5999];
  const fast = ["--interval", "0.02", "--json"];
  await using a = startUdpeer(["--port", `${portA}`, "--to", `127.0.0.1:${closed}`, ...fast], {
    prefix,
    denoFlags,
  });
  const listening = await a.waitForEvent((event) => event.event === "listening");
  assert.equal(listening.receiveBatch, readsInBatches(denoFlags) ? 32 : undefined);
  await using _b = startUdpeer(
    ["--port", `${portB}`, "--to", `127.0.0.1:${portA}`, "--quiet", ...fast],
    { prefix },
  );
  const fromB = () => a.events.filter((e) => e.event === "message" && e.fromPort === portB).length;
  await a.waitForEvent((event) => event.event === "sent" && (event.seq as number) >= 20);
  if (netns !== undefined) {
    const noPorts = (await netns.udpCounters()).NoPorts;
    assert.ok(noPorts >= 20, `NoPorts ${noPorts}`);
  }
  const received = fromB();
  await a.waitUntil(() => fromB() >= received + 20, 10_000, "20 more heartbeats from B");
  a.kill("SIGTERM");
  assert.equal((await a.exited()).code, 0, a.stderr);
  const summary = lastEvent(a);
  assert.equal(summary.event, "summary");
  const target = (summary.targets as { sent: number }[])[0];
  assert.ok(target !== undefined && target.sent >= 20);
  // The ICMP errors are harmless: neither path reports them, nor gives up batching for them.
  assert.deepEqual(a.events.filter((e) => e.event === "error" && e.op === "receive"), []);
}

Deno.test({
  name: "in a namespace, the peer keeps receiving after ICMP port unreachables, counted by NoPorts",
  ignore: noNetns !== undefined,
  async fn() {
    await using netns = await Netns.create("icmp");
    await icmp(netns);
  },
});
if (noNetns !== undefined) {
  console.log(`skipped: reliability_test.ts: ICMP port unreachables in a namespace: ${noNetns}`);
}

Deno.test("on the host's loopback, the peer keeps receiving after ICMP port unreachables", async () => {
  await icmp(undefined);
});

Deno.test("with --allow-ffi (recvmmsg batches), the peer keeps receiving after ICMP port unreachables", async () => {
  await icmp(undefined, BATCHED);
});

Deno.test(
  {
    name: "an unreachable network and a name that stops resolving give errors and the peer goes on",
    ignore: noNetns !== undefined,
  },
  async () => {
    // A namespace with only lo: 10.255.255.1 has no route, so nothing can leave it. The
    // name lives in the namespace's private /etc/hosts, which the test rewrites.
    await using netns = await Netns.create("faults");
    const name = "flaky.udpeer.test";
    await netns.writeEtc("hosts", `127.0.0.1 localhost\n10.255.255.1 ${name}\n`);
    const port = 5005;
    await using peer = startUdpeer([
      "--port",
      `${port}`,
      "--to",
      `127.0.0.1:${port}`, // itself: shows that receiving goes on
      "--to",
      `${name}:${port}`,
      "--to",
      `10.255.255.1:${port}`,
      "--interval",
      "0.05",
      "--json",
    ], { prefix: netns.exec });
    const errorsFor = (to: string) =>
      peer.events.filter((e) => e.event === "error" && e.to === to).map((e) => `${e.message}`);
    const received = () => peer.events.filter((e) => e.event === "message").length;

    // 1. No route: both the address and the name fail, every interval.
    await peer.waitUntil(
      () =>
        errorsFor(`${name}:${port}`).length >= 3 && errorsFor(`10.255.255.1:${port}`).length >= 3,
      10_000,
      "network unreachable errors",
    );
    const unreachable = errorsFor(`10.255.255.1:${port}`)[0]!;
    assert.match(unreachable, /unreachable/i);

    // 2. The name stops resolving: the lookup made again after the failed send fails.
    await netns.writeEtc("hosts", "127.0.0.1 localhost\n");
    const failures = () => errorsFor(`${name}:${port}`).filter((m) => !/unreachable/i.test(m));
    await peer.waitUntil(() => failures().length >= 3, 10_000, "name lookup errors");
    assert.match(failures()[0]!, /flaky\.udpeer\.test|ENOTFOUND|EAI_/);

    // 3. The name resolves again, to this namespace: its heartbeats arrive.
    await netns.writeEtc("hosts", `127.0.0.1 localhost ${name}\n`);
    const sentToName = () =>
      peer.events.filter((e) => e.event === "sent" && e.to === `${name}:${port}`).length;
    await peer.waitUntil(() => sentToName() >= 3, 10_000, "sends to the name again");
    const before = received();
    await peer.waitUntil(() => received() >= before + 10, 10_000, "more heartbeats");

    peer.kill("SIGTERM");
    assert.equal((await peer.exited()).code, 0, peer.stderr);
    const summary = lastEvent(peer);
    assert.equal(summary.event, "summary");
    const targets = new Map(
      (summary.targets as { to: string; sent: number; sendErrors: number }[]).map((t) => [t.to, t]),
    );
    assert.ok(targets.get(`${name}:${port}`)!.sendErrors >= 6);
    assert.ok(targets.get(`${name}:${port}`)!.sent >= 3);
    assert.equal(targets.get(`10.255.255.1:${port}`)!.sent, 0);
    assert.equal(targets.get(`127.0.0.1:${port}`)!.sendErrors, 0);
    console.log(`errors seen: "${unreachable}", then "${failures()[0]}"`);
  },
);
if (noNetns !== undefined) {
  console.log(
    `skipped: reliability_test.ts: an unreachable network and a name that stops resolving: ${noNetns}`,
  );
}

Deno.test("stdout closed early (udpeer | head -n 3) ends quietly, without a stack trace", async () => {
  const port = freePort();
  const udpeer = [Deno.execPath(), "run", "--quiet", `--config=${repoDir}deno.json`]
    .concat(["--allow-net", "--allow-sys=networkInterfaces", `${repoDir}main.ts`])
    .concat(["--port", `${port}`, "--to", `127.0.0.1:${port}`, "--interval", "0.01"]);
  const quoted = udpeer.map((arg) => `'${arg.replaceAll("'", `'\\''`)}'`).join(" ");
  const result = await run(
    ["bash", "-c", `${quoted} | head -n 3; echo "udpeer exited with $\{PIPESTATUS[0]}" >&2`],
    20_000,
  );
  assert.equal(result.stdout.split("\n").length, 4, result.stdout); // three lines and the end
  assert.equal(result.stderr, "udpeer exited with 0\n");
});
