/**
 * The HTTP end of `--metrics [ADDR:]PORT` (see docs/many-hosts.md): `GET /metrics` answers with
 * the text a render function returns, any other path is 404 and any other method 405. A small
 * HTTP/1.1 server of its own over `Deno.listen` (keep-alive, pipelining, `content-length` or
 * chunked bodies), because anyone who reaches the port must not be able to end the peer, and
 * `Deno.serve` has neither the limits nor survives running out of descriptors:
 *
 * - at most {@linkcode METRICS_LIMITS}`.maxConnections` (64) connections: past it, the oldest
 *   idle one (not in the middle of a response) is closed;
 * - a request's head must arrive whole within `headerTimeoutMs` (10 s) of the connection (for
 *   the first request) or of its first byte (for the next), and at most 8 KiB of it:
 *   slowloris is closed;
 * - a kept-alive connection that sends nothing for `idleTimeoutMs` (30 s) is closed, and so is
 *   one that takes nothing of a response for as long;
 * - a failed `accept` (EMFILE: too many open files) is reported through `onError` (once per
 *   10 s), the oldest idle connection is closed to give its descriptor back, and `accept` is
 *   tried again (after `acceptRetryMs`, 100 ms, when none was idle); nothing a socket does
 *   throws out of the server.
 *
 * A scrape runs on the same thread as the receive loop, so the render function must be
 * cheap and bounded (linear in the series, see `metrics.ts`), and a large body goes out
 * chunk by chunk: the next chunk is made only once the socket took the last, and the
 * receive loop runs between two chunks. One request of a connection is answered at a time
 * and the next is read only after, so pipelined requests hold no more than one head.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseListenAddress, serveMetrics } from "./metrics_server.ts";
 * const server = serveMetrics(parseListenAddress("--metrics", "0"), () => "up 1\n");
 * const response = await fetch(`http://127.0.0.1:${server.port}/metrics`);
 * assert.equal(await response.text(), "up 1\n");
 * await server.shutdown();
 * ```
 *
 * @module
 */

import { describeError, StartupError, UsageError } from "../common/errors.ts";
import { joinHostPort, parseLocalAddress, splitHostPort } from "../common/endpoint.ts";
import { parsePort } from "../common/flags.ts";
import { METRICS_CONTENT_TYPE } from "./metrics.ts";

/** The port to give `--metrics` when nothing else uses it: see docs/many-hosts.md. */
export const DEFAULT_METRICS_PORT = 15005;

/** Where to listen for HTTP. */
export interface ListenAddress {
  /** IPv4 address to bind. */
  hostname: string;
  /** TCP port, 0 for any free one. */
  port: number;
}

/** The bounds of the metrics server; tests lower them. */
export interface MetricsLimits {
  /** Connections open at once; past it the oldest idle one is closed. */
  maxConnections: number;
  /** Milliseconds to receive a request's whole head: from the accept, then from its first byte. */
  headerTimeoutMs: number;
  /** Milliseconds a connection may send nothing between requests, or take nothing of a reply. */
  idleTimeoutMs: number;
  /** Milliseconds to wait before accepting again after `accept` failed (EMFILE). */
  acceptRetryMs: number;
}

/** The bounds of docs/many-hosts.md: 64 connections, 10 s for a head, 30 s idle. */
export const METRICS_LIMITS: Readonly<MetricsLimits> = {
  maxConnections: 64,
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
  acceptRetryMs: 100,
};

/** Longest request head (request line and headers) read; a longer one is refused. */
export const MAX_HEAD_BYTES = 8192;

/** Options of {@linkcode serveMetrics}. */
export interface MetricsServerOptions extends Partial<MetricsLimits> {
  /** The flag the address came from, for messages. Default `--metrics`. */
  flag?: string;
  /**
   * Told of what goes wrong but does not stop the server (a failed `accept`, a render that
   * throws), in one line. Default: a line on stderr.
   */
  onError?: (message: string) => void;
}

/** A running metrics endpoint. */
export interface MetricsServer {
  /** The address it is bound to. */
  hostname: string;
  /** The port it is bound to (the real one when 0 was asked). */
  port: number;
  /** Connections open now. */
  readonly connections: number;
  /** Stops listening, closes every connection, and waits until they are done. */
  shutdown(): Promise<void>;
}

/**
 * Reads `[ADDR:]PORT`. A bare port listens on 127.0.0.1 only: metrics name the hosts a
 * peer talks to, so exposing them is a choice (`0.0.0.0:PORT`), never a default.
 *
 * @param flag The flag name, for messages.
 * @param value The text given, such as `15005`, `0.0.0.0:15005`, `192.0.2.7:15005` or
 * `[::1]:15005`.
 * @returns The address and port.
 * @throws {UsageError} If the port is not in 0..65535 or the address is neither IPv4 nor IPv6
 * in brackets.
 */
export function parseListenAddress(flag: string, value: string): ListenAddress {
  if (!value.includes(":")) return { hostname: "127.0.0.1", port: parsePort(flag, value, 0) };
  const split = splitHostPort(value);
  if (split === undefined) {
    throw new UsageError(
      `Cannot parse ${flag}: "${value}" is not ADDR:PORT (an IPv6 address goes in brackets: [::1]:PORT)`,
    );
  }
  if (split.host === "") {
    throw new UsageError(
      `Cannot parse ${flag}: "${value}" has no address before the colon (write PORT or ADDR:PORT)`,
    );
  }
  return {
    hostname: parseLocalAddress(split.host, flag),
    port: parsePort(flag, split.port, 0),
  };
}

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");
const HEAD_END = [13, 10, 13, 10]; // \r\n\r\n
/** Bytes of a chunked body gathered before one write: fewer, larger writes. */
const WRITE_BYTES = 64 * 1024;

/** One accepted connection and its single timer. */
class Connection {
  readonly conn: Deno.Conn;
  /** Writing a response: not idle, not closed to make room. */
  busy = false;
  closed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #onClose: (connection: Connection) => void;

  constructor(conn: Deno.Conn, onClose: (connection: Connection) => void) {
    this.conn = conn;
    this.#onClose = onClose;
  }

  /** Closes the connection in `ms` unless the deadline is moved or cleared first. */
  deadline(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.close(), ms);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.#timer);
    // Out of the count at once, not when its read has noticed: the cap counts open sockets.
    this.#onClose(this);
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}

/** A parsed request head. */
interface Head {
  method: string;
  path: string;
  keepAlive: boolean;
  hasBody: boolean;
  /** HTTP/1.1, which knows chunked bodies; HTTP/1.0 gets a body ended by the close. */
  http11: boolean;
}

/** Parses a request head (without its blank line); undefined if it is not HTTP/1.x. */
function parseHead(text: string): Head | undefined {
  const lines = text.split("\r\n");
  const match = /^([A-Z]+) (\S+) HTTP\/1\.([01])$/.exec(lines[0]!);
  if (match === null) return undefined;
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) return undefined;
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const target = match[2]!;
  let path: string;
  try {
    path = new URL(target, "http://metrics").pathname;
  } catch {
    return undefined;
  }
  const connection = (headers.get("connection") ?? "").toLowerCase();
  const keepAlive = match[3] === "1"
    ? !connection.includes("close")
    : connection.includes("keep-alive");
  const length = headers.get("content-length");
  const hasBody = headers.has("transfer-encoding") ||
    (length !== undefined && length !== "0");
  return { method: match[1]!, path, keepAlive, hasBody, http11: match[3] === "1" };
}

function indexOfHeadEnd(bytes: Uint8Array, from: number, to: number): number {
  for (let i = Math.max(0, from); i + 3 < to; i++) {
    if (
      bytes[i] === HEAD_END[0] && bytes[i + 1] === HEAD_END[1] && bytes[i + 2] === HEAD_END[2] &&
      bytes[i + 3] === HEAD_END[3]
    ) return i;
  }
  return -1;
}

/**
 * Starts the metrics endpoint.
 *
 * @param address Where to listen.
 * @param render Returns the body of a scrape, whole or in chunks; called once per
 * `GET /metrics`.
 * @param options The flag for messages, the limits (default {@linkcode METRICS_LIMITS}), and
 * where to report errors that do not stop the server.
 * @returns The running server.
 * @throws {StartupError} If the address cannot be bound (port in use, address not local).
 */
export function serveMetrics(
  address: ListenAddress,
  render: () => string | Iterable<string>,
  options: MetricsServerOptions = {},
): MetricsServer {
  const flag = options.flag ?? "--metrics";
  const limits: MetricsLimits = {
    maxConnections: options.maxConnections ?? METRICS_LIMITS.maxConnections,
    headerTimeoutMs: options.headerTimeoutMs ?? METRICS_LIMITS.headerTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs ?? METRICS_LIMITS.idleTimeoutMs,
    acceptRetryMs: options.acceptRetryMs ?? METRICS_LIMITS.acceptRetryMs,
  };
  const onError = options.onError ?? ((message: string) => console.error(`udpeer: ${message}`));
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: address.hostname, port: address.port });
  } catch (error) {
    const where = `TCP ${joinHostPort(address.hostname, address.port)}`;
    const why = error instanceof Deno.errors.AddrInUse
      ? `the port is in use; give ${flag} another port`
      : error instanceof Deno.errors.AddrNotAvailable
      ? `${address.hostname} is not an address of this machine; check ${flag}`
      : describeError(error);
    throw new StartupError(`Cannot serve ${flag} on ${where}: ${why}`);
  }
  const bound = listener.addr as Deno.NetAddr;

  // Open connections, least recently active first (Map order, refreshed on activity).
  const open = new Map<Connection, Promise<void>>();
  // Every connection's task until it is done, closed or not: shutdown waits for them all.
  const tasks = new Set<Promise<void>>();
  let closing = false;
  let wakeRetry: (() => void) | undefined;

  const touch = (connection: Connection, task: Promise<void>): void => {
    open.delete(connection);
    open.set(connection, task);
  };

  /** Writes all of `bytes`, moving the idle deadline on as the socket takes them. */
  const writeAll = async (connection: Connection, bytes: Uint8Array): Promise<void> => {
    let written = 0;
    while (written < bytes.length) {
      connection.deadline(limits.idleTimeoutMs);
      written += await connection.conn.write(bytes.subarray(written));
    }
  };

  const respond = async (
    connection: Connection,
    status: string,
    headers: string[],
    body: string | Iterable<string> | undefined,
    keepAliveAsked: boolean,
    chunked = true,
  ): Promise<void> => {
    // Without chunks, a body of unknown length ends where the connection does.
    const keepAlive = keepAliveAsked && (chunked || typeof body !== "object");
    const lines = [
      `HTTP/1.1 ${status}`,
      ...headers,
      `connection: ${keepAlive ? "keep-alive" : "close"}`,
    ];
    if (body === undefined || typeof body === "string") {
      const bytes = encoder.encode(body ?? "");
      if (body !== undefined) lines.push(`content-length: ${bytes.length}`);
      const head = encoder.encode(`${lines.join("\r\n")}\r\n\r\n`);
      const all = new Uint8Array(head.length + bytes.length);
      all.set(head);
      all.set(bytes, head.length);
      await writeAll(connection, all);
      return;
    }
    if (chunked) lines.push("transfer-encoding: chunked");
    await writeAll(connection, encoder.encode(`${lines.join("\r\n")}\r\n\r\n`));
    const chunks = body[Symbol.iterator]();
    try {
      let gathered: Uint8Array[] = [];
      let size = 0;
      const flush = async (): Promise<void> => {
        if (size === 0) return;
        const frame = new Uint8Array(size + 16);
        let at = 0;
        const put = (bytes: Uint8Array): void => {
          frame.set(bytes, at);
          at += bytes.length;
        };
        if (chunked) put(encoder.encode(`${size.toString(16)}\r\n`));
        for (const part of gathered) put(part);
        if (chunked) put(encoder.encode("\r\n"));
        gathered = [];
        size = 0;
        await writeAll(connection, frame.subarray(0, at));
      };
      // One chunk made at a time, and written once enough is gathered: the receive loop
      // runs between two writes.
      const nextChunk = (): IteratorResult<string> => {
        try {
          return chunks.next();
        } catch (error) {
          // The head is sent: all that is left is to cut the body short, by the close.
          onError(`Cannot render ${flag}: ${describeError(error)}`);
          throw error;
        }
      };
      for (let next = nextChunk(); !next.done; next = nextChunk()) {
        const bytes = encoder.encode(next.value);
        if (bytes.length === 0) continue;
        gathered.push(bytes);
        size += bytes.length;
        if (size >= WRITE_BYTES) await flush();
      }
      await flush();
      if (chunked) await writeAll(connection, encoder.encode("0\r\n\r\n"));
      else connection.close();
    } finally {
      chunks.return?.();
    }
  };

  /** Answers one request; false when the connection must be closed after it. */
  const answer = async (connection: Connection, head: Head | undefined): Promise<boolean> => {
    if (head === undefined) {
      await respond(
        connection,
        "400 Bad Request",
        ["content-type: text/plain"],
        "Bad request\n",
        false,
      );
      return false;
    }
    // A request body is never read: answer, then close, so it is not taken for a request.
    const keepAlive = head.keepAlive && !head.hasBody;
    if (head.path !== "/metrics") {
      await respond(
        connection,
        "404 Not Found",
        ["content-type: text/plain"],
        "Not found: udpeer serves only /metrics\n",
        keepAlive,
      );
    } else if (head.method !== "GET" && head.method !== "HEAD") {
      await respond(
        connection,
        "405 Method Not Allowed",
        ["content-type: text/plain", "allow: GET, HEAD"],
        "Method not allowed: use GET\n",
        keepAlive,
      );
    } else if (head.method === "HEAD") {
      await respond(
        connection,
        "200 OK",
        [`content-type: ${METRICS_CONTENT_TYPE}`],
        undefined,
        keepAlive,
      );
    } else {
      let body: string | Iterable<string>;
      try {
        body = render();
      } catch (error) {
        onError(`Cannot render ${flag}: ${describeError(error)}`);
        await respond(
          connection,
          "500 Internal Server Error",
          ["content-type: text/plain"],
          "Cannot render the metrics\n",
          false,
        );
        return false;
      }
      await respond(
        connection,
        "200 OK",
        [`content-type: ${METRICS_CONTENT_TYPE}`],
        body,
        keepAlive,
        head.http11,
      );
    }
    return keepAlive;
  };

  const serveConnection = async (connection: Connection): Promise<void> => {
    const buffer = new Uint8Array(MAX_HEAD_BYTES);
    let filled = 0;
    let searched = 0;
    // A new connection's first head must be whole within the limit from the accept; a
    // kept-alive one idles first, and its next head's clock starts at its first byte.
    let idling = false;
    connection.deadline(limits.headerTimeoutMs);
    while (!connection.closed) {
      const end = indexOfHeadEnd(buffer, searched - 3, filled);
      if (end < 0) {
        searched = filled;
        if (filled === buffer.length) {
          await respond(
            connection,
            "431 Request Header Fields Too Large",
            ["content-type: text/plain"],
            "Request head too large\n",
            false,
          );
          return;
        }
        const count = await connection.conn.read(buffer.subarray(filled));
        if (count === null) return;
        if (idling) {
          idling = false;
          connection.deadline(limits.headerTimeoutMs);
        }
        filled += count;
        continue;
      }
      const head = parseHead(latin1.decode(buffer.subarray(0, end)));
      buffer.copyWithin(0, end + 4, filled);
      filled -= end + 4;
      searched = 0;
      connection.busy = true;
      const keepAlive = await answer(connection, head);
      connection.busy = false;
      if (!keepAlive || connection.closed) return;
      touch(connection, open.get(connection)!);
      // Pipelined bytes already here: a head's clock; else the idle clock.
      idling = filled === 0;
      connection.deadline(idling ? limits.idleTimeoutMs : limits.headerTimeoutMs);
    }
  };

  const makeRoom = (): boolean => {
    for (const connection of open.keys()) {
      if (!connection.busy) {
        connection.close();
        return true;
      }
    }
    return false;
  };

  let lastReport = "";
  let lastReportAt = -Infinity;
  const report = (message: string): void => {
    // A descriptor shortage fails every accept for a while: one line, not ten a second.
    const now = performance.now();
    if (message === lastReport && now - lastReportAt < 10_000) return;
    lastReport = message;
    lastReportAt = now;
    onError(message);
  };

  const accepting = (async () => {
    while (!closing) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (closing) return;
        if (error instanceof Deno.errors.BadResource) {
          report(`Cannot accept on ${flag} any more: ${describeError(error)}`);
          return;
        }
        report(
          `Cannot accept a connection on ${flag}: ${
            describeError(error)
          }; closing idle connections and trying again`,
        );
        // Out of descriptors (EMFILE): the oldest idle connection gives its one back, and
        // the next accept takes it at once. With none to close, wait and try again.
        if (makeRoom()) {
          await new Promise((resolve) => setTimeout(resolve, 0));
          continue;
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, limits.acceptRetryMs);
          wakeRetry = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wakeRetry = undefined;
        continue;
      }
      if (closing) {
        try {
          conn.close();
        } catch { /* closed */ }
        return;
      }
      if (open.size >= limits.maxConnections && !makeRoom()) {
        try {
          conn.close(); // every open connection is in the middle of a response
        } catch { /* closed */ }
        continue;
      }
      const connection = new Connection(conn, (closed) => open.delete(closed));
      const task = serveConnection(connection)
        .catch(() => {/* a reset, a timeout's close: the connection's end, nothing more */})
        .finally(() => connection.close());
      open.set(connection, task);
      tasks.add(task);
      task.finally(() => tasks.delete(task));
    }
  })();

  return {
    hostname: bound.hostname,
    port: bound.port,
    get connections() {
      return open.size;
    },
    shutdown: async () => {
      if (closing) return;
      closing = true;
      try {
        listener.close();
      } catch { /* closed */ }
      wakeRetry?.();
      await accepting;
      for (const connection of [...open.keys()]) connection.close();
      await Promise.all([...tasks]);
    },
  };
}
