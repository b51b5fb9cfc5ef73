/**
 * `udpeer chat`: the classic interactive client (SPEC §4). It reads lines from stdin, sends
 * each to the server and prints the reply. Over UDP a line with no reply in time is sent
 * again, each wait half as long again as the one before; over TCP (`--tcp`) nothing is sent
 * twice and the client waits the sum of those timeouts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseChatArgs, retryTimeouts } from "./run.ts";
 * const options = parseChatArgs(["--to", "127.0.0.1:12000", "--retries", "3"]);
 * assert.ok(options.to.port === 12000 && !options.tcp);
 * assert.ok(retryTimeouts(0.5, 3).join() === "0.5,0.75,1.125");
 * ```
 *
 * @module
 */

import {
  type CommonOptions,
  type HostPort,
  parseCount,
  parseFlags,
  parseHostPort,
  parseSeconds,
} from "../common/flags.ts";
import { describeError, StartupError, UsageError } from "../common/errors.ts";
import { escapeForTerminal, jsonLine } from "../common/escape.ts";
import { receiveDatagram } from "../common/net.ts";
import { LineWriter } from "../common/output.ts";
import { resolveIpv4 } from "../peer/run.ts";
import { MAX_DATAGRAM_BYTES } from "../../protocol.ts";
import { MAX_LINE_BYTES } from "../serve/run.ts";

/** Default first timeout, in seconds. */
export const DEFAULT_TIMEOUT_SECONDS = 0.5;

/** Default number of tries per line (the first send included). */
export const DEFAULT_RETRIES = 5;

/** Each timeout is this many times the one before. */
export const BACKOFF = 1.5;

/** Longest reply line accepted over TCP; a longer one ends the session. */
export const MAX_REPLY_LINE_BYTES = 1 << 20;

/** Options of `udpeer chat`. */
export interface ChatOptions extends CommonOptions {
  /** The server. */
  to: HostPort;
  /** First timeout in seconds. */
  timeoutSeconds: number;
  /** Total number of tries per line over UDP. */
  retries: number;
  /** Talk TCP instead of UDP. */
  tcp: boolean;
}

/** `udpeer chat --help`. */
export const CHAT_HELP = `Interactive client: read lines from stdin, send each to the server,
print each reply.

Usage: udpeer chat --to HOST:PORT [--timeout S] [--retries N] [--tcp] [options]

Options:
  -t, --to HOST:PORT   the server (HOST: IPv4 address or name); required
      --timeout S      seconds to wait for the first reply, > 0 (default ${DEFAULT_TIMEOUT_SECONDS}); each
                       further wait is half as long again: 0.5, 0.75, 1.125 ...
  -r, --retries N      tries per line, the first included (default ${DEFAULT_RETRIES})
      --tcp            talk TCP: one line per request and per reply; nothing is sent
                       twice, the client waits the sum of the timeouts for a reply
      --json           one JSON object per line on stdout instead of text
  -h, --help           show this help
  -V, --version        show the version

A line 'exit', end of input (Ctrl-D) or Ctrl-C ends the session with exit code 0.
Empty lines are skipped. With stdin a terminal there is a prompt; piped, there is none
and each reply is one line on stdout. Only replies from HOST:PORT count; a reply that
arrives before the next line is sent is stale and dropped.
If the server does not answer any try of a line: one line on stderr, exit code 1.

Examples:
  udpeer chat --to 127.0.0.1:12000
  printf 'hello\\nworld\\n' | udpeer chat --to 127.0.0.1:12000 --timeout 0.2 --retries 3
  udpeer chat --to 127.0.0.1:12000 --tcp

Exit codes: 0 success, 1 the server does not answer, 2 usage error.`;

const chatFlags = {
  to: { type: "string", short: "t" },
  timeout: { type: "string" },
  retries: { type: "string", short: "r" },
  tcp: { type: "boolean" },
} as const;

/**
 * Parses the flags of `udpeer chat`.
 *
 * @param args The arguments after `chat`.
 * @returns The options, with defaults filled in.
 * @throws {UsageError} On an unknown flag or a bad value, or if `--to` is missing.
 */
export function parseChatArgs(args: readonly string[]): ChatOptions {
  const values = parseFlags(args, chatFlags);
  const str = (name: string): string | undefined => values[name] as string | undefined;
  const help = values.help === true;
  const version = values.version === true;
  const toText = str("to");
  if (toText === undefined && !help && !version) {
    throw new UsageError("Missing --to: say where the server is, as in --to 127.0.0.1:12000");
  }
  const timeoutText = str("timeout");
  const retriesText = str("retries");
  const timeoutSeconds = timeoutText === undefined
    ? DEFAULT_TIMEOUT_SECONDS
    : parseSeconds("--timeout", timeoutText, 0.001);
  return {
    help,
    version,
    json: values.json === true,
    tcp: values.tcp === true,
    to: toText === undefined ? { host: "127.0.0.1", port: 12000 } : parseHostPort("--to", toText),
    timeoutSeconds,
    retries: retriesText === undefined ? DEFAULT_RETRIES : parseCount("--retries", retriesText),
  };
}

/**
 * The wait before each try: the first timeout, then each half as long again.
 *
 * @param first The first timeout, in seconds.
 * @param tries How many tries.
 * @returns `tries` timeouts in seconds: `first · 1.5^k` for k = 0 … tries − 1.
 */
export function retryTimeouts(first: number, tries: number): number[] {
  return Array.from({ length: tries }, (_, k) => first * BACKOFF ** k);
}

/** The `--json` events of `udpeer chat`, one per line. */
export type ChatEvent =
  | { event: "connected"; to: string; transport: "udp" | "tcp" }
  | {
    event: "reply";
    text: string;
    reply: string;
    from: string;
    fromPort: number;
    tries: number;
    rttMs: number;
  }
  | { event: "retry"; text: string; try: number; timeoutMs: number }
  | { event: "ignored"; from: string; fromPort: number; bytes: number }
  | { event: "error"; message: string }
  | { event: "no-answer"; to: string; tries: number; waitedMs: number }
  | { event: "summary"; lines: number; replies: number; resent: number; ignored: number };

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/** A queue of values with a bounded wait for the next one. */
class Inbox<T> {
  #items: T[] = [];
  #waiter: (() => void) | undefined;

  get size(): number {
    return this.#items.length;
  }

  put(item: T): void {
    this.#items.push(item);
    this.#wake();
  }

  /** Wakes a pending {@linkcode take} so it sees a change in state (end, stop). */
  poke(): void {
    this.#wake();
  }

  shift(): T | undefined {
    return this.#items.shift();
  }

  /** Waits up to `ms` for an item or until `give_up()` holds. */
  async take(ms: number, giveUp: () => boolean): Promise<T | undefined> {
    const deadline = performance.now() + ms;
    while (this.#items.length === 0 && !giveUp()) {
      const left = deadline - performance.now();
      if (left <= 0) return undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.#waiter = undefined;
    }
    return this.#items.shift();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }
}

/** Reads stdin as lines (without `\n` or `\r\n`), decoding UTF-8 with replacement. */
async function* stdinLines(): AsyncGenerator<string> {
  let pending = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    const parts = pending.split("\n");
    pending = parts.pop()!;
    for (const part of parts) yield part.endsWith("\r") ? part.slice(0, -1) : part;
  }
  if (pending !== "") yield pending.endsWith("\r") ? pending.slice(0, -1) : pending;
}

/** How one line went. */
type Outcome =
  | { kind: "reply"; reply: string; tries: number; rttMs: number }
  | { kind: "no-answer"; tries: number; waitedMs: number; detail: string }
  | { kind: "stopped" };

/** One transport's way of sending a line and waiting for its reply. */
interface Session {
  readonly transport: "udp" | "tcp";
  /** Sends one line and waits for its reply, resending (UDP) as the options say. */
  exchange(line: string): Promise<Outcome>;
  /** A line longer than the transport can carry, or undefined if it fits. */
  tooLong(line: string): string | undefined;
  close(): void;
}

interface Context {
  options: ChatOptions;
  address: string;
  label: string;
  emit: (event: ChatEvent) => void;
  stopped: () => boolean;
  counters: { resent: number; ignored: number };
}

const encoder = new TextEncoder();

/**
 * Runs the client until `exit`, end of input or a signal (exit 0), or until the server does
 * not answer a line (exit 1).
 *
 * @param options Parsed command line.
 * @returns The exit code: 0, or 1 if the server does not answer.
 * @throws {StartupError} If the name does not resolve or no local socket can be opened.
 */
export async function runChat(options: ChatOptions): Promise<number> {
  const label = `${options.to.host}:${options.to.port}`;
  let address: string;
  try {
    address = await resolveIpv4(options.to.host);
  } catch (error) {
    throw new StartupError(
      `Cannot resolve --to "${options.to.host}": ${
        describeError(error)
      }; check the name or give an IPv4 address`,
    );
  }
  const interactive = Deno.stdin.isTerminal();
  let stopped = false;
  let wake: (() => void) | undefined;
  let session: Session | undefined;
  const stop = (): void => {
    stopped = true;
    wake?.();
    session?.close(); // ends a wait for a reply at once
  };
  const out = new LineWriter(Deno.stdout, { onClosed: stop });
  const counters = { resent: 0, ignored: 0 };
  let replies = 0;
  let sentLines = 0;
  const emit = (event: ChatEvent): void => {
    if (options.json) return out.line(jsonLine(event));
    switch (event.event) {
      case "reply":
        return out.line(escapeForTerminal(event.reply));
      case "retry":
        // Feedback while a person waits; a script sees only replies and the final error.
        if (interactive) {
          console.error(
            `udpeer: no reply within ${
              seconds(event.timeoutMs)
            }, sending again (try ${event.try}/${options.retries})`,
          );
        }
        return;
      case "ignored":
        console.error(
          `udpeer: Ignored a datagram from ${event.from}:${event.fromPort}: only replies from ${label} count`,
        );
        return;
      case "error":
        console.error(`udpeer: ${event.message}`);
        return;
      case "connected":
      case "no-answer":
      case "summary":
        return;
    }
  };
  const context: Context = {
    options,
    address,
    label,
    emit,
    stopped: () => stopped,
    counters,
  };

  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  let code = 0;
  try {
    session = options.tcp ? await openTcp(context) : openUdp(context);
    if (stopped) return 0;
    emit({ event: "connected", to: label, transport: session.transport });
    if (interactive && !options.json) {
      out.line(
        `udpeer chat: each line goes to ${label} over ${session.transport.toUpperCase()}; 'exit' or Ctrl-D to quit`,
      );
    }
    const lines = stdinLines();
    while (!stopped) {
      if (interactive && !options.json) await prompt(out);
      const stoppedSignal = new Promise<"stopped">((resolve) => wake = () => resolve("stopped"));
      const next = await Promise.race([lines.next(), stoppedSignal]);
      if (next === "stopped" || next.done) {
        if (interactive) out.line(""); // the shell prompt starts on a new line
        break;
      }
      const line = next.value;
      if (line.trim() === "exit") break;
      if (line === "") continue;
      const tooLong = session.tooLong(line);
      if (tooLong !== undefined) {
        emit({ event: "error", message: tooLong });
        continue;
      }
      sentLines++;
      const outcome = await session.exchange(line);
      if (outcome.kind === "stopped") break;
      if (outcome.kind === "no-answer") {
        emit({ event: "no-answer", to: label, tries: outcome.tries, waitedMs: outcome.waitedMs });
        await out.flush();
        console.error(`udpeer: The server at ${label} does not answer (${outcome.detail})`);
        code = 1;
        break;
      }
      replies++;
      if (out.full) await out.drained();
    }
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, stop);
    session?.close();
  }
  emit({ event: "summary", lines: sentLines, replies, ...counters });
  await out.flush();
  return code;
}

async function prompt(out: LineWriter): Promise<void> {
  await out.flush();
  if (out.closed) return;
  try {
    await Deno.stdout.write(encoder.encode("> "));
  } catch { /* the terminal went away; the next line write notices */ }
}

function openUdp(context: Context): Session {
  const { options, address, emit } = context;
  const port = options.to.port;
  let conn: Deno.DatagramConn;
  try {
    conn = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 0 });
  } catch (error) {
    throw new StartupError(`Cannot open a UDP socket: ${describeError(error)}`);
  }
  const inbox = new Inbox<{ text: string; at: number }>();
  const strangers = new Set<string>();
  let closed = false;

  (async () => {
    const buffer = new Uint8Array(MAX_DATAGRAM_BYTES + 1);
    while (!closed) {
      // ICMP port unreachable (Windows reports it on receive) and any other receive error
      // mean no reply: the timeout decides.
      const received = await receiveDatagram(conn, buffer, () => closed, () => {});
      if (received === undefined) return;
      const [data, remote] = received;
      const at = performance.now();
      if (remote.hostname !== address || remote.port !== port) {
        context.counters.ignored++;
        const key = `${remote.hostname}:${remote.port}`;
        // Say it once per stranger (and for a few strangers only), so a flood is not echoed.
        if (options.json || (!strangers.has(key) && strangers.size < 8)) {
          strangers.add(key);
          emit({
            event: "ignored",
            from: remote.hostname,
            fromPort: remote.port,
            bytes: data.length,
          });
        }
        continue;
      }
      inbox.put({ text: new TextDecoder("utf-8", { ignoreBOM: true }).decode(data), at });
    }
  })();

  // Replies still expected for the previous line (it was sent more than once), and what it
  // got: a late duplicate that equals that reply is not taken as the next line's answer.
  let previousReply: string | undefined;
  let duplicatesExpected = 0;

  const exchange = async (line: string): Promise<Outcome> => {
    // Whatever arrived before this line is sent answers an earlier one: drop it.
    while (inbox.shift() !== undefined) duplicatesExpected = Math.max(0, duplicatesExpected - 1);
    const bytes = encoder.encode(line);
    const timeouts = retryTimeouts(options.timeoutSeconds, options.retries);
    const started = performance.now();
    let sends = 0;
    for (const [index, timeoutS] of timeouts.entries()) {
      if (index > 0) {
        context.counters.resent++;
        emit({
          event: "retry",
          text: line,
          try: index + 1,
          timeoutMs: timeouts[index - 1]! * 1000,
        });
      }
      const sentAt = performance.now();
      try {
        await conn.send(bytes, { transport: "udp", hostname: address, port });
        sends++;
      } catch (error) {
        if (context.stopped()) return { kind: "stopped" };
        emit({
          event: "error",
          message: `Cannot send to ${context.label}: ${describeError(error)}`,
        });
      }
      const deadline = sentAt + timeoutS * 1000;
      while (true) {
        const reply = await inbox.take(deadline - performance.now(), context.stopped);
        if (context.stopped()) return { kind: "stopped" };
        if (reply === undefined) break; // timed out: send again
        if (duplicatesExpected > 0 && reply.text === previousReply) {
          duplicatesExpected--;
          continue;
        }
        duplicatesExpected = Math.max(0, sends - 1);
        previousReply = reply.text;
        emit({
          event: "reply",
          text: line,
          reply: reply.text,
          from: address,
          fromPort: port,
          tries: index + 1,
          rttMs: round(reply.at - sentAt),
        });
        return { kind: "reply", reply: reply.text, tries: index + 1, rttMs: reply.at - sentAt };
      }
    }
    const waitedMs = performance.now() - started;
    return {
      kind: "no-answer",
      tries: timeouts.length,
      waitedMs: round(waitedMs),
      detail: `no reply to ${timeouts.length} ${
        timeouts.length === 1 ? "try" : "tries"
      } over UDP in ${seconds(waitedMs)}`,
    };
  };

  return {
    transport: "udp",
    exchange,
    tooLong: (line) => {
      const size = encoder.encode(line).length;
      return size > MAX_DATAGRAM_BYTES
        ? `Cannot send a line of ${size} bytes: at most ${MAX_DATAGRAM_BYTES} fit in one datagram`
        : undefined;
    },
    close: () => {
      if (closed) return;
      closed = true;
      conn.close();
      inbox.poke();
    },
  };
}

/** One TCP connection and the reply lines read from it. */
interface TcpLink {
  conn: Deno.Conn;
  lines: Inbox<string>;
  ended: boolean;
  failure: string | undefined;
}

async function openTcp(context: Context): Promise<Session> {
  const { options, address } = context;
  const port = options.to.port;
  const timeouts = retryTimeouts(options.timeoutSeconds, options.retries);
  const patienceMs = timeouts.reduce((sum, seconds) => sum + seconds, 0) * 1000;

  const connect = async (): Promise<TcpLink | string> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    const connecting = Deno.connect({ transport: "tcp", hostname: address, port });
    connecting.then((conn) => {
      if (timedOut) conn.close(); // too late: nobody uses it
    }, () => {});
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), patienceMs);
    });
    try {
      const result = await Promise.race([connecting, timeout]);
      if (result === "timeout") {
        timedOut = true;
        return `no TCP connection in ${seconds(patienceMs)}`;
      }
      return startReading(result);
    } catch (error) {
      if (error instanceof Deno.errors.ConnectionRefused) return "TCP connection refused";
      return `cannot connect over TCP: ${describeError(error)}`;
    } finally {
      clearTimeout(timer);
    }
  };

  const startReading = (conn: Deno.Conn): TcpLink => {
    const link: TcpLink = { conn, lines: new Inbox<string>(), ended: false, failure: undefined };
    (async () => {
      const buffer = new Uint8Array(16 * 1024);
      let parts: Uint8Array[] = [];
      let length = 0;
      const decode = (tail: Uint8Array): string => {
        const all = new Uint8Array(length + tail.length);
        let offset = 0;
        for (const part of parts) {
          all.set(part, offset);
          offset += part.length;
        }
        all.set(tail, offset);
        parts = [];
        length = 0;
        const end = all.at(-1) === 13 ? all.length - 1 : all.length;
        return new TextDecoder("utf-8", { ignoreBOM: true }).decode(all.subarray(0, end));
      };
      try {
        while (true) {
          const count = await conn.read(buffer);
          if (count === null) break;
          const chunk = buffer.subarray(0, count);
          let start = 0;
          for (let index = chunk.indexOf(10); index >= 0; index = chunk.indexOf(10, start)) {
            link.lines.put(decode(chunk.subarray(start, index)));
            start = index + 1;
          }
          if (length + count - start > MAX_REPLY_LINE_BYTES) {
            link.failure = `a reply line is longer than ${MAX_REPLY_LINE_BYTES} bytes`;
            break;
          }
          if (start < count) {
            parts.push(chunk.slice(start));
            length += count - start;
          }
        }
        // The server closed the connection: a last reply without a newline still counts.
        if (length > 0) link.lines.put(decode(new Uint8Array(0)));
      } catch (error) {
        if (
          !(error instanceof Deno.errors.BadResource) && !(error instanceof Deno.errors.Interrupted)
        ) {
          link.failure = describeError(error);
        }
      }
      link.ended = true;
      link.lines.poke();
    })();
    return link;
  };

  const first = await connect();
  if (typeof first === "string") {
    throw new StartupError(`The server at ${context.label} does not answer (${first})`);
  }
  let link: TcpLink = first;

  const exchange = async (line: string): Promise<Outcome> => {
    const started = performance.now();
    // Let a close that already arrived be seen: a server that answers one line per
    // connection (the classic Python TCP server) is reconnected to, not written to.
    await new Promise((resolve) => setTimeout(resolve, 0));
    while (link.lines.shift() !== undefined) { /* unsolicited or stale: drop */ }
    if (link.ended) {
      try {
        link.conn.close();
      } catch { /* already closed */ }
      const next = await connect();
      if (typeof next === "string") {
        return {
          kind: "no-answer",
          tries: 1,
          waitedMs: round(performance.now() - started),
          detail: `it closed the connection, then ${next}`,
        };
      }
      link = next;
    }
    const sentAt = performance.now();
    try {
      let bytes = encoder.encode(line + "\n");
      while (bytes.length > 0) bytes = bytes.subarray(await link.conn.write(bytes));
    } catch (error) {
      if (context.stopped()) return { kind: "stopped" };
      return {
        kind: "no-answer",
        tries: 1,
        waitedMs: round(performance.now() - started),
        detail: `cannot send over TCP: ${describeError(error)}`,
      };
    }
    const reply = await link.lines.take(patienceMs, () => context.stopped() || link.ended);
    if (context.stopped()) return { kind: "stopped" };
    if (reply === undefined) {
      const waitedMs = performance.now() - started;
      return {
        kind: "no-answer",
        tries: 1,
        waitedMs: round(waitedMs),
        detail: link.ended
          ? `it closed the TCP connection without replying${
            link.failure === undefined ? "" : `: ${link.failure}`
          }`
          : `no reply line over TCP in ${seconds(waitedMs)}`,
      };
    }
    const rttMs = performance.now() - sentAt;
    context.emit({
      event: "reply",
      text: line,
      reply,
      from: address,
      fromPort: port,
      tries: 1,
      rttMs: round(rttMs),
    });
    return { kind: "reply", reply, tries: 1, rttMs };
  };

  return {
    transport: "tcp",
    exchange,
    tooLong: (line) => {
      const size = encoder.encode(line).length;
      return size > MAX_LINE_BYTES
        ? `Cannot send a line of ${size} bytes: the server takes lines of at most ${MAX_LINE_BYTES}`
        : undefined;
    },
    close: () => {
      try {
        link.conn.close();
      } catch { /* already closed */ }
    },
  };
}
