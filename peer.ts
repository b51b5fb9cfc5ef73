/**
 * The heartbeat peer: one UDP socket that sends each target a heartbeat every interval and
 * reports every datagram it receives (SPEC §2, §3). The I/O lives here; decoding, counting
 * and formatting are the pure modules it calls.
 *
 * @example
 * ```ts ignore
 * import { parsePeerArgs } from "./cli.ts";
 * import { runPeer } from "./peer.ts";
 * const code = await runPeer(parsePeerArgs(["--port", "0", "--to", "127.0.0.1:5005", "--count", "3"]));
 * ```
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { chooseAdvertisedAddress, type InterfaceAddress, needsInterfaces } from "./advertise.ts";
import { DEFAULT_PEER_PORT, type HostPort, type PeerOptions, StartupError } from "./cli.ts";
import { jsonLine } from "./escape.ts";
import { listenError, receiveDatagram } from "./net.ts";
import { LineWriter } from "./output.ts";
import {
  decodeHeartbeat,
  encodeHeartbeat,
  MAX_DATAGRAM_BYTES,
  MAX_TEXT_BYTES,
  parseIpv4,
  timestampFromMs,
} from "./protocol.ts";
import {
  formatInvalid,
  formatListening,
  formatMessage,
  formatSummary,
  messageEvent,
  messageJsonLine,
  type PeerEvent,
  summaryEvent,
} from "./report.ts";
import { SourceTable } from "./sources.ts";

/** `udpeer peer --help`. */
export const PEER_HELP =
  `Heartbeat peer: listen on a UDP port, send each target a checksummed heartbeat
every interval, and report every datagram received.

Usage: udpeer [peer] [--port N] [--to HOST:PORT]... [options]

Options:
  -p, --port N              UDP port to listen on; 0 = any free port (default ${DEFAULT_PEER_PORT})
  -t, --to HOST:PORT        send a heartbeat there every interval; repeatable.
                            HOST is an IPv4 address or a name (resolved to IPv4)
  -b, --bind ADDR           local IPv4 address to listen on (default 0.0.0.0: all)
      --advertise IPV4      address written into the header (default: chosen per
                            target: the bound address, 127.0.0.1 for loopback
                            targets, else the interface on the target's network)
  -i, --interval S          seconds between heartbeats, ≥ 0.001 (default 2)
  -c, --count N             stop after N heartbeats to each target, wait one more
                            interval for replies, print the summary and exit
  -m, --message TEXT        the text to send (at most ${MAX_TEXT_BYTES} bytes of UTF-8)
      --timestamp-unit U    s, ms or us: unit of the sent timestamp (default ms)
      --json                one JSON object per line on stdout instead of text
  -q, --quiet               no line per datagram; the summary only
      --start-at TIME       send the first heartbeat at TIME (Unix seconds or ISO
                            8601), so peers on several hosts start together
                            (default: at once)
  -h, --help                show this help
  -V, --version             show the version

With no arguments at all: listen on 5005 and send to 127.0.0.1:5005 (a demo that
shows its own heartbeats). 'udpeer peer' with no flags only listens.
Ctrl-C (or SIGTERM) prints the summary and exits 0.

Examples:
  udpeer --port 5005 --to 192.0.2.20:5005        two machines, one on each
  udpeer --port 0 --to 127.0.0.1:5005 --count 5  five heartbeats, then a summary
  udpeer --port 5005 --json | jq .               machine-readable events

Exit codes: 0 success, 1 runtime failure (port in use, name not resolved),
2 usage error.`;

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

function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" && !error.message.includes(code)
      ? `${error.message} (${code})`
      : error.message;
  }
  return String(error);
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
    throw listenError("UDP", bind, port, error, describeError);
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
  const firstSendAt = startedAt +
    Math.max(0, options.startAtMs === undefined ? 0 : options.startAtMs - wallClockMs());
  let tick = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;

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
      timer = setTimeout(stop, intervalMs);
      return;
    }
    const due = firstSendAt + tick * intervalMs;
    timer = setTimeout(onTick, Math.max(0, due - performance.now()));
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
    clearTimeout(timer);
    const summaryTargets = targets.map(({ label, address, sent, sendErrors }) => ({
      to: label,
      address,
      sent,
      sendErrors,
    }));
    emit(summaryEvent(summaryTargets, table, performance.now() - startedAt));
    finished();
  }

  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);

  const receiving = receiveLoop();
  if (targets.length > 0) timer = setTimeout(onTick, Math.max(0, firstSendAt - performance.now()));
  await done;
  for (const signal of signals) Deno.removeSignalListener(signal, stop);
  clearTimeout(timer);
  conn.close();
  await receiving;
  await out.flush();
  return 0;
}
