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
import { datagramReceiver, listenError, resolveIpv4, resolveTo } from "../common/net.ts";
import { LineWriter } from "../common/output.ts";
import { onStopSignals } from "../common/signals.ts";
import { plural } from "../common/words.ts";
import { encodeHeartbeat, parseIpv4, timestampFromMs } from "../../protocol.ts";
import { formatListening, type ListeningEvent, type ReloadEvent, waitingEvent } from "./events.ts";
import { createReporter } from "./reporter.ts";
import { scheduleSends, sendRound } from "./sender.ts";
import denoJson from "../../deno.json" with { type: "json" };
import { renderMetricsChunks } from "./metrics.ts";
import { createMetricsRecorder } from "./metrics_recorder.ts";
import { type MetricsServer, serveMetrics } from "./metrics_server.ts";
import { PeerMonitor, type TargetSpec } from "./monitor.ts";
import { loadPeersFile, mergeTargets, type PeerEntry } from "./peers_file.ts";
import { peerIdentity, readHostname, splitFleet } from "./fleet.ts";
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
/** Targets of a reloaded peers file resolved in one step. */
const RELOAD_BATCH = 256;
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
    const received = await receiver.next();
    if (received === undefined || isStopping()) return;
    monitor.receive(received[0], received[1], wallClockMs());
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
  // Fleet: the peers file's line of this peer names it and is no target (src/peer/fleet.ts).
  let fleet = await splitFleet(
    peersFile === undefined ? [] : await loadPeersFile(peersFile),
    options,
  );
  const fromFile = fleet.targets;
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
  // Fleet: who this peer is, for udpeer_info and the listening event (src/peer/fleet.ts).
  const hostname = readHostname();
  const identity = () =>
    peerIdentity({
      name: options.name,
      self: fleet.self,
      hostname,
      advertise: targets[0]?.advertise ?? options.advertise ?? options.bind,
      port,
    });

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
  const recorder = options.metrics === undefined ? undefined : createMetricsRecorder(() => ({
    info: identity(),
    processStartTimeSeconds: performance.timeOrigin / 1000,
  }));
  const monitor = new PeerMonitor({
    targets: targets.map(targetSpec),
    ownIntervalMs: intervalMs,
    downAfter: options.downAfter,
    emit,
    verbose,
    onHeartbeat: recorder?.observe,
    onEvict: recorder?.forget,
    checkEveryMs: CHECK_EVERY_MS,
  });
  let metricsServer: MetricsServer | undefined;
  if (options.metrics !== undefined) {
    const render = (): Iterable<string> =>
      renderMetricsChunks(recorder!.snapshot(monitor, denoJson.version, options.metricsMaxSources));
    try {
      metricsServer = serveMetrics(options.metrics, render, {
        // Whatever its sockets do (EMFILE included), the metrics server never ends the peer.
        onError: (message) => {
          if (!stopping) {
            emit({
              event: "error",
              op: "metrics",
              address: `${metricsServer?.hostname}:${metricsServer?.port}`,
              message,
            });
          }
        },
      });
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
    name: identity().name,
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
    if (target.needsResolve) {
      try {
        target.address = await resolveIpv4(target.host);
        target.needsResolve = false;
        monitor.setAddress(index, target.address);
      } catch (error) {
        if (stopping) return;
        monitor.recordSendError(index);
        emit({ event: "error", op: "resolve", to: target.label, message: describeError(error) });
        return;
      }
    }
    try {
      await conn.send(datagram, { transport: "udp", hostname: target.address, port: target.port });
      const seq = monitor.recordSent(index, wallClockMs());
      if (verbose) emit({ event: "sent", to: target.label, seq, bytes: datagram.length });
    } catch (error) {
      if (stopping) return;
      monitor.recordSendError(index);
      // A name is looked up again before the next send, in case its address changed.
      if (parseIpv4(target.host) === undefined) target.needsResolve = true;
      emit({ event: "error", op: "send", to: target.label, message: describeError(error) });
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
  const sendRoundNow = async (skipped: number): Promise<void> => {
    // A late tick is also how the peer sees its own pause, before anything else runs.
    monitor.noticeTime(wallClockMs());
    const round = targets;
    if (skipped > 0) round.forEach((_, index) => monitor.recordSkipped(index, skipped));
    await sendRound(round.length, (index) => sendTo(round[index]!, index), () => stopping);
  };
  const schedule = !sends ? undefined : scheduleSends({
    firstMs: firstSendAt,
    fromFirstTick: options.startAtMs === undefined,
    intervalMs,
    count: options.count,
    onTick: async (skipped) => {
      if (!stopping) await (sending = sendRoundNow(skipped));
    },
    onDone: () => stop(),
  });

  // SIGHUP: read the peers file again (docs/many-hosts.md). One reload at a time; the
  // SIGHUPs that arrive meanwhile are merged into one more.
  let reloading: Promise<void> = Promise.resolve();
  let reloadAgain = false;
  let reloadRunning = false;
  const reportReloadError = (path: string, error: unknown): void => {
    if (stopping) return;
    emit({
      event: "error",
      op: "reload",
      peers: path,
      message: `${describeError(error)}; the ${plural(targets.length, "target")} stay as they were`,
    });
  };
  const reload = async (path: string): Promise<void> => {
    let entries: PeerEntry[];
    try {
      entries = await loadPeersFile(path);
    } catch (error) {
      return reportReloadError(path, error);
    }
    // Fleet: this peer's own line again, maybe renamed (src/peer/fleet.ts).
    fleet = await splitFleet(entries, options);
    entries = fleet.targets;
    const current = new Map(targets.map((target) => [target.label, target]));
    const specs = mergeTargets(options.targets, entries);
    const next: Target[] = [];
    const renamed: ReloadEvent["renamed"] = [];
    // In batches, with a turn of the event loop between them: a file of 65,536 targets must
    // not hold the receive loop (names are looked up concurrently within a batch).
    for (let start = 0; start < specs.length && !stopping; start += RELOAD_BATCH) {
      if (start > 0) await new Promise((resolve) => setTimeout(resolve, 0));
      next.push(
        ...await Promise.all(
          specs.slice(start, start + RELOAD_BATCH).map(async (spec): Promise<Target> => {
            const kept = current.get(`${spec.host}:${spec.port}`);
            if (kept !== undefined) {
              if (kept.name !== spec.name) {
                renamed.push({
                  target: kept.label,
                  from: kept.name ?? null,
                  to: spec.name ?? null,
                });
              }
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
                op: "resolve",
                to: `${spec.host}:${spec.port}`,
                message: describeError(error),
              });
              const target = newTarget(spec, "0.0.0.0");
              target.needsResolve = true;
              target.advertise = advertiseFor(undefined);
              return target;
            }
          }),
        ),
      );
    }
    await sending;
    if (stopping) return;
    // The same objects: a send in flight may still update a kept target's address.
    for (const { target: label, to } of renamed) current.get(label)!.name = to ?? undefined;
    const nextLabels = new Set(next.map((target) => target.label));
    const removed = targets.filter((target) => !nextLabels.has(target.label));
    targets = next;
    monitor.replaceTargets(targets.map(targetSpec));
    emit({
      event: "reload",
      added: next.filter((target) => !current.has(target.label)).map((target) => target.label),
      removed: removed.map((target) => target.label),
      renamed,
      targets: targets.length,
    });
  };
  const onHangup = (): void => {
    if (peersFile === undefined) {
      // Nothing to re-read: SIGHUP must not end a peer (its default would).
      console.error("udpeer: SIGHUP ignored: there is no --peers file to read again");
      return;
    }
    if (stopping) return;
    if (reloadRunning) {
      reloadAgain = true;
      return;
    }
    reloadRunning = true;
    reloading = (async () => {
      do {
        reloadAgain = false;
        // Whatever goes wrong, the peer goes on with the list it has.
        await reload(peersFile).catch((error) => reportReloadError(peersFile, error));
      } while (reloadAgain && !stopping);
      reloadRunning = false;
    })();
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

  const summarise = (final: boolean): void =>
    emit(monitor.summary(performance.now() - startedAt, final));
  function stop(): void {
    if (stopping) return;
    stopping = true;
    schedule?.cancel();
    clearInterval(checker);
    clearInterval(watcher);
    if (options.watch) out.line(WATCH_LEAVE);
    summarise(true);
    finished();
  }
  const onQuit = (): void => {
    // As ping does on Ctrl-\: the statistics so far, and the run goes on.
    if (!stopping && !options.watch) summarise(false);
  };

  const removeSignalListeners = onStopSignals(stop);
  if (Deno.build.os !== "windows") Deno.addSignalListener("SIGQUIT", onQuit);
  const hangup = Deno.build.os !== "windows";
  if (hangup) Deno.addSignalListener("SIGHUP", onHangup);

  const receiving = receiveAll(
    conn,
    monitor,
    () => stopping,
    (error) =>
      emit({
        event: "error",
        op: "receive",
        address: `${options.bind}:${port}`,
        message: describeError(error),
      }),
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
