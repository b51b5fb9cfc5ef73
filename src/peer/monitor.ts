/**
 * The peer's accounting, without any I/O: it takes what the socket received and what the
 * sender sent, keeps the per-IP counts and per-stream health (see README "What it prints", docs/link-health.md), matches
 * streams to `--to` targets, and hands events to a callback. The run loop
 * (`run.ts`) owns the socket, the timers and the output; tests drive this directly with
 * datagrams and times of their own.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeHeartbeat } from "../../protocol.ts";
 * import { PeerMonitor } from "./monitor.ts";
 * import type { PeerEvent } from "./events.ts";
 * const events: PeerEvent[] = [];
 * const monitor = new PeerMonitor({
 *   targets: [{ to: "127.0.0.1:5006", address: "127.0.0.1", port: 5006 }],
 *   ownIntervalMs: 1000,
 *   downAfter: 3,
 *   emit: (event) => events.push(event),
 * });
 * for (const k of [0, 1, 3]) {
 *   const datagram = encodeHeartbeat({ timestamp: 1e12 + k * 1000, ipv4: "127.0.0.1", port: 5006, text: "hi" });
 *   monitor.receive(datagram, { hostname: "127.0.0.1", port: 5006 }, 1e12 + k * 1000 + 0.3);
 * }
 * const [target] = monitor.summary(4000, true).targets; // the final summary: every slot counts
 * assert.ok(target?.received === 3 && target.missed === 1 && target.lossPercent === 25);
 * ```
 *
 * @module
 */

import {
  decodeHeartbeatInto,
  type DecodeOptions,
  emptyHeartbeat,
  type InvalidReason,
} from "../../protocol.ts";
import {
  type BackEvent,
  type DuplicateEvent,
  isoString,
  messageEvent,
  type OutlierEvent,
  type PeerEvent,
  type Remote,
  type SilentEvent,
  type SummaryEvent,
  summaryEvent,
} from "./events.ts";
import {
  RECORD_BACK,
  RECORD_DUPLICATE,
  RECORD_OUTLIER,
  RECORD_REORDERED,
  type StreamHealth,
  type StreamStats,
} from "./health.ts";
import { DEFAULT_CAPACITY, SourceTable } from "./sources.ts";
import { joinHostPort } from "../common/endpoint.ts";
import { advertisedEndpoint } from "./advertise.ts";
import {
  registryOf,
  type Target,
  TargetRegistry,
  type TargetSpec,
  type TargetView,
} from "./targets.ts";

export type { TargetSpec, TargetView } from "./targets.ts";

const SKIP_TEXT: DecodeOptions = { text: false };

/** Options of {@linkcode PeerMonitor}. */
export interface PeerMonitorOptions {
  /**
   * The targets: the monitor hangs their counters and streams on their records. A list of
   * resolved targets makes a registry of its own.
   */
  targets: TargetRegistry | readonly TargetSpec[];
  /** This peer's own interval in ms (a target never heard is silent after downAfter × it). */
  ownIntervalMs: number;
  /** `--down-after`: intervals of quiet that make a stream silent. */
  downAfter: number;
  /**
   * Where events go, with when they happened (Unix ms) for a received datagram's events: the
   * time it arrived, which saves reading the clock once more per datagram.
   */
  emit: (event: PeerEvent, atMs?: number) => void;
  /** Whether per-datagram events (`message`, `duplicate`, `invalid`) are wanted. Default true. */
  verbose?: boolean;
  /** Most sources and most streams kept. Default 65,536. */
  capacity?: number;
  /**
   * Told of every heartbeat counted (duplicates are not), with its elapsed time: the
   * metrics' delay histogram. Undefined (the default) costs nothing.
   */
  onHeartbeat?: ((stream: StreamStats, elapsedMs: number) => void) | undefined;
  /**
   * Told of every stream evicted from the bounded table whose record the table will reuse
   * for another stream: whatever is keyed by it (the metrics' histogram) must be dropped.
   */
  onEvict?: ((stream: StreamStats) => void) | undefined;
  /**
   * How often the run calls {@linkcode PeerMonitor.check}. Given, the monitor watches for
   * its own pauses: when nothing of it ran for {@linkcode PAUSE_MIN_MS} more than that, the
   * process was stopped, suspended or blocked. Left out (tests that feed times of their
   * own), it never reports a pause.
   */
  checkEveryMs?: number | undefined;
}

/** Timers this late (on the monotonic clock) mean the peer itself was paused. */
export const PAUSE_MIN_MS = 1000;

/** Accounting of a heartbeat peer: counts, stream health, targets and events. */
export class PeerMonitor {
  /** The bounded table of sources and streams. */
  readonly table: SourceTable;
  #registry: TargetRegistry;
  #bySource = new Map<string, Target>();
  #emit: (event: PeerEvent, atMs?: number) => void;
  #verbose: boolean;
  #downAfter: number;
  #ownIntervalMs: number;
  #peerNames = new WeakMap<StreamStats, string>();
  // Every stream a target was ever answered by: the table never reuses these records for
  // another stream, since a target keeps reading its own (and a name is keyed by it).
  #answering = new WeakSet<StreamStats>();
  #onEvict: ((stream: StreamStats) => void) | undefined;
  #onHeartbeat: ((stream: StreamStats, elapsedMs: number) => void) | undefined;
  /** Invalid datagrams received, by reason, from every source (evicted ones included). */
  readonly invalidByReason: Record<InvalidReason, number> = { short: 0, checksum: 0 };
  /** The heartbeat being accounted, decoded into this one object each time. */
  #heartbeat = emptyHeartbeat();
  /** A gap this long between two calls into the monitor is a pause; Infinity: never. */
  #pauseGapMs: number;
  #pauseCheckEveryMs: number;
  /** When the monitor last ran (a check, a datagram, a tick). */
  #aliveAtMs = NaN;
  /** When the last pause ended: heartbeats from before it waited in the socket. */
  #pauseEndMs = -Infinity;

  /**
   * Creates the monitor of a run.
   *
   * @param options Targets, intervals, the event callback.
   */
  constructor(options: PeerMonitorOptions) {
    this.#onEvict = options.onEvict;
    this.table = new SourceTable(
      options.capacity ?? DEFAULT_CAPACITY,
      (stream) => this.#evicted(stream),
    );
    this.#emit = options.emit;
    this.#verbose = options.verbose ?? true;
    this.#downAfter = options.downAfter;
    this.#ownIntervalMs = options.ownIntervalMs;
    this.#onHeartbeat = options.onHeartbeat;
    this.#pauseCheckEveryMs = options.checkEveryMs ?? 0;
    this.#pauseGapMs = options.checkEveryMs === undefined
      ? Infinity
      : options.checkEveryMs + PAUSE_MIN_MS;
    this.#registry = options.targets instanceof TargetRegistry
      ? options.targets
      : registryOf(options.targets);
    this.#indexTargets();
  }

  /**
   * Takes in a change of the registry's list (a reload): kept targets keep their counters
   * and stream under their new names; a new one is answered at once by a stream already
   * heard from its address and port (or advertising them); a removed one is forgotten, its
   * stream stays in the table as any sender's would.
   *
   * @param removed The targets the change removed.
   */
  targetsChanged(removed: readonly Target[]): void {
    for (const target of removed) {
      if (target.stream !== undefined) this.#peerNames.delete(target.stream);
    }
    this.#indexTargets();
    for (const target of this.#registry.all) {
      if (target.stream !== undefined) {
        this.#nameStream(target.stream, target.name);
        continue;
      }
      const bySource = this.table.getStream(target.address, target.port);
      if (bySource !== undefined && bySource.messages > 0) {
        this.#attach(target, bySource, true, NaN);
        continue;
      }
      const key = joinHostPort(target.address, target.port);
      let byHeader: StreamHealth | undefined;
      this.table.forEachStream((stream) => {
        if (stream.messages > 0 && stream.advertised === key) byHeader = stream;
      });
      if (byHeader !== undefined) this.#attach(target, byHeader, false, NaN);
    }
  }

  /** The targets, in the order given. */
  get targets(): readonly TargetView[] {
    return this.#registry.all;
  }

  /**
   * The target name of a stream, when the stream answers a named target.
   *
   * @param stream A stream.
   * @returns The name, or undefined.
   */
  peerOf(stream: StreamStats): string | undefined {
    return this.#peerNames.get(stream);
  }

  /**
   * Notes a heartbeat sent to a target.
   *
   * @param target The target.
   * @param atMs When, Unix ms.
   * @returns How many heartbeats went to it so far (the `seq` of the `sent` event).
   */
  recordSent(target: Target, atMs: number): number {
    if (target.sent === 0) target.firstSentAtMs = atMs;
    return ++target.sent;
  }

  /**
   * Notes a failed send to a target.
   *
   * @param target The target.
   */
  recordSendError(target: Target): void {
    target.sendErrors++;
  }

  /**
   * Notes slots of the send grid that passed while a tick was late: they are skipped, not
   * sent in a burst.
   *
   * @param target The target.
   * @param slots How many slots were skipped.
   */
  recordSkipped(target: Target, slots: number): void {
    target.skipped += slots;
  }

  /**
   * Tells the monitor that the run is alive at `nowMs` (a tick of the sender, a check); a
   * gap since the last call longer than the check interval by {@linkcode PAUSE_MIN_MS} or
   * more is this peer's own pause, reported once as a `paused` event and kept out of every
   * stream's figures.
   *
   * @param nowMs The current time, Unix ms on the receiver's (monotonic) clock.
   */
  noticeTime(nowMs: number): void {
    if (nowMs - this.#aliveAtMs >= this.#pauseGapMs) this.#paused(nowMs);
    this.#aliveAtMs = nowMs;
  }

  /**
   * Changes a target's address (a name that now resolves elsewhere).
   *
   * @param target The target.
   * @param address The new address.
   */
  setAddress(target: Target, address: string): void {
    if (target.address === address) return;
    target.address = address;
    target.stream = undefined;
    target.bySource = false;
    this.#indexTargets();
  }

  /**
   * Accounts one received datagram and emits its events. Called once per datagram.
   *
   * @param datagram The bytes received.
   * @param remote Its UDP source.
   * @param receivedAtMs Arrival time, Unix ms with sub-ms resolution.
   */
  receive(datagram: Uint8Array, remote: Remote, receivedAtMs: number): void {
    this.noticeTime(receivedAtMs);
    // Nothing shows the text when no line is printed per datagram: skip its decoding. Decoded
    // into one reused object: every event made of it copies what it needs at once.
    const heartbeat = this.#heartbeat;
    const reason = decodeHeartbeatInto(datagram, heartbeat, this.#verbose ? undefined : SKIP_TEXT);
    const { hostname, port } = remote;
    const stream = this.table.stream(hostname, port);
    if (reason !== undefined) {
      this.invalidByReason[reason]++;
      this.table.recordInvalid(hostname);
      stream.invalid++;
      if (this.#verbose) {
        this.#emit({
          event: "invalid",
          from: hostname,
          fromPort: port,
          reason,
          bytes: heartbeat.bytes,
        }, receivedAtMs);
      }
      return;
    }
    if (stream.messages === 0) this.#match(stream, heartbeat.ipv4, heartbeat.port, receivedAtMs);
    // A heartbeat that reached the socket while this peer was paused waited there: its
    // delay is the pause's, not the link's. Its earliest arrival is its send time plus the
    // stream's smallest transit (which holds the two clocks' offset).
    const minTransit = stream.minMs;
    const waited = heartbeat.sentAtMs + (minTransit === Infinity ? 0 : minTransit) <
      this.#pauseEndMs;
    const recorded = stream.record(
      heartbeat.sentAtMs,
      heartbeat.checksum,
      receivedAtMs,
      // The decoder hands out the same string while the header's address repeats (nearly
      // always), so a flood of new streams keeps no string each.
      heartbeat.ipv4,
      heartbeat.port,
      !waited,
    );
    if (recorded & (RECORD_OUTLIER | RECORD_DUPLICATE)) {
      // Counted for its source and shown, and nothing more: neither moves a figure.
      const outlier = (recorded & RECORD_OUTLIER) !== 0;
      if (outlier) this.table.recordOutlier(hostname);
      else this.table.recordDuplicate(hostname);
      if (this.#verbose) {
        const event: DuplicateEvent | OutlierEvent = {
          event: outlier ? "outlier" : "duplicate",
          from: hostname,
          fromPort: port,
          sentAt: isoString(heartbeat.sentAtMs),
          bytes: heartbeat.bytes,
        };
        this.#emit(event, receivedAtMs);
      }
      return;
    }
    const stats = this.table.recordMessage(hostname);
    if (!waited) this.#onHeartbeat?.(stream, receivedAtMs - heartbeat.sentAtMs);
    if (recorded & RECORD_BACK) {
      this.#emitBack(stream, stream.lastOutageMs, stream.lastOutageMissed, receivedAtMs);
    }
    if (this.#verbose) {
      const event = messageEvent(heartbeat, remote, stats.messages, receivedAtMs);
      if (recorded & RECORD_REORDERED) event.reordered = true;
      const peer = this.#peerNames.get(stream);
      if (peer !== undefined) event.peer = peer;
      this.#emit(event, receivedAtMs);
    }
  }

  /**
   * Looks for streams and targets that have gone quiet and emits one `silent` event for
   * each new outage. The run loop calls it a few times a second.
   *
   * @param nowMs The current time, Unix ms on the receiver's clock.
   */
  check(nowMs: number): void {
    this.noticeTime(nowMs);
    this.table.forEachStream((stream) => {
      const silentFor = stream.checkSilent(nowMs, this.#downAfter);
      if (silentFor !== undefined) {
        this.#emitSilent(
          stream.address,
          stream.port,
          this.peerOf(stream),
          silentFor,
          stream.intervalMs!,
        );
      }
    });
    const threshold = this.#downAfter * this.#ownIntervalMs;
    for (const target of this.#registry.all) {
      if (
        !target.neverHeardSilent && !target.silentBeforeHeard &&
        (target.stream === undefined || target.stream.messages === 0) &&
        nowMs - target.firstSentAtMs >= threshold
      ) {
        target.neverHeardSilent = target.silentBeforeHeard = true;
        this.#emitSilent(target.address, target.port, target.name, threshold, this.#ownIntervalMs);
      }
    }
  }

  /**
   * The targets from which no heartbeat arrived (a `--count` run then exits 1).
   *
   * @returns Their views.
   */
  unanswered(): TargetView[] {
    return this.#registry.all.filter((target) => (target.stream?.messages ?? 0) === 0);
  }

  /**
   * The summary so far.
   *
   * @param durationMs Length of the run so far.
   * @param final True for the run's last summary: the slots that a late heartbeat could
   * still have filled are counted now.
   * @returns The `summary` event.
   */
  summary(durationMs: number, final = false): SummaryEvent {
    // At the end nothing late can arrive any more: every slot counts.
    if (final) this.table.forEachStream((stream) => stream.settle());
    const counters = this.#registry.all.map((target) => ({
      to: target.to,
      address: target.address,
      peer: target.name,
      sent: target.sent,
      sendErrors: target.sendErrors,
      skipped: target.skipped,
      stream: target.stream,
      silentBeforeHeard: target.silentBeforeHeard,
    }));
    return summaryEvent(counters, this.table, durationMs, (stream) => this.peerOf(stream));
  }

  /** The peer itself was paused until `nowMs`: nobody's link is to blame for it. */
  #paused(nowMs: number): void {
    const pausedMs = nowMs - this.#aliveAtMs - this.#pauseCheckEveryMs;
    this.#pauseEndMs = nowMs;
    this.table.forEachStream((stream) => stream.forgivePause(pausedMs));
    for (const target of this.#registry.all) target.firstSentAtMs += pausedMs;
    this.#emit({ event: "paused", pausedMs: Math.round(pausedMs) });
  }

  #indexTargets(): void {
    this.#bySource.clear();
    for (const target of this.#registry.all) {
      const key = joinHostPort(target.address, target.port);
      if (!this.#bySource.has(key)) this.#bySource.set(key, target);
    }
  }

  /** A new stream answers a target if it comes from it, or else if its header names it. */
  #match(stream: StreamHealth, ipv4: string, port: number, atMs: number): void {
    const bySource = this.#bySource.get(joinHostPort(stream.address, stream.port));
    if (bySource !== undefined) return this.#attach(bySource, stream, true, atMs);
    // A header of 0.0.0.0 (a sender on IPv6) names the UDP source address.
    const byHeader = this.#bySource.get(advertisedEndpoint(ipv4, port, stream.address));
    if (byHeader !== undefined && !byHeader.bySource) this.#attach(byHeader, stream, false, atMs);
  }

  /** Whether an evicted stream's record is still held; if not, forgets what is keyed by it. */
  #evicted(stream: StreamStats): boolean {
    if (this.#answering.has(stream)) return true;
    this.#peerNames.delete(stream);
    this.#onEvict?.(stream);
    return false;
  }

  #attach(target: Target, stream: StreamHealth, bySource: boolean, atMs: number): void {
    target.stream = stream;
    this.#answering.add(stream);
    target.bySource = bySource;
    this.#nameStream(stream, target.name);
    if (target.neverHeardSilent) {
      // A target reported silent before it ever answered is back with its first heartbeat.
      target.neverHeardSilent = false;
      this.#emitBack(stream, atMs - target.firstSentAtMs, 0, atMs);
    }
  }

  #nameStream(stream: StreamStats, name: string | undefined): void {
    if (name === undefined) this.#peerNames.delete(stream);
    else this.#peerNames.set(stream, name);
  }

  #emitSilent(
    from: string,
    fromPort: number,
    peer: string | undefined,
    silentForMs: number,
    intervalMs: number,
  ): void {
    const event: SilentEvent = {
      event: "silent",
      from,
      fromPort,
      ...(peer === undefined ? {} : { peer }),
      silentForMs: Math.round(silentForMs),
      intervalMs: Math.round(intervalMs * 1000) / 1000,
    };
    this.#emit(event);
  }

  #emitBack(stream: StreamStats, outageMs: number, missed: number, atMs: number): void {
    const peer = this.peerOf(stream);
    const event: BackEvent = {
      event: "back",
      from: stream.address,
      fromPort: stream.port,
      ...(peer === undefined ? {} : { peer }),
      outageMs: Math.round(outageMs),
      missed,
    };
    this.#emit(event, atMs);
  }
}
