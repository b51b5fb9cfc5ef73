/**
 * `udpeer serve` over UDP: each datagram is one request and gets one datagram back, as long
 * as its source address stays within `--rate` replies per second and all sources together
 * within `--rate-total` (see `limits.ts`). An empty datagram gets nothing back: with any
 * reply it would be an amplifier (`--mode ack` sent 16 bytes for 0).
 *
 * @example
 * ```ts ignore
 * import { serveUdp } from "./udp.ts";
 * const server = serveUdp(context); // binds, emits "listening"
 * await server.run();               // until server.close()
 * ```
 *
 * @module
 */

import { describeError } from "../common/errors.ts";
import { decodeText } from "../common/lines.ts";
import { datagramReceiver } from "../common/net.ts";
import { MAX_DATAGRAM_BYTES } from "../../protocol.ts";
import { RateLimiter } from "./limits.ts";
import { transform } from "./modes.ts";
import { bindServer, type ServeContext, type Server } from "./server.ts";

const encoder = new TextEncoder();

function listenUdp(hostname: string, port: number): Deno.DatagramConn {
  return Deno.listenDatagram({ transport: "udp", hostname, port });
}

/**
 * Binds the UDP socket and emits `listening`.
 *
 * @param context Options, events, counters.
 * @returns The server, ready to run.
 * @throws {StartupError} If the port cannot be bound.
 */
export function serveUdp(context: ServeContext): Server {
  const conn = bindServer(context, "udp", listenUdp);
  return { run: () => receiveRequests(context, conn), close: () => conn.close() };
}

async function receiveRequests(context: ServeContext, conn: Deno.DatagramConn): Promise<void> {
  const { emit, stopping, out, tally } = context;
  const limiter = new RateLimiter(context.options.rate);
  // One bucket for every source together: forged sources each have their own --rate.
  const budget = new RateLimiter(context.options.rateTotal, 1);
  // One receive at a time: each request is answered before the next is read.
  const receiver = datagramReceiver(conn, {
    depth: 1,
    isClosed: stopping,
    onError: (error) =>
      emit({ event: "error", message: `Cannot receive: ${describeError(error)}` }),
  });
  while (!stopping()) {
    const received = await receiver.next();
    if (received === undefined) return;
    const [data, remote] = received;
    const from = { from: remote.hostname, fromPort: remote.port };
    const now = performance.now();
    if (data.length === 0) {
      tally.empty++;
      emit({ event: "empty", ...from });
    } else if (!limiter.allow(remote.hostname, now)) {
      tally.rateLimited++;
      emit({ event: "rate-limited", ...from, bytes: data.length });
    } else if (!budget.allow("", now)) {
      tally.overBudget++;
      emit({ event: "over-budget", ...from, bytes: data.length });
    } else {
      const text = decodeText(data); // before the next receive() overwrites the buffer
      if (!await answer(context, conn, text, remote)) return;
    }
    if (out.full) await out.drained();
  }
}

/**
 * Replies to one request; false if the server stopped meanwhile. A reply that cannot be
 * sent is an error, not a served request.
 */
async function answer(
  context: ServeContext,
  conn: Deno.DatagramConn,
  text: string,
  remote: Deno.NetAddr,
): Promise<boolean> {
  const { options, emit, tally, stopping } = context;
  const from = { from: remote.hostname, fromPort: remote.port };
  const reply = transform(options.mode, text);
  const bytes = encoder.encode(reply);
  if (bytes.length > MAX_DATAGRAM_BYTES) {
    emit({
      event: "error",
      ...from,
      message:
        `Cannot reply: the reply is ${bytes.length} bytes, at most ${MAX_DATAGRAM_BYTES} fit in one datagram`,
    });
    return true;
  }
  try {
    await conn.send(bytes, remote);
  } catch (error) {
    if (stopping()) return false;
    emit({ event: "error", ...from, message: `Cannot reply: ${describeError(error)}` });
    return true;
  }
  tally.request(remote.hostname, remote.port);
  emit({ event: "request", ...from, text, reply });
  return true;
}
