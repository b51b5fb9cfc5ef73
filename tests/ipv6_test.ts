import assert from "node:assert/strict";
import { ipv6Unavailable } from "./_helpers/ipv6.ts";
import { connect, Netns, netnsUnavailable } from "./_helpers/netns.ts";
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
