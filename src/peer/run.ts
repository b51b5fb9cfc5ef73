/**
 * The heartbeat peer: one UDP socket that sends each target a heartbeat every interval and
 * reports every datagram it receives (see README "The heartbeat peer", README "What it prints"). The I/O lives here; decoding, counting
 * and formatting are the pure modules it calls.
 *
 * @example
 * ```ts ignore
 * import { parsePeerArgs } from "./flags.ts";
 * import { runPeer } from "./run.ts";
 * const code = await runPeer(parsePeerArgs(["--port", "0", "--to", "127.0.0.1:5005", "--count", "3"]));
 * ```
 *
 * @module
 */

import { chooseAdvertisedAddress, type InterfaceAddress, needsInterfaces } from "./advertise.ts";
import { describeError, UsageError } from "../common/errors.ts";
import type { PeerOptions, PeerTarget } from "./flags.ts";
import { jsonLine } from "../common/escape.ts";
import { datagramReceiver, listenError, resolveIpv4, resolveTo } from "../common/net.ts";
import { LineWriter } from "../common/output.ts";
import { onStopSignals } from "../common/signals.ts";
import { plural } from "../common/words.ts";
import { type CancelTimer, setLongTimeout } from "../common/timers.ts";
import { encodeHeartbeat, parseIpv4, timestampFromMs } from "../../protocol.ts";
import {
  formatEvent,
  formatListening,
  formatSummary,
  type ListeningEvent,
  messageJsonLine,
  type PeerEvent,
  waitingEvent,
} from "./events.ts";
import denoJson from "../../deno.json" with { type: "json" };
import { renderMetricsChunks } from "./metrics.ts";
import { createMetricsRecorder } from "./metrics_recorder.ts";
import { type MetricsServer, serveMetrics } from "./metrics_server.ts";
import { PeerMonitor, type TargetSpec } from "./monitor.ts";
import { loadPeersFile, mergeTargets, type PeerEntry } from "./peers_file.ts";
import { renderWatch, WATCH_ENTER, WATCH_LEAVE, watchRows } from "./watch.ts";

/** A target with its resolved address: what the sender needs (the monitor keeps counts). */
interface Target {
  label: string;
  name: string | undefined;
  host: string;
  port: number;
  address: string;
  advertise: string;
  needsResolve: boolean;
}

/** Current wall-clock time in Unix ms with sub-millisecond resolution. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

async function resolveTargets(targets: PeerTarget[]): Promise<Target[]> {
  return await Promise.all(
    targets.map(async (target) => newTarget(target, await resolveTo(target.host))),
  );
}

function newTarget(
  { host, port, name }: { host: string; port: number; name?: string | undefined },
  address: string,
): Target {
  return {
    label: `${host}:${port}`,
    name,
    host,
    port,
    address,
    advertise: "",
    needsResolve: false,
  };
}

/** What the monitor needs of a target. */
function targetSpec(target: Target): TargetSpec {
  return { to: target.label, address: target.address, port: target.port, name: target.name };
}

function listen(bind: string, port: number): Deno.DatagramConn {
  try {
    return Deno.listenDatagram({ transport: "udp", hostname: bind, port });
  } catch (error) {
    throw listenError("UDP", bind, port, error);
  }
}

function readInterfaces(): InterfaceAddress[] | undefined {
  // Without --allow-sys=networkInterfaces the choice falls back to 127.0.0.1; the listening
  // line shows what is advertised, and --advertise overrides it. querySync asks whether the
  // permission is granted without prompting, as Deno.networkInterfaces() would on a terminal.
  const permission = Deno.permissions.querySync({ name: "sys", kind: "networkInterfaces" });
  if (permission.state !== "granted") return undefined;
  try {
    return Deno.networkInterfaces();
  } catch {
    return undefined;
  }
}

/** How often streams and targets are checked for silence. */
const CHECK_EVERY_MS = 100;
/** How often `--watch` redraws. */
const WATCH_EVERY_MS = 1000;
/** Lines (silent, back, errors) kept under the `--watch` table. */
const WATCH_NOTES = 6;

/** The events whose lines `--watch` keeps beside its table. */
const NOTABLE: ReadonlySet<PeerEvent["event"]> = new Set(["silent", "back", "reload", "error"]);

/** Where a run's events go: human lines, JSON lines, or notes under the `--watch` table. */
export interface Reporter {
  /** Reports one event. */
  emit(event: PeerEvent): void;
  /** The notable lines kept for `--watch`, newest last. */
  readonly notes: readonly string[];
}

/**
 * The report step: turns events into output. In `--json` every event is one line; in
 * human mode `sent` is not echoed and send errors go to stderr; under `--watch` only the
 * notable lines (silent, back, errors) are kept, for the table, and the summary is printed
 * as usual after the table is gone.
 *
 * @param options `json` and `watch`.
 * @param line Writes one line to stdout.
 * @param errorLine Writes one line to stderr.
 * @returns The reporter.
 */
export function createReporter(
  options: Pick<PeerOptions, "json" | "watch">,
  line: (text: string) => void,
  errorLine: (text: string) => void,
): Reporter {
  const notes: string[] = [];
  const note = (text: string): void => {
    if (notes.push(`${new Date().toISOString().slice(11, 19)} ${text}`) > WATCH_NOTES) {
      notes.shift();
    }
  };
  const emit = (event: PeerEvent): void => {
    if (options.json) {
      return line(event.event === "message" ? messageJsonLine(event) : jsonLine(event));
    }
    if (event.event === "summary") return formatSummary(event).forEach(line);
    if (options.watch) {
      // Only what changes the table's meaning is kept beside it.
      if (NOTABLE.has(event.event)) note(formatEvent(event)!);
      return;
    }
    const text = formatEvent(event);
    if (event.event === "error") errorLine(`udpeer: ${text}`);
    else if (text !== undefined) line(text);
  };
  return { emit, notes };
}

/** The schedule step's handle. */
export interface Schedule {
  /** Stops sending. */
  cancel(): void;
}

/**
 * The schedule step: heartbeat k goes out at `firstSendAt + k·interval`, so lateness of
 * one timer does not push back the ones after it. After `count` ticks it waits one more
 * interval for the replies, then calls `onDone`.
 *
 * @param firstSendAt When the first tick is due, on `performance.now()`'s clock.
 * @param intervalMs Time between ticks.
 * @param count Ticks before `onDone`, or undefined for no end.
 * @param onTick Sends one round; awaited before the next is scheduled.
 * @param onDone Called once, an interval after the last tick.
 * @returns A handle to cancel the schedule.
 */
export function scheduleSends(
  firstSendAt: number,
  intervalMs: number,
  count: number | undefined,
  onTick: () => Promise<void>,
  onDone: () => void,
): Schedule {
  let tick = 0;
  let cancelled = false;
  // Chained, so an interval or a --start-at past 2^31 − 1 ms waits as long as it says.
  let cancelTimer: CancelTimer | undefined;
  const run = async (): Promise<void> => {
    if (cancelled) return;
    tick++;
    await onTick();
    if (cancelled) return;
    if (count !== undefined && tick >= count) {
      // Wait one more interval for the replies to the last heartbeats, then stop.
      cancelTimer = setLongTimeout(onDone, intervalMs);
      return;
    }
    const due = firstSendAt + tick * intervalMs;
    cancelTimer = setLongTimeout(run, due - performance.now());
  };
  cancelTimer = setLongTimeout(run, firstSendAt - performance.now());
  return {
    cancel: () => {
      cancelled = true;
      cancelTimer?.();
    },
  };
}

/**
 * The receive step: reads datagrams, several receives in flight, and hands each to the
 * monitor (the account step) until the socket closes or `isStopping()` turns true.
 *
 * @param conn The socket.
 * @param monitor The accounting.
 * @param isStopping True once the run is stopping: a datagram read then is not counted,
 * since the summary that closes the run may already be out.
 * @param onError Told about unexpected receive errors.
 * @param waitForOutput Resolves when the output can take more (back-pressure), or
 * undefined when it can already.
 */
export async function receiveAll(
  conn: Deno.DatagramConn,
  monitor: PeerMonitor,
  isStopping: () => boolean,
  onError: (error: unknown) => void,
  waitForOutput: () => Promise<void> | undefined,
): Promise<void> {
  // Several receive() calls in flight: with one, nobody reads the socket during each call's
  // round trip through the runtime, and under a burst the kernel's buffer overflows
  // (docs/performance.md). Each datagram is a view valid until the next next().
  const receiver = datagramReceiver(conn, { isClosed: isStopping, onError });
  while (!isStopping()) {
    const received = receiver.poll() ?? await receiver.next();
    if (received === undefined || isStopping()) return;
    monitor.receive(received[0], received[1], receiver.receivedAtMs);
    const wait = waitForOutput();
    if (wait !== undefined) await wait;
  }
}

/** The terminal's size, or 80×24 when it cannot be read. */
function terminalSize(): { columns: number; rows: number } {
  try {
    return Deno.consoleSize();
  } catch {
    return { columns: 80, rows: 24 };
  }
}

/**
 * Runs the heartbeat peer until `--count` is done or SIGINT/SIGTERM arrives, then prints
 * the summary. SIGQUIT prints the summary so far and keeps running.
 *
 * @param options Parsed command line.
 * @returns The exit code: 0, or 1 when a `--count` run got nothing back from a target.
 * @throws {UsageError} If `--watch` is given and stdout is not a terminal.
 * @throws {StartupError} If a target does not resolve or the port cannot be bound.
 */
export async function runPeer(options: PeerOptions): Promise<number> {
  if (options.watch && !Deno.stdout.isTerminal()) {
    throw new UsageError(
      "Cannot use --watch: stdout is not a terminal; run it in a terminal, or use --json to pipe events",
    );
  }
  const peersFile = options.peersFile;
  const fromFile = peersFile === undefined ? [] : await loadPeersFile(peersFile);
  let targets = await resolveTargets(mergeTargets(options.targets, fromFile));
  const conn = listen(options.bind, options.port);
  const port = (conn.addr as Deno.NetAddr).port;
  const startedAt = performance.now();

  let interfaces: InterfaceAddress[] | undefined;
  const advertiseFor = (target: string | undefined): string => {
    const input = { advertise: options.advertise, bind: options.bind, target };
    if (needsInterfaces(input)) interfaces ??= readInterfaces();
    return chooseAdvertisedAddress({ ...input, interfaces });
  };
  for (const target of targets) target.advertise = advertiseFor(target.address);

  let finished!: () => void;
  const done = new Promise<void>((resolve) => finished = resolve);
  let stopping = false;
  const out = new LineWriter(Deno.stdout, {
    onClosed: () => {
      // Nobody reads stdout any more (`udpeer | head`): end quietly.
      stopping = true;
      finished();
    },
  });
  const reporter = createReporter(options, (text) => out.line(text), (text) => console.error(text));
  const emit = reporter.emit;
  const verbose = !options.quiet && !options.watch;
  const intervalMs = options.intervalSeconds * 1000;
  const recorder = options.metrics === undefined ? undefined : createMetricsRecorder();
  const monitor = new PeerMonitor({
    targets: targets.map(targetSpec),
    ownIntervalMs: intervalMs,
    downAfter: options.downAfter,
    emit,
    verbose,
    onHeartbeat: recorder?.observe,
    onEvict: recorder?.forget,
  });
  let metricsServer: MetricsServer | undefined;
  if (options.metrics !== undefined) {
    const render = (): Iterable<string> =>
      renderMetricsChunks(recorder!.snapshot(monitor, denoJson.version, options.metricsMaxSources));
    try {
      metricsServer = serveMetrics(options.metrics, render);
    } catch (error) {
      conn.close();
      throw error;
    }
  }

  const listening: ListeningEvent = {
    event: "listening",
    address: options.bind,
    port,
    // Listening only, nothing is advertised: no interface is read for it.
    advertise: targets[0]?.advertise ?? options.advertise ?? options.bind,
    targets: targets.map((t) => ({
      to: t.label,
      address: t.address,
      advertise: t.advertise,
      ...(t.name === undefined ? {} : { peer: t.name }),
    })),
    intervalS: options.intervalSeconds,
    ...(metricsServer === undefined
      ? {}
      : { metrics: `${metricsServer.hostname}:${metricsServer.port}` }),
  };
  emit(listening);

  const textBytes = new TextEncoder().encode(options.message);
  const sendTo = async (target: Target, index: number): Promise<void> => {
    const datagram = encodeHeartbeat({
      timestamp: timestampFromMs(wallClockMs(), options.timestampUnit),
      ipv4: target.advertise,
      port,
      text: textBytes,
    });
    try {
      if (target.needsResolve) {
        target.address = await resolveIpv4(target.host);
        target.needsResolve = false;
        monitor.setAddress(index, target.address);
      }
      await conn.send(datagram, { transport: "udp", hostname: target.address, port: target.port });
      const seq = monitor.recordSent(index, wallClockMs());
      if (verbose) emit({ event: "sent", to: target.label, seq, bytes: datagram.length });
    } catch (error) {
      if (stopping) return;
      monitor.recordSendError(index);
      // A name is looked up again before the next send, in case its address changed.
      if (parseIpv4(target.host) === undefined) target.needsResolve = true;
      emit({ event: "error", to: target.label, message: describeError(error) });
    }
  };
  // wallClockMs() is timeOrigin + performance.now(), so a wall-clock start maps exactly.
  const firstSendAt = options.startAtMs === undefined
    ? startedAt
    : options.startAtMs - performance.timeOrigin;
  // With a peers file the schedule runs even while the list is empty: a reload may fill it.
  const sends = targets.length > 0 || peersFile !== undefined;
  if (sends && options.startAtMs !== undefined) {
    emit(waitingEvent(options.startAtMs, wallClockMs()));
  }
  // The round of sends in flight: a reload waits for it, since sends name targets by position.
  let sending: Promise<unknown> = Promise.resolve();
  const schedule = !sends ? undefined : scheduleSends(
    firstSendAt,
    intervalMs,
    options.count,
    async () => {
      if (!stopping) await (sending = Promise.all(targets.map(sendTo)));
    },
    () => stop(),
  );

  // SIGHUP: read the peers file again (see docs/many-hosts.md). One reload at a time, in arrival order.
  let reloading: Promise<void> = Promise.resolve();
  const reload = async (path: string): Promise<void> => {
    let entries: PeerEntry[];
    try {
      entries = await loadPeersFile(path);
    } catch (error) {
      if (stopping) return;
      emit({
        event: "error",
        peers: path,
        message: `${describeError(error)}; the ${
          plural(targets.length, "target")
        } stay as they were`,
      });
      return;
    }
    const current = new Map(targets.map((target) => [target.label, target]));
    const next = await Promise.all(
      mergeTargets(options.targets, entries).map(async (spec): Promise<Target> => {
        const kept = current.get(`${spec.host}:${spec.port}`);
        if (kept !== undefined) {
          // The same object: a send in flight may still update its address.
          kept.name = spec.name;
          return kept;
        }
        try {
          const target = newTarget(spec, await resolveTo(spec.host));
          target.advertise = advertiseFor(target.address);
          return target;
        } catch (error) {
          // Added all the same: each send tries the name again and reports the failure.
          emit({
            event: "error",
            to: `${spec.host}:${spec.port}`,
            message: describeError(error),
          });
          const target = newTarget(spec, "0.0.0.0");
          target.needsResolve = true;
          target.advertise = advertiseFor(undefined);
          return target;
        }
      }),
    );
    await sending;
    if (stopping) return;
    const nextLabels = new Set(next.map((target) => target.label));
    const removed = targets.filter((target) => !nextLabels.has(target.label));
    targets = next;
    monitor.replaceTargets(targets.map(targetSpec));
    emit({
      event: "reload",
      added: next.filter((target) => !current.has(target.label)).map((target) => target.label),
      removed: removed.map((target) => target.label),
      targets: targets.length,
    });
  };
  const onHangup = (): void => {
    if (peersFile === undefined || stopping) return;
    reloading = reloading.then(() => reload(peersFile)).catch((error) => {
      // Whatever goes wrong, the peer goes on with the list it has.
      emit({ event: "error", peers: peersFile, message: describeError(error) });
    });
  };

  const checker = setInterval(() => {
    if (!stopping) monitor.check(wallClockMs());
  }, CHECK_EVERY_MS);
  const header = options.watch ? formatListening(listening) : "";
  const redraw = (): void => {
    const rows = watchRows(monitor.targets, monitor.table.streams(), wallClockMs());
    out.line(renderWatch(header, rows, reporter.notes, terminalSize()));
  };
  let watcher: ReturnType<typeof setInterval> | undefined;
  if (options.watch) {
    out.line(WATCH_ENTER);
    redraw();
    watcher = setInterval(redraw, WATCH_EVERY_MS);
  }

  const summarise = (): void => emit(monitor.summary(performance.now() - startedAt));
  function stop(): void {
    if (stopping) return;
    stopping = true;
    schedule?.cancel();
    clearInterval(checker);
    clearInterval(watcher);
    if (options.watch) out.line(WATCH_LEAVE);
    summarise();
    finished();
  }
  const onQuit = (): void => {
    // As ping does on Ctrl-\: the statistics so far, and the run goes on.
    if (!stopping && !options.watch) summarise();
  };

  const removeSignalListeners = onStopSignals(stop);
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGQUIT", onQuit);
  // Without --peers SIGHUP keeps its default: the process ends, as most programs do.
  const hangup = peersFile !== undefined && Deno.build.os !== "windows";
  if (hangup) Deno.addSignalListener("SIGHUP", onHangup);

  const receiving = receiveAll(
    conn,
    monitor,
    () => stopping,
    (error) =>
      emit({ event: "error", to: `${options.bind}:${port}`, message: describeError(error) }),
    () => out.full ? out.drained() : undefined,
  );
  await done;
  removeSignalListeners();
  if (Deno.build.os !== "windows") Deno.removeSignalListener("SIGQUIT", onQuit);
  if (hangup) Deno.removeSignalListener("SIGHUP", onHangup);
  await reloading;
  await metricsServer?.shutdown();
  schedule?.cancel();
  clearInterval(checker);
  clearInterval(watcher);
  conn.close();
  await receiving;
  await out.flush();
  const unanswered = options.count === undefined || out.closed ? [] : monitor.unanswered();
  for (const target of unanswered) {
    console.error(`udpeer: ${target.to} sent no heartbeat back during the run`);
  }
  return unanswered.length > 0 ? 1 : 0;
}
