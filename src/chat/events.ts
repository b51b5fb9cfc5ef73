/**
 * What `udpeer chat` reports: its `--json` events and their human form (a reply on stdout,
 * feedback and errors on stderr). Pure: no I/O.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatChatEvent } from "./events.ts";
 * const view = { interactive: false, escape: true, retries: 5, label: "127.0.0.1:12000" };
 * const reply = { event: "reply", text: "hi", reply: "HI", from: "127.0.0.1", fromPort: 12000, tries: 1, rttMs: 0.2 } as const;
 * assert.deepEqual(formatChatEvent(reply, view).stdout, ["HI"]);
 * const bell = { ...reply, reply: "\x07" };
 * assert.deepEqual(formatChatEvent(bell, view).stdout, ["\\x07"]); // escaped on a terminal
 * assert.deepEqual(formatChatEvent(bell, { ...view, escape: false }).stdout, ["\x07"]);
 * ```
 *
 * @module
 */

import { joinHostPort } from "../common/endpoint.ts";
import { NOTHING, type Printed, toStderr, toStdout } from "../common/output.ts";
import { escapeForTerminal } from "../common/escape.ts";

/** The `--json` events of `udpeer chat`, one per line. */
export type ChatEvent =
  | { event: "connected"; to: string; transport: "udp" | "tcp" }
  | {
    event: "reply";
    text: string;
    reply: string;
    from: string;
    fromPort: number;
    tries: number;
    rttMs: number;
  }
  | { event: "retry"; text: string; try: number; timeoutMs: number }
  | { event: "ignored"; from: string; fromPort: number; bytes: number }
  | { event: "error"; message: string }
  | { event: "no-answer"; to: string; tries: number; waitedMs: number }
  | { event: "summary"; lines: number; replies: number; resent: number; ignored: number };

/** Where a session sends its events. */
export type ChatEmit = (event: ChatEvent) => void;

/** What the human form depends on besides the event. */
export interface ChatView {
  /** stdin is a terminal: a person waits and wants feedback on retries. */
  interactive: boolean;
  /**
   * stdout is a terminal: control characters in a reply are escaped so the server cannot
   * drive it. Piped, a reply is printed as received, so a script gets text it can compare.
   */
  escape: boolean;
  /** Tries per line, for `try 2/5`. */
  retries: number;
  /** The server as given, `HOST:PORT`. */
  label: string;
}

/**
 * Rounds milliseconds to 0.1 ms for the JSON events.
 *
 * @param ms Milliseconds.
 * @returns The value rounded to one decimal.
 */
export function roundMs(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/**
 * Milliseconds as seconds for a person: `1.125 s`.
 *
 * @param ms Milliseconds.
 * @returns Seconds with at most three decimals and the unit.
 */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/**
 * The human form of one event: the line for stdout, the line for stderr, or neither.
 *
 * @param event The event.
 * @param view The session's terminal state and settings.
 * @returns The line(s) to print, without their newline.
 */
export function formatChatEvent(
  event: ChatEvent,
  view: ChatView,
): Printed {
  switch (event.event) {
    case "reply":
      return toStdout(view.escape ? escapeForTerminal(event.reply) : event.reply);
    case "retry":
      // Feedback while a person waits; a script sees only replies and the final error.
      if (!view.interactive) return NOTHING;
      return toStderr(
        `udpeer: no reply within ${
          formatSeconds(event.timeoutMs)
        }, sending again (try ${event.try}/${view.retries})`,
      );
    case "ignored":
      return toStderr(
        `udpeer: Ignored a datagram from ${
          joinHostPort(event.from, event.fromPort)
        }: only replies from ${view.label} count`,
      );
    case "error":
      return toStderr(`udpeer: ${event.message}`);
    case "connected":
    case "no-answer":
    case "summary":
      return NOTHING;
  }
}
