/**
 * What `udpeer serve` reports: its `--json` events, their human lines, and the tally the
 * summary is made of. Pure: no I/O.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatServeEvent } from "./events.ts";
 * const lines = formatServeEvent({
 *   event: "request", from: "127.0.0.1", fromPort: 5000, text: "hi", reply: "HI",
 * });
 * assert.deepEqual(lines.stdout, ['127.0.0.1:5000 "hi" -> "HI"']);
 * ```
 *
 * @module
 */

import { joinHostPort } from "../common/endpoint.ts";
import { NOTHING, type Printed, toStderr, toStdout } from "../common/output.ts";
import { escapeForTerminal } from "../common/escape.ts";
import { plural } from "../common/words.ts";
import type { Mode } from "./modes.ts";

/** Distinct clients remembered for the summary; more are counted as "more than" this. */
export const MAX_TRACKED_CLIENTS = 65_536;

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
  | { event: "capped"; from: string; fromPort: number; connections: number }
  | { event: "idle-closed"; from: string; fromPort: number; requests: number; idleMs: number }
  | { event: "rate-limited"; from: string; fromPort: number; bytes: number }
  | { event: "over-budget"; from: string; fromPort: number; bytes: number }
  | { event: "empty"; from: string; fromPort: number }
  | { event: "error"; from?: string; fromPort?: number; message: string }
  | {
    event: "summary";
    requests: number;
    clients: number;
    clientsCapped: boolean;
    errors: number;
    capped: number;
    idleClosed: number;
    rateLimited: number;
    overBudget: number;
    empty: number;
    durationMs: number;
  };

/** The events about one request or connection, which `--quiet` leaves out. */
export const PER_REQUEST_EVENTS: ReadonlySet<ServeEvent["event"]> = new Set([
  "request",
  "connected",
  "closed",
  "capped",
  "idle-closed",
  "rate-limited",
  "over-budget",
  "empty",
]);

/** Where a transport sends its events. */
export type Emit = (event: ServeEvent) => void;

/** Characters of a request or reply shown in a human line; JSON keeps the whole text. */
export const SHOWN_CHARACTERS = 200;

const encoder = new TextEncoder();

/**
 * Quotes network text for a human line: escaped so it cannot drive the terminal, and if
 * longer than {@linkcode SHOWN_CHARACTERS} code points, cut there and followed by
 * `… (N bytes)`, N its whole UTF-8 length.
 *
 * @param text Any text.
 * @returns The quoted form, such as `"hello"` or `"xxxx…"… (60000 bytes)`.
 */
export function quoteText(text: string): string {
  // UTF-16 units are at least as many as code points: most texts need no Array.from.
  const points = text.length <= SHOWN_CHARACTERS ? undefined : Array.from(text);
  const long = points !== undefined && points.length > SHOWN_CHARACTERS;
  const shown = long ? points.slice(0, SHOWN_CHARACTERS).join("") : text;
  const quoted = `"${escapeForTerminal(shown).replaceAll('"', '\\"')}"`;
  return long ? `${quoted}… (${encoder.encode(text).length} bytes)` : quoted;
}

/**
 * The human line(s) for one event; network text is escaped so it cannot drive the terminal.
 *
 * @param event The event.
 * @returns The lines to print (the summary has two), or none.
 */
export function formatServeEvent(event: ServeEvent): Printed {
  switch (event.event) {
    case "listening":
      return toStdout(
        `udpeer serve: ${event.mode} on ${event.transport.toUpperCase()} ${
          joinHostPort(event.address, event.port)
        }; Ctrl-C for the summary`,
      );
    case "request":
      return toStdout(
        `${joinHostPort(event.from, event.fromPort)} ${quoteText(event.text)} -> ${
          quoteText(event.reply)
        }`,
      );
    case "connected":
      return toStdout(`${joinHostPort(event.from, event.fromPort)} connected`);
    case "closed":
      return toStdout(
        `${joinHostPort(event.from, event.fromPort)} closed after ${
          plural(event.requests, "request")
        }`,
      );
    case "capped":
      return toStdout(
        `${joinHostPort(event.from, event.fromPort)} refused: ${
          plural(event.connections, "connection")
        } open (--max-connections)`,
      );
    case "idle-closed":
      return toStdout(
        `${joinHostPort(event.from, event.fromPort)} closed after ${
          Number((event.idleMs / 1000).toFixed(3))
        } s idle (--idle-timeout), ${plural(event.requests, "request")}`,
      );
    case "rate-limited": // a flood would print a line per datagram: the summary counts them
    case "over-budget":
    case "empty":
      return NOTHING;
    case "error": {
      const who = event.from === undefined ? "" : ` (${joinHostPort(event.from, event.fromPort!)})`;
      return toStderr(`udpeer: ${event.message}${who}`);
    }
    case "summary":
      // A blank line first, as ping and the peer's summary do, apart from the ^C echo.
      return toStdout(
        "",
        "--- udpeer serve statistics ---",
        `${plural(event.requests, "request")} served, ${event.clientsCapped ? "more than " : ""}${
          plural(event.clients, "distinct client")
        }, ${plural(event.errors, "error")}, time ${event.durationMs}ms`,
        ...(event.capped + event.idleClosed + event.rateLimited + event.overBudget + event.empty ===
            0
          ? []
          : [
            `limits: ${
              plural(event.capped, "connection")
            } capped, ${event.idleClosed} idle-closed, ${
              plural(event.rateLimited, "request")
            } rate-limited${
              event.overBudget === 0 ? "" : `, ${event.overBudget} over --rate-total`
            }${event.empty === 0 ? "" : `, ${plural(event.empty, "empty datagram")} not answered`}`,
          ]),
      );
  }
}

/**
 * Counts requests, distinct clients (remembering at most {@linkcode MAX_TRACKED_CLIENTS}) and
 * what the limits refused.
 */
export class Tally {
  /** Requests answered. */
  requests = 0;
  /** Errors reported. */
  errors = 0;
  /** True once more distinct clients came than are remembered. */
  clientsCapped = false;
  /** TCP connections closed at once because `--max-connections` were open. */
  capped = 0;
  /** TCP connections closed after `--idle-timeout` without data. */
  idleClosed = 0;
  /** UDP requests not answered because their source was over `--rate`. */
  rateLimited = 0;
  /** UDP requests not answered because all sources together were over `--rate-total`. */
  overBudget = 0;
  /** Empty UDP datagrams: never answered (an answer would be an amplifier's). */
  empty = 0;
  #clients = new Set<string>();

  /** Distinct clients remembered. */
  get clients(): number {
    return this.#clients.size;
  }

  /**
   * Counts one answered request.
   *
   * @param host The client's address.
   * @param port The client's port.
   */
  request(host: string, port: number): void {
    this.requests++;
    const key = joinHostPort(host, port);
    if (this.#clients.has(key)) return;
    if (this.#clients.size >= MAX_TRACKED_CLIENTS) this.clientsCapped = true;
    else this.#clients.add(key);
  }
}
