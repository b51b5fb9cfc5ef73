/**
 * `udpeer serve`: the classic request/response server (SPEC §4). Over UDP each datagram is
 * one request and gets one datagram back; over TCP (`--tcp`) each line is one request and
 * gets one line back, and many connections are served at once. The text is plain UTF-8 with
 * no header, so the first socket programs everyone writes in Python talk to it unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseServeArgs } from "./run.ts";
 * const options = parseServeArgs(["--port", "0", "--mode", "reverse-swapcase"]);
 * assert.ok(options.port === 0 && options.mode === "reverse-swapcase" && !options.tcp);
 * ```
 *
 * @module
 */

import { type CommonOptions, parseFlags, parseIpv4Flag, parsePort } from "../common/flags.ts";
import { describeError, UsageError } from "../common/errors.ts";
import { escapeForTerminal, jsonLine } from "../common/escape.ts";
import { listenError, receiveDatagram } from "../common/net.ts";
import { LineWriter } from "../common/output.ts";
import { MAX_DATAGRAM_BYTES } from "../../protocol.ts";
import { isMode, type Mode, MODES, transform } from "./modes.ts";

/** Default port of `udpeer serve`, UDP and TCP alike. */
export const DEFAULT_SERVE_PORT = 12000;

/**
 * Longest request or reply line over TCP, in bytes without the line end. A client that
 * sends more without a newline is disconnected, so it cannot make the server hoard memory.
 */
export const MAX_LINE_BYTES = 65_536;

/**
 * How long a TCP client's first, unterminated text may sit idle before it is answered as a
 * request. The classic Python TCP client sends `sentence.encode()` with no newline and
 * waits for the reply; once a connection has sent a newline it is served by lines only.
 */
export const UNTERMINATED_IDLE_MS = 300;

/** Distinct clients remembered for the summary; more are counted as "more than" this. */
export const MAX_TRACKED_CLIENTS = 65_536;

/** Options of `udpeer serve`. */
export interface ServeOptions extends CommonOptions {
  /** Port to listen on, 0 for any free port. */
  port: number;
  /** Local IPv4 address to bind. */
  bind: string;
  /** What to reply. */
  mode: Mode;
  /** Serve lines over TCP instead of datagrams over UDP. */
  tcp: boolean;
  /** Print no line per request; the listening line, errors and the summary only. */
  quiet: boolean;
}

/** `udpeer serve --help`. */
export const SERVE_HELP = `Request/response server: reply to each request at once with the
transformed text, and print one line per request.

Usage: udpeer serve [--port N] [--mode MODE] [--tcp] [options]

Options:
  -p, --port N      port to listen on; 0 = any free port (default ${DEFAULT_SERVE_PORT})
  -b, --bind ADDR   local IPv4 address to listen on (default 0.0.0.0: all)
  -m, --mode MODE   what to reply (default upper):
                      upper             HELLO for hello
                      reverse-swapcase  OLLEh for Hello (by characters: emoji survive)
                      ack               Message received
                      echo              the request as it is
      --tcp         serve TCP instead of UDP: one line per request and per reply,
                    many connections at once, lines up to ${MAX_LINE_BYTES} bytes
      --json        one JSON object per line on stdout instead of text
  -q, --quiet       no line per request; the summary only
  -h, --help        show this help
  -V, --version     show the version

Over UDP each datagram is a request and its reply is one datagram, with no header,
so 'sock.sendto(msg.encode(), addr)' and 'recvfrom(2048)' in Python talk to it.
Invalid UTF-8 is answered with U+FFFD replacement characters.
Ctrl-C (or SIGTERM) prints the summary (requests served, distinct clients), exit 0.

Examples:
  udpeer serve                                  UDP 12000, uppercase
  udpeer serve --port 12001 --mode reverse-swapcase --tcp
  udpeer serve --port 0 --json | jq .           machine-readable events

Exit codes: 0 success, 1 runtime failure (port in use), 2 usage error.`;

const serveFlags = {
  port: { type: "string", short: "p" },
  bind: { type: "string", short: "b" },
  mode: { type: "string", short: "m" },
  tcp: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
} as const;

/**
 * Parses the flags of `udpeer serve`.
 *
 * @param args The arguments after `serve`.
 * @returns The options, with defaults filled in.
 * @throws {UsageError} On an unknown flag, a bad port or address, or an unknown mode.
 */
export function parseServeArgs(args: readonly string[]): ServeOptions {
  const values = parseFlags(args, serveFlags);
  const str = (name: string): string | undefined => values[name] as string | undefined;
  const portText = str("port");
  const bindText = str("bind");
  const mode = str("mode") ?? "upper";
  if (!isMode(mode)) {
    throw new UsageError(`Cannot parse --mode: "${mode}" is not one of ${MODES.join(", ")}`);
  }
  return {
    help: values.help === true,
    version: values.version === true,
    json: values.json === true,
    quiet: values.quiet === true,
    tcp: values.tcp === true,
    port: portText === undefined ? DEFAULT_SERVE_PORT : parsePort("--port", portText, 0),
    bind: bindText === undefined ? "0.0.0.0" : parseIpv4Flag("--bind", bindText),
    mode,
  };
}

/** The `--json` events of `udpeer serve`, one per line. */
export type ServeEvent =
  | {
    event: "listening";
    transport: "udp" | "tcp";
    address: string;
    port: number;
    mode: Mode;
  }
  | { event: "request"; from: string; fromPort: number; text: string; reply: string }
  | { event: "connected"; from: string; fromPort: number }
  | { event: "closed"; from: string; fromPort: number; requests: number }
  | { event: "error"; from?: string; fromPort?: number; message: string }
  | {
    event: "summary";
    requests: number;
    clients: number;
    clientsCapped: boolean;
    errors: number;
    durationMs: number;
  };

function plural(count: number, one: string, many: string = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

function quote(text: string): string {
  return `"${escapeForTerminal(text).replaceAll('"', '\\"')}"`;
}

/**
 * The human line(s) for one event; network text is escaped so it cannot drive the terminal.
 *
 * @param event The event.
 * @returns The lines to print (the summary has two), or none.
 */
export function formatServeEvent(event: ServeEvent): string[] {
  switch (event.event) {
    case "listening":
      return [
        `udpeer serve: ${event.mode} on ${event.transport.toUpperCase()} ${event.address}:${event.port}; Ctrl-C for the summary`,
      ];
    case "request":
      return [`${event.from}:${event.fromPort} ${quote(event.text)} -> ${quote(event.reply)}`];
    case "connected":
      return [`${event.from}:${event.fromPort} connected`];
    case "closed":
      return [
        `${event.from}:${event.fromPort} closed after ${plural(event.requests, "request")}`,
      ];
    case "error":
      return [];
    case "summary":
      // A blank line first, as ping and the peer's summary do, apart from the ^C echo.
      return [
        "",
        "--- udpeer serve statistics ---",
        `${plural(event.requests, "request")} served, ${event.clientsCapped ? "more than " : ""}${
          plural(event.clients, "distinct client")
        }, ${plural(event.errors, "error")}, time ${event.durationMs}ms`,
      ];
  }
}

/** Counts requests and distinct clients, remembering at most {@linkcode MAX_TRACKED_CLIENTS}. */
class Tally {
  requests = 0;
  errors = 0;
  capped = false;
  #clients = new Set<string>();

  get clients(): number {
    return this.#clients.size;
  }

  request(host: string, port: number): void {
    this.requests++;
    const key = `${host}:${port}`;
    if (this.#clients.has(key)) return;
    if (this.#clients.size >= MAX_TRACKED_CLIENTS) this.capped = true;
    else this.#clients.add(key);
  }
}

/** Decodes UTF-8 with U+FFFD for invalid bytes, keeping a leading BOM (echo must not eat it). */
function decodeText(bytes: Uint8Array): string {
  return new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
}

const encoder = new TextEncoder();

/**
 * Runs the server until SIGINT/SIGTERM (or until nobody reads stdout), then prints the
 * summary.
 *
 * @param options Parsed command line.
 * @returns The exit code: 0.
 * @throws {StartupError} If the port cannot be bound.
 */
export async function runServe(options: ServeOptions): Promise<number> {
  const startedAt = performance.now();
  const tally = new Tally();
  let stopping = false;
  let finished!: () => void;
  const done = new Promise<void>((resolve) => finished = resolve);
  const out = new LineWriter(Deno.stdout, { onClosed: () => stop() });

  const emit = (event: ServeEvent): void => {
    if (event.event === "error") tally.errors++;
    const perRequest = event.event === "request" || event.event === "connected" ||
      event.event === "closed";
    if (options.quiet && perRequest) return;
    if (options.json) return out.line(jsonLine(event));
    if (event.event === "error") {
      const who = event.from === undefined ? "" : ` (${event.from}:${event.fromPort})`;
      console.error(`udpeer: ${event.message}${who}`);
      return;
    }
    for (const line of formatServeEvent(event)) out.line(line);
  };

  const serving = options.tcp
    ? serveTcp(options, emit, tally, () => stopping)
    : serveUdp(options, emit, tally, () => stopping);

  function stop(): void {
    if (stopping) return;
    stopping = true;
    serving.close();
    finished();
  }

  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  const running = serving.run(out).catch((error) => {
    emit({ event: "error", message: `Server stopped: ${describeError(error)}` });
    stop();
  });
  await done;
  for (const signal of signals) Deno.removeSignalListener(signal, stop);
  await running;
  emit({
    event: "summary",
    requests: tally.requests,
    clients: tally.clients,
    clientsCapped: tally.capped,
    errors: tally.errors,
    durationMs: Math.round(performance.now() - startedAt),
  });
  await out.flush();
  return 0;
}

/** A bound server: `run` serves until `close` is called. */
interface Server {
  run(out: LineWriter): Promise<void>;
  close(): void;
}

type Emit = (event: ServeEvent) => void;

function serveUdp(
  options: ServeOptions,
  emit: Emit,
  tally: Tally,
  stopping: () => boolean,
): Server {
  let conn: Deno.DatagramConn;
  try {
    conn = Deno.listenDatagram({ transport: "udp", hostname: options.bind, port: options.port });
  } catch (error) {
    throw listenError("UDP", options.bind, options.port, error);
  }
  const { port } = conn.addr as Deno.NetAddr;
  emit({ event: "listening", transport: "udp", address: options.bind, port, mode: options.mode });

  const run = async (out: LineWriter): Promise<void> => {
    // One buffer for every datagram, one byte larger than the largest so none is cut short.
    const buffer = new Uint8Array(MAX_DATAGRAM_BYTES + 1);
    while (!stopping()) {
      const received = await receiveDatagram(
        conn,
        buffer,
        stopping,
        (error) => emit({ event: "error", message: `Cannot receive: ${describeError(error)}` }),
      );
      if (received === undefined) return;
      const [data, remote] = received;
      const text = decodeText(data); // before the next receive() overwrites the buffer
      const reply = transform(options.mode, text);
      const bytes = encoder.encode(reply);
      tally.request(remote.hostname, remote.port);
      if (bytes.length > MAX_DATAGRAM_BYTES) {
        emit({
          event: "error",
          from: remote.hostname,
          fromPort: remote.port,
          message:
            `Cannot reply: the reply is ${bytes.length} bytes, at most ${MAX_DATAGRAM_BYTES} fit in one datagram`,
        });
      } else {
        try {
          await conn.send(bytes, remote);
        } catch (error) {
          if (stopping()) return;
          emit({
            event: "error",
            from: remote.hostname,
            fromPort: remote.port,
            message: `Cannot reply: ${describeError(error)}`,
          });
        }
      }
      emit({ event: "request", from: remote.hostname, fromPort: remote.port, text, reply });
      if (out.full) await out.drained();
    }
  };
  return { run, close: () => conn.close() };
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

/** Splits a byte stream into lines at `\n`, holding at most `limit` bytes of a partial line. */
class LineSplitter {
  #parts: Uint8Array[] = [];
  #length = 0;
  #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Bytes of the partial line held so far. */
  get pending(): number {
    return this.#length;
  }

  /**
   * Adds a chunk and returns the complete lines in it, without their `\n`.
   * Returns `undefined` if a line is longer than the limit.
   */
  push(chunk: Uint8Array): Uint8Array[] | undefined {
    const lines: Uint8Array[] = [];
    let start = 0;
    for (let index = chunk.indexOf(10); index >= 0; index = chunk.indexOf(10, start)) {
      if (this.#length + index - start > this.#limit + 1) return undefined; // +1: a \r
      lines.push(this.#take(chunk.subarray(start, index)));
      start = index + 1;
    }
    if (this.#length + chunk.length - start > this.#limit + 1) return undefined;
    if (start < chunk.length) {
      this.#parts.push(chunk.slice(start)); // a copy: the caller reuses its buffer
      this.#length += chunk.length - start;
    }
    return lines;
  }

  /** Returns the partial line held so far and forgets it. */
  rest(): Uint8Array {
    return this.#take(new Uint8Array(0));
  }

  #take(tail: Uint8Array): Uint8Array {
    if (this.#parts.length === 0) return tail.slice();
    const line = new Uint8Array(this.#length + tail.length);
    let offset = 0;
    for (const part of this.#parts) {
      line.set(part, offset);
      offset += part.length;
    }
    line.set(tail, offset);
    this.#parts = [];
    this.#length = 0;
    return line;
  }
}

function serveTcp(
  options: ServeOptions,
  emit: Emit,
  tally: Tally,
  stopping: () => boolean,
): Server {
  let listener: Deno.Listener;
  try {
    listener = Deno.listen({ transport: "tcp", hostname: options.bind, port: options.port });
  } catch (error) {
    throw listenError("TCP", options.bind, options.port, error);
  }
  const { port } = listener.addr as Deno.NetAddr;
  emit({ event: "listening", transport: "tcp", address: options.bind, port, mode: options.mode });
  const connections = new Set<Deno.Conn>();
  const handlers = new Set<Promise<void>>();

  const serveConnection = async (conn: Deno.Conn, out: LineWriter): Promise<void> => {
    const remote = conn.remoteAddr as Deno.NetAddr;
    const from = { from: remote.hostname, fromPort: remote.port };
    emit({ event: "connected", ...from });
    const splitter = new LineSplitter(MAX_LINE_BYTES);
    const buffer = new Uint8Array(16 * 1024);
    let requests = 0;
    let sawNewline = false;

    const answer = async (line: Uint8Array, terminated: boolean): Promise<void> => {
      const crlf = terminated && line.at(-1) === 13;
      const text = decodeText(crlf ? line.subarray(0, -1) : line);
      const reply = transform(options.mode, text);
      requests++;
      tally.request(remote.hostname, remote.port);
      await writeAll(conn, encoder.encode(reply + (crlf ? "\r\n" : "\n")));
      emit({ event: "request", ...from, text, reply });
      if (out.full) await out.drained();
    };

    try {
      while (!stopping()) {
        const reading = conn.read(buffer);
        reading.catch(() => {}); // awaited below; this only keeps an early failure handled
        let count: number | null;
        if (!sawNewline && splitter.pending > 0) {
          // Text with no newline yet: answer it if the client then goes quiet.
          let timer: ReturnType<typeof setTimeout> | undefined;
          const idle = new Promise<"idle">((resolve) => {
            timer = setTimeout(() => resolve("idle"), UNTERMINATED_IDLE_MS);
          });
          const first = await Promise.race([reading, idle]);
          clearTimeout(timer);
          if (first === "idle") {
            await answer(splitter.rest(), false);
            count = await reading;
          } else {
            count = first;
          }
        } else {
          count = await reading;
        }
        if (count === null) break;
        const lines = splitter.push(buffer.subarray(0, count));
        if (lines === undefined) {
          emit({
            event: "error",
            ...from,
            message: `Closed the connection: a line is longer than ${MAX_LINE_BYTES} bytes`,
          });
          return;
        }
        if (lines.length > 0) sawNewline = true;
        for (const line of lines) await answer(line, true);
      }
      // End of input: a last line without a newline is still a request.
      if (!stopping() && splitter.pending > 0) await answer(splitter.rest(), false);
    } catch (error) {
      // A reset, a broken pipe, or the server closing the connection at stop: this
      // connection is over, the others go on.
      if (
        !stopping() &&
        !(error instanceof Deno.errors.ConnectionReset) &&
        !(error instanceof Deno.errors.BrokenPipe) &&
        !(error instanceof Deno.errors.BadResource) &&
        !(error instanceof Deno.errors.Interrupted)
      ) {
        emit({ event: "error", ...from, message: `Connection failed: ${describeError(error)}` });
      }
    } finally {
      connections.delete(conn);
      try {
        conn.close();
      } catch { /* already closed at stop */ }
      if (!stopping()) emit({ event: "closed", ...from, requests });
    }
  };

  const run = async (out: LineWriter): Promise<void> => {
    while (!stopping()) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (stopping() || error instanceof Deno.errors.BadResource) break;
        if (
          error instanceof Deno.errors.ConnectionAborted ||
          error instanceof Deno.errors.ConnectionReset ||
          error instanceof Deno.errors.Interrupted
        ) continue;
        // Out of file descriptors, typically: say so, give connections time to end, go on.
        emit({ event: "error", message: `Cannot accept a connection: ${describeError(error)}` });
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      connections.add(conn);
      const handler: Promise<void> = serveConnection(conn, out).finally(() =>
        handlers.delete(handler)
      );
      handlers.add(handler);
    }
    await Promise.all(handlers);
  };

  const close = (): void => {
    listener.close();
    for (const conn of connections) {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
    connections.clear();
  };
  return { run, close };
}
