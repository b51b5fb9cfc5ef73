/**
 * `udpeer chat --tcp`: one connection, one line per request and per reply. Nothing is sent
 * twice: the client waits the sum of the UDP timeouts for the reply line. A server that
 * closes the connection after each reply (the classic Python TCP server) is reconnected to
 * for the next line.
 *
 * @example
 * ```ts ignore
 * import { openTcp } from "./tcp.ts";
 * const session = await openTcp(context); // connects, or throws StartupError
 * const outcome = await session.exchange("hello");
 * ```
 *
 * @module
 */

import { describeError, StartupError } from "../common/errors.ts";
import { decodeText, LineSplitter, MAX_LINE_BYTES, stripCr } from "../common/lines.ts";
import { isHarmlessSocketError } from "../common/net.ts";
import { type CancelTimer, setLongTimeout } from "../common/timers.ts";
import { writeAll } from "../common/write.ts";
import { formatSeconds, roundMs } from "./events.ts";
import { retryTimeouts } from "./flags.ts";
import { type ChatContext, Inbox, type Outcome, type Session } from "./session.ts";

/** Longest reply line accepted over TCP; a longer one ends the session. */
export const MAX_REPLY_LINE_BYTES = 1 << 20;

/** One TCP connection and the reply lines read from it. */
interface TcpLink {
  conn: Deno.Conn;
  lines: Inbox<string>;
  ended: boolean;
  failure: string | undefined;
}

const encoder = new TextEncoder();

/**
 * Connects to the server and starts reading reply lines.
 *
 * @param context Options, the server's address, events.
 * @returns The session.
 * @throws {StartupError} If the server does not accept a connection in time.
 */
export async function openTcp(context: ChatContext): Promise<Session> {
  const { options, address } = context;
  const timeouts = retryTimeouts(options.timeoutSeconds, options.retries);
  const patienceMs = timeouts.reduce((sum, seconds) => sum + seconds, 0) * 1000;
  const first = await connect(address, options.to.port, patienceMs);
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
      closeQuietly(link.conn);
      const next = await connect(address, options.to.port, patienceMs);
      if (typeof next === "string") {
        return noAnswer(started, `it closed the connection, then ${next}`);
      }
      link = next;
    }
    return await sendAndWait(context, link, line, started, patienceMs);
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
    close: () => closeQuietly(link.conn),
  };
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

function noAnswer(started: number, detail: string): Outcome {
  return { kind: "no-answer", tries: 1, waitedMs: roundMs(performance.now() - started), detail };
}

/** Connects within `patienceMs`, or says why not. */
async function connect(
  hostname: string,
  port: number,
  patienceMs: number,
): Promise<TcpLink | string> {
  let cancel: CancelTimer | undefined;
  let timedOut = false;
  const connecting = Deno.connect({ transport: "tcp", hostname, port });
  connecting.then((conn) => {
    if (timedOut) conn.close(); // too late: nobody uses it
  }, () => {});
  const timeout = new Promise<"timeout">((resolve) => {
    cancel = setLongTimeout(() => resolve("timeout"), patienceMs);
  });
  try {
    const result = await Promise.race([connecting, timeout]);
    if (result === "timeout") {
      timedOut = true;
      return `no TCP connection in ${formatSeconds(patienceMs)}`;
    }
    return startReading(result);
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionRefused) return "TCP connection refused";
    return `cannot connect over TCP: ${describeError(error)}`;
  } finally {
    cancel?.();
  }
}

/** Reads reply lines into the link's inbox until the server closes the connection. */
function startReading(conn: Deno.Conn): TcpLink {
  const link: TcpLink = { conn, lines: new Inbox<string>(), ended: false, failure: undefined };
  const put = (line: Uint8Array): void => link.lines.put(decodeText(stripCr(line)[0]));
  (async () => {
    const buffer = new Uint8Array(16 * 1024);
    const splitter = new LineSplitter(MAX_REPLY_LINE_BYTES);
    try {
      while (true) {
        const count = await conn.read(buffer);
        if (count === null) break;
        const lines = splitter.push(buffer.subarray(0, count));
        if (lines === undefined) {
          link.failure = `a reply line is longer than ${MAX_REPLY_LINE_BYTES} bytes`;
          break;
        }
        lines.forEach(put);
      }
      // The server closed the connection: a last reply without a newline still counts.
      if (splitter.pending > 0) put(splitter.rest());
    } catch (error) {
      if (!isHarmlessSocketError(error)) link.failure = describeError(error);
    }
    link.ended = true;
    link.lines.poke();
  })();
  return link;
}

/** Sends one line and waits up to `patienceMs` for the reply line. */
async function sendAndWait(
  context: ChatContext,
  link: TcpLink,
  line: string,
  started: number,
  patienceMs: number,
): Promise<Outcome> {
  const sentAt = performance.now();
  try {
    await writeAll(link.conn, encoder.encode(line + "\n"));
  } catch (error) {
    if (context.stopped()) return { kind: "stopped" };
    return noAnswer(started, `cannot send over TCP: ${describeError(error)}`);
  }
  const reply = await link.lines.take(patienceMs, () => context.stopped() || link.ended);
  if (context.stopped()) return { kind: "stopped" };
  if (reply === undefined) {
    const failure = link.failure === undefined ? "" : `: ${link.failure}`;
    return noAnswer(
      started,
      link.ended
        ? `it closed the TCP connection without replying${failure}`
        : `no reply line over TCP in ${formatSeconds(performance.now() - started)}`,
    );
  }
  const rttMs = performance.now() - sentAt;
  context.emit({
    event: "reply",
    text: line,
    reply,
    from: context.address,
    fromPort: context.options.to.port,
    tries: 1,
    rttMs: roundMs(rttMs),
  });
  return { kind: "reply", reply, tries: 1, rttMs };
}
