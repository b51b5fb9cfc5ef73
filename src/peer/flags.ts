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
import { helpText, type SubcommandDoc } from "../common/helptext.ts";
import { parseNameFlag } from "./fleet.ts";
import { DEFAULT_MAX_SOURCES } from "./metrics.ts";
import { DEFAULT_METRICS_PORT, type ListenAddress, parseListenAddress } from "./metrics_server.ts";
import {
  BIND_FLAG,
  type CommonOptions,
  defineFlag,
  type Flag,
  HELP_FLAG,
  type HostPort,
  IPV6_FLAG,
  JSON_FLAG,
  parseCount,
  parseFlags,
  parseHostPort,
  parseIpv4Flag,
  parsePort,
  parseSeconds,
  parseTime,
  VERSION_FLAG,
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
  /** Local address to bind, IPv4 or IPv6 (`::`: IPv6, and IPv4 where dual-stack). */
  bind: string;
  /** `-6`: names resolve to IPv6 first. */
  ipv6: boolean;
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
  /** `--name NAME`: this peer's name (else its own line's in the peers file; src/peer/fleet.ts). */
  name: string | undefined;
}

const port = defineFlag({
  long: "port",
  short: "p",
  value: "N",
  help: [`UDP port to listen on; 0 = any free port (default ${DEFAULT_PEER_PORT})`],
  default: DEFAULT_PEER_PORT,
  parse: (flag, text) => parsePort(flag, text, 0),
});

const to = defineFlag({
  long: "to",
  short: "t",
  value: "HOST:PORT",
  help: [
    "send a heartbeat there every interval; repeatable.",
    "HOST is an IPv4 address, an IPv6 address in brackets",
    "([2001:db8::1]:5005) or a name (IPv4 first; -6: IPv6)",
  ],
  repeatable: true,
  // The one place a --to text becomes a destination.
  parse: parseHostPort,
});

const advertise = defineFlag({
  long: "advertise",
  value: "IPV4",
  help: [
    "address written into the header (default: chosen per",
    "target: the bound address, 127.0.0.1 for loopback",
    "targets, else the interface on the target's network;",
    "0.0.0.0 over IPv6: the receiver takes the UDP source)",
  ],
  parse: parseIpv4Flag,
});

const interval = defineFlag({
  long: "interval",
  short: "i",
  value: "S",
  help: ["seconds between heartbeats, ≥ 0.001 (default 2)"],
  default: 2,
  parse: (flag, text) => parseSeconds(flag, text, 0.001),
});

const count = defineFlag({
  long: "count",
  short: "c",
  value: "N",
  help: [
    "stop after N heartbeats to each target, wait one more",
    "interval for replies, print the summary and exit",
  ],
  parse: parseCount,
});

const message = defineFlag({
  long: "message",
  short: "m",
  value: "TEXT",
  help: [`the text to send (at most ${MAX_TEXT_BYTES} bytes of UTF-8)`],
  default: DEFAULT_MESSAGE,
  parse: (flag, text) => {
    const bytes = new TextEncoder().encode(text).length;
    if (bytes > MAX_TEXT_BYTES) {
      throw new UsageError(
        `Cannot use ${flag}: it is ${bytes} bytes, at most ${MAX_TEXT_BYTES} fit in one datagram`,
      );
    }
    return text;
  },
});

const timestampUnit = defineFlag({
  long: "timestamp-unit",
  value: "U",
  help: ["s, ms or us: unit of the sent timestamp (default us)"],
  choices: ["s", "ms", "us"],
  default: "us",
});

const quiet = defineFlag({
  long: "quiet",
  short: "q",
  help: [
    "no line per datagram; the summary only (silent and",
    "back lines are kept)",
  ],
});

const downAfter = defineFlag({
  long: "down-after",
  value: "N",
  help: [
    "report a stream silent after N of its intervals",
    "without a heartbeat, and back when it returns",
    `(default ${DEFAULT_DOWN_AFTER})`,
  ],
  default: DEFAULT_DOWN_AFTER,
  parse: parseCount,
});

const peers = defineFlag({
  long: "peers",
  value: "FILE",
  help: [
    "more targets, one HOST:PORT [NAME] a line (# comments);",
    "SIGHUP reads the file again without a restart. The",
    "line of this peer's own address and port is no",
    "target: it names this peer (one file for a fleet)",
  ],
  file: true,
  parse: (flag, text) => {
    if (text === "") throw new UsageError(`Cannot use ${flag}: the file name is empty`);
    return text;
  },
});

const name = defineFlag({
  long: "name",
  value: "NAME",
  help: [
    "this peer's name, in udpeer_info and the listening",
    "event (default: its own line's NAME in --peers, else",
    "the host name, else its address)",
  ],
  parse: (_flag, text) => parseNameFlag(text),
});

const metrics = defineFlag({
  long: "metrics",
  value: "[ADDR:]PORT",
  help: [
    "serve Prometheus metrics at GET /metrics; a bare port",
    `listens on 127.0.0.1 only (${DEFAULT_METRICS_PORT} is a good choice)`,
  ],
  parse: parseListenAddress,
});

const metricsMaxSources = defineFlag({
  long: "metrics-max-sources",
  value: "N",
  help: [
    "streams besides the targets with series of their own,",
    `the most recent; the rest are summed (default ${DEFAULT_MAX_SOURCES})`,
  ],
  default: DEFAULT_MAX_SOURCES,
  parse: (flag, text) => {
    if (!/^[0-9]{1,9}$/.test(text)) {
      throw new UsageError(`Cannot parse ${flag}: "${text}" is not a whole number ≥ 0`);
    }
    return Number(text);
  },
});

const watch = defineFlag({
  long: "watch",
  short: "w",
  help: [
    "live full-screen table of every stream, redrawn each",
    "second (stdout must be a terminal); summary at exit",
  ],
});

const startAt = defineFlag({
  long: "start-at",
  value: "TIME",
  help: [
    "send the first heartbeat at TIME (Unix seconds or ISO",
    "8601, in the future), so peers on several hosts start",
    "together; says when it will start (default: at once)",
  ],
  parse: parseTime,
});

/**
 * The heartbeat peer's flags, in the order `--help` lists them: one row each, from which
 * its parsing, its help, the shell completions and the man page are made.
 */
export const PEER_FLAGS: readonly Flag[] = [
  port,
  to,
  BIND_FLAG,
  IPV6_FLAG,
  advertise,
  interval,
  count,
  message,
  timestampUnit,
  JSON_FLAG,
  quiet,
  downAfter,
  peers,
  name,
  metrics,
  metricsMaxSources,
  watch,
  startAt,
  HELP_FLAG,
  VERSION_FLAG,
];

/** `udpeer peer --help`. */
export const PEER_HELP: string = helpText({
  intro: `Heartbeat peer: listen on a UDP port, send each target a checksummed heartbeat
every interval, and report every datagram received.

Usage: udpeer [peer] [--port N] [--to HOST:PORT]... [options]`,
  flags: PEER_FLAGS,
  column: 28,
  notes: `With no arguments at all: listen on 5005 and send to 127.0.0.1:5005 (a demo that
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
--count run in which a target sent nothing back), 2 usage error.`,
});

/** The heartbeat peer as the completions and the man page see it. */
export const PEER_COMMAND: SubcommandDoc = { name: "peer", help: PEER_HELP, flags: PEER_FLAGS };

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
  const values = parseFlags(args, PEER_FLAGS);
  const targets: PeerTarget[] = [...values.get(to)];
  if (args.length === 0 && demoIfEmpty) {
    targets.push({ host: "127.0.0.1", port: DEFAULT_PEER_PORT, family: "ipv4" });
  }
  const peersFile = values.get(peers);
  if (values.get(count) !== undefined && targets.length === 0 && peersFile === undefined) {
    throw new UsageError("Cannot use --count without --to or --peers: there is nothing to send");
  }
  const startAtMs = values.get(startAt);
  if (startAtMs !== undefined && startAtMs < nowMs) {
    throw new UsageError(
      `Cannot use --start-at: "${values.text(startAt)}" is in the past (now is ${
        new Date(nowMs).toISOString()
      }); give a future time`,
    );
  }
  if (startAtMs !== undefined && targets.length === 0 && peersFile === undefined) {
    // Else a listen-only peer would take the flag and wait for nothing, silently.
    throw new UsageError(
      "Cannot use --start-at without --to or --peers: there is nothing to send",
    );
  }
  if (values.given(metricsMaxSources) && !values.given(metrics)) {
    throw new UsageError("Cannot use --metrics-max-sources without --metrics");
  }
  const json = values.get(JSON_FLAG);
  if (values.get(watch) && json) {
    throw new UsageError("Cannot use --watch with --json: the table is for people; choose one");
  }
  // --watch on a stdout that is not a terminal is refused when the peer starts (run.ts).
  return {
    startAtMs,
    downAfter: values.get(downAfter),
    watch: values.get(watch),
    peersFile,
    metrics: values.get(metrics),
    metricsMaxSources: values.get(metricsMaxSources),
    name: values.get(name),
    help: values.get(HELP_FLAG),
    version: values.get(VERSION_FLAG),
    json,
    quiet: values.get(quiet),
    port: values.get(port),
    bind: values.get(BIND_FLAG),
    ipv6: values.get(IPV6_FLAG),
    targets,
    advertise: values.get(advertise),
    intervalSeconds: values.get(interval),
    count: values.get(count),
    message: values.get(message),
    timestampUnit: values.get(timestampUnit),
  };
}
