/**
 * The heartbeat peer's command line (see README "The heartbeat peer"): its options, its flags, its help, and the
 * pure parser that turns the arguments into options or a {@linkcode UsageError}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePeerArgs } from "./flags.ts";
 * const options = parsePeerArgs(["--port", "0", "--to", "127.0.0.1:5006"]);
 * assert.ok(options.port === 0 && options.targets[0]?.port === 5006);
 * ```
 *
 * @module
 */

import { DEFAULT_MESSAGE, MAX_TEXT_BYTES, type TimestampUnit } from "../../protocol.ts";
import { UsageError } from "../common/errors.ts";
import { DEFAULT_MAX_SOURCES } from "./metrics.ts";
import { DEFAULT_METRICS_PORT, type ListenAddress, parseListenAddress } from "./metrics_server.ts";
import {
  type CommonOptions,
  type HostPort,
  type OptionSpec,
  parseCount,
  parseFlags,
  parseHostPort,
  parseIpv4Flag,
  parsePort,
  parseSeconds,
  parseTime,
} from "../common/flags.ts";

/** Default port of the heartbeat peer. */
export const DEFAULT_PEER_PORT = 5005;

/** A target of the peer: where to send, and the name a peers file may give it. */
export interface PeerTarget extends HostPort {
  /** Its name, shown as `peer` in events and the summary (see docs/many-hosts.md). */
  name?: string;
}

/** Default of `--down-after`: intervals of quiet that make a stream silent. */
export const DEFAULT_DOWN_AFTER = 3;

/** Options of the heartbeat peer. */
export interface PeerOptions extends CommonOptions {
  /** Port to listen on, 0 for any free port. */
  port: number;
  /** Local IPv4 address to bind. */
  bind: string;
  /** Targets to send heartbeats to. */
  targets: PeerTarget[];
  /** Address to write into the header, if forced with `--advertise`. */
  advertise: string | undefined;
  /** Seconds between heartbeats. */
  intervalSeconds: number;
  /** Heartbeats per target before stopping, or undefined to run until stopped. */
  count: number | undefined;
  /** Text of each heartbeat. */
  message: string;
  /** Unit of the timestamp written. */
  timestampUnit: Exclude<TimestampUnit, "ns">;
  /** Print only the summary. */
  quiet: boolean;
  /** Unix ms at which to send the first heartbeat, or undefined for at once. */
  startAtMs: number | undefined;
  /** Intervals of quiet after which a stream is reported silent (see docs/link-health.md). */
  downAfter: number;
  /** Show the live full-screen table instead of lines. */
  watch: boolean;
  /** `--peers FILE`: more targets, read at start and on SIGHUP (see docs/many-hosts.md). */
  peersFile: string | undefined;
  /** `--metrics [ADDR:]PORT`: where to serve `GET /metrics`, if anywhere. */
  metrics: ListenAddress | undefined;
  /** `--metrics-max-sources N`: streams other than targets with series of their own. */
  metricsMaxSources: number;
}

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
      --timestamp-unit U    s, ms or us: unit of the sent timestamp (default us)
      --json                one JSON object per line on stdout instead of text
  -q, --quiet               no line per datagram; the summary only (silent and
                            back lines are kept)
      --down-after N        report a stream silent after N of its intervals
                            without a heartbeat, and back when it returns
                            (default ${DEFAULT_DOWN_AFTER})
      --peers FILE          more targets, one HOST:PORT [NAME] a line (# comments);
                            SIGHUP reads the file again without a restart
      --metrics [ADDR:]PORT
                            serve Prometheus metrics at GET /metrics; a bare port
                            listens on 127.0.0.1 only (${DEFAULT_METRICS_PORT} is a good choice)
      --metrics-max-sources N
                            streams besides the targets with series of their own,
                            the most recent; the rest are summed (default ${DEFAULT_MAX_SOURCES})
  -w, --watch               live full-screen table of every stream, redrawn each
                            second (stdout must be a terminal); summary at exit
      --start-at TIME       send the first heartbeat at TIME (Unix seconds or ISO
                            8601, in the future), so peers on several hosts start
                            together; says when it will start (default: at once)
  -h, --help                show this help
  -V, --version             show the version

With no arguments at all: listen on 5005 and send to 127.0.0.1:5005 (a demo that
shows its own heartbeats). 'udpeer peer' with no flags only listens.
Ctrl-C (or SIGTERM) prints the summary and exits 0; Ctrl-\\ (SIGQUIT) prints the
summary so far and keeps running. Loss, duplicates, reordering, jitter and
outages are measured per sender (IP and port) from the heartbeats' timestamps.

Examples:
  udpeer --port 5005 --to 192.0.2.20:5005        two machines, one on each
  udpeer --port 0 --to 127.0.0.1:5005 --count 5  five heartbeats, then a summary
  udpeer --port 5005 --json | jq .               machine-readable events
  udpeer --peers hosts.txt --metrics ${DEFAULT_METRICS_PORT}      many hosts, watched by Prometheus

Exit codes: 0 success, 1 runtime failure (port in use, name not resolved, or a
--count run in which a target sent nothing back), 2 usage error.`;

const peerFlags: OptionSpec = {
  port: { type: "string", short: "p" },
  to: { type: "string", short: "t", multiple: true },
  bind: { type: "string", short: "b" },
  advertise: { type: "string" },
  interval: { type: "string", short: "i" },
  count: { type: "string", short: "c" },
  message: { type: "string", short: "m" },
  "timestamp-unit": { type: "string" },
  quiet: { type: "boolean", short: "q" },
  "start-at": { type: "string" },
  "down-after": { type: "string" },
  watch: { type: "boolean", short: "w" },
  peers: { type: "string" },
  metrics: { type: "string" },
  "metrics-max-sources": { type: "string" },
};

/**
 * Parses the heartbeat peer's flags (see README "The heartbeat peer"). With no arguments at all it returns the
 * self-contained demo: listen on 5005 and send to 127.0.0.1:5005.
 *
 * @param args The arguments after the optional `peer` subcommand.
 * @param demoIfEmpty Whether no arguments means the demo (true for plain `udpeer`).
 * @param nowMs The wall clock now, Unix ms: a `--start-at` before it is refused.
 * @returns The peer options.
 * @throws {UsageError} On any bad flag or value.
 */
export function parsePeerArgs(
  args: readonly string[],
  demoIfEmpty = false,
  nowMs: number = Date.now(),
): PeerOptions {
  const values = parseFlags(args, peerFlags);
  const str = (name: string): string | undefined => values[name] as string | undefined;
  const port = str("port") === undefined ? DEFAULT_PEER_PORT : parsePort("--port", str("port")!, 0);
  const targets = ((values.to ?? []) as string[]).map((value) => parseHostPort("--to", value));
  if (args.length === 0 && demoIfEmpty) {
    targets.push({ host: "127.0.0.1", port: DEFAULT_PEER_PORT });
  }
  const bind = str("bind") === undefined ? "0.0.0.0" : parseIpv4Flag("--bind", str("bind")!);
  const advertise = str("advertise") === undefined
    ? undefined
    : parseIpv4Flag("--advertise", str("advertise")!);
  const intervalSeconds = str("interval") === undefined
    ? 2
    : parseSeconds("--interval", str("interval")!, 0.001);
  const count = str("count") === undefined ? undefined : parseCount("--count", str("count")!);
  const peersFile = str("peers");
  if (peersFile === "") throw new UsageError("Cannot use --peers: the file name is empty");
  if (count !== undefined && targets.length === 0 && peersFile === undefined) {
    throw new UsageError("Cannot use --count without --to or --peers: there is nothing to send");
  }
  const message = str("message") ?? DEFAULT_MESSAGE;
  const messageBytes = new TextEncoder().encode(message).length;
  if (messageBytes > MAX_TEXT_BYTES) {
    throw new UsageError(
      `Cannot use --message: it is ${messageBytes} bytes, at most ${MAX_TEXT_BYTES} fit in one datagram`,
    );
  }
  const unit = str("timestamp-unit") ?? "us";
  if (unit !== "s" && unit !== "ms" && unit !== "us") {
    throw new UsageError(`Cannot parse --timestamp-unit: "${unit}" is not one of s, ms, us`);
  }
  const startAtMs = str("start-at") === undefined
    ? undefined
    : parseTime("--start-at", str("start-at")!);
  if (startAtMs !== undefined && startAtMs < nowMs) {
    throw new UsageError(
      `Cannot use --start-at: "${str("start-at")}" is in the past (now is ${
        new Date(nowMs).toISOString()
      }); give a future time`,
    );
  }
  if (startAtMs !== undefined && targets.length === 0) {
    // Else a listen-only peer would take the flag and wait for nothing, silently.
    throw new UsageError("Cannot use --start-at without --to: there is nothing to send");
  }
  const downAfter = str("down-after") === undefined
    ? DEFAULT_DOWN_AFTER
    : parseCount("--down-after", str("down-after")!);
  const metrics = str("metrics") === undefined
    ? undefined
    : parseListenAddress("--metrics", str("metrics")!);
  const maxSourcesText = str("metrics-max-sources");
  if (maxSourcesText !== undefined && metrics === undefined) {
    throw new UsageError("Cannot use --metrics-max-sources without --metrics");
  }
  if (maxSourcesText !== undefined && !/^[0-9]{1,9}$/.test(maxSourcesText)) {
    throw new UsageError(
      `Cannot parse --metrics-max-sources: "${maxSourcesText}" is not a whole number ≥ 0`,
    );
  }
  const metricsMaxSources = maxSourcesText === undefined
    ? DEFAULT_MAX_SOURCES
    : Number(maxSourcesText);
  const json = values.json === true;
  const watch = values.watch === true;
  if (watch && json) {
    throw new UsageError("Cannot use --watch with --json: the table is for people; choose one");
  }
  return {
    startAtMs,
    downAfter,
    watch,
    peersFile,
    metrics,
    metricsMaxSources,
    help: values.help === true,
    version: values.version === true,
    json,
    quiet: values.quiet === true,
    port,
    bind,
    targets,
    advertise,
    intervalSeconds,
    count,
    message,
    timestampUnit: unit,
  };
}
