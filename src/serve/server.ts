/**
 * What `runServe` hands each transport (UDP in `udp.ts`, TCP in `tcp.ts`) and gets back:
 * the shared context, the one way to bind, and a bound server.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Server } from "./server.ts";
 * const server: Server = { run: () => Promise.resolve(), close: () => {} };
 * assert.equal(typeof server.close, "function");
 * ```
 *
 * @module
 */

import { listenError } from "../common/net.ts";
import type { LineWriter } from "../common/output.ts";
import type { Emit, Tally } from "./events.ts";
import type { ServeOptions } from "./flags.ts";

/** What a transport needs from the run: options, where events go, counters, the stop flag. */
export interface ServeContext {
  /** Parsed command line. */
  options: ServeOptions;
  /** Reports an event (printed or written as JSON by the run). */
  emit: Emit;
  /** The counters for the summary. */
  tally: Tally;
  /** True once the server is stopping: errors then are expected. */
  stopping: () => boolean;
  /** stdout, so a busy server waits for a slow reader instead of queueing without bound. */
  out: LineWriter;
}

/** A bound server: `run` serves until `close` is called. */
export interface Server {
  /** Serves requests; resolves once the server is closed and its work is done. */
  run(): Promise<void>;
  /** Stops accepting and receiving, and closes every connection. */
  close(): void;
}

/**
 * Binds the socket of a transport and emits `listening` with the port it got.
 *
 * @param context Options (bind address, port, mode) and where events go.
 * @param transport `udp` or `tcp`, for the event and the error.
 * @param listen Opens the socket on an address and port.
 * @returns The bound socket.
 * @throws {StartupError} If the port cannot be bound, in the one wording of `listenError`.
 */
export function bindServer<T extends { readonly addr: Deno.Addr }>(
  context: ServeContext,
  transport: "udp" | "tcp",
  listen: (hostname: string, port: number) => T,
): T {
  const { options, emit } = context;
  let socket: T;
  try {
    socket = listen(options.bind, options.port);
  } catch (error) {
    throw listenError(transport === "udp" ? "UDP" : "TCP", options.bind, options.port, error);
  }
  const { port } = socket.addr as Deno.NetAddr;
  emit({ event: "listening", transport, address: options.bind, port, mode: options.mode });
  return socket;
}
