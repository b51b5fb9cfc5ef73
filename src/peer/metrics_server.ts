/**
 * The HTTP end of `--metrics [ADDR:]PORT` (see docs/many-hosts.md): `GET /metrics` answers with the text
 * a render function returns, anything else is 404. Built on `Deno.serve`, which needs only
 * `--allow-net`.
 *
 * A scrape runs on the same thread as the receive loop, so the render function must be
 * cheap and bounded (linear in the series, see `metrics.ts`), and a large body goes out
 * chunk by chunk: the body is pulled one chunk at a time as the socket takes it, and the
 * receive loop runs between two chunks.
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
import { parseIpv4Flag, parsePort } from "../common/flags.ts";
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

/** A running metrics endpoint. */
export interface MetricsServer {
  /** The address it is bound to. */
  hostname: string;
  /** The port it is bound to (the real one when 0 was asked). */
  port: number;
  /** Stops listening and waits for the open requests to finish. */
  shutdown(): Promise<void>;
}

/**
 * Reads `[ADDR:]PORT`. A bare port listens on 127.0.0.1 only: metrics name the hosts a
 * peer talks to, so exposing them is a choice (`0.0.0.0:PORT`), never a default.
 *
 * @param flag The flag name, for messages.
 * @param value The text given, such as `15005`, `0.0.0.0:15005` or `192.0.2.7:15005`.
 * @returns The address and port.
 * @throws {UsageError} If the port is not in 0..65535 or the address is not IPv4.
 */
export function parseListenAddress(flag: string, value: string): ListenAddress {
  const colon = value.lastIndexOf(":");
  if (colon < 0) return { hostname: "127.0.0.1", port: parsePort(flag, value, 0) };
  const hostname = value.slice(0, colon);
  if (hostname === "") {
    throw new UsageError(
      `Cannot parse ${flag}: "${value}" has no address before the colon (write PORT or ADDR:PORT)`,
    );
  }
  return {
    hostname: parseIpv4Flag(flag, hostname),
    port: parsePort(flag, value.slice(colon + 1), 0),
  };
}

/**
 * Starts the metrics endpoint.
 *
 * @param address Where to listen.
 * @param render Returns the body of a scrape, whole or in chunks; called once per
 * `GET /metrics`.
 * @param flag The flag the address came from, for messages.
 * @returns The running server.
 * @throws {StartupError} If the address cannot be bound (port in use, address not local).
 */
export function serveMetrics(
  address: ListenAddress,
  render: () => string | Iterable<string>,
  flag = "--metrics",
): MetricsServer {
  const handler = (request: Request): Response => {
    const { pathname } = new URL(request.url);
    if (pathname !== "/metrics") {
      return new Response("Not found: udpeer serves only /metrics\n", { status: 404 });
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("Method not allowed: use GET\n", {
        status: 405,
        headers: { allow: "GET, HEAD" },
      });
    }
    const headers = { "content-type": METRICS_CONTENT_TYPE };
    if (request.method === "HEAD") return new Response(null, { headers });
    const body = render();
    if (typeof body === "string") return new Response(body, { headers });
    const chunks = body[Symbol.iterator]();
    const encoder = new TextEncoder();
    return new Response(
      new ReadableStream<Uint8Array>({
        // One chunk per pull: the next is made only when the socket took the last.
        pull(controller) {
          const next = chunks.next();
          if (next.done) controller.close();
          else controller.enqueue(encoder.encode(next.value));
        },
        cancel() {
          chunks.return?.();
        },
      }, { highWaterMark: 0 }),
      { headers },
    );
  };
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      hostname: address.hostname,
      port: address.port,
      onListen: () => {}, // Deno would print "Listening on …" to stdout, into --json
    }, handler);
  } catch (error) {
    const where = `TCP ${address.hostname}:${address.port}`;
    const why = error instanceof Deno.errors.AddrInUse
      ? `the port is in use; give ${flag} another port`
      : error instanceof Deno.errors.AddrNotAvailable
      ? `${address.hostname} is not an address of this machine; check ${flag}`
      : describeError(error);
    throw new StartupError(`Cannot serve ${flag} on ${where}: ${why}`);
  }
  return {
    hostname: server.addr.hostname,
    port: server.addr.port,
    shutdown: () => server.shutdown(),
  };
}
