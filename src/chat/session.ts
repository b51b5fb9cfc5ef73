/**
 * What a chat transport (`udp.ts`, `tcp.ts`) offers the run: a session that sends one line
 * and waits for its reply, the context it works in, and the inbox replies arrive in.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Inbox } from "./session.ts";
 * const inbox = new Inbox<string>();
 * setTimeout(() => inbox.put("reply"), 10);
 * assert.equal(await inbox.take(1_000, () => false), "reply");
 * assert.equal(await inbox.take(10, () => false), undefined); // nothing more: timed out
 * ```
 *
 * @module
 */

import { type CancelTimer, setLongTimeout } from "../common/timers.ts";
import type { ChatEmit } from "./events.ts";
import type { ChatOptions } from "./flags.ts";

/** How one line went. */
export type Outcome =
  | { kind: "reply"; reply: string; tries: number; rttMs: number }
  | { kind: "no-answer"; tries: number; waitedMs: number; detail: string }
  | { kind: "stopped" };

/** One transport's way of sending a line and waiting for its reply. */
export interface Session {
  /** Which transport. */
  readonly transport: "udp" | "tcp";
  /** Sends one line and waits for its reply, resending (UDP) as the options say. */
  exchange(line: string): Promise<Outcome>;
  /** A line longer than the transport can carry, or undefined if it fits. */
  tooLong(line: string): string | undefined;
  /** Closes the socket; a pending {@linkcode exchange} ends as `stopped`. */
  close(): void;
}

/** What a session needs from the run. */
export interface ChatContext {
  /** Parsed command line. */
  options: ChatOptions;
  /** The server's address, IPv4 or IPv6, resolved once. */
  address: string;
  /** The server as given, `HOST:PORT`, for messages. */
  label: string;
  /** Reports an event. */
  emit: ChatEmit;
  /** True once the session is stopping (a signal, stdout closed). */
  stopped: () => boolean;
  /** Counters for the summary. */
  counters: { resent: number; ignored: number };
}

/** A queue of values with a bounded wait for the next one. */
export class Inbox<T> {
  #items: T[] = [];
  #waiter: (() => void) | undefined;

  /** Items waiting. */
  get size(): number {
    return this.#items.length;
  }

  /**
   * Adds an item and wakes a pending {@linkcode take}.
   *
   * @param item The item.
   */
  put(item: T): void {
    this.#items.push(item);
    this.#wake();
  }

  /** Wakes a pending {@linkcode take} so it sees a change in state (end, stop). */
  poke(): void {
    this.#wake();
  }

  /**
   * Takes the oldest item without waiting.
   *
   * @returns The item, or undefined if none waits.
   */
  shift(): T | undefined {
    return this.#items.shift();
  }

  /**
   * Waits up to `ms` for an item, or until `giveUp()` holds.
   *
   * @param ms Longest wait in milliseconds.
   * @param giveUp Checked whenever the inbox is woken.
   * @returns The oldest item, or undefined on timeout or give-up.
   */
  async take(ms: number, giveUp: () => boolean): Promise<T | undefined> {
    const deadline = performance.now() + ms;
    while (this.#items.length === 0 && !giveUp()) {
      const left = deadline - performance.now();
      if (left <= 0) return undefined;
      let cancel: CancelTimer | undefined;
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
        cancel = setLongTimeout(resolve, left); // a --timeout past 2^31 − 1 ms waits too
      });
      cancel?.();
      this.#waiter = undefined;
    }
    return this.#items.shift();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }
}
