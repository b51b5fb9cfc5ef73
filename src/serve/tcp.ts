/**
 * `udpeer serve --tcp`: each line is one request and gets one line back, many connections
 * at once. A client's first text that has no newline and then goes quiet for
 * {@linkcode UNTERMINATED_IDLE_MS} is answered as a request too, with no newline added (the
 * classic Python client).
 * At most `--max-connections` are served at once (one more is closed as soon as it is
 * accepted), and a connection that sends nothing for `--idle-timeout` is closed, so memory
 * stays bounded: each open connection holds at most a read buffer and one partial line.
 *
 * @example
 * ```ts ignore
 * import { serveTcp } from "./tcp.ts";
 * const server = serveTcp(context); // binds, emits "listening"
 * await server.run();               // until server.close()
 * ```
 *
 * @module
 */

import { describeError } from "../common/errors.ts";
import { unmapAddress } from "../common/endpoint.ts";
import { decodeText, LineSplitter, MAX_LINE_BYTES, stripCr } from "../common/lines.ts";
import { isHarmlessSocketError } from "../common/net.ts";
import { writeAll } from "../common/write.ts";
import { transform } from "./modes.ts";
import { bindServer, type ServeContext, type Server } from "./server.ts";

/**
 * How long a TCP client's first, unterminated text may sit idle before it is answered as a
 * request. The classic Python TCP client sends `sentence.encode()` with no newline and
 * waits for the reply; once a connection has sent a newline it is served by lines only.
 */
export const UNTERMINATED_IDLE_MS = 300;

/** Bytes read per call; with a partial line of at most `MAX_LINE_BYTES`, a connection's memory. */
export const READ_BUFFER_BYTES = 16 * 1024;

const encoder = new TextEncoder();

function listenTcp(hostname: string, port: number): Deno.Listener {
  return Deno.listen({ transport: "tcp", hostname, port });
}

/**
 * Binds the TCP listener and emits `listening`.
 *
 * @param context Options, events, counters.
 * @returns The server, ready to run.
 * @throws {StartupError} If the port cannot be bound.
 */
export function serveTcp(context: ServeContext): Server {
  const listener = bindServer(context, "tcp", listenTcp);
  const connections = new Set<Connection>();

  const close = (): void => {
    listener.close();
    for (const { conn } of connections) closeQuietly(conn);
    connections.clear();
  };
  return { run: () => acceptConnections(context, listener, connections), close };
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

/**
 * Accepts until the listener is closed, serving each connection on its own, closing one
 * past `--max-connections` at once, and sweeping out idle ones.
 */
async function acceptConnections(
  context: ServeContext,
  listener: Deno.Listener,
  connections: Set<Connection>,
): Promise<void> {
  const { emit, options, tally } = context;
  const handlers = new Set<Promise<void>>();
  const sweeper = sweepIdle(connections, options.idleTimeoutSeconds * 1000);
  try {
    await acceptEach(context, listener, (conn) => {
      const remote = conn.remoteAddr as Deno.NetAddr;
      // A :: listener sees an IPv4 client as ::ffff:a.b.c.d: shown as the plain address.
      const from = { from: unmapAddress(remote.hostname), fromPort: remote.port };
      if (connections.size >= options.maxConnections) {
        closeQuietly(conn);
        tally.capped++;
        emit({ event: "capped", ...from, connections: connections.size });
        return;
      }
      const connection = newConnection(conn, from);
      connections.add(connection);
      const handler: Promise<void> = serveConnection(context, connection)
        .finally(() => {
          connections.delete(connection);
          handlers.delete(handler);
        });
      handlers.add(handler);
    });
  } finally {
    clearInterval(sweeper);
  }
  await Promise.all(handlers);
}

/**
 * Closes the connections that sent nothing for `idleMs`, checking a few times per timeout
 * (at most once a second, so a timeout of any length needs no long timer).
 */
function sweepIdle(
  connections: Set<Connection>,
  idleMs: number,
): ReturnType<typeof setInterval> {
  const every = Math.min(1000, Math.max(20, idleMs / 10));
  return setInterval(() => {
    const now = performance.now();
    for (const connection of connections) {
      if (now - connection.lastActivity < idleMs) continue;
      connection.idleMs = now - connection.lastActivity;
      connections.delete(connection);
      closeQuietly(connection.conn); // its pending read fails and its handler ends
    }
  }, every);
}

/** Calls `onConnection` for each accepted connection until the listener is closed. */
async function acceptEach(
  context: ServeContext,
  listener: Deno.Listener,
  onConnection: (conn: Deno.Conn) => void,
): Promise<void> {
  const { emit, stopping } = context;
  while (!stopping()) {
    let conn: Deno.Conn;
    try {
      conn = await listener.accept();
    } catch (error) {
      if (stopping() || error instanceof Deno.errors.BadResource) break;
      if (isHarmlessSocketError(error)) continue;
      // Out of file descriptors, typically: say so, give connections time to end, go on.
      emit({ event: "error", message: `Cannot accept a connection: ${describeError(error)}` });
      await new Promise((resolve) => setTimeout(resolve, 100));
      continue;
    }
    onConnection(conn);
  }
}

/** One connection: its reader state, its request count and when it last sent anything. */
interface Connection {
  conn: Deno.Conn;
  from: { from: string; fromPort: number };
  splitter: LineSplitter;
  buffer: Uint8Array;
  requests: number;
  sawNewline: boolean;
  /** `performance.now()` when it connected or last sent bytes. */
  lastActivity: number;
  /** Set when the idle sweep closed it: how long it had been silent. */
  idleMs: number | undefined;
}

function newConnection(conn: Deno.Conn, from: Connection["from"]): Connection {
  return {
    conn,
    from,
    splitter: new LineSplitter(MAX_LINE_BYTES),
    buffer: new Uint8Array(READ_BUFFER_BYTES),
    requests: 0,
    sawNewline: false,
    lastActivity: performance.now(),
    idleMs: undefined,
  };
}

async function serveConnection(context: ServeContext, connection: Connection): Promise<void> {
  const { emit, stopping, tally } = context;
  const { conn, from, splitter } = connection;
  emit({ event: "connected", ...from });
  try {
    while (!stopping()) {
      const count = await readChunk(context, connection);
      if (count === null) break;
      const lines = splitter.push(connection.buffer.subarray(0, count));
      if (lines === undefined) {
        emit({
          event: "error",
          ...from,
          message: `Closed the connection: a line is longer than ${MAX_LINE_BYTES} bytes`,
        });
        return;
      }
      if (lines.length > 0) connection.sawNewline = true;
      for (const line of lines) await answer(context, connection, line, true);
    }
    // End of input: a last line without a newline is still a request.
    if (!stopping() && splitter.pending > 0) {
      await answer(context, connection, splitter.rest(), false);
    }
  } catch (error) {
    // A reset, a broken pipe, or the server closing the connection at stop: this
    // connection is over, the others go on.
    if (!stopping() && connection.idleMs === undefined && !isHarmlessSocketError(error)) {
      emit({ event: "error", ...from, message: `Connection failed: ${describeError(error)}` });
    }
  } finally {
    closeQuietly(conn);
    const { requests, idleMs } = connection;
    if (idleMs !== undefined) {
      tally.idleClosed++;
      emit({ event: "idle-closed", ...from, requests, idleMs: Math.round(idleMs) });
    } else if (!stopping()) emit({ event: "closed", ...from, requests });
  }
}

/**
 * Reads the next chunk into the connection's buffer. While the connection has sent text but
 * never a newline, text that then sits idle is answered as a request first.
 */
async function readChunk(context: ServeContext, connection: Connection): Promise<number | null> {
  const { conn, splitter, buffer } = connection;
  const reading = conn.read(buffer).then((count) => {
    connection.lastActivity = performance.now();
    return count;
  });
  if (connection.sawNewline || splitter.pending === 0) return await reading;
  reading.catch(() => {}); // awaited below; this only keeps an early failure handled
  let timer: ReturnType<typeof setTimeout> | undefined;
  const idle = new Promise<"idle">((resolve) => {
    timer = setTimeout(() => resolve("idle"), UNTERMINATED_IDLE_MS);
  });
  const first = await Promise.race([reading, idle]);
  clearTimeout(timer);
  if (first !== "idle") return first;
  await answer(context, connection, splitter.rest(), false);
  return await reading;
}

/**
 * Replies to one request. A line (`terminated`) gets a line back, with the same line end;
 * text that ended by the idle rule or at the end of input gets its reply without one, as
 * the textbook Python server sends it. The request counts once its reply is written.
 */
async function answer(
  context: ServeContext,
  connection: Connection,
  line: Uint8Array,
  terminated: boolean,
): Promise<void> {
  const { options, emit, tally, out } = context;
  const { from } = connection;
  const [body, crlf] = terminated ? stripCr(line) : [line, false];
  const text = decodeText(body);
  const reply = transform(options.mode, text);
  const end = terminated ? (crlf ? "\r\n" : "\n") : "";
  await writeAll(connection.conn, encoder.encode(reply + end));
  connection.requests++;
  tally.request(from.from, from.fromPort);
  emit({ event: "request", ...from, text, reply });
  if (out.full) await out.drained();
}
