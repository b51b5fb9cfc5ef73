/**
 * `udpeer serve`: the classic request/response server (see docs/serve-and-chat.md). Over UDP each datagram is
 * one request and gets one datagram back; over TCP (`--tcp`) each line is one request and
 * gets one line back, and many connections are served at once. The text is plain UTF-8 with
 * no header, so the first socket programs everyone writes in Python talk to it unchanged.
 * This module wires the parts: the transport (`udp.ts`, `tcp.ts`), the output, the signals
 * and the summary.
 *
 * @example
 * ```ts ignore
 * import { parseServeArgs } from "./flags.ts";
 * import { runServe } from "./run.ts";
 * const code = await runServe(parseServeArgs(["--port", "0"])); // until Ctrl-C
 * ```
 *
 * @module
 */

import { describeError } from "../common/errors.ts";
import { jsonLine } from "../common/escape.ts";
import { LineWriter, print } from "../common/output.ts";
import { onStopSignals } from "../common/signals.ts";
import {
  type Emit,
  formatServeEvent,
  PER_REQUEST_EVENTS,
  type ServeEvent,
  Tally,
} from "./events.ts";
import type { ServeOptions } from "./flags.ts";
import type { ServeContext } from "./server.ts";
import { serveTcp } from "./tcp.ts";
import { serveUdp } from "./udp.ts";

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
  const emit = printer(options, out, tally);
  const context: ServeContext = { options, emit, tally, stopping: () => stopping, out };
  const server = options.tcp ? serveTcp(context) : serveUdp(context);

  function stop(): void {
    if (stopping) return;
    stopping = true;
    server.close();
    finished();
  }

  const removeSignalListeners = onStopSignals(stop);
  const running = server.run().catch((error) => {
    emit({ event: "error", message: `Server stopped: ${describeError(error)}` });
    stop();
  });
  await done;
  removeSignalListeners();
  await running;
  emit({
    event: "summary",
    requests: tally.requests,
    clients: tally.clients,
    clientsCapped: tally.clientsCapped,
    errors: tally.errors,
    capped: tally.capped,
    idleClosed: tally.idleClosed,
    rateLimited: tally.rateLimited,
    overBudget: tally.overBudget,
    empty: tally.empty,
    durationMs: Math.round(performance.now() - startedAt),
  });
  await out.flush();
  return 0;
}

/** Counts errors, then prints an event as JSON, as human lines, or (errors) on stderr. */
function printer(options: ServeOptions, out: LineWriter, tally: Tally): Emit {
  return (event: ServeEvent): void => {
    if (event.event === "error") tally.errors++;
    if (options.quiet && PER_REQUEST_EVENTS.has(event.event)) return;
    if (options.json) return out.line(jsonLine(event));
    print(formatServeEvent(event), out);
  };
}
