/**
 * The report step of the peer: turns events into output. In `--json` every event is one
 * line with its `time`; in human mode `sent` is not echoed, errors go to stderr, and the
 * lines that say something changed (silent, back, paused, reload, error) start with the
 * local date and time, so a log read afterwards says when; under `--watch` only those
 * notable lines are kept, for the table, and the summary is printed as usual after the
 * table is gone.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createReporter } from "./reporter.ts";
 * const lines: string[] = [];
 * const reporter = createReporter({ json: true, watch: false }, (l) => lines.push(l), () => {}, () => 0);
 * reporter.emit({ event: "paused", pausedMs: 1500 });
 * assert.deepEqual(lines, ['{"event":"paused","time":"1970-01-01T00:00:00.000Z","pausedMs":1500}']);
 * ```
 *
 * @module
 */

import type { PeerOptions } from "./flags.ts";
import { LineWriter, print } from "../common/output.ts";
import {
  formatEvent,
  formatMessage,
  jsonEventLine,
  localTimestamp,
  type PeerEvent,
  printEvent,
  STAMPED_EVENTS,
  writeMessageHuman,
  writeMessageJson,
} from "./events.ts";

/**
 * How long {@linkcode Reporter.emitSoon} holds a send round's events: past the receiving
 * peer's wake-up on loopback (~0.1 ms), and short enough for a line to look immediate.
 */
export const SOON_MS = 2;

/** Lines (silent, back, errors) kept under the `--watch` table. */
const WATCH_NOTES = 6;

/** Where a run's events go: human lines, JSON lines, or notes under the `--watch` table. */
export interface Reporter {
  /**
   * Reports one event.
   *
   * @param event The event.
   * @param atMs When it happened, Unix ms: a received datagram's events pass its arrival
   * time; left out, the clock is read.
   */
  emit(event: PeerEvent, atMs?: number): void;
  /**
   * Reports an event of a send round a moment later ({@linkcode SOON_MS}), so that the
   * process sleeps right after its sends: on one host the kernel wakes the receiving peer on
   * the sender's core, where it waits for the sender to stop running (measured, two peers
   * with `--json` on loopback: 0.50 → 0.40 ms median one-way delay; docs/performance.md).
   * Any event reported before then writes the waiting ones first, so the lines keep their
   * order; each keeps `atMs` as its time.
   *
   * @param event The event (`sent`).
   * @param atMs When it happened, Unix ms.
   */
  emitSoon(event: PeerEvent, atMs: number): void;
  /** The notable lines kept for `--watch`, newest last. */
  readonly notes: readonly string[];
}

/**
 * Creates the report step.
 *
 * @param options `json` and `watch`.
 * @param output Where stdout's lines go: the run's line writer, into whose bytes each
 * datagram's line is written directly, or any function that takes a line (a test's).
 * @param errorLine Writes one line to stderr.
 * @param now The wall clock, Unix ms (a test passes its own).
 * @returns The reporter.
 */
export function createReporter(
  options: Pick<PeerOptions, "json" | "watch">,
  output: LineWriter | ((text: string) => void),
  errorLine: (text: string) => void,
  now: () => number = () => performance.timeOrigin + performance.now(),
): Reporter {
  const out = output instanceof LineWriter ? output : undefined;
  const line = out === undefined
    ? output as (text: string) => void
    : (text: string): void => out.line(text);
  const notes: string[] = [];
  const note = (text: string): void => {
    if (notes.push(`${localTimestamp(now()).slice(11, 19)} ${text}`) > WATCH_NOTES) {
      notes.shift();
    }
  };
  // Events of a send round waiting for emitSoon()'s timer: [event, time] pairs in order.
  const soon: [PeerEvent, number][] = [];
  // The timer of the events held now. An event that writes them early clears it: left
  // running, it would write the next round's events before their SOON_MS.
  let soonTimer: ReturnType<typeof setTimeout> | undefined;
  const emitWaiting = (): void => {
    clearTimeout(soonTimer);
    soonTimer = undefined;
    for (let i = 0; i < soon.length; i++) write(soon[i]![0], soon[i]![1]);
    soon.length = 0;
  };
  const emit = (event: PeerEvent, atMs?: number): void => {
    if (soon.length > 0) emitWaiting();
    write(event, atMs);
  };
  const emitSoon = (event: PeerEvent, atMs: number): void => {
    // Only --json prints a send; elsewhere there is nothing to hold back.
    if (!options.json) return emit(event, atMs);
    if (soon.push([event, atMs]) === 1) soonTimer = setTimeout(emitWaiting, SOON_MS);
  };
  const write = (event: PeerEvent, atMs?: number): void => {
    if (options.json) {
      // A datagram's line goes into the writer's bytes as it is (docs/performance.md).
      if (out === undefined || event.event !== "message") {
        return line(jsonEventLine(event, atMs ?? now()));
      }
      writeMessageJson(out.beginLine(), event, atMs ?? now());
      return out.endLine();
    }
    if (options.watch && event.event !== "summary") {
      // Only what changes the table's meaning is kept beside it.
      if (STAMPED_EVENTS.has(event.event)) note(formatEvent(event)!);
      return;
    }
    // The per-datagram line goes out as it is: no Printed is made for each, and into the
    // writer's bytes where there is one (measured, human output to a file under a flood).
    if (event.event === "message") {
      if (out === undefined) return line(formatMessage(event));
      writeMessageHuman(out.beginLine(), event);
      return out.endLine();
    }
    const printed = printEvent(event);
    if (!STAMPED_EVENTS.has(event.event)) return print(printed, { line }, errorLine);
    const stamp = `${localTimestamp(atMs ?? now())} `;
    print(
      {
        stdout: printed.stdout.map((l) => stamp + l),
        stderr: printed.stderr.map((l) => stamp + l),
      },
      { line },
      errorLine,
    );
  };
  return { emit, emitSoon, notes };
}
