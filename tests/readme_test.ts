/**
 * The README as a contract, checked against the real program.
 *
 * **JSON events.** Every `--json` event shown in README.md, in the peer's pages of docs/ and
 * in docs/serve-and-chat.md (`json` blocks, `{"event":…}` lines of plain blocks, and inline
 * code in the prose) must have exactly the keys, nested ones too, of the events of that type
 * that real runs emit: the runs below start main.ts on loopback (and, for a failing send, in a
 * network namespace) and keep every event.
 * Arrays are compared element by element against the example's first element. A key whose
 * value the page elides as `{…}` must exist; its inside is not compared. The comparison is
 * exact except for {@linkcode OPTIONAL}, the keys a real event carries only in some runs.
 *
 * **Commands.** Every command of the README's `sh` blocks, and every `$ ` line of its other
 * blocks, is a test of its own: it runs as the README says (a peer starts, prints its first
 * line, and exits 0 with its statistics at Ctrl-C; a usage error exits 2 with the lines the
 * README shows). Commands on fixed ports (5005, 12000, 15005) run in a network namespace of
 * their own, so nothing on this machine can collide with them. A command this file does not
 * know fails, so a new one in the README cannot go unchecked; one that cannot run here is
 * ignored with the reason.
 *
 * @module
 */

import assert from "node:assert/strict";
import { encodeHeartbeat } from "../protocol.ts";
import { PERMISSIONS } from "../scripts/permissions.ts";
import { Netns, netnsUnavailable } from "./_helpers/netns.ts";
import {
  commandWorks,
  freePort,
  type JsonEvent,
  repoDir,
  runUdpeer,
  startUdpeer,
  type UdpeerProcess,
} from "./_helpers/testing.ts";

const noNetns = await netnsUnavailable();

// ---- the pages --------------------------------------------------------------------------------

/** A fenced block of a Markdown page. */
interface Block {
  /** The info string's first word (`json`, `sh`, or ""). */
  lang: string;
  /** Line number of its first content line, from 1. */
  line: number;
  body: string;
}

function blocksOf(text: string): Block[] {
  const blocks: Block[] = [];
  for (const match of text.matchAll(/^ *```(\w*)[^\n]*\n([\s\S]*?)^ *```/gm)) {
    const line = text.slice(0, match.index).split("\n").length + 1;
    blocks.push({ lang: match[1]!, line, body: match[2]! });
  }
  return blocks;
}

/** Pages whose JSON examples are the peer's events (serve and chat have their own). */
const PEER_PAGES = ["README.md", "docs/link-health.md", "docs/many-hosts.md"];

/** An event shown on a page. */
interface Example {
  where: string;
  event: JsonEvent;
  program: Program;
}

/** The `{"event":…}` examples of a page: lines of `json` blocks, and inline code. */
function examplesOf(page: string, text: string, programAt: (line: number) => Program): Example[] {
  const found: Example[] = [];
  const add = (line: number, event: JsonEvent) =>
    found.push({ where: `${page}:${line}`, event, program: programAt(line) });
  for (const block of blocksOf(text)) {
    if (block.lang === "") {
      // A plain block may show events too, one per line.
      block.body.split("\n").forEach((line, i) => {
        if (line.startsWith('{"event"')) {
          add(block.line + i, JSON.parse(line));
        }
      });
    }
    if (block.lang !== "json") continue;
    const lines = block.body.split("\n").filter((line) => line.trim() !== "");
    const parsed = lines.map((line) => {
      try {
        return JSON.parse(line) as JsonEvent;
      } catch {
        return undefined;
      }
    });
    if (parsed.every((event) => event !== undefined)) {
      parsed.forEach((event, i) => add(block.line + i, event!));
    } else {
      // One event over several lines, with `{…}` for an object shown elsewhere: the key
      // must exist, its inside is not compared.
      const event = JSON.parse(block.body.replaceAll("{…}", "null")) as JsonEvent;
      add(block.line, event);
    }
  }
  const prose = text.replace(/^ *```[\s\S]*?^ *```/gm, "");
  for (const match of prose.matchAll(/`(\{"event":[^`]*\})`/g)) {
    add(text.slice(0, text.indexOf(match[1]!)).split("\n").length, JSON.parse(match[1]!));
  }
  return found;
}

// ---- comparing shapes --------------------------------------------------------------------------

/**
 * Keys a real event has only in some runs, by path (`EVENT.key[]` for an array's elements). An
 * example may leave them out, or show them where a real run has none; every other key must be
 * on both sides.
 */
export const OPTIONAL: Record<string, readonly string[]> = {
  // Only with --metrics.
  "listening": ["metrics"],
  // Only for a target named in a peers file.
  "listening.targets[]": ["peer"],
  "message": ["reordered", "peer"], // `reordered` only when it is (docs/link-health.md)
  "silent": ["peer"],
  "back": ["peer"],
  "summary.targets[]": ["peer"],
  "summary.sources[].streams[]": ["peer"],
};

/**
 * The kind of an event, to pick the real events an example is compared with. An `error` has
 * `to` when a send failed and `peers` when a peers file could not be read again: each example
 * is compared with real errors of its own kind.
 */
function kindOf(event: JsonEvent, program: Program = "peer"): string {
  if (program !== "peer") {
    // serve's error about a request names its client; chat's errors have only a message.
    const about = event.event === "error" && "from" in event ? " (a request)" : "";
    return `${program} ${event.event}${about}`;
  }
  if (event.event === "error") return "to" in event ? "error (a send)" : "error (a peers file)";
  return String(event.event);
}

/** Which program's events a page shows. */
type Program = "peer" | "serve" | "chat";

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The differences between the keys of `example` and `real`, recursively.
 *
 * @param compared Collects every array path whose elements were compared.
 */
function shapeDiff(example: unknown, real: unknown, path: string, compared: Set<string>): string[] {
  if (isObject(example) && isObject(real)) {
    const optional = OPTIONAL[path] ?? [];
    const diffs: string[] = [];
    for (const key of Object.keys(real)) {
      if (!(key in example) && !optional.includes(key)) {
        diffs.push(`${path}.${key}: not in the example`);
      }
    }
    for (const key of Object.keys(example)) {
      if (!(key in real)) {
        if (!optional.includes(key)) diffs.push(`${path}.${key}: the real event has none`);
        continue;
      }
      diffs.push(...shapeDiff(example[key], real[key], `${path}.${key}`, compared));
    }
    return diffs;
  }
  if (Array.isArray(example) && Array.isArray(real)) {
    if (example.length === 0 || real.length === 0) return [];
    compared.add(path);
    return real.flatMap((element) => shapeDiff(example[0], element, `${path}[]`, compared));
  }
  // A value elided as {…}, a null where the program may give an object, or a scalar.
  return [];
}

/** Paths of the non-empty arrays of an example (those that must have been compared). */
function arrayPaths(value: unknown, path: string, out: string[] = []): string[] {
  if (Array.isArray(value)) {
    if (value.length > 0 && (isObject(value[0]) || Array.isArray(value[0]))) {
      out.push(path);
      arrayPaths(value[0], `${path}[]`, out);
    }
  } else if (isObject(value)) {
    for (const [key, inner] of Object.entries(value)) arrayPaths(inner, `${path}.${key}`, out);
  }
  return out;
}

/** Compares every example with every real event of its kind; returns the differences. */
function checkExamples(examples: Example[], real: Map<string, JsonEvent[]>): string[] {
  const problems: string[] = [];
  for (const { where, event, program } of examples) {
    const kind = kindOf(event, program);
    const runs = real.get(kind) ?? [];
    if (runs.length === 0) {
      problems.push(`${where}: no run of this test emits a "${kind}" event to compare with`);
      continue;
    }
    const compared = new Set<string>();
    const diffs = new Set<string>();
    for (const run of runs) {
      for (const diff of shapeDiff(event, run, String(event.event), compared)) diffs.add(diff);
    }
    for (const diff of diffs) problems.push(`${where}: ${diff}`);
    for (const path of arrayPaths(event, String(event.event))) {
      if (!compared.has(path)) problems.push(`${where}: no real "${kind}" had elements in ${path}`);
    }
  }
  return problems;
}

// ---- real runs -----------------------------------------------------------------------------------

/** Adds a process's events to `real`, by kind. */
function keep(
  real: Map<string, JsonEvent[]>,
  events: JsonEvent[],
  program: Program = "peer",
): void {
  for (const event of events) {
    const kind = kindOf(event, program);
    real.set(kind, [...real.get(kind) ?? [], event]);
  }
}

async function stop(peer: UdpeerProcess): Promise<void> {
  peer.kill("SIGINT");
  const status = await peer.exited(20_000);
  assert.equal(status.code, 0, `exit ${status.code} after SIGINT: ${peer.stderr}`);
}

/** Two peers answering each other: listening, sent, message, summary (targets and sources). */
async function twoPeers(real: Map<string, JsonEvent[]>): Promise<void> {
  const [portA, portB] = [freePort(), freePort()];
  await using b = startUdpeer(
    ["--port", `${portB}`, "--to", `127.0.0.1:${portA}`, "--interval", "0.1", "--json"],
  );
  await b.waitForEvent((e) => e.event === "listening", 20_000);
  // B answers all along, so A's --count run ends with an answer from its target: exit 0.
  const a = await runUdpeer(
    [
      "--port",
      `${portA}`,
      "--to",
      `127.0.0.1:${portB}`,
      "--interval",
      "0.1",
      "--count",
      "3",
      "--json",
    ],
    30_000,
  );
  assert.equal(a.code, 0, a.stderr);
  await stop(b);
  keep(real, a.stdout.split("\n").map((line) => JSON.parse(line)));
  keep(real, b.events);
}

/** A listener fed by hand: invalid (short, checksum), then a stream that goes silent and comes back. */
async function health(real: Map<string, JsonEvent[]>): Promise<void> {
  await using peer = startUdpeer(["peer", "--port", "0", "--bind", "127.0.0.1", "--json"]);
  const port = (await peer.waitForEvent((e) => e.event === "listening", 20_000)).port as number;
  using socket = Object.assign(
    Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 }),
    { [Symbol.dispose]() {} },
  );
  const to = { transport: "udp" as const, hostname: "127.0.0.1", port };
  const own = (socket.addr as Deno.NetAddr).port;
  const heartbeat = (timestamp: number) =>
    encodeHeartbeat({ timestamp, ipv4: "127.0.0.1", port: own, text: "x" });
  try {
    await socket.send(new Uint8Array(17), to);
    const broken = heartbeat(Date.now());
    broken[0]! ^= 1;
    await socket.send(broken, to);
    // Five heartbeats 100 ms apart by their timestamps, sent at once: the interval is known.
    const base = Date.now();
    for (let k = 0; k < 5; k++) await socket.send(heartbeat(base + k * 100), to);
    await peer.waitForEvent((e) => e.event === "silent", 20_000);
    await socket.send(heartbeat(base + 20 * 100), to);
    await peer.waitForEvent((e) => e.event === "back", 20_000);
  } finally {
    socket.close();
  }
  await stop(peer);
  keep(real, peer.events);
}

/** A --start-at an hour ahead: waiting. */
async function waiting(real: Map<string, JsonEvent[]>): Promise<void> {
  const startAt = new Date(Date.now() + 3_600_000).toISOString();
  await using peer = startUdpeer(
    ["--port", "0", "--to", "127.0.0.1:9", "--start-at", startAt, "--json"],
  );
  await peer.waitForEvent((e) => e.event === "waiting", 20_000);
  await stop(peer);
  keep(real, peer.events);
}

/** A peers file changed, then broken, each followed by SIGHUP: reload, and an error. */
async function reload(real: Map<string, JsonEvent[]>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "udpeer-readme-" });
  try {
    const file = `${dir}/hosts.txt`;
    const kept = `127.0.0.1:${freePort()}`;
    await Deno.writeTextFile(file, `127.0.0.1:${freePort()} a\n${kept} web-1\n`);
    await using peer = startUdpeer(
      ["--port", "0", "--bind", "127.0.0.1", "--peers", file, "--interval", "0.2", "--json"],
    );
    await peer.waitForEvent((e) => e.event === "listening", 20_000);
    // One added, one removed, one renamed.
    await Deno.writeTextFile(file, `127.0.0.1:${freePort()} b\n${kept} web-one\n`);
    peer.kill("SIGHUP");
    await peer.waitForEvent((e) => e.event === "reload", 20_000);
    await Deno.writeTextFile(file, "192.0.2.40\n");
    peer.kill("SIGHUP");
    await peer.waitForEvent((e) => e.event === "error" && "peers" in e, 20_000);
    await stop(peer);
    keep(real, peer.events);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * A peer stopped for 1.5 s (SIGSTOP, as a suspended laptop is): `paused`; and a heartbeat
 * stamped in 1970 from a stream of its own: `outlier`.
 */
async function pausedAndOutlier(real: Map<string, JsonEvent[]>): Promise<void> {
  await using peer = startUdpeer(["--port", "0", "--bind", "127.0.0.1", "--json"]);
  const port = (await peer.waitForEvent((e) => e.event === "listening", 20_000)).port as number;
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const heartbeat = encodeHeartbeat({ timestamp: 1000, ipv4: "127.0.0.1", port: 1, text: "" });
    await socket.send(heartbeat, { transport: "udp", hostname: "127.0.0.1", port });
  } finally {
    socket.close();
  }
  await peer.waitForEvent((e) => e.event === "outlier", 20_000);
  peer.kill("SIGSTOP");
  await new Promise((resolve) => setTimeout(resolve, 1500));
  peer.kill("SIGCONT");
  await peer.waitForEvent((e) => e.event === "paused", 20_000);
  await stop(peer);
  keep(real, peer.events);
}

/** In a namespace with only `lo`, a target with no route: a send error. */
async function sendError(real: Map<string, JsonEvent[]>): Promise<void> {
  await using netns = await Netns.create("readme-error");
  await using peer = startUdpeer(
    ["--port", "5005", "--to", "10.255.255.1:5005", "--interval", "0.05", "--json"],
    { prefix: netns.exec },
  );
  await peer.waitForEvent((e) => e.event === "error" && "to" in e, 20_000);
  await stop(peer);
  keep(real, peer.events);
}

const pageExamples = await Promise.all(
  PEER_PAGES.map(async (page) =>
    examplesOf(page, await Deno.readTextFile(`${repoDir}${page}`), () => "peer")
  ),
);
const examples = pageExamples.flat();
const needsNamespace = (example: Example) => kindOf(example.event) === "error (a send)";

/** serve and chat's page: its events before the `## chat` heading are serve's. */
const serveAndChat = await Deno.readTextFile(`${repoDir}docs/serve-and-chat.md`);
const chatHeading = serveAndChat.slice(0, serveAndChat.indexOf("\n## chat\n")).split("\n").length;
const serveAndChatExamples = examplesOf(
  "docs/serve-and-chat.md",
  serveAndChat,
  (line) => line > chatHeading ? "chat" : "serve",
);

Deno.test("the pages show JSON examples of the peer to check", () => {
  const kinds = new Set(examples.map((example) => kindOf(example.event)));
  for (
    const kind of [
      "listening",
      "waiting",
      "sent",
      "message",
      "invalid",
      "error (a send)",
      "error (a peers file)",
      "summary",
      "silent",
      "back",
      "reload",
      "paused",
      "outlier",
    ]
  ) {
    assert.ok(kinds.has(kind), `no "${kind}" example found in ${PEER_PAGES.join(", ")}`);
  }
});

Deno.test("every JSON event the README and docs show has exactly the keys of a real run's", async () => {
  const real = new Map<string, JsonEvent[]>();
  await Promise.all([
    twoPeers(real),
    health(real),
    waiting(real),
    reload(real),
    pausedAndOutlier(real),
  ]);
  const problems = checkExamples(examples.filter((example) => !needsNamespace(example)), real);
  assert.deepEqual(problems, [], `the pages and the program disagree:\n${problems.join("\n")}`);
});

Deno.test({
  name:
    "the JSON error of a failed send, as the README shows it, has exactly the keys of a real one",
  ignore: noNetns !== undefined,
  async fn() {
    const real = new Map<string, JsonEvent[]>();
    await sendError(real);
    const shown = examples.filter(needsNamespace);
    assert.ok(shown.length > 0, "the README shows a send error");
    const problems = checkExamples(shown, real);
    assert.deepEqual(problems, [], `the pages and the program disagree:\n${problems.join("\n")}`);
  },
});
if (noNetns !== undefined) {
  console.log(`skipped: readme_test.ts: a send error needs a namespace with no route: ${noNetns}`);
}

// ---- serve and chat -------------------------------------------------------------------------

const encoder = new TextEncoder();

/** Reads from a TCP connection until a newline or the end; "" at the end. */
async function readLine(conn: Deno.Conn): Promise<string> {
  const buffer = new Uint8Array(65_536);
  let text = "";
  const deadline = AbortSignal.timeout(20_000);
  while (!text.includes("\n") && !deadline.aborted) {
    const n = await conn.read(buffer);
    if (n === null) break;
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  return text;
}

/** serve over TCP: listening, connected, request, capped, idle-closed, closed, summary. */
async function serveTcp(real: Map<string, JsonEvent[]>): Promise<void> {
  await using server = startUdpeer([
    "serve",
    "--tcp",
    "--port=0",
    "--bind=127.0.0.1",
    "--max-connections=1",
    "--idle-timeout=1",
    "--json",
  ]);
  const port = (await server.waitForEvent((e) => e.event === "listening", 20_000)).port as number;
  const first = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await first.write(encoder.encode("Hello, TCP\n"));
    assert.equal(await readLine(first), "HELLO, TCP\n");
    // One connection at most: a second is closed at once.
    using second = await Deno.connect({ hostname: "127.0.0.1", port });
    await server.waitForEvent((e) => e.event === "capped", 20_000);
    assert.equal(await readLine(second), "");
    // The first, idle for the timeout, is closed by the server.
    await server.waitForEvent((e) => e.event === "idle-closed", 20_000);
  } finally {
    first.close();
  }
  const third = await Deno.connect({ hostname: "127.0.0.1", port });
  await third.write(encoder.encode("bye\n"));
  assert.equal(await readLine(third), "BYE\n");
  third.close();
  await server.waitForEvent((e) => e.event === "closed", 20_000);
  await stop(server);
  keep(real, server.events, "serve");
}

/**
 * serve over UDP: a reply too large for a datagram (error), a flood (rate-limited), an empty
 * datagram (empty), and a second source past the total budget (over-budget).
 */
async function serveUdp(real: Map<string, JsonEvent[]>): Promise<void> {
  await using server = startUdpeer(
    ["serve", "--port=0", "--bind=127.0.0.1", "--rate=1", "--rate-total=2", "--json"],
  );
  const port = (await server.waitForEvent((e) => e.event === "listening", 20_000)).port as number;
  const client = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const to = { transport: "udp" as const, hostname: "127.0.0.1", port };
    // 64,000 bytes whose upper case is 96,000: no datagram holds the reply.
    await client.send(encoder.encode("\u0149".repeat(32_000)), to);
    await server.waitForEvent((e) => e.event === "error", 20_000);
    for (let i = 0; i < 5; i++) await client.send(encoder.encode("flood"), to);
    await server.waitForEvent((e) => e.event === "rate-limited", 20_000);
    await client.send(new Uint8Array(0), to);
    await server.waitForEvent((e) => e.event === "empty", 20_000);
    // Other sources, each within its own --rate, but together past --rate-total.
    for (const address of ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]) {
      const other = Deno.listenDatagram({ transport: "udp", hostname: address, port: 0 });
      try {
        await other.send(encoder.encode("hi"), to);
      } finally {
        other.close();
      }
    }
    await server.waitForEvent((e) => e.event === "over-budget", 20_000);
  } finally {
    client.close();
  }
  await stop(server);
  keep(real, server.events, "serve");
}

/** chat over TCP with a server: connected, reply, summary. */
async function chatTcp(real: Map<string, JsonEvent[]>): Promise<void> {
  await using server = startUdpeer(["serve", "--tcp", "--port=0", "--bind=127.0.0.1"]);
  await server.waitUntil(() => server.lines.length > 0, 20_000, "the server's first line");
  const port = Number(server.lines[0]!.match(/:(\d+)/)?.[1]);
  await using chat = startUdpeer(["chat", "--tcp", "--to", `127.0.0.1:${port}`, "--json"], {
    stdin: true,
  });
  await chat.write("Hello, TCP\n");
  await chat.waitForEvent((e) => e.event === "reply", 20_000);
  await chat.closeStdin();
  assert.equal((await chat.exited(20_000)).code, 0, chat.stderr);
  keep(real, chat.events, "chat");
}

/**
 * chat over UDP with a server of the test's own that answers from a stranger's socket
 * first (ignored), then not at all for the next line (retry, no-answer).
 */
async function chatUdp(real: Map<string, JsonEvent[]>): Promise<void> {
  const server = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const stranger = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const port = (server.addr as Deno.NetAddr).port;
    await using chat = startUdpeer(
      ["chat", "--to", `127.0.0.1:${port}`, "--timeout", "0.3", "--retries", "2", "--json"],
      { stdin: true },
    );
    await chat.write("hello\n");
    const [request, from] = await server.receive();
    await stranger.send(encoder.encode("not you!"), from);
    await chat.waitForEvent((e) => e.event === "ignored", 20_000);
    await server.send(
      new TextEncoder().encode(new TextDecoder().decode(request).toUpperCase()),
      from,
    );
    await chat.waitForEvent((e) => e.event === "reply", 20_000);
    await chat.write("anyone?\n");
    await chat.waitForEvent((e) => e.event === "no-answer", 20_000);
    await chat.closeStdin();
    await chat.exited(20_000);
    keep(real, chat.events, "chat");
  } finally {
    server.close();
    stranger.close();
  }
}

Deno.test("every JSON event docs/serve-and-chat.md shows has exactly the keys of a real run's", async () => {
  const kinds = new Set(serveAndChatExamples.map((e) => kindOf(e.event, e.program)));
  for (
    const kind of [
      "serve listening",
      "serve request",
      "serve summary",
      "chat reply",
      "chat summary",
    ]
  ) {
    assert.ok(kinds.has(kind), `no "${kind}" example found in docs/serve-and-chat.md`);
  }
  const real = new Map<string, JsonEvent[]>();
  await Promise.all([serveTcp(real), serveUdp(real), chatTcp(real), chatUdp(real)]);
  const problems = checkExamples(serveAndChatExamples, real);
  assert.deepEqual(problems, [], `the page and the program disagree:\n${problems.join("\n")}`);
});

Deno.test("the shape comparison catches a missing, an extra and a nested key, and allows only OPTIONAL", () => {
  const compared = new Set<string>();
  const real = { event: "summary", a: 1, targets: [{ to: "x", b: 2, peer: "n" }] };
  assert.deepEqual(
    shapeDiff({ event: "summary", a: 1, targets: [{ to: "x", b: 2 }] }, real, "summary", compared),
    [],
  );
  assert.deepEqual(
    shapeDiff({ event: "summary", targets: [{ to: "x", b: 2 }] }, real, "summary", compared),
    [
      "summary.a: not in the example",
    ],
  );
  assert.deepEqual(
    shapeDiff({ event: "summary", a: 1, c: 3, targets: [{ to: "x" }] }, real, "summary", compared),
    ["summary.c: the real event has none", "summary.targets[].b: not in the example"],
  );
  assert.ok(compared.has("summary.targets"));
  // `peer` is optional on a summary's target, not on a sent event.
  assert.deepEqual(shapeDiff({ event: "sent" }, { event: "sent", peer: "n" }, "sent", compared), [
    "sent.peer: not in the example",
  ]);
});

// ---- the README's commands ---------------------------------------------------------------------

/** A command the README shows, and what it says the command prints. */
interface Shown {
  command: string;
  line: number;
  /** Lines shown after a `$ ` command, its expected output. */
  output: string[];
}

function commandsOf(text: string): Shown[] {
  const shown: Shown[] = [];
  for (const block of blocksOf(text)) {
    const lines = block.body.split("\n");
    if (block.lang === "sh") {
      lines.forEach((line, i) => {
        const code = line.replace(/(^|\s+)#.*$/, "").trim();
        for (const part of code === "" ? [] : code.split(/\s+&&\s+/)) {
          shown.push({ command: part, line: block.line + i, output: [] });
        }
      });
    } else if (block.lang === "") {
      lines.forEach((line, i) => {
        if (!line.startsWith("$ ")) return;
        const output: string[] = [];
        for (const next of lines.slice(i + 1)) {
          if (next.startsWith("$ ") || next === "") break;
          output.push(next);
        }
        shown.push({ command: line.slice(2), line: block.line + i, output });
      });
    }
  }
  // Commands named in the prose: `deno task start`, `udpeer peer`.
  const prose = text.replace(/^ *```[\s\S]*?^ *```/gm, (block) => block.replace(/[^\n]/g, " "));
  for (const match of prose.matchAll(/`(deno task [a-z]+|udpeer [a-z]+)`/g)) {
    const line = prose.slice(0, match.index).split("\n").length;
    if (!shown.some((s) => s.command === match[1])) {
      shown.push({ command: match[1]!, line, output: [] });
    }
  }
  return shown.sort((a, b) => a.line - b.line);
}

/** How to check one kind of command: a reason it cannot run here, or a check. */
interface Handler {
  pattern: RegExp;
  ignore?: () => string | undefined;
  check?: (shown: Shown, match: RegExpMatchArray) => Promise<void>;
}

const hasMan = await commandWorks("man", ["--version"]);
const hasBash = await commandWorks("bash", ["--version"]);
const needNamespace = () =>
  noNetns === undefined
    ? undefined
    : `it listens on a fixed port, which only a namespace keeps apart from this machine's own: ${noNetns}`;

/** `udpeer ARGS` as the installed command runs it (docs/install.md): main.ts with its permissions. */
const udpeer = [
  Deno.execPath(),
  "run",
  "--quiet",
  `--config=${repoDir}deno.json`,
  ...PERMISSIONS,
  `${repoDir}main.ts`,
];

/**
 * Starts a long-running command in a fresh namespace, waits for its first line, stops it as
 * Ctrl-C does (SIGINT) and checks that it exits 0 after printing `final`.
 */
async function startAndStop(
  command: string[],
  first: RegExp,
  final: RegExp,
  options: { cwd?: string; until?: RegExp } = {},
): Promise<string[]> {
  await using netns = await Netns.create("readme-cmd");
  await using process = startUdpeer([], {
    prefix: netns.exec,
    command,
    ...options.cwd === undefined ? {} : { cwd: options.cwd },
  });
  await process.waitUntil(() => process.lines.length > 0, 30_000, "the first line");
  assert.match(process.lines[0]!, first);
  const until = options.until;
  if (until !== undefined) {
    await process.waitUntil(
      () => process.lines.some((line) => until.test(line)),
      30_000,
      `${until}`,
    );
  }
  process.kill("SIGINT");
  const status = await process.exited(20_000);
  assert.equal(status.code, 0, `exit ${status.code} after Ctrl-C: ${process.stderr}`);
  assert.match(process.lines.join("\n"), final);
  return process.lines;
}

const HANDLERS: Handler[] = [
  // Before the other `deno task start` lines: a usage error exits before it listens.
  {
    pattern: /^deno task start --port 70000$/,
    async check(shown) {
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["task", "-q", "start", "--port", "70000"],
        cwd: repoDir,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(30_000),
      }).output();
      assert.equal(code, 2);
      assert.equal(new TextDecoder().decode(stdout), "");
      assert.deepEqual(new TextDecoder().decode(stderr).trimEnd().split("\n"), shown.output);
    },
  },
  {
    pattern: /^npx -y deno@[\d.]+ task (start|test)$/,
    ignore: () =>
      "npx fetches Deno from the npm registry, which this test does not reach; the same tasks run as `deno task start` below and as this suite (`deno task test`)",
  },
  {
    pattern: /^deno task test$/,
    ignore: () => "it is this suite: run from inside itself, it would run again without end",
  },
  {
    pattern: /^deno task start(.*)$/,
    ignore: needNamespace,
    async check(_, match) {
      const args = match[1]!.trim().split(/\s+/).filter((arg) => arg !== "");
      // With no arguments: "a self-contained demo that shows its own heartbeats".
      const shows = args.length === 0 ? /^127\.0\.0\.1:5005 count=1 / : undefined;
      await startAndStop(
        [Deno.execPath(), "task", "-q", "start", ...args],
        /^udpeer listening on 0\.0\.0\.0:\d+/,
        /udpeer statistics ---/,
        { cwd: repoDir, ...shows === undefined ? {} : { until: shows } },
      );
    },
  },
  {
    pattern: /^udpeer peer$/,
    ignore: needNamespace,
    async check() {
      // "with no flags only listens": on 5005, sending nowhere.
      const lines = await startAndStop(
        udpeer.concat("peer"),
        /^udpeer listening on 0\.0\.0\.0:5005\b/,
        /^/,
      );
      assert.doesNotMatch(lines[0]!, /sending to/);
    },
  },
  {
    pattern: /^deno task install$/,
    async check() {
      // Into a root of its own, not ~/.deno: DENO_INSTALL_ROOT (docs/install.md).
      const root = await Deno.makeTempDir({ prefix: "udpeer-readme-install-" });
      try {
        const install = await new Deno.Command(Deno.execPath(), {
          args: ["task", "-q", "install"],
          cwd: repoDir,
          env: { DENO_INSTALL_ROOT: root, NO_COLOR: "1" },
          stdout: "piped",
          stderr: "piped",
          signal: AbortSignal.timeout(90_000),
        }).output();
        assert.equal(install.code, 0, new TextDecoder().decode(install.stderr));
        const help = await new Deno.Command(`${root}/bin/udpeer`, {
          args: ["--help"],
          stdout: "piped",
          signal: AbortSignal.timeout(30_000),
        }).output();
        assert.equal(help.code, 0);
        assert.match(new TextDecoder().decode(help.stdout), /Usage: udpeer/);
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    },
  },
  {
    pattern: /^udpeer --help$/,
    async check() {
      const { code, stdout } = await runUdpeer(["--help"]);
      assert.equal(code, 0);
      assert.match(stdout, /Usage: udpeer/);
    },
  },
  {
    pattern: /^man -l docs\/udpeer\.1$/,
    ignore: () => hasMan ? undefined : "man is not installed (apt-get install man-db)",
    async check() {
      const { code, stdout, stderr } = await new Deno.Command("man", {
        args: ["-l", "docs/udpeer.1"],
        cwd: repoDir,
        env: { MANPAGER: "cat", PAGER: "cat", MANWIDTH: "80" },
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(30_000),
      }).output();
      assert.equal(code, 0, new TextDecoder().decode(stderr));
      assert.match(new TextDecoder().decode(stdout), /UDPEER/);
    },
  },
  {
    pattern: /^source <\(udpeer completions (bash)\)$/,
    ignore: () => hasBash ? undefined : "bash is not installed",
    async check() {
      const quoted = udpeer.map((arg) => `'${arg.replaceAll("'", `'\\''`)}'`).join(" ");
      const script =
        `udpeer() { ${quoted} "$@"; }\nsource <(udpeer completions bash) && complete -p udpeer`;
      const { code, stdout, stderr } = await new Deno.Command("bash", {
        args: ["-c", script],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(30_000),
      }).output();
      assert.equal(code, 0, new TextDecoder().decode(stderr));
      assert.match(new TextDecoder().decode(stdout), /^complete .* udpeer$/m);
    },
  },
  {
    pattern: /^udpeer --peers hosts\.txt (.*)$/,
    ignore: needNamespace,
    async check(_, match) {
      const dir = await Deno.makeTempDir({ prefix: "udpeer-readme-peers-" });
      try {
        await Deno.writeTextFile(`${dir}/hosts.txt`, "127.0.0.1:5005 self\n");
        await startAndStop(
          [...udpeer, "--peers", "hosts.txt", ...match[1]!.split(/\s+/)],
          /^udpeer listening on /,
          /udpeer statistics ---/,
          { cwd: dir },
        );
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  },
  {
    pattern: /^deno run --allow-net main\.ts serve (.*)$/,
    ignore: needNamespace,
    async check(_, match) {
      await startAndStop(
        [
          Deno.execPath(),
          "run",
          "--quiet",
          "--allow-net",
          "main.ts",
          "serve",
          ...match[1]!.split(/\s+/),
        ],
        /12000/,
        /./,
        { cwd: repoDir },
      );
    },
  },
  {
    pattern: /^deno run --allow-net main\.ts chat --to 127\.0\.0\.1:12000$/,
    ignore: needNamespace,
    async check() {
      // With the server of the line before it, as the README runs them.
      await using netns = await Netns.create("readme-chat");
      const run = (args: string[], stdin: boolean) =>
        startUdpeer([], {
          prefix: netns.exec,
          command: [Deno.execPath(), "run", "--quiet", "--allow-net", "main.ts", ...args],
          cwd: repoDir,
          stdin,
        });
      await using server = run(["serve", "--mode", "upper"], false);
      await server.waitUntil(() => server.lines.length > 0, 30_000, "the server's first line");
      await using chat = run(["chat", "--to", "127.0.0.1:12000"], true);
      await chat.write("hello\n");
      await chat.waitUntil(
        () => chat.lines.some((line) => line.includes("HELLO")),
        30_000,
        "HELLO",
      );
      await chat.closeStdin();
      assert.equal((await chat.exited(20_000)).code, 0, chat.stderr);
    },
  },
];

const readme = await Deno.readTextFile(`${repoDir}README.md`);
const commands = commandsOf(readme);

Deno.test("the README's commands are found", () => {
  assert.ok(commands.some((shown) => shown.command === "deno task start"));
  assert.ok(commands.some((shown) => shown.command === "deno task start --port 70000"));
  assert.ok(commands.some((shown) => shown.command.startsWith("deno task start --port 5006")));
  assert.ok(commands.length >= 8, commands.map((shown) => shown.command).join("\n"));
});

for (const shown of commands) {
  const handler = HANDLERS.find((h) => h.pattern.test(shown.command));
  const name = `README.md:${shown.line}: \`${shown.command}\` runs as the README says`;
  const reason = handler?.ignore?.();
  if (reason !== undefined) console.log(`skipped: readme_test.ts: \`${shown.command}\`: ${reason}`);
  Deno.test({
    name,
    ignore: reason !== undefined,
    async fn() {
      if (handler?.check === undefined) {
        assert.fail(`readme_test.ts does not know how to run \`${shown.command}\`: add a handler`);
      }
      await handler.check(shown, shown.command.match(handler.pattern)!);
    },
  });
}
