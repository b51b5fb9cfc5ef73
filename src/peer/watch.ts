/**
 * `--watch`: the live full-screen table of the peer (see README "The heartbeat peer"), as pure functions. The rows
 * come from the monitor's read-only views; {@linkcode renderWatch} turns them into one
 * screen of text with the escape sequences that redraw it in place; the run loop writes it
 * every second and {@linkcode WATCH_LEAVE} at exit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderWatch, type WatchRow } from "./watch.ts";
 * const row: WatchRow = {
 *   source: "127.0.0.1:5006", peer: "b", state: "up", count: 12, lossPercent: 0,
 *   lastMs: 0.4, minMs: 0.2, avgMs: 0.3, maxMs: 0.9, jitterMs: 0.05, heardAgoS: 0.3,
 * };
 * const screen = renderWatch("udpeer on 0.0.0.0:5005", [row], [], { columns: 100, rows: 10 });
 * assert.match(screen, /127\.0\.0\.1:5006 +b +up +12 +0%/);
 * ```
 *
 * @module
 */

import { joinHostPort } from "../common/endpoint.ts";
import { escapeForTerminal } from "../common/escape.ts";
import { plural } from "../common/words.ts";
import type { StreamStats } from "./health.ts";

/** Switches to the alternate screen and hides the cursor. */
export const WATCH_ENTER = "\x1b[?1049h\x1b[?25l";
/** Shows the cursor and returns to the normal screen, as it was before. */
export const WATCH_LEAVE = "\x1b[?25h\x1b[?1049l";

/** One row of the table: a stream, or a target not heard yet. */
export interface WatchRow {
  /** `IP:PORT` of the stream, or the target as given when it was never heard. */
  source: string;
  /** The target's name, or "" when it has none or is no target. */
  peer: string;
  /** `up`, `silent`, or `waiting` (a target not heard yet, not silent yet). */
  state: "up" | "silent" | "waiting";
  /** Distinct heartbeats received from it. */
  count: number;
  /** Loss in percent, null while unknown. */
  lossPercent: number | null;
  /** Elapsed time of the last heartbeat, ms. */
  lastMs: number | null;
  /** Smallest elapsed time, ms. */
  minMs: number | null;
  /** Mean elapsed time, ms. */
  avgMs: number | null;
  /** Largest elapsed time, ms. */
  maxMs: number | null;
  /** RFC 3550 jitter, ms. */
  jitterMs: number | null;
  /** Seconds since it was last heard, null if never. */
  heardAgoS: number | null;
}

/** What the table needs of a target (the monitor's `TargetView` fits). */
export interface WatchTarget {
  /** The target as given. */
  readonly to: string;
  /** Its name, if any. */
  readonly name: string | undefined;
  /** Its stream, if heard. */
  readonly stream: StreamStats | undefined;
  /** Reported silent before it was ever heard. */
  readonly silentBeforeHeard: boolean;
}

function streamRow(stream: StreamStats, peer: string, nowMs: number): WatchRow {
  const heard = stream.messages > 0;
  return {
    source: joinHostPort(stream.address, stream.port),
    peer,
    state: stream.state,
    count: stream.messages,
    lossPercent: stream.intervalMs === null ? null : stream.lossPercent,
    lastMs: heard ? stream.lastElapsedMs : null,
    minMs: heard ? stream.minMs : null,
    avgMs: heard ? stream.sumMs / stream.messages : null,
    maxMs: heard ? stream.maxMs : null,
    jitterMs: heard ? stream.jitterMs : null,
    heardAgoS: heard ? (nowMs - stream.lastHeardMs) / 1000 : null,
  };
}

/**
 * The rows of the table: the targets first, in the order given, then every other stream
 * by source address and port.
 *
 * @param targets The targets.
 * @param streams Every stream in the table.
 * @param nowMs The current time, Unix ms on the receiver's clock.
 * @returns The rows.
 */
export function watchRows(
  targets: readonly WatchTarget[],
  streams: readonly StreamStats[],
  nowMs: number,
): WatchRow[] {
  const rows: WatchRow[] = [];
  const shown = new Set<StreamStats>();
  for (const target of targets) {
    const peer = target.name ?? "";
    if (target.stream !== undefined && target.stream.messages > 0) {
      if (!shown.has(target.stream)) rows.push(streamRow(target.stream, peer, nowMs));
      shown.add(target.stream);
      continue;
    }
    rows.push({
      source: target.to,
      peer,
      state: target.silentBeforeHeard ? "silent" : "waiting",
      count: 0,
      lossPercent: null,
      lastMs: null,
      minMs: null,
      avgMs: null,
      maxMs: null,
      jitterMs: null,
      heardAgoS: null,
    });
  }
  const others = streams.filter((stream) => !shown.has(stream) && stream.messages > 0);
  others.sort((a, b) => a.address === b.address ? a.port - b.port : a.address < b.address ? -1 : 1);
  for (const stream of others) rows.push(streamRow(stream, "", nowMs));
  return rows;
}

/**
 * Widest SOURCE column: an IPv6 address (at most 39 characters) in brackets and a port. The
 * column is 21 wide, room for any IPv4 `a.b.c.d:port`, and widens to the longest source
 * shown, up to this, so an IPv6 source is never cut.
 */
const MAX_SOURCE_WIDTH = 47;

const COLUMNS: [title: string, width: number, align: "left" | "right"][] = [
  ["SOURCE", 21, "left"],
  ["PEER", 10, "left"],
  ["STATE", 7, "left"],
  ["COUNT", 7, "right"],
  ["LOSS", 6, "right"],
  ["LAST", 8, "right"],
  ["MIN", 8, "right"],
  ["AVG", 8, "right"],
  ["MAX", 8, "right"],
  ["JITTER", 7, "right"],
  ["HEARD", 7, "right"],
];

function cell(text: string, width: number, align: "left" | "right"): string {
  const cut = text.length > width ? text.slice(0, width - 1) + "…" : text;
  return align === "left" ? cut.padEnd(width) : cut.padStart(width);
}

const ms = (value: number | null): string => value === null ? "-" : value.toFixed(1);

function rowCells(row: WatchRow): string[] {
  return [
    row.source,
    escapeForTerminal(row.peer),
    row.state,
    `${row.count}`,
    row.lossPercent === null ? "-" : `${Number(row.lossPercent.toFixed(1))}%`,
    ms(row.lastMs),
    ms(row.minMs),
    ms(row.avgMs),
    ms(row.maxMs),
    row.jitterMs === null ? "-" : row.jitterMs.toFixed(2),
    row.heardAgoS === null ? "never" : `${row.heardAgoS.toFixed(1)}s`,
  ];
}

/**
 * One screen of the table: the cursor goes home, each line clears what was there, and the
 * rest of the screen is cleared, so a redraw never scrolls or flickers.
 *
 * @param header The first line (where the peer listens and sends).
 * @param rows The rows, targets first.
 * @param notes Recent notable lines (silent, back, errors), newest last.
 * @param size The terminal's size.
 * @returns The text to write, without a final newline.
 */
export function renderWatch(
  header: string,
  rows: readonly WatchRow[],
  notes: readonly string[],
  size: { columns: number; rows: number },
): string {
  const fit = (line: string): string =>
    line.length > size.columns ? line.slice(0, Math.max(0, size.columns - 1)) + "…" : line;
  let sourceWidth = COLUMNS[0]![1];
  for (const row of rows) {
    if (row.source.length > sourceWidth) {
      sourceWidth = Math.min(MAX_SOURCE_WIDTH, row.source.length);
    }
  }
  const widths = COLUMNS.map(([, width], i) => i === 0 ? sourceWidth : width);
  const lines = [
    fit(header),
    fit("elapsed (LAST MIN AVG MAX) and JITTER in ms, HEARD: time since the last heartbeat"),
    fit(COLUMNS.map(([title, , align], i) => cell(title, widths[i]!, align)).join(" ")),
  ];
  const noteLines = notes.length === 0 ? [] : ["", ...notes.map((note) => fit(note))];
  // Keep the last screen line free: the writer ends the frame with a newline, which must
  // not scroll the screen.
  const room = Math.max(1, size.rows - 1 - lines.length - noteLines.length);
  const shown = rows.length > room ? rows.slice(0, room - 1) : rows;
  for (const row of shown) {
    lines.push(
      fit(rowCells(row).map((text, i) => cell(text, widths[i]!, COLUMNS[i]![2])).join(" ")),
    );
  }
  if (shown.length < rows.length) {
    lines.push(`… ${plural(rows.length - shown.length, "more stream")}`);
  }
  lines.push(...noteLines);
  return "\x1b[H" + lines.map((line) => line + "\x1b[K").join("\n") + "\x1b[J";
}
