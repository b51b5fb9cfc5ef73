/**
 * The heartbeat peer: one UDP socket that sends each target a heartbeat every interval and
 * reports every datagram it receives (README "The heartbeat peer", "What it prints"). This
 * module wires the steps together, as irtt's `Client.Run` does: the schedule and the send
 * step (sender.ts), the receive step (below), the accounting (monitor.ts), the report step
 * (reporter.ts), the reload step (reload.ts) and the metrics server; each is a unit with
 * tests of its own that take their times as arguments.
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
import type { PeerOptions } from "./flags.ts";
import { type Family, familyOf, joinHostPort } from "../common/endpoint.ts";
import { BATCH_DATAGRAMS, batchReceiver } from "../common/batch_receive.ts";
import {
  type DatagramReceiver,
  datagramReceiver,
  listenError,
  resolveAddress,
  resolveTo,
} from "../common/net.ts";
import { LineWriter } from "../common/output.ts";
import { onStopSignals } from "../common/signals.ts";
import { encodeHeartbeat, NO_IPV4_ADDRESS, timestampFromMs } from "../../protocol.ts";
import { formatListening, type ListeningEvent, waitingEvent } from "./events.ts";
import { createReporter, type Reporter } from "./reporter.ts";
import { type Schedule, scheduleSends, sendRound } from "./sender.ts";
import denoJson from "../../deno.json" with { type: "json" };
import { renderMetricsChunks } from "./metrics.ts";
import { createMetricsRecorder } from "./metrics_recorder.ts";
import { type MetricsServer, serveMetrics } from "./metrics_server.ts";
import { PeerMonitor } from "./monitor.ts";
import { loadPeersFile, mergeTargets, type NamedHostPort } from "./peers_file.ts";
import { peerIdentity, readHostname, splitFleet } from "./fleet.ts";
import { createReloader } from "./reload.ts";
import { newTarget, type Target, TargetRegistry } from "./targets.ts";
import { renderWatch, WATCH_ENTER, WATCH_LEAVE, watchRows } from "./watch.ts";

/** How often streams and targets are checked for silence. */
const CHECK_EVERY_MS = 100;
/** How often `--watch` redraws. */
const WATCH_EVERY_MS = 1000;

/** Current wall-clock time in Unix ms with sub-millisecond resolution. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The family a name is resolved to first: IPv4, as ping does, unless `-6` asks for IPv6.
 */
function preferredFamily(options: PeerOptions): Family {
  return options.ipv6 ? "ipv6" : "ipv4";
}

/**
 * The address the socket listens on: `--bind`; but the default 0.0.0.0 becomes `::` (IPv6,
 * and IPv4 too where the system allows) when a target is IPv6 or `-6` is given, since a
 * socket on 0.0.0.0 cannot send to an IPv6 address.
 */
function listenAddress(options: PeerOptions, targets: readonly Target[]): string {
  if (options.bind !== "0.0.0.0") return options.bind;
  const ipv6 = options.ipv6 || targets.some((target) => familyOf(target.address) === "ipv6");
  return ipv6 ? "::" : options.bind;
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

/** The address advertised to a target at `address`; interfaces are read once, if needed. */
function createAdvertiser(options: PeerOptions): (address: string | undefined) => string {
  let interfaces: InterfaceAddress[] | undefined;
  return (target) => {
    const input = { advertise: options.advertise, bind: options.bind, target };
    if (needsInterfaces(input)) interfaces ??= readInterfaces();
    return chooseAdvertisedAddress({ ...input, interfaces });
  };
}

/** The terminal's size, or 80×24 when it cannot be read. */
function terminalSize(): { columns: number; rows: number } {
  try {
    return Deno.consoleSize();
  } catch {
    return { columns: 80, rows: 24 };
  }
}

/** Everything of a run that its steps share. */
interface Peer {
  options: PeerOptions;
  conn: Deno.DatagramConn;
  /** The address the socket listens on (`--bind`, or `::` for IPv6 targets). */
  bind: string;
  /** The bound port (the real one with `--port 0`). */
  port: number;
  registry: TargetRegistry;
  monitor: PeerMonitor;
  reporter: Reporter;
  out: LineWriter;
  /** Per-datagram events wanted (not --quiet, not --watch). */
  verbose: boolean;
  /** True once the run stops. */
  stopping: boolean;
}

/**
 * The send step: one heartbeat to a target, its name looked up again first when a send to
 * it failed; every failure is an `error` event naming its operation.
 */
function createSendStep(peer: Peer): (target: Target) => Promise<void> {
  const { options, conn, monitor } = peer;
  const emit = peer.reporter.emit;
  const text = new TextEncoder().encode(options.message);
  return async (target) => {
    if (target.needsResolve) {
      try {
        monitor.setAddress(target, await resolveAddress(target.host, preferredFamily(options)));
        target.needsResolve = false;
      } catch (error) {
        if (peer.stopping) return;
        monitor.recordSendError(target);
        emit({ event: "error", op: "resolve", to: target.to, message: describeError(error) });
        return;
      }
    }
    const datagram = encodeHeartbeat({
      timestamp: timestampFromMs(wallClockMs(), options.timestampUnit),
      ipv4: target.advertise,
      port: peer.port,
      text,
    });
    try {
      await conn.send(datagram, { transport: "udp", hostname: target.address, port: target.port });
      const sentAtMs = wallClockMs();
      const seq = monitor.recordSent(target, sentAtMs);
      if (peer.verbose) {
        peer.reporter.emitSoon(
          { event: "sent", to: target.to, seq, bytes: datagram.length },
          sentAtMs,
        );
      }
    } catch (error) {
      if (peer.stopping) return;
      monitor.recordSendError(target);
      // A name is looked up again before the next send, in case its address changed.
      if (familyOf(target.host) === undefined) target.needsResolve = true;
      emit({
        event: "error",
        op: "send",
        to: target.to,
        message: sendErrorText(peer, target, error),
      });
    }
  };
}

/**
 * What a failed send says: the socket's error, and the fix when an IPv6 target was given to a
 * socket listening on an IPv4 address, which cannot reach it.
 */
function sendErrorText(peer: Peer, target: Target, error: unknown): string {
  const message = describeError(error);
  if (familyOf(target.address) !== "ipv6" || familyOf(peer.bind) !== "ipv4") return message;
  return `${message}: a socket on ${peer.bind} sends no IPv6; listen on :: (--bind ::) to reach ${target.address}`;
}

/** Starts `--metrics`; its errors are events, and it never ends the peer. */
function startMetrics(
  peer: Peer,
  recorder: ReturnType<typeof createMetricsRecorder>,
): MetricsServer {
  const { options, monitor } = peer;
  const render = (): Iterable<string> =>
    renderMetricsChunks(recorder.snapshot(monitor, denoJson.version, options.metricsMaxSources));
  const server: MetricsServer = serveMetrics(options.metrics!, render, {
    // Whatever its sockets do (EMFILE included), the metrics server never ends the peer.
    onError: (message) => {
      if (peer.stopping) return;
      const address = joinHostPort(server.hostname, server.port);
      peer.reporter.emit({ event: "error", op: "metrics", address, message });
    },
  });
  return server;
}

/** Starts `--watch`'s table, redrawn each second; returns what takes it down. */
function startWatch(peer: Peer, listening: ListeningEvent): () => void {
  const header = formatListening(listening);
  const redraw = (): void => {
    const rows = watchRows(peer.monitor.targets, peer.monitor.table.streams(), wallClockMs());
    peer.out.line(renderWatch(header, rows, peer.reporter.notes, terminalSize()));
  };
  peer.out.line(WATCH_ENTER);
  redraw();
  const timer = setInterval(redraw, WATCH_EVERY_MS);
  return () => {
    clearInterval(timer);
    peer.out.line(WATCH_LEAVE);
  };
}

/** Signals for the run's life: SIGINT/SIGTERM stop, SIGQUIT summarises, SIGHUP reloads. */
function listenToSignals(
  stop: () => void,
  onQuit: () => void,
  onHangup: () => void,
): () => void {
  const removeStop = onStopSignals(stop);
  if (Deno.build.os === "windows") return removeStop;
  Deno.addSignalListener("SIGQUIT", onQuit);
  Deno.addSignalListener("SIGHUP", onHangup);
  return () => {
    removeStop();
    Deno.removeSignalListener("SIGQUIT", onQuit);
    Deno.removeSignalListener("SIGHUP", onHangup);
  };
}

/**
 * The reader of the peer's socket: with `--allow-ffi` on Linux, one that reads the datagrams
 * queued behind each `receive()` with `recvmmsg` (batch_receive.ts); else several
 * `receive()` calls in flight, since with one nobody reads the socket during each call's
 * round trip through the runtime, and under a burst the kernel's buffer overflows
 * (docs/performance.md).
 *
 * @param conn The socket.
 * @param isStopping True once the run is stopping; the socket is closed only after.
 * @param onError Told about unexpected receive errors.
 * @returns The receiver, and how many datagrams it reads per system call at most.
 */
export function openReceiver(
  conn: Deno.DatagramConn,
  isStopping: () => boolean,
  onError: (error: unknown) => void,
): { receiver: DatagramReceiver; batch: number } {
  const options = { isClosed: isStopping, onError };
  const batched = batchReceiver(conn, options);
  return batched === undefined
    ? { receiver: datagramReceiver(conn, options), batch: 1 }
    : { receiver: batched, batch: BATCH_DATAGRAMS };
}

/**
 * The receive step: reads datagrams and hands each to the monitor (the account step) until
 * the socket closes or `isStopping()` turns true.
 *
 * @param receiver The socket's reader ({@linkcode openReceiver}).
 * @param monitor The accounting.
 * @param isStopping True once the run is stopping: a datagram read then is not counted,
 * since the summary that closes the run may already be out.
 * @param waitForOutput Resolves when the output can take more (back-pressure), or
 * undefined when it can already.
 */
export async function receiveAll(
  receiver: DatagramReceiver,
  monitor: PeerMonitor,
  isStopping: () => boolean,
  waitForOutput: () => Promise<void> | undefined,
): Promise<void> {
  // Each datagram is a view valid until the next poll() or next().
  while (!isStopping()) {
    const received = receiver.poll() ?? await receiver.next();
    if (received === undefined || isStopping()) return;
    monitor.receive(received[0], received[1], receiver.receivedAtMs);
    const wait = waitForOutput();
    if (wait !== undefined) await wait;
  }
}

/**
 * Runs the heartbeat peer until `--count` is done or SIGINT/SIGTERM arrives, then prints
 * the summary. SIGQUIT prints the summary so far and keeps running; SIGHUP reloads `--peers`.
 *
 * @param options Parsed command line.
 * @returns The exit code: 0, or 1 when a `--count` run got nothing back from a target.
 * @throws {UsageError} If `--watch` is given and stdout is not a terminal.
 * @throws {StartupError} If a target does not resolve or the port cannot be bound.
 */
export async function runPeer(options: PeerOptions): Promise<number> {
  assertWatchable(options);
  // The peers file's line of this peer names it and is no target (fleet.ts).
  const file = options.peersFile === undefined ? [] : await loadPeersFile(options.peersFile);
  let fleet = await splitFleet(file, options);
  const advertiseFor = createAdvertiser(options);
  const registry = await resolveTargets(
    mergeTargets(options.targets, fleet.targets),
    advertiseFor,
    preferredFamily(options),
  );
  const bind = listenAddress(options, registry.all);
  const conn = listen(bind, options.port);
  const port = (conn.addr as Deno.NetAddr).port;
  const startedAt = performance.now();
  let finished!: () => void;
  const done = new Promise<void>((resolve) => finished = resolve);
  // Nobody reads stdout any more (`udpeer | head`): end quietly.
  const out = new LineWriter(Deno.stdout, { onClosed: () => (peer.stopping = true, finished()) });
  const reporter = createReporter(options, out, (text) => console.error(text));
  // Listening only, the header's field says the bound address; an IPv6 one does not fit.
  const advertised = () =>
    registry.all[0]?.advertise ?? options.advertise ??
      (familyOf(bind) === "ipv6" ? NO_IPV4_ADDRESS : bind);
  const hostname = readHostname();
  const identity = () =>
    peerIdentity({ name: options.name, self: fleet.self, hostname, advertise: advertised(), port });
  const recorder = options.metrics === undefined ? undefined : createMetricsRecorder(() => ({
    info: identity(),
    processStartTimeSeconds: performance.timeOrigin / 1000,
  }));
  const verbose = !options.quiet && !options.watch;
  const monitor = createMonitor(options, registry, reporter, verbose, recorder);
  const peer: Peer = {
    options,
    conn,
    bind,
    port,
    registry,
    monitor,
    reporter,
    out,
    verbose,
    stopping: false,
  };
  const metrics = recorder === undefined ? undefined : startMetricsOrClose(peer, recorder);
  const { receiver, batch } = openReceiver(conn, () => peer.stopping, receiveErrorReporter(peer));
  const listening = listeningEvent(peer, identity().name, advertised(), metrics, batch);
  reporter.emit(listening);
  const schedule = startSchedule(peer, () => stop());
  const reloader = createReloader({
    options,
    registry,
    resolve: (host) => resolveTo(host, preferredFamily(options)),
    advertiseFor,
    emit: reporter.emit,
    idle: () => schedule?.idle() ?? Promise.resolve(),
    changed: (stopped) => monitor.targetsChanged(stopped),
    fleet: (split) => fleet = split,
    isStopping: () => peer.stopping,
  });
  const checker = setInterval(() => peer.stopping || monitor.check(wallClockMs()), CHECK_EVERY_MS);
  const stopWatch = options.watch ? startWatch(peer, listening) : undefined;
  const summarise = (final: boolean) =>
    reporter.emit(monitor.summary(performance.now() - startedAt, final));
  function stop(): void {
    if (peer.stopping) return;
    peer.stopping = true;
    schedule?.cancel();
    clearInterval(checker);
    stopWatch?.();
    summarise(true);
    finished();
  }
  // As ping does on Ctrl-\: the statistics so far, and the run goes on.
  const onQuit = () => !peer.stopping && !options.watch && summarise(false);
  const removeSignals = listenToSignals(stop, onQuit, reloader.onHangup);
  const receiving = receiveAll(
    receiver,
    monitor,
    () => peer.stopping,
    () => out.full ? out.drained() : undefined,
  );
  await done;
  removeSignals();
  await reloader.settled();
  await metrics?.shutdown();
  schedule?.cancel();
  clearInterval(checker);
  conn.close();
  await receiving;
  await out.flush();
  return reportUnanswered(peer);
}

/** `--watch` draws a table: it needs a terminal. */
function assertWatchable(options: PeerOptions): void {
  if (options.watch && !Deno.stdout.isTerminal()) {
    throw new UsageError(
      "Cannot use --watch: stdout is not a terminal; run it in a terminal, or use --json to pipe events",
    );
  }
}

/** The accounting of the run, the metrics' histograms fed from it. */
function createMonitor(
  options: PeerOptions,
  registry: TargetRegistry,
  reporter: Reporter,
  verbose: boolean,
  recorder: ReturnType<typeof createMetricsRecorder> | undefined,
): PeerMonitor {
  return new PeerMonitor({
    targets: registry,
    ownIntervalMs: options.intervalSeconds * 1000,
    downAfter: options.downAfter,
    emit: reporter.emit,
    verbose,
    onHeartbeat: recorder?.observe,
    onEvict: recorder?.forget,
    checkEveryMs: CHECK_EVERY_MS,
  });
}

/** Every target resolved at start (a name that does not resolve ends the start). */
async function resolveTargets(
  specs: readonly NamedHostPort[],
  advertiseFor: (address: string) => string,
  prefer: Family,
): Promise<TargetRegistry> {
  return new TargetRegistry(
    await Promise.all(specs.map(async (spec) => {
      const target = newTarget(spec, await resolveTo(spec.host, prefer));
      target.advertise = advertiseFor(target.address);
      return target;
    })),
  );
}

/** The receive step's unexpected errors, reported as `error` events. */
function receiveErrorReporter(peer: Peer): (error: unknown) => void {
  return (error) =>
    peer.reporter.emit({
      event: "error",
      op: "receive",
      address: joinHostPort(peer.bind, peer.port),
      message: describeError(error),
    });
}

/** Starts the metrics server; a failure to bind closes the socket and ends the start. */
function startMetricsOrClose(
  peer: Peer,
  recorder: ReturnType<typeof createMetricsRecorder>,
): MetricsServer {
  try {
    return startMetrics(peer, recorder);
  } catch (error) {
    peer.conn.close();
    throw error;
  }
}

/** The `listening` event: where this peer listens, what it advertises, where it sends. */
function listeningEvent(
  peer: Peer,
  name: string,
  advertise: string,
  metrics: MetricsServer | undefined,
  receiveBatch: number,
): ListeningEvent {
  return {
    event: "listening",
    address: peer.bind,
    port: peer.port,
    // Listening only, nothing is advertised: no interface is read for it.
    advertise,
    targets: peer.registry.all.map((t) => ({
      to: t.to,
      address: t.address,
      advertise: t.advertise,
      ...(t.name === undefined ? {} : { peer: t.name }),
    })),
    intervalS: peer.options.intervalSeconds,
    name,
    ...(metrics === undefined ? {} : { metrics: joinHostPort(metrics.hostname, metrics.port) }),
    ...(receiveBatch === 1 ? {} : { receiveBatch }),
  };
}

/** The schedule with its send rounds, and a way to wait until no round is in flight. */
interface SendSchedule extends Schedule {
  /** Resolves when no send round is in flight. */
  idle(): Promise<unknown>;
}

/**
 * Starts the send schedule, or none when there is nothing to send to (with a peers file it
 * runs even while the list is empty: a reload may fill it).
 */
function startSchedule(peer: Peer, onDone: () => void): SendSchedule | undefined {
  const { options, registry, monitor } = peer;
  if (registry.size === 0 && options.peersFile === undefined) return undefined;
  // wallClockMs() is timeOrigin + performance.now(), so a wall-clock start maps exactly.
  const firstMs = options.startAtMs === undefined
    ? performance.now()
    : options.startAtMs - performance.timeOrigin;
  if (options.startAtMs !== undefined) {
    peer.reporter.emit(waitingEvent(options.startAtMs, wallClockMs()));
  }
  const sendTo = createSendStep(peer);
  let sending: Promise<unknown> = Promise.resolve();
  const round = async (skipped: number): Promise<void> => {
    // A late tick is also how the peer sees its own pause, before anything else runs.
    monitor.noticeTime(wallClockMs());
    const targets = registry.all;
    if (skipped > 0) { for (const target of targets) monitor.recordSkipped(target, skipped); }
    await sendRound(targets.length, (index) => sendTo(targets[index]!), () => peer.stopping);
  };
  const schedule = scheduleSends({
    firstMs,
    fromFirstTick: options.startAtMs === undefined,
    intervalMs: options.intervalSeconds * 1000,
    count: options.count,
    onTick: async (skipped) => {
      if (!peer.stopping) await (sending = round(skipped));
    },
    onDone,
  });
  return { cancel: () => schedule.cancel(), idle: () => sending };
}

/** Names on stderr each target of a `--count` run that sent nothing back; the exit code. */
function reportUnanswered(peer: Peer): number {
  const unanswered = peer.options.count === undefined || peer.out.closed
    ? []
    : peer.monitor.unanswered();
  for (const target of unanswered) {
    console.error(`udpeer: ${target.to} sent no heartbeat back during the run`);
  }
  return unanswered.length > 0 ? 1 : 0;
}
