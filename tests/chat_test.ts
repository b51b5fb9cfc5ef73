import assert from "node:assert/strict";
import {
  DEFAULT_RETRIES,
  DEFAULT_TIMEOUT_SECONDS,
  parseChatArgs,
  retryTimeouts,
} from "../src/chat/flags.ts";
import { UsageError } from "../src/common/errors.ts";
import {
  assertUsageError,
  commandWorks,
  freePort,
  repoDir,
  runFlags,
  runUdpeer,
  startUdpeer,
  type UdpeerProcess,
} from "./_helpers/testing.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One datagram a test server received. */
interface Received {
  text: string;
  from: Deno.NetAddr;
  at: number;
}

/** A UDP server on loopback whose answers the test decides. */
class TestUdpServer implements AsyncDisposable {
  readonly socket: Deno.DatagramConn;
  readonly received: Received[] = [];
  readonly port: number;
  #loop: Promise<void>;
  #timers = new Set<ReturnType<typeof setTimeout>>();

  constructor(
    onRequest: (request: Received, server: TestUdpServer) => void = () => {},
    hostname = "127.0.0.1",
    port = 0,
  ) {
    const socket = Deno.listenDatagram({ transport: "udp", hostname, port });
    this.socket = socket;
    this.port = (socket.addr as Deno.NetAddr).port;
    this.#loop = (async () => {
      while (true) {
        try {
          const [data, from] = await socket.receive();
          const request = {
            text: decoder.decode(data),
            from: from as Deno.NetAddr,
            at: performance.now(),
          };
          this.received.push(request);
          onRequest(request, this);
        } catch {
          return; // closed
        }
      }
    })();
  }

  /** Sends `text` to `to`, now or after `delayMs`. */
  reply(text: string, to: Deno.NetAddr, delayMs = 0): void {
    const send = () => this.socket.send(encoder.encode(text), to).catch(() => {});
    if (delayMs === 0) {
      void send();
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void send();
    }, delayMs);
    this.#timers.add(timer);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.socket.close();
    await this.#loop;
  }
}

/** An uppercasing UDP server, like the classic Python one. */
function upperServer(): TestUdpServer {
  return new TestUdpServer((request, server) =>
    server.reply(request.text.toUpperCase(), request.from)
  );
}

/** A TCP server on loopback that records what each connection sent. */
class TestTcpServer implements AsyncDisposable {
  readonly listener: Deno.Listener;
  readonly port: number;
  readonly received: string[] = [];
  readonly receivedAt: number[] = [];
  connections = 0;
  #conns = new Set<Deno.Conn>();
  #loop: Promise<void>;

  /**
   * @param onData Called with each chunk; returns what to write back, or undefined.
   * @param closeAfterReply Close the connection after the first reply (the classic
   *   Python TCP server does).
   */
  constructor(onData: (text: string) => string | undefined, closeAfterReply = false) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.listener = listener;
    this.port = (listener.addr as Deno.NetAddr).port;
    this.#loop = (async () => {
      const handlers: Promise<void>[] = [];
      for await (const conn of listener) {
        this.connections++;
        this.#conns.add(conn);
        handlers.push((async () => {
          const buffer = new Uint8Array(64 * 1024);
          try {
            while (true) {
              const count = await conn.read(buffer);
              if (count === null) break;
              const text = decoder.decode(buffer.subarray(0, count));
              this.received.push(text);
              this.receivedAt.push(performance.now());
              const reply = onData(text);
              if (reply !== undefined) {
                await conn.write(encoder.encode(reply));
                if (closeAfterReply) break;
              }
            }
          } catch { /* reset */ }
          this.#conns.delete(conn);
          try {
            conn.close();
          } catch { /* closed */ }
        })());
      }
      await Promise.all(handlers);
    })();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.listener.close();
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
    await this.#loop;
  }
}

function chat(port: number, args: string[] = []): UdpeerProcess {
  return startUdpeer(["chat", "--to", `127.0.0.1:${port}`, ...args], { stdin: true });
}

/** Starts `udpeer serve` on a free loopback port. */
async function startServe(args: string[]): Promise<{ server: UdpeerProcess; port: number }> {
  const server = startUdpeer(["serve", "--bind", "127.0.0.1", "--port", "0", "--json", ...args]);
  const listening = await server.waitForEvent((e) => e.event === "listening");
  return { server, port: listening.port as number };
}

Deno.test("parseChatArgs() fills in the defaults", () => {
  const options = parseChatArgs(["--to", "127.0.0.1:12000"]);
  assert.deepEqual(options, {
    help: false,
    version: false,
    json: false,
    tcp: false,
    to: { host: "127.0.0.1", port: 12000, family: "ipv4" },
    ipv6: false,
    timeoutSeconds: DEFAULT_TIMEOUT_SECONDS,
    retries: DEFAULT_RETRIES,
  });
  assert.equal(DEFAULT_TIMEOUT_SECONDS, 0.5);
  assert.equal(DEFAULT_RETRIES, 5);
});

Deno.test("parseChatArgs() reads every flag", () => {
  const options = parseChatArgs([
    "-t",
    "localhost:9",
    "--timeout",
    "0.25",
    "-r",
    "2",
    "--tcp",
    "--json",
  ]);
  assert.deepEqual(options.to, { host: "localhost", port: 9, family: "name" });
  assert.equal(options.timeoutSeconds, 0.25);
  assert.equal(options.retries, 2);
  assert.equal(options.tcp, true);
  assert.equal(options.json, true);
});

Deno.test("parseChatArgs() throws a UsageError naming the flag", () => {
  const cases: [string[], RegExp][] = [
    [[], /^Missing --to: /],
    [["--to", "127.0.0.1"], /^Cannot parse --to: "127\.0\.0\.1" has no port/],
    [["--to", "127.0.0.1:0"], /^Cannot parse --to: "0" is not a port in 1\.\.65535$/],
    [["--to", "h:1", "--timeout", "0"], /^Cannot parse --timeout: "0" is not a number/],
    [["--to", "h:1", "--timeout", "-1"], /^Cannot parse --timeout: "-1"/],
    [["--to", "h:1", "--timeout", "soon"], /^Cannot parse --timeout: "soon"/],
    [["--to", "h:1", "--retries", "0"], /^Cannot parse --retries: "0" is not a whole number ≥ 1$/],
    [["--to", "h:1", "--retries", "2.5"], /^Cannot parse --retries: "2\.5"/],
    [["--to", "h:1", "--mode", "echo"], /^Unknown flag "--mode"$/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseChatArgs(args), (error: unknown) => {
      assert.ok(error instanceof UsageError, args.join(" "));
      assert.match(error.message, message);
      return true;
    });
  }
  // --help and --version need no --to.
  assert.equal(parseChatArgs(["--help"]).help, true);
});

Deno.test("retryTimeouts() grows each timeout by half", () => {
  assert.deepEqual(retryTimeouts(0.5, 5), [0.5, 0.75, 1.125, 1.6875, 2.53125]);
  assert.deepEqual(retryTimeouts(2, 1), [2]);
  const total = retryTimeouts(0.5, 5).reduce((sum, t) => sum + t, 0);
  assert.equal(total, 6.59375);
});

Deno.test("chat prints each reply and exits 0 at end of input", async () => {
  await using server = upperServer();
  await using client = chat(server.port);
  await client.write("hello\nça va 😀\n\nlast line without newline");
  await client.closeStdin();
  const status = await client.exited();
  assert.equal(status.code, 0);
  assert.deepEqual(client.lines, ["HELLO", "ÇA VA 😀", "LAST LINE WITHOUT NEWLINE"]);
  assert.equal(client.stderr, "");
  assert.deepEqual(
    server.received.map((r) => r.text),
    ["hello", "ça va 😀", "last line without newline"],
    "no prompt, no newline in the datagram, the empty line skipped",
  );
});

Deno.test("chat stops at a line exit and sends nothing after it", async () => {
  await using server = upperServer();
  await using client = chat(server.port);
  await client.write("one\nexit\ntwo\n");
  const status = await client.exited();
  assert.equal(status.code, 0);
  assert.deepEqual(client.lines, ["ONE"]);
  assert.deepEqual(server.received.map((r) => r.text), ["one"]);
});

Deno.test("chat exits 1 in bounded time after --retries tries when nothing answers", async () => {
  await using silent = new TestUdpServer(); // receives, never answers
  await using client = chat(silent.port, ["--timeout", "0.1", "--retries", "3"]);
  await client.write("anyone?\nnever sent\n");
  const status = await client.exited(10_000);
  const exitedAt = performance.now();
  assert.equal(status.code, 1);
  assert.deepEqual(silent.received.map((r) => r.text), ["anyone?", "anyone?", "anyone?"]);
  const [first, second, third] = silent.received.map((r) => r.at) as [number, number, number];
  // Waits of 0.1 s, 0.15 s, 0.225 s: 0.475 s from the first try to the verdict.
  assert.ok(second - first >= 90 && second - first < 1_000, `first wait ${second - first} ms`);
  assert.ok(third - second >= 140 && third - second < 1_000, `second wait ${third - second} ms`);
  assert.ok(exitedAt - first >= 450 && exitedAt - first < 3_000, `${exitedAt - first} ms`);
  assert.equal(client.lines.length, 0);
  assert.match(
    client.stderr,
    new RegExp(
      `^udpeer: The server at 127\\.0\\.0\\.1:${silent.port} does not answer \\(no reply to 3 tries over UDP in 0\\.\\d+ s\\)\\n$`,
    ),
  );
});

Deno.test("chat ignores a reply from a stranger's address", async () => {
  await using stranger = new TestUdpServer();
  // Another address with the server's own port number, where the system allows it.
  let samePort: TestUdpServer | undefined;
  await using server = new TestUdpServer((request, self) => {
    // The strangers answer first; the datagrams arrive in the order they are sent.
    stranger.reply("FROM A STRANGER", request.from);
    samePort?.reply("FROM 127.0.0.2", request.from);
    self.reply(request.text.toUpperCase(), request.from, 20);
  });
  try {
    samePort = new TestUdpServer(() => {}, "127.0.0.2", server.port);
  } catch { /* 127.0.0.2 is not local here: the stranger on another port still counts */ }
  try {
    await using client = chat(server.port);
    await client.write("hello\n");
    await client.waitUntil(() => client.lines.length >= 1);
    await client.write("again\n");
    await client.closeStdin();
    assert.equal((await client.exited()).code, 0);
    assert.deepEqual(client.lines, ["HELLO", "AGAIN"]);
    assert.match(
      client.stderr,
      new RegExp(`Ignored a datagram from 127\\.0\\.0\\.1:${stranger.port}`),
    );
    assert.equal(server.received.length, 2, "the strangers' datagrams did not count as replies");
  } finally {
    await samePort?.[Symbol.asyncDispose]();
  }
});

Deno.test("chat resends after a timeout and takes the next reply for the current line", async () => {
  let seen = 0;
  await using server = new TestUdpServer((request, self) => {
    if (++seen === 1) return; // the first datagram is "lost"
    self.reply(request.text.toUpperCase(), request.from);
  });
  await using client = chat(server.port, ["--timeout", "0.2", "--json"]);
  await client.write("once more\n");
  await client.closeStdin();
  assert.equal((await client.exited()).code, 0);
  const reply = client.events.find((e) => e.event === "reply");
  assert.equal(reply?.reply, "ONCE MORE");
  assert.equal(reply?.tries, 2);
  assert.deepEqual(server.received.map((r) => r.text), ["once more", "once more"]);
  const summary = client.events.find((e) => e.event === "summary");
  assert.deepEqual(summary, {
    event: "summary",
    lines: 1,
    replies: 1,
    resent: 1,
    ignored: 0,
  });
});

Deno.test("chat drops a reply that arrives before the next line is sent", async () => {
  await using server = new TestUdpServer((request, self) => {
    // Two replies to the first line: the second is stale by the time "second" is sent.
    self.reply(request.text.toUpperCase(), request.from);
    if (request.text === "first") self.reply("STALE", request.from, 50);
  });
  await using client = chat(server.port);
  await client.write("first\n");
  await client.waitUntil(() => client.lines.length >= 1);
  await sleep(200); // the stale reply is waiting in the socket now
  await client.write("second\n");
  await client.closeStdin();
  assert.equal((await client.exited()).code, 0);
  assert.deepEqual(client.lines, ["FIRST", "SECOND"]);
});

Deno.test("chat does not print a late reply to a resent line as the next line's answer", async () => {
  const seen = new Map<string, number>();
  await using server = new TestUdpServer((request, self) => {
    const count = (seen.get(request.text) ?? 0) + 1;
    seen.set(request.text, count);
    const reply = request.text.toUpperCase();
    if (request.text === "a") {
      // The first try is answered late (after the resend was answered and "b" was sent).
      self.reply(reply, request.from, count === 1 ? 700 : 0);
    } else {
      self.reply(reply, request.from, count === 1 ? 400 : 0);
    }
  });
  // a: try 1 at 0 ms, try 2 at 500 ms answered at once; b sent at ~500 ms; the late "A"
  // arrives at ~700 ms, while b waits; "B" arrives at ~900 ms.
  await using client = chat(server.port, ["--timeout", "0.5"]);
  await client.write("a\nb\n");
  await client.closeStdin();
  assert.equal((await client.exited()).code, 0);
  assert.deepEqual(client.lines, ["A", "B"]);
});

Deno.test("chat prints a reply as received when stdout is piped, control characters included", async () => {
  await using server = new TestUdpServer((request, self) =>
    self.reply("\x1b[2Jcleared\u009b", request.from)
  );
  await using client = chat(server.port);
  await client.write("x\n");
  await client.closeStdin();
  assert.equal((await client.exited()).code, 0);
  assert.deepEqual(client.lines, ["\x1b[2Jcleared\u009b"]);
});

Deno.test("chat sends a line with spaces around exit as text", async () => {
  await using server = upperServer();
  await using client = chat(server.port);
  await client.write(" exit \nexit \nhello\nexit\nnever\n");
  assert.equal((await client.exited()).code, 0);
  assert.deepEqual(server.received.map((r) => r.text), [" exit ", "exit ", "hello"]);
  assert.deepEqual(client.lines, [" EXIT ", "EXIT ", "HELLO"]);
});

Deno.test("chat --json prints one reply event per line", async () => {
  await using server = upperServer();
  await using client = chat(server.port, ["--json"]);
  await client.write("hi\n");
  await client.closeStdin();
  assert.equal((await client.exited()).code, 0);
  const reply = client.events.find((e) => e.event === "reply")!;
  assert.equal(reply.text, "hi");
  assert.equal(reply.reply, "HI");
  assert.equal(reply.from, "127.0.0.1");
  assert.equal(reply.fromPort, server.port);
  assert.equal(reply.tries, 1);
  assert.equal(typeof reply.rttMs, "number");
});

Deno.test("chat exits 2 naming the flag for a bad flag or value", async () => {
  const cases: [string[], string][] = [
    [["chat"], "--to"],
    [["chat", "--to", "127.0.0.1:1", "--retries", "0"], "--retries"],
    [["chat", "--to", "127.0.0.1:1", "--timeout", "-0.5"], "--timeout"],
    [["chat", "--to", "nowhere"], "--to"],
    [["chat", "--to", "127.0.0.1:1", "--bogus"], "--bogus"],
  ];
  await Promise.all(cases.map(([args, flag]) => assertUsageError(args, flag)));
});

Deno.test("chat --tcp sends each line once and prints the replies", async () => {
  await using server = new TestTcpServer((text) => text.toUpperCase());
  await using client = chat(server.port, ["--tcp"]);
  await client.write("hello\n");
  await client.waitUntil(() => client.lines.length >= 1);
  await client.write("ça va 😀\n");
  await client.closeStdin();
  assert.equal((await client.exited()).code, 0);
  assert.deepEqual(client.lines, ["HELLO", "ÇA VA 😀"]);
  assert.equal(server.received.join(""), "hello\nça va 😀\n");
  assert.equal(server.connections, 1);
});

Deno.test("chat --tcp waits the sum of the timeouts, sends once, then exits 1", async () => {
  await using server = new TestTcpServer(() => undefined); // reads, never answers
  await using client = chat(server.port, ["--tcp", "--timeout", "0.1", "--retries", "3"]);
  await client.write("anyone?\n");
  const status = await client.exited(10_000);
  const waited = performance.now() - server.receivedAt[0]!;
  assert.equal(status.code, 1);
  assert.equal(server.received.join(""), "anyone?\n", "sent once");
  assert.ok(waited >= 400 && waited < 3_000, `waited ${waited.toFixed(0)} ms, 475 expected`);
  assert.match(
    client.stderr,
    /^udpeer: The server at 127\.0\.0\.1:\d+ does not answer \(no reply line over TCP in 0\.\d+ s\)\n$/,
  );
});

Deno.test("chat --tcp exits 1 with one line when the connection is refused", async () => {
  const port = freePort("tcp");
  const started = performance.now();
  const { code, stdout, stderr } = await runUdpeer(["chat", "--to", `127.0.0.1:${port}`, "--tcp"]);
  assert.equal(code, 1);
  assert.equal(stdout, "");
  assert.equal(
    stderr,
    `udpeer: The server at 127.0.0.1:${port} does not answer (TCP connection refused)\n`,
  );
  assert.ok(performance.now() - started < 5_000);
});

Deno.test("chat --tcp reconnects to a server that closes after each reply", async () => {
  // The classic Python TCP server: accept, recv, send the reply, close.
  await using server = new TestTcpServer((text) => text.toUpperCase(), true);
  await using client = chat(server.port, ["--tcp"]);
  await client.write("one\ntwo\nthree\n");
  await client.closeStdin();
  assert.equal((await client.exited()).code, 0, client.stderr);
  assert.deepEqual(client.lines, ["ONE", "TWO", "THREE"]);
  assert.equal(server.connections, 3);
});

for (const transport of ["udp", "tcp"] as const) {
  Deno.test(`two chat clients at once each get their own replies from serve (${transport})`, async () => {
    const extra = transport === "tcp" ? ["--tcp"] : [];
    const { server, port } = await startServe(["--mode", "reverse-swapcase", ...extra]);
    await using _server = server;
    await using alice = chat(port, extra);
    await using bob = chat(port, extra);
    for (let round = 0; round < 3; round++) {
      await Promise.all([alice.write(`Alice ${round}\n`), bob.write(`Bob ${round} 😀\n`)]);
      await alice.waitUntil(() => alice.lines.length > round);
      await bob.waitUntil(() => bob.lines.length > round);
    }
    await Promise.all([alice.closeStdin(), bob.closeStdin()]);
    assert.equal((await alice.exited()).code, 0);
    assert.equal((await bob.exited()).code, 0);
    assert.deepEqual(alice.lines, ["0 ECILa", "1 ECILa", "2 ECILa"]);
    assert.deepEqual(bob.lines, ["😀 0 BOb", "😀 1 BOb", "😀 2 BOb"]);
    server.kill("SIGINT");
    assert.equal((await server.exited()).code, 0);
    const summary = server.events.find((e) => e.event === "summary");
    assert.equal(summary?.requests, 6);
    assert.equal(summary?.clients, 2);
  });
}

const python = await commandWorks("python3");
if (!python) console.log("skipped: chat_test.ts: the Python servers: python3 is not installed");

Deno.test({
  name: "chat talks to the classic Python UDP and TCP servers",
  ignore: !python,
  fn: async () => {
    const udpPort = freePort("udp");
    const tcpPort = freePort("tcp");
    const script = `
import socket, threading
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", ${udpPort}))
    while True:
        message, address = s.recvfrom(2048)
        s.sendto(message.decode().upper().encode(), address)
def tcp():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", ${tcpPort}))
    s.listen(1)
    while True:
        c, address = s.accept()
        sentence = c.recv(1024).decode()
        c.send(sentence.upper().encode())
        c.close()
threading.Thread(target=udp, daemon=True).start()
threading.Thread(target=tcp, daemon=True).start()
print("ready", flush=True)
threading.Event().wait(30)
`;
    const child = new Deno.Command("python3", {
      args: ["-c", script],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    try {
      const reader = child.stdout.getReader();
      const { value } = await reader.read();
      assert.equal(decoder.decode(value).trim(), "ready");
      reader.releaseLock();
      for (const extra of [[], ["--tcp"]]) {
        const port = extra.length === 0 ? udpPort : tcpPort;
        await using client = chat(port, extra);
        await client.write("hello python\nsecond ✓\n");
        await client.closeStdin();
        assert.equal((await client.exited()).code, 0, client.stderr);
        assert.deepEqual(client.lines, ["HELLO PYTHON", "SECOND ✓"], extra.join(""));
      }
    } finally {
      child.kill("SIGKILL");
      await child.status;
      await child.stdout.cancel().catch(() => {});
    }
  },
});

const tmux = await commandWorks("tmux", ["-V"]);
if (!tmux) console.log("skipped: chat_test.ts: chat on a terminal: tmux is not installed");

/** Runs a tmux command on the test's own server socket and returns its stdout. */
async function tmuxRun(socket: string, args: string[]): Promise<string> {
  const output = await new Deno.Command("tmux", {
    args: ["-L", socket, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`tmux ${args.join(" ")}: ${decoder.decode(output.stderr)}`);
  }
  return decoder.decode(output.stdout);
}

Deno.test({
  name:
    "chat on a terminal says the server does not answer, gives the prompt back, and escapes replies",
  ignore: !tmux,
  fn: async () => {
    // "silent" gets no answer; anything else gets a reply with an escape sequence in it.
    await using server = new TestUdpServer((request, self) => {
      if (request.text !== "silent") self.reply(`${request.text}:\x1b[31mred`, request.from);
    });
    const socket = `udpeer-chat-test-${Deno.pid}`;
    const quoted = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;
    const command = [
      Deno.execPath(),
      ...runFlags,
      `${repoDir}main.ts`,
      "chat",
      "--to",
      `127.0.0.1:${server.port}`,
      "--timeout",
      "0.1",
      "--retries",
      "2",
    ].map(quoted).join(" ");
    const pane = () => tmuxRun(socket, ["capture-pane", "-p", "-t", "chat"]);
    const waitFor = async (what: (text: string) => boolean, label: string): Promise<string> => {
      for (let i = 0; i < 100; i++) {
        const text = await pane();
        if (what(text)) return text;
        await sleep(100);
      }
      throw new Error(`Timed out waiting for ${label}:\n${await pane()}`);
    };
    const type = async (text: string) => {
      await tmuxRun(socket, ["send-keys", "-t", "chat", "-l", text]);
      await tmuxRun(socket, ["send-keys", "-t", "chat", "Enter"]);
    };
    const lastLine = (text: string) => text.trimEnd().split("\n").at(-1);
    let socketPath = "";
    try {
      await tmuxRun(socket, [
        "new-session",
        "-d",
        "-s",
        "chat",
        "-x",
        "200",
        "-y",
        "40",
        `NO_COLOR=1 ${command}; echo "EXIT=$?"; sleep 30`,
      ]);
      socketPath = (await tmuxRun(socket, ["display-message", "-p", "#{socket_path}"])).trim();
      await waitFor((text) => lastLine(text) === ">", "the first prompt");
      await type("silent");
      const silent = await waitFor(
        (text) => text.includes("does not answer") && lastLine(text) === ">",
        "the no-answer line and the prompt again",
      );
      assert.match(silent, /udpeer: The server at 127\.0\.0\.1:\d+ does not answer \(no reply/);
      assert.ok(!silent.includes("EXIT="), silent);
      await type("after");
      const escaped = await waitFor((text) => text.includes("after:"), "the next reply");
      assert.ok(escaped.includes("after:\\x1b[31mred"), escaped);
      await type("exit");
      await waitFor((text) => text.includes("EXIT="), "the end of the session");
      assert.match(await pane(), /EXIT=0/);
    } finally {
      await tmuxRun(socket, ["kill-server"]).catch(() => {});
      // kill-server leaves the socket file behind.
      if (socketPath !== "") await Deno.remove(socketPath).catch(() => {});
    }
  },
});
