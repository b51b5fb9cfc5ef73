/**
 * The heartbeat peer: one UDP socket that sends each target a heartbeat every interval and
 * reports every datagram it receives (SPEC §2, §3). The I/O lives here; decoding, counting
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

import { lookup } from "node:dns/promises";
import { chooseAdvertisedAddress, type InterfaceAddress, needsInterfaces } from "./advertise.ts";
import { describeError, StartupError } from "../common/errors.ts";
import type { HostPort } from "../common/flags.ts";
import type { PeerOptions } from "./flags.ts";
import { jsonLine } from "../common/escape.ts";
import { listenError, receiveDatagram } from "../common/net.ts";
import { LineWriter } from "../common/output.ts";
import { onStopSignals } from "../common/signals.ts";
import { type CancelTimer, setLongTimeout } from "../common/timers.ts";
import {
  decodeHeartbeat,
  encodeHeartbeat,
  MAX_DATAGRAM_BYTES,
  parseIpv4,
  timestampFromMs,
} from "../../protocol.ts";
import {
  formatInvalid,
  formatListening,
  formatMessage,
  formatSummary,
  formatWaiting,
  messageEvent,
  messageJsonLine,
  type PeerEvent,
  summaryEvent,
  waitingEvent,
} from "./events.ts";
import { SourceTable } from "./sources.ts";

/** A target with its resolved address and counters. */
interface Target {
  label: string;
  host: string;
  port: number;
  address: string;
  advertise: string;
  needsResolve: boolean;
  sent: number;
  sendErrors: number;
}

/** Current wall-clock time in Unix ms with sub-millisecond resolution. */
export function wallClockMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Resolves a host to an IPv4 address: a dotted quad as it is, a name through the system
 * resolver (so /etc/hosts counts).
 *
 * @param host Name or address.
 * @returns The IPv4 address.
 * @throws {Error} If the name does not resolve to an IPv4 address.
 */
export async function resolveIpv4(host: string): Promise<string> {
  if (parseIpv4(host) !== undefined) return host;
  const { address } = await lookup(host, { family: 4 });
  return address;
}

async function resolveTargets(targets: HostPort[]): Promise<Target[]> {
  return await Promise.all(targets.map(async ({ host, port }) => {
    let address: string;
    try {
      address = await resolveIpv4(host);
    } catch (error) {
      throw new StartupError(
        `Cannot resolve --to "${host}": ${
          describeError(error)
        }; check the name or give an IPv4 address`,
      );
    }
    return {
      label: `${host}:${port}`,
      host,
      port,
      address,
      advertise: "",
      needsResolve: false,
      sent: 0,
      sendErrors: 0,
    };
  }));
}

function listen(bind: string, port: number): Deno.DatagramConn {
  try {
    return Deno.listenDatagram({ transport: "udp", hostname: bind, port });
  } catch (error) {
    throw listenError("UDP", bind, port, error);
  }
}

function readInterfaces(): InterfaceAddress[] | undefined {
  try {
    return Deno.networkInterfaces();
  } catch {
    // Without --allow-sys=networkInterfaces the choice falls back to 127.0.0.1; the
    // listening line shows what is advertised, and --advertise overrides it.
    return undefined;
  }
}

/**
 * Runs the heartbeat peer until `--count` is done or SIGINT/SIGTERM arrives, then prints
 * the summary.
 *
 * @param options Parsed command line.
 * @returns The exit code: 0.
 * @throws {StartupError} If a target does not resolve or the port cannot be bound.
 */
export async function runPeer(options: PeerOptions): Promise<number> {
  const targets = await resolveTargets(options.targets);
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
  const emit = (event: PeerEvent): void => {
    if (options.json) {
      return out.line(event.event === "message" ? messageJsonLine(event) : jsonLine(event));
    }
    switch (event.event) {
      case "listening":
        return out.line(formatListening(event));
      case "message":
        return out.line(formatMessage(event));
      case "invalid":
        return out.line(formatInvalid(event));
      case "waiting":
        return out.line(formatWaiting(event));
      case "error":
        console.error(`udpeer: Cannot send to ${event.to}: ${event.message}`);
        return;
      case "summary":
        return formatSummary(event).forEach((line) => out.line(line));
      case "sent":
        return; // sends are not echoed in human mode
    }
  };
  const verbose = !options.quiet;

  emit({
    event: "listening",
    address: options.bind,
    port,
    advertise: targets[0]?.advertise ?? advertiseFor(undefined),
    targets: targets.map((t) => ({ to: t.label, address: t.address, advertise: t.advertise })),
    intervalS: options.intervalSeconds,
  });

  // Sending: heartbeat k goes out at firstSendAt + k·interval, so lateness of one timer does
  // not push back the ones after it.
  const textBytes = new TextEncoder().encode(options.message);
  const intervalMs = options.intervalSeconds * 1000;
  // wallClockMs() is timeOrigin + performance.now(), so a wall-clock start maps exactly.
  const firstSendAt = options.startAtMs === undefined
    ? startedAt
    : options.startAtMs - performance.timeOrigin;
  let tick = 0;
  if (targets.length > 0 && options.startAtMs !== undefined) {
    emit(waitingEvent(options.startAtMs, wallClockMs()));
  }
  // Chained, so an interval or a --start-at past 2^31 − 1 ms waits as long as it says.
  let cancelTimer: CancelTimer | undefined;

  const sendTo = async (target: Target): Promise<void> => {
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
      }
      await conn.send(datagram, { transport: "udp", hostname: target.address, port: target.port });
      target.sent++;
      if (verbose) {
        emit({ event: "sent", to: target.label, seq: target.sent, bytes: datagram.length });
      }
    } catch (error) {
      if (stopping) return;
      target.sendErrors++;
      // A name is looked up again before the next send, in case its address changed.
      if (parseIpv4(target.host) === undefined) target.needsResolve = true;
      emit({ event: "error", to: target.label, message: describeError(error) });
    }
  };

  const onTick = async (): Promise<void> => {
    if (stopping) return;
    tick++;
    await Promise.all(targets.map(sendTo));
    if (stopping) return;
    if (options.count !== undefined && tick >= options.count) {
      // Wait one more interval for the replies to the last heartbeats, then stop.
      cancelTimer = setLongTimeout(stop, intervalMs);
      return;
    }
    const due = firstSendAt + tick * intervalMs;
    cancelTimer = setLongTimeout(onTick, due - performance.now());
  };

  const table = new SourceTable();
  const receiveLoop = async (): Promise<void> => {
    // One buffer for every datagram: receive() would otherwise allocate 64 KiB each time.
    const buffer = new Uint8Array(MAX_DATAGRAM_BYTES + 1);
    while (!stopping) {
      const received = await receiveDatagram(
        conn,
        buffer,
        () => stopping,
        (error) =>
          emit({ event: "error", to: `${options.bind}:${port}`, message: describeError(error) }),
      );
      if (received === undefined) return;
      const [datagram, remote] = received;
      // A datagram read after SIGINT/SIGTERM would be reported after the summary, which
      // closes the run and does not count it.
      if (stopping) return;
      const receivedAtMs = wallClockMs();
      const result = decodeHeartbeat(datagram);
      if (result.ok) {
        const stats = table.recordMessage(
          remote.hostname,
          receivedAtMs - result.heartbeat.sentAtMs,
        );
        if (verbose) emit(messageEvent(result.heartbeat, remote, stats.messages, receivedAtMs));
      } else {
        table.recordInvalid(remote.hostname);
        if (verbose) {
          emit({
            event: "invalid",
            from: remote.hostname,
            fromPort: remote.port,
            reason: result.reason,
            bytes: result.bytes,
          });
        }
      }
      if (out.full) await out.drained();
    }
  };

  function stop(): void {
    if (stopping) return;
    stopping = true;
    cancelTimer?.();
    const summaryTargets = targets.map(({ label, address, sent, sendErrors }) => ({
      to: label,
      address,
      sent,
      sendErrors,
    }));
    emit(summaryEvent(summaryTargets, table, performance.now() - startedAt));
    finished();
  }

  const removeSignalListeners = onStopSignals(stop);

  const receiving = receiveLoop();
  if (targets.length > 0) cancelTimer = setLongTimeout(onTick, firstSendAt - performance.now());
  await done;
  removeSignalListeners();
  cancelTimer?.();
  conn.close();
  await receiving;
  await out.flush();
  return 0;
}
