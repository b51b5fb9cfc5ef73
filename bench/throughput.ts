/**
 * Receive throughput of the whole program. The same flood of valid heartbeats
 * (`bench/flood.ts`) goes, in turn and in the same run, to four receivers on loopback:
 *
 * - (a) `bare`: `bench/bare_receiver.ts`, a `Deno.listenDatagram` loop that only counts;
 * - (b) `quiet`: `udpeer peer --quiet`;
 * - (c) `json`: `udpeer peer --json`, stdout to a file;
 * - (d) `human`: `udpeer peer`, human lines, stdout to a file.
 *
 * Each receiver counts what it processed (udpeer: the summary's messages after SIGTERM;
 * bare: the count it prints). The rounds rotate the order, and each ratio to (a) is taken
 * within a round, then the median over the rounds is reported, so drift of a shared machine
 * cancels out. /proc/net/snmp's RcvbufErrors before and after each flood says how many
 * datagrams the kernel dropped because the receiver did not read them in time; for (c) and
 * (d) the lines in the file are counted against the summary to check that no output was
 * lost at exit.
 *
 * ```sh
 * deno run -A bench/throughput.ts --rounds 3 --seconds 2
 * ```
 *
 * (`-A` because Deno reads /proc/<pid>/stat and /proc/net/snmp only with all permissions.)
 *
 * @module
 */

import type { FloodResult } from "./flood.ts";
import {
  cpuTimeMs,
  formatNumber,
  median,
  numberFlag,
  scriptCommand,
  sleep,
  spawnToFile,
  stopChild,
  udpCounters,
  udpeerCommand,
  waitForFirstLine,
} from "./lib.ts";

/** The four receivers, in the order of the issue. */
export type ReceiverName = "bare" | "quiet" | "json" | "human";

interface Receiver {
  name: ReceiverName;
  label: string;
  args: string[];
  /** First line once bound; group 1 is the port. */
  ready: RegExp;
  /** Reads the processed count from the last lines of the output. */
  count: (tail: string) => number;
  /** Tells a per-datagram line, to check that none was lost; undefined: none expected. */
  isMessageLine?: (line: string) => boolean;
}

const listenArgs = ["peer", "--bind", "127.0.0.1", "--port", "0"];
const humanCount = (tail: string): number =>
  Number(tail.match(/^--- from 127\.0\.0\.1 ---\n(\d+) received/m)?.[1] ?? NaN);

const receivers: Receiver[] = [
  {
    name: "bare",
    label: "(a) bare Deno.listenDatagram loop",
    args: scriptCommand("bare_receiver.ts", ["--allow-net"], ["--port", "0"]),
    ready: /"port":(\d+)/,
    count: (tail) => Number(tail.match(/\{"count":(\d+)\}/)?.[1] ?? NaN),
  },
  {
    name: "quiet",
    label: "(b) udpeer --quiet",
    args: udpeerCommand([...listenArgs, "--quiet"]),
    ready: /listening on [\d.]+:(\d+)/,
    count: humanCount,
  },
  {
    name: "json",
    label: "(c) udpeer --json > file",
    args: udpeerCommand([...listenArgs, "--json"]),
    ready: /"port":(\d+)/,
    count: (tail) => {
      const summary = tail.trimEnd().split("\n").at(-1) ?? "";
      return JSON.parse(summary).sources?.[0]?.messages ?? NaN;
    },
    isMessageLine: (line) => line.startsWith('{"event":"message"'),
  },
  {
    name: "human",
    label: "(d) udpeer > file",
    args: udpeerCommand(listenArgs),
    ready: /listening on [\d.]+:(\d+)/,
    count: humanCount,
    isMessageLine: (line) => line.includes(" count="),
  },
];

/** One flood into one receiver. */
export interface ThroughputRun {
  /** Datagrams the flood handed to the kernel. */
  sent: number;
  /** sent / length of the flood. */
  sentPerSecond: number;
  /** Datagrams the receiver processed. */
  processed: number;
  /** processed / length of the flood. */
  perSecond: number;
  /** RcvbufErrors during the flood (every socket of the machine). */
  kernelDrops: number;
  /** CPU time of the receiver per processed datagram, µs. */
  cpuMicrosPerDatagram: number;
  /** For file output: per-datagram lines equal the summary's count; else undefined. */
  outputComplete: boolean | undefined;
  /** How the flood sent. */
  method: string;
}

/** The result of one receiver over every round. */
export interface ReceiverResult {
  /** Which. */
  name: ReceiverName;
  /** Its description. */
  label: string;
  /** One run per round. */
  runs: ThroughputRun[];
  /** Median processed per second. */
  perSecond: number;
  /** Median over the rounds of processed/s ÷ (a)'s processed/s in the same round. */
  ratioToBare: number;
}

/** Options of {@linkcode measureThroughput}. */
export interface ThroughputOptions {
  /** Rounds; each floods every receiver once. */
  rounds: number;
  /** Length of each flood. */
  seconds: number;
  /** Folder for the output files (deleted after each run). */
  dir: string;
  /** Called with a line of progress. */
  log?: (line: string) => void;
}

/** Counts newline bytes in a file without holding all of it. */
async function countLines(path: string): Promise<number> {
  using file = await Deno.open(path);
  const buffer = new Uint8Array(1 << 20);
  let lines = 0;
  while (true) {
    const n = await file.read(buffer);
    if (n === null) return lines;
    for (let i = 0; i < n; i++) if (buffer[i] === 10) lines++;
  }
}

/** The last `bytes` of a file as text. */
async function readTail(path: string, bytes = 16_384): Promise<string> {
  using file = await Deno.open(path);
  const size = (await file.stat()).size;
  await file.seek(Math.max(0, size - bytes), Deno.SeekMode.Start);
  const buffer = new Uint8Array(Math.min(size, bytes));
  let offset = 0;
  while (offset < buffer.length) {
    const n = await file.read(buffer.subarray(offset));
    if (n === null) break;
    offset += n;
  }
  return new TextDecoder().decode(buffer.subarray(0, offset));
}

async function runOnce(
  receiver: Receiver,
  seconds: number,
  path: string,
): Promise<ThroughputRun> {
  const { child } = spawnToFile(receiver.args, path);
  try {
    const port = Number((await waitForFirstLine(path, receiver.ready))[1]);
    await sleep(200);
    const before = udpCounters();
    const cpuBefore = cpuTimeMs(child.pid);
    const output = await new Deno.Command(Deno.execPath(), {
      args: scriptCommand("flood.ts", ["--allow-net", "--allow-ffi"], [
        "--to",
        `127.0.0.1:${port}`,
        "--seconds",
        String(seconds),
      ]),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const cpuAfter = cpuTimeMs(child.pid);
    if (!output.success) {
      throw new Error(`flood.ts failed: ${new TextDecoder().decode(output.stderr)}`);
    }
    const flood: FloodResult = JSON.parse(new TextDecoder().decode(output.stdout));
    // Let the receiver drain its socket buffer before counting.
    await sleep(300);
    const after = udpCounters();
    const status = await stopChild(child);
    const tail = await readTail(path);
    const processed = receiver.count(tail);
    if (!status.success || !Number.isFinite(processed)) {
      const stderr = await Deno.readTextFile(`${path}.err`).catch(() => "");
      throw new Error(`${receiver.label} exited with ${status.code}: ${stderr}${tail.slice(-500)}`);
    }
    let outputComplete: boolean | undefined;
    if (receiver.isMessageLine) {
      // Lines after the last message line are the summary; the first line is `listening`.
      const tailLines = tail.trimEnd().split("\n");
      let trailing = 0;
      while (trailing < tailLines.length && !receiver.isMessageLine(tailLines.at(-1 - trailing)!)) {
        trailing++;
      }
      outputComplete = (await countLines(path)) - 1 - trailing === processed;
    }
    return {
      sent: flood.sent,
      sentPerSecond: flood.rate,
      processed,
      perSecond: processed / flood.seconds,
      kernelDrops: after.RcvbufErrors - before.RcvbufErrors,
      cpuMicrosPerDatagram: (cpuAfter - cpuBefore) * 1000 / processed,
      outputComplete,
      method: flood.method,
    };
  } finally {
    await stopChild(child, "SIGKILL").catch(() => {});
    await Deno.remove(path).catch(() => {});
    await Deno.remove(`${path}.err`).catch(() => {});
  }
}

/**
 * Floods each receiver once per round and reports medians and ratios to (a).
 *
 * @param options Rounds, flood length and a scratch folder.
 * @returns One result per receiver, (a) first.
 */
export async function measureThroughput(options: ThroughputOptions): Promise<ReceiverResult[]> {
  const runs = new Map<ReceiverName, ThroughputRun[]>(receivers.map((r) => [r.name, []]));
  for (let round = 0; round < options.rounds; round++) {
    // Rotate the order so that no receiver always follows the same one.
    const order = receivers.map((_, i) => receivers[(i + round) % receivers.length]!);
    for (const receiver of order) {
      const path = `${options.dir}/${receiver.name}-${round}.out`;
      const run = await runOnce(receiver, options.seconds, path);
      runs.get(receiver.name)!.push(run);
      options.log?.(
        `round ${round + 1} ${receiver.name}: ${formatNumber(run.perSecond)}/s of ${
          formatNumber(run.sentPerSecond)
        }/s sent, ${formatNumber(run.kernelDrops)} dropped by the kernel`,
      );
    }
  }
  const bare = runs.get("bare")!;
  return receivers.map((receiver) => {
    const own = runs.get(receiver.name)!;
    return {
      name: receiver.name,
      label: receiver.label,
      runs: own,
      perSecond: median(own.map((run) => run.perSecond)),
      ratioToBare: median(own.map((run, round) => run.perSecond / bare[round]!.perSecond)),
    };
  });
}

/**
 * The results as Markdown table rows.
 *
 * @param results From {@linkcode measureThroughput}.
 * @returns Lines of a table with a header.
 */
export function throughputTable(results: ReceiverResult[]): string[] {
  const lines = [
    "| receiver | processed/s (median) | vs (a) | sent/s | kernel drops/run | CPU µs/datagram | output complete |",
    "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const result of results) {
    const complete = result.runs.every((run) => run.outputComplete === undefined)
      ? "–"
      : result.runs.every((run) => run.outputComplete)
      ? "yes"
      : "NO";
    lines.push(
      `| ${result.label} | ${formatNumber(result.perSecond)} | ${
        formatNumber(result.ratioToBare * 100)
      }% | ${formatNumber(median(result.runs.map((run) => run.sentPerSecond)))} | ${
        formatNumber(median(result.runs.map((run) => run.kernelDrops)))
      } | ${
        formatNumber(median(result.runs.map((run) => run.cpuMicrosPerDatagram)), 2)
      } | ${complete} |`,
    );
  }
  return lines;
}

if (import.meta.main) {
  const dir = await Deno.makeTempDir({ prefix: "udpeer-bench-" });
  try {
    const results = await measureThroughput({
      rounds: numberFlag(Deno.args, "--rounds", 3),
      seconds: numberFlag(Deno.args, "--seconds", 2),
      dir,
      log: (line) => console.error(line),
    });
    console.log(throughputTable(results).join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
