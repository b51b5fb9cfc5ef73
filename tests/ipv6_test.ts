import assert from "node:assert/strict";
import { ipv6Unavailable } from "./_helpers/ipv6.ts";
import { connect, Netns, netnsUnavailable } from "./_helpers/netns.ts";
import { decodeHeartbeat, encodeHeartbeat } from "../protocol.ts";
import { runUdpeer, startUdpeer, type UdpeerProcess } from "./_helpers/testing.ts";

// IPv6 end to end, on ::1 only: serve, chat and the peer started as subprocesses, as a user
// runs them. A machine without IPv6 on its loopback skips these, and says so.

const noIpv6 = await ipv6Unavailable();
const noNetns = await netnsUnavailable();

/** Declares a test that makes namespaces joined over IPv6, ignored where it cannot. */
function netnsTest(name: string, fn: () => Promise<void>): void {
  const why = noNetns ?? noIpv6;
  if (why !== undefined) console.log(`skipped: ipv6_test.ts: ${name}: ${why}`);
  Deno.test({ name, ignore: why !== undefined }, fn);
}

/**
 * Two namespaces on one veth link with IPv6 ULA addresses only (fd00:75:64::/64, which
 * exists nowhere but inside them): `a` is fd00:75:64::1, `b` fd00:75:64::2.
 */
async function ipv6Link(): Promise<{ a: Netns; b: Netns } & AsyncDisposable> {
  const a = await Netns.create("six-a");
  const b = await Netns.create("six-b").catch(async (error) => {
    await a[Symbol.asyncDispose]();
    throw error;
  });
  const dispose = async () => {
    await a[Symbol.asyncDispose]();
    await b[Symbol.asyncDispose]();
  };
  try {
    await connect(a, "fd00:75:64::1/64", b, "fd00:75:64::2/64");
  } catch (error) {
    await dispose();
    throw error;
  }
  return { a, b, [Symbol.asyncDispose]: dispose };
}

/** Declares a test that needs ::1, ignored (with a `skipped:` line) where there is none. */
function ipv6Test(name: string, fn: () => Promise<void>): void {
  if (noIpv6 !== undefined) console.log(`skipped: ipv6_test.ts: ${name}: ${noIpv6}`);
  Deno.test({ name, ignore: noIpv6 !== undefined }, fn);
}

/** Starts `udpeer serve` with these flags and returns it with the port it took. */
async function startServe(args: string[]): Promise<{ server: UdpeerProcess; port: number }> {
  const server = startUdpeer(["serve", "--port", "0", "--json", ...args]);
  const listening = await server.waitForEvent((e) => e.event === "listening");
  return { server, port: listening.port as number };
}

/** Sends one datagram from a socket on `hostname` and returns the reply's text and source. */
async function ask(
  hostname: string,
  to: Deno.NetAddr,
  text: string,
): Promise<{ text: string; from: Deno.NetAddr }> {
  const socket = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await socket.send(new TextEncoder().encode(text), to);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no reply from ${to.hostname} in 5 s`)), 5_000);
    });
    const [data, from] = await Promise.race([socket.receive(), timeout]);
    return { text: new TextDecoder().decode(data), from: from as Deno.NetAddr };
  } finally {
    clearTimeout(timer);
    socket.close();
  }
}

ipv6Test("serve --bind ::1 answers over IPv6 and prints the source in brackets", async () => {
  const { server, port } = await startServe(["--bind", "::1"]);
  await using _server = server;
  const listening = server.events.find((e) => e.event === "listening")!;
  assert.equal(listening.address, "::1");
  const reply = await ask("::1", { transport: "udp", hostname: "::1", port }, "hello");
  assert.equal(reply.text, "HELLO");
  assert.equal(reply.from.port, port);
  const request = await server.waitForEvent((e) => e.event === "request");
  assert.equal(request.from, "::1");
  server.kill("SIGINT");
  assert.equal((await server.exited()).code, 0);

  // The human lines: the listening address and the source in brackets.
  await using human = startUdpeer(["serve", "--bind", "[::1]", "--port", "0"]);
  await human.waitUntil(() => human.lines.length > 0);
  const humanPort = Number(/\]:(\d+);/.exec(human.lines[0]!)?.[1]);
  assert.match(human.lines[0]!, /^udpeer serve: upper on UDP \[::1\]:\d+; Ctrl-C for the summary$/);
  await ask("::1", { transport: "udp", hostname: "::1", port: humanPort }, "hi");
  await human.waitUntil(() => human.lines.length > 1);
  assert.match(human.lines[1]!, /^\[::1\]:\d+ "hi" -> "HI"$/);
});

ipv6Test(
  "serve --bind :: answers IPv6 and IPv4 clients, an IPv4 one shown as plain IPv4",
  async () => {
    const { server, port } = await startServe(["--bind", "::", "--mode", "echo"]);
    await using _server = server;
    const six = await ask("::1", { transport: "udp", hostname: "::1", port }, "six");
    assert.equal(six.text, "six");
    const four = await ask("127.0.0.1", { transport: "udp", hostname: "127.0.0.1", port }, "four");
    assert.equal(four.text, "four");
    assert.equal(four.from.hostname, "127.0.0.1");
    await server.waitUntil(() => server.events.filter((e) => e.event === "request").length === 2);
    const sources = server.events.filter((e) => e.event === "request").map((e) => e.from);
    assert.deepEqual(sources, ["::1", "127.0.0.1"], "never ::ffff:127.0.0.1");
  },
);

ipv6Test(
  "serve --tcp --bind :: shows an IPv4 client as plain IPv4, an IPv6 one as it is",
  async () => {
    const { server, port } = await startServe(["--tcp", "--bind", "::"]);
    await using _server = server;
    for (const hostname of ["::1", "127.0.0.1"]) {
      const conn = await Deno.connect({ hostname, port });
      await conn.write(new TextEncoder().encode("x\n"));
      const buffer = new Uint8Array(16);
      const n = await conn.read(buffer);
      assert.equal(new TextDecoder().decode(buffer.subarray(0, n ?? 0)), "X\n");
      conn.close();
    }
    await server.waitUntil(() => server.events.filter((e) => e.event === "connected").length === 2);
    const sources = server.events.filter((e) => e.event === "connected").map((e) => e.from);
    assert.deepEqual(sources, ["::1", "127.0.0.1"]);
  },
);

ipv6Test("chat --to [::1]:PORT talks to serve over IPv6, UDP and TCP", async () => {
  for (const tcp of [[], ["--tcp"]]) {
    const { server, port } = await startServe(["--bind", "::1", ...tcp]);
    await using _server = server;
    await using client = startUdpeer(["chat", "--to", `[::1]:${port}`, ...tcp, "--json"], {
      stdin: true,
    });
    await client.write("hello six\n");
    await client.closeStdin();
    const status = await client.exited();
    assert.equal(status.code, 0, client.stderr);
    const connected = client.events.find((e) => e.event === "connected");
    assert.equal(connected?.to, `[::1]:${port}`);
    const reply = client.events.find((e) => e.event === "reply");
    assert.equal(reply?.reply, "HELLO SIX", JSON.stringify(client.events));
    if (tcp.length === 0) assert.equal(reply?.from, "::1");
  }
});

ipv6Test("chat refuses an IPv6 address without brackets, and names the fix", async () => {
  const { code, stderr } = await runUdpeer(["chat", "--to", "::1:5005"]);
  assert.equal(code, 2);
  assert.match(
    stderr,
    /^udpeer: Cannot parse --to: "::1:5005" holds an IPv6 address: write an IPv6 address in brackets, as in \[2001:db8::1\]:5005\n/,
  );
});

netnsTest("serve and chat talk over IPv6 between two namespaces, on ULA addresses", async () => {
  await using link = await ipv6Link();
  await using server = startUdpeer(["serve", "--bind", "::", "--port", "12000", "--json"], {
    prefix: link.b.exec,
  });
  await server.waitForEvent((e) => e.event === "listening");
  await using client = startUdpeer(["chat", "--to", "[fd00:75:64::2]:12000", "--json"], {
    stdin: true,
    prefix: link.a.exec,
  });
  await client.write("across the link\n");
  await client.closeStdin();
  const status = await client.exited();
  assert.equal(status.code, 0, client.stderr);
  const reply = client.events.find((e) => e.event === "reply");
  assert.equal(reply?.reply, "ACROSS THE LINK");
  assert.equal(reply?.from, "fd00:75:64::2");
  const request = await server.waitForEvent((e) => e.event === "request");
  assert.equal(request.from, "fd00:75:64::1", "the client's ULA address, as the socket saw it");
});

/** A wall-clock time far enough ahead that two peers started now are both up by then. */
async function commonStart(): Promise<{ startAt: string; leadMs: number }> {
  const measuring = performance.now();
  assert.equal((await runUdpeer(["--version"], 30_000)).code, 0);
  const startupMs = performance.now() - measuring;
  const leadMs = Math.min(30_000, Math.max(2500, 4 * startupMs + 1000));
  return { startAt: ((Date.now() + leadMs) / 1000).toFixed(3), leadMs };
}

/** A port free on :: (so on ::1 and, dual-stack, on IPv4) a moment ago. */
function freePort6(): number {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "::", port: 0 });
  const { port } = socket.addr as Deno.NetAddr;
  socket.close();
  return port;
}

ipv6Test(
  "two peers over [::1] count each other's heartbeats, and each finds its target by source",
  async () => {
    const [portA, portB] = [freePort6(), freePort6()];
    const { startAt, leadMs } = await commonStart();
    const common = ["--interval", "0.05", "--count", "10", "--json", "--start-at", startAt];
    await using a = startUdpeer(["--port", `${portA}`, "--to", `[::1]:${portB}`, ...common]);
    await using b = startUdpeer(["--port", `${portB}`, "--to", `[0:0::1]:${portA}`, ...common]);
    const [statusA, statusB] = await Promise.all([
      a.exited(leadMs + 20_000),
      b.exited(leadMs + 20_000),
    ]);
    assert.equal(statusA.code, 0, a.stderr);
    assert.equal(statusB.code, 0, b.stderr);
    for (const [peer, otherPort] of [[a, portB], [b, portA]] as const) {
      const listening = peer.events.find((e) => e.event === "listening")!;
      // The default 0.0.0.0 cannot send to IPv6: with an IPv6 target it listens on ::.
      assert.equal(listening.address, "::");
      assert.deepEqual(listening.targets, [
        { to: `[::1]:${otherPort}`, address: "::1", advertise: "0.0.0.0" },
      ]);
      const messages = peer.events.filter((e) => e.event === "message");
      assert.deepEqual(messages.map((m) => m.count), Array.from({ length: 10 }, (_, i) => i + 1));
      for (const message of messages) {
        assert.equal(message.from, "::1");
        assert.equal(message.fromPort, otherPort);
        // The header said 0.0.0.0: the receiver takes the UDP source.
        assert.equal(message.advertised, `[::1]:${otherPort}`);
      }
      const summary = peer.events.find((e) => e.event === "summary") as {
        targets: { to: string; received: number; fromPort: number; missed: number }[];
        sources: { from: string; messages: number }[];
      };
      assert.deepEqual(
        summary.targets.map((t) => [t.to, t.received, t.fromPort, t.missed]),
        [[`[::1]:${otherPort}`, 10, otherPort, 0]],
      );
      assert.deepEqual(summary.sources.map((s) => [s.from, s.messages]), [["::1", 10]]);
    }
  },
);

/** A heartbeat as a sender on IPv6 writes it: 0.0.0.0 and its port in the header. */
function heartbeat6(port: number, text: string, k = 0): Uint8Array {
  return encodeHeartbeat({ timestamp: Date.now() - 100 + k, ipv4: "0.0.0.0", port, text });
}

ipv6Test(
  "a peer on :: counts IPv4 and IPv6 senders apart: plain IPv4, IPv6 in brackets, in events and metrics",
  async () => {
    await using peer = startUdpeer(["--bind", "::", "--port", "0", "--json", "--metrics", "0"]);
    const listening = await peer.waitForEvent((e) => e.event === "listening");
    assert.equal(listening.address, "::");
    const port = listening.port as number;
    const four = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const six = Deno.listenDatagram({ transport: "udp", hostname: "::1", port: 0 });
    try {
      const fourPort = (four.addr as Deno.NetAddr).port;
      const sixPort = (six.addr as Deno.NetAddr).port;
      for (let k = 0; k < 3; k++) {
        await four.send(
          // Each a timestamp of its own: the same one twice would be a duplicate.
          encodeHeartbeat({
            timestamp: Date.now() - 100 + k,
            ipv4: "127.0.0.1",
            port: fourPort,
            text: "4",
          }),
          { transport: "udp", hostname: "127.0.0.1", port },
        );
        await six.send(heartbeat6(sixPort, "6", k), { transport: "udp", hostname: "::1", port });
      }
      await six.send(new Uint8Array(3), { transport: "udp", hostname: "::1", port });
      await peer.waitUntil(() => peer.events.filter((e) => e.event === "message").length === 6);
      await peer.waitForEvent((e) => e.event === "invalid");
      const messages = peer.events.filter((e) => e.event === "message");
      assert.deepEqual(
        messages.filter((m) => m.text === "4").map((m) => [m.from, m.count, m.advertised]),
        [1, 2, 3].map((n) => ["127.0.0.1", n, `127.0.0.1:${fourPort}`]),
        "an IPv4 sender on a :: socket is plain IPv4, never ::ffff:127.0.0.1",
      );
      assert.deepEqual(
        messages.filter((m) => m.text === "6").map((m) => [m.from, m.count, m.advertised]),
        [1, 2, 3].map((n) => ["::1", n, `[::1]:${sixPort}`]),
      );
      const invalid = peer.events.find((e) => e.event === "invalid")!;
      assert.deepEqual([invalid.from, invalid.fromPort], ["::1", sixPort]);
      // Prometheus labels: the stream's source as IP:PORT, IPv6 in brackets.
      const scrape = await (await fetch(`http://${listening.metrics}/metrics`)).text();
      assert.match(
        scrape,
        new RegExp(`udpeer_heartbeats_received_total\\{source="\\[::1\\]:${sixPort}"\\} 3`),
      );
      assert.match(
        scrape,
        new RegExp(`udpeer_heartbeats_received_total\\{source="127\\.0\\.0\\.1:${fourPort}"\\} 3`),
      );
      assert.doesNotMatch(scrape, /::ffff:/);
      peer.kill("SIGINT");
      assert.equal((await peer.exited()).code, 0);
      const summary = peer.events.find((e) => e.event === "summary") as {
        sources: { from: string; messages: number; invalid: number }[];
      };
      assert.deepEqual(
        summary.sources.map((s) => [s.from, s.messages, s.invalid]).sort(),
        [["127.0.0.1", 3, 0], ["::1", 3, 1]],
      );
    } finally {
      four.close();
      six.close();
    }
  },
);

ipv6Test(
  "the peer's human lines write an IPv6 source in brackets, in each line and the summary",
  async () => {
    await using peer = startUdpeer(["--bind", "::1", "--port", "0"]);
    await peer.waitUntil(() => peer.lines.length > 0);
    assert.match(peer.lines[0]!, /^udpeer listening on \[::1\]:(\d+), not sending \(no --to\)/);
    const port = Number(/\]:(\d+),/.exec(peer.lines[0]!)![1]);
    const six = Deno.listenDatagram({ transport: "udp", hostname: "::1", port: 0 });
    try {
      const sixPort = (six.addr as Deno.NetAddr).port;
      await six.send(heartbeat6(sixPort, "hello six"), { transport: "udp", hostname: "::1", port });
      // A header that names another port: shown, in brackets too.
      await six.send(heartbeat6(7, "from elsewhere", 1), {
        transport: "udp",
        hostname: "::1",
        port,
      });
      await six.send(new Uint8Array(2), { transport: "udp", hostname: "::1", port });
      await peer.waitUntil(() => peer.lines.length >= 4);
      assert.match(
        peer.lines[1]!,
        new RegExp(`^\\[::1\\]:${sixPort} count=1 time=-?[\\d.]+ ms \\| hello six$`),
      );
      assert.match(
        peer.lines[2]!,
        new RegExp(
          `^\\[::1\\]:${sixPort} count=2 time=-?[\\d.]+ ms advertised=\\[::1\\]:7 \\| from elsewhere$`,
        ),
      );
      assert.equal(
        peer.lines[3],
        `[::1]:${sixPort} invalid datagram: 2 bytes, shorter than the 18-byte header`,
      );
    } finally {
      six.close();
    }
    peer.kill("SIGINT");
    assert.equal((await peer.exited()).code, 0);
    const text = peer.lines.join("\n");
    assert.match(text, /--- from ::1 ---/);
  },
);

ipv6Test(
  "a send to IPv6 from a socket bound to an IPv4 address is an error event naming --bind ::",
  async () => {
    const { code, stderr } = await runUdpeer(
      [
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--to",
        "[::1]:9",
        "--count",
        "1",
        "--interval",
        "0.1",
      ],
    );
    assert.equal(code, 1, "nothing came back");
    assert.match(stderr, /Cannot send to \[::1\]:9: .*listen on :: \(--bind ::\) to reach ::1/);
  },
);

netnsTest(
  "two peers in two namespaces talk over IPv6 ULA addresses; -6 resolves a name to IPv6 first",
  async () => {
    await using link = await ipv6Link();
    // The name has an IPv4 address (nowhere on this link) and an IPv6 one: -6 takes the IPv6.
    await link.a.writeEtc(
      "hosts",
      "127.0.0.1 localhost\n192.0.2.2 peer-b\nfd00:75:64::2 peer-b\n",
    );
    const { startAt, leadMs } = await commonStart();
    const common = [
      "--port",
      "5005",
      "--interval",
      "0.05",
      "--count",
      "10",
      "--json",
      "--start-at",
      startAt,
    ];
    await using a = startUdpeer(["--to", "peer-b:5005", "-6", ...common], { prefix: link.a.exec });
    await using b = startUdpeer(["--to", "[fd00:75:64::1]:5005", ...common], {
      prefix: link.b.exec,
    });
    const [statusA, statusB] = await Promise.all([
      a.exited(leadMs + 20_000),
      b.exited(leadMs + 20_000),
    ]);
    assert.equal(statusA.code, 0, a.stderr);
    assert.equal(statusB.code, 0, b.stderr);
    const targetsOf = (peer: UdpeerProcess) =>
      peer.events.find((e) => e.event === "listening")!.targets;
    assert.deepEqual(targetsOf(a), [
      { to: "peer-b:5005", address: "fd00:75:64::2", advertise: "0.0.0.0" },
    ]);
    assert.deepEqual(targetsOf(b), [
      { to: "[fd00:75:64::1]:5005", address: "fd00:75:64::1", advertise: "0.0.0.0" },
    ]);
    for (const [peer, other] of [[a, "fd00:75:64::2"], [b, "fd00:75:64::1"]] as const) {
      const messages = peer.events.filter((e) => e.event === "message");
      assert.equal(messages.length, 10, peer.stderr);
      for (const message of messages) {
        assert.equal(message.from, other);
        assert.equal(message.advertised, `[${other}]:5005`);
      }
      const summary = peer.events.find((e) => e.event === "summary") as {
        targets: { received: number; missed: number }[];
      };
      assert.deepEqual(summary.targets.map((t) => [t.received, t.missed]), [[10, 0]]);
    }
  },
);

ipv6Test(
  "SIGHUP adds an IPv6 target from the peers file, keyed in brackets, and sends to it",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "udpeer-ipv6-peers-" });
    const path = `${dir}/hosts.txt`;
    const six = Deno.listenDatagram({ transport: "udp", hostname: "::1", port: 0 });
    const sixPort = (six.addr as Deno.NetAddr).port;
    try {
      await Deno.writeTextFile(path, "# empty at first\n");
      await using peer = startUdpeer(
        ["--bind", "::", "--port", "0", "--peers", path, "--interval", "0.05", "--json"],
      );
      await peer.waitForEvent((e) => e.event === "listening");
      // Written as a person might: upper case, zeros; the key is the canonical form.
      await Deno.writeTextFile(path, `[0:0:0:0:0:0:0:1]:${sixPort} six\n`);
      peer.kill("SIGHUP");
      const reload = await peer.waitForEvent((e) => e.event === "reload");
      assert.deepEqual(reload.added, [`[::1]:${sixPort}`]);
      const sent = await peer.waitForEvent((e) => e.event === "sent");
      assert.equal(sent.to, `[::1]:${sixPort}`);
      const [datagram, from] = await six.receive();
      assert.equal((from as Deno.NetAddr).hostname, "::1");
      const decoded = decodeHeartbeat(datagram);
      assert.ok(
        decoded.ok && decoded.heartbeat.ipv4 === "0.0.0.0",
        "a sender on IPv6 writes 0.0.0.0",
      );
    } finally {
      six.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
