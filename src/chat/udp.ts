/**
 * `udpeer chat` over UDP: each line is one datagram; with no reply in time it is sent
 * again, each wait half as long again as the one before. Only datagrams from the server's
 * address and port count as replies.
 *
 * @example
 * ```ts ignore
 * import { openUdp } from "./udp.ts";
 * const session = openUdp(context);
 * const outcome = await session.exchange("hello");
 * ```
 *
 * @module
 */

import { familyOf, joinHostPort } from "../common/endpoint.ts";
import { describeError, StartupError } from "../common/errors.ts";
import { decodeText } from "../common/lines.ts";
import { anyAddress, datagramReceiver } from "../common/net.ts";
import { plural } from "../common/words.ts";
import { MAX_DATAGRAM_BYTES } from "../../protocol.ts";
import { formatSeconds, roundMs } from "./events.ts";
import { retryTimeouts } from "./flags.ts";
import { type ChatContext, Inbox, type Outcome, type Session } from "./session.ts";

/** A reply and when it arrived. */
interface Arrival {
  text: string;
  at: number;
}

const encoder = new TextEncoder();

/**
 * Opens a UDP socket on any free port and starts receiving replies.
 *
 * @param context Options, the server's address, events, counters.
 * @returns The session.
 * @throws {StartupError} If no socket can be opened.
 */
export function openUdp(context: ChatContext): Session {
  let conn: Deno.DatagramConn;
  try {
    // An IPv4 socket cannot send to an IPv6 server: open the family of its address.
    const hostname = anyAddress(familyOf(context.address) ?? "ipv4");
    conn = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
  } catch (error) {
    throw new StartupError(`Cannot open a UDP socket: ${describeError(error)}`);
  }
  const inbox = new Inbox<Arrival>();
  let closed = false;
  receiveReplies(context, conn, inbox, () => closed);
  return {
    transport: "udp",
    exchange: exchanger(context, conn, inbox),
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

/** Puts each datagram from the server into the inbox; counts (and names a few) strangers. */
async function receiveReplies(
  context: ChatContext,
  conn: Deno.DatagramConn,
  inbox: Inbox<Arrival>,
  isClosed: () => boolean,
): Promise<void> {
  const { options, address, emit } = context;
  const strangers = new Set<string>();
  // ICMP port unreachable (Windows reports it on receive) and any other receive error
  // mean no reply: the timeout decides.
  const receiver = datagramReceiver(conn, { depth: 1, isClosed, onError: () => {} });
  while (!isClosed()) {
    const received = await receiver.next();
    if (received === undefined) return;
    const [data, remote] = received;
    const at = performance.now();
    if (remote.hostname === address && remote.port === options.to.port) {
      inbox.put({ text: decodeText(data), at });
      continue;
    }
    context.counters.ignored++;
    const key = joinHostPort(remote.hostname, remote.port);
    // Say it once per stranger (and for a few strangers only), so a flood is not echoed.
    if (options.json || (!strangers.has(key) && strangers.size < 8)) {
      strangers.add(key);
      emit({ event: "ignored", from: remote.hostname, fromPort: remote.port, bytes: data.length });
    }
  }
}

/** The exchange of one line: send, wait, resend, until a reply or the last try. */
function exchanger(
  context: ChatContext,
  conn: Deno.DatagramConn,
  inbox: Inbox<Arrival>,
): (line: string) => Promise<Outcome> {
  const { options, address, emit } = context;
  const port = options.to.port;
  // Replies still expected for the previous line (it was sent more than once), and what it
  // got: a late duplicate that equals that reply is not taken as the next line's answer.
  let previousReply: string | undefined;
  let duplicatesExpected = 0;

  return async (line: string): Promise<Outcome> => {
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
        const rttMs = reply.at - sentAt;
        const tries = index + 1;
        emit({
          event: "reply",
          text: line,
          reply: reply.text,
          from: address,
          fromPort: port,
          tries,
          rttMs: roundMs(rttMs),
        });
        return { kind: "reply", reply: reply.text, tries, rttMs };
      }
    }
    const waitedMs = performance.now() - started;
    const tries = timeouts.length;
    return {
      kind: "no-answer",
      tries,
      waitedMs: roundMs(waitedMs),
      detail: `no reply to ${plural(tries, "try", "tries")} over UDP in ${formatSeconds(waitedMs)}`,
    };
  };
}
