/**
 * Receive throughput of the whole program, measured at saturation. The same flood of valid
 * heartbeats (`bench/flood.ts`) goes, in turn and in the same round, to these receivers on
 * loopback:
 *
 * - (a) `bare`: `bench/bare_receiver.ts`, a `Deno.listenDatagram` loop that only counts,
 *   one `receive()` at a time: the baseline;
 * - (a′) `bare4`: the same loop through `datagramReceiver()` (src/common/net.ts) with 4
 *   receives in flight, to show what that mechanism is worth (not a target);
 * - (b) `quiet`: `udpeer peer --quiet`;
 * - (c) `json`: `udpeer peer --json`, stdout to a file;
 * - (d) `human`: `udpeer peer`, human lines, stdout to a file;
 * - (a+) `bare+`, (b+) `quiet+`, (c+) `json+`, (d+) `human+`: the same with `--allow-ffi`, so
 *   that on Linux they read with `recvmmsg` batches (src/common/batch_receive.ts); the bare
 *   loop through `batchReceiver()`. Where batching is not possible they read as without.
 *
 * Each run starts the receiver afresh and warms it up with a 0.5 s flood that is not
 * counted (V8 compiles the hot path meanwhile, on the same two cores), then measures one
 * flood. What the receiver read of it is counted at the socket, the same way for every
 * receiver: on loopback a datagram sent is either read or dropped at the receiver's full
 * socket, so it is what the flood sent less the kernel's drops (the `drops` column of
 * /proc/net/udp, for that socket alone), taken once the socket is empty. At exit the
 * receiver's own count (its summary, or the bare loop's) must equal that over both floods:
 * the table says whether it did in every run.
 *
 * A ratio of receivers means something only when each receives more than it can handle, so
 * every round starts with (a) and checks that the kernel dropped at least 1% of what was
 * sent. If it did not, the flood was the bottleneck, and the round is flooded again by two
 * sender processes at once (and so are the rounds after it); a round still unsaturated is
 * reported as such and left out of the medians. Within each counted round every receiver's
 * processed/s and CPU time per datagram (user + system, every thread, from /proc/<pid>/stat,
 * over the flood and the drain after it) are divided by (a)'s; the medians of those ratios
 * are reported, with their smallest and largest, since on a shared VM one flood can read a
 * fifth above or below the next. For (c) and (d) the lines in the file are counted against
 * the summary to check that no output was lost at exit. The load average is recorded beside
 * each round, and for each run the cores that other programs kept busy meanwhile
 * (/proc/stat less this bench's processes): a run disturbed by more than 0.25 of a core is
 * tried again, up to 3 times, and the least disturbed kept; the table says how many stayed
 * disturbed.
 *
 * ```sh
 * deno run -A bench/throughput.ts                # 7 rounds of 1 s floods
 * deno run -A bench/throughput.ts --rounds 3 --seconds 2
 * deno run -A bench/throughput.ts --quick        # one round of 1 s floods
 * deno run -A bench/throughput.ts --only quiet,json --candidate ../other-checkout
 * deno run -A bench/throughput.ts --only quiet,quiet* --candidate-v8-flags --optimize-for-size
 * ```
 *
 * (`-A` because Deno reads /proc/<pid>/stat and /proc/net/* only with all permissions.)
 *
 * @module
 */

import process from "node:process";
import type { FloodResult } from "./flood.ts";
import {
  cpuTimeMs,
  formatNumber,
  loadAverage,
  machineBusyMs,
  median,
  numberFlag,
  repoDir,
  runFlood,
  scriptCommand,
  sleep,
  socketDrops,
  socketQueuedBytes,
  spawnToFile,
  stopChild,
  udpeerCommand,
  waitForFirstLine,
} from "./lib.ts";

/**
 * The receivers, in the order of the issue, and the bare loop with receives in flight;
 * names ending in `+` run with `--allow-ffi` (recvmmsg batches), names ending in `*` a
 * candidate checkout's main.ts (`--candidate DIR`).
 */
export type ReceiverName =
  | "bare"
  | "bare4"
  | "quiet"
  | "json"
  | "human"
  | "bare+"
  | "quiet+"
  | "json+"
  | "human+"
  | "quiet*"
  | "json*"
  | "human*";

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
const bareCount = (tail: string): number => Number(tail.match(/\{"count":(\d+)\}/)?.[1] ?? NaN);

/**
 * Rounds by default: on a shared 2-core VM one flood reads a fifth off the next, and a
 * median of 3 rounds moved with it (docs/performance.md); 7 rounds of 1 s take about as long
 * as 3 of 2 s with the warm-ups, and their smallest and largest ratios show the spread.
 */
export const DEFAULT_ROUNDS = 7;

/** Length of each measured flood by default, seconds. */
export const DEFAULT_FLOOD_SECONDS = 1;

/** Length of the flood that warms a receiver up before its measured one, seconds. */
export const WARM_UP_SECONDS = 0.5;

/** Longest wait for a receiver to empty its socket after a flood, beyond the first 300 ms. */
const DRAIN_TIMEOUT_MS = 2_000;

/** Share of the datagrams sent that (a) must have lost for a round to count as saturated. */
export const SATURATION_DROP_SHARE = 0.01;

const udpeerReceivers = (main: string, mark: "" | "*" | "+", v8Flags = ""): Receiver[] => {
  const command = (args: string[]) => {
    const full = udpeerCommand(args, main);
    if (v8Flags !== "") full.splice(1, 0, `--v8-flags=${v8Flags}`);
    if (mark === "+") full.splice(1, 0, "--allow-ffi");
    return full;
  };
  return udpeerReceiverList(command, mark);
};

const udpeerReceiverList = (
  command: (args: string[]) => string[],
  mark: "" | "*" | "+",
): Receiver[] => {
  const ffi = mark === "+" ? ", --allow-ffi" : "";
  return [
    {
      name: `quiet${mark}`,
      label: `(b${mark}) udpeer --quiet${ffi}`,
      args: command([...listenArgs, "--quiet"]),
      ready: /listening on [\d.]+:(\d+)/,
      count: humanCount,
    },
    {
      name: `json${mark}`,
      label: `(c${mark}) udpeer --json > file${ffi}`,
      args: command([...listenArgs, "--json"]),
      ready: /"port":(\d+)/,
      count: (tail) => {
        const summary = tail.trimEnd().split("\n").at(-1) ?? "";
        return JSON.parse(summary).sources?.[0]?.messages ?? NaN;
      },
      isMessageLine: (line) => line.startsWith('{"event":"message"'),
    },
    {
      name: `human${mark}`,
      label: `(d${mark}) udpeer > file${ffi}`,
      args: command(listenArgs),
      ready: /listening on [\d.]+:(\d+)/,
      count: humanCount,
      isMessageLine: (line) => line.includes(" count="),
    },
  ];
};

const receivers: Receiver[] = [
  {
    name: "bare",
    label: "(a) bare Deno.listenDatagram loop",
    args: scriptCommand("bare_receiver.ts", ["--allow-net"], ["--port", "0"]),
    ready: /"port":(\d+)/,
    count: bareCount,
  },
  {
    name: "bare4",
    label: "(a′) bare loop, 4 receives in flight",
    args: scriptCommand("bare_receiver.ts", ["--allow-net"], ["--port", "0", "--depth", "4"]),
    ready: /"port":(\d+)/,
    count: bareCount,
  },
  ...udpeerReceivers(`${repoDir}main.ts`, ""),
  {
    name: "bare+",
    label: "(a+) bare loop, recvmmsg batches",
    args: scriptCommand("bare_receiver.ts", ["--allow-net", "--allow-ffi"], [
      "--port",
      "0",
      "--batch",
    ]),
    ready: /"port":(\d+)/,
    count: bareCount,
  },
  ...udpeerReceivers(`${repoDir}main.ts`, "+"),
];

/** How many receivers a full run floods. */
export const RECEIVER_COUNT: number = receivers.length;

/** One flood into one receiver. */
export interface ThroughputRun {
  /** Flood processes sending at once. */
  floods: number;
  /** Datagrams the floods handed to the kernel. */
  sent: number;
  /** sent / length of the flood. */
  sentPerSecond: number;
  /** Datagrams the receiver processed. */
  processed: number;
  /** processed / length of the flood. */
  perSecond: number;
  /** Datagrams the kernel dropped for this receiver's socket. */
  socketDrops: number;
  /** CPU time of the receiver per processed datagram, µs. */
  cpuMicrosPerDatagram: number;
  /**
   * Cores that other programs kept busy during the run: the machine's busy time less the
   * receiver's, the floods' and this process's, over the run's length. Near 0 on a quiet
   * machine; above 0.25 the figures of the run are disturbed.
   */
  otherCores: number;
  /**
   * The receiver's own count at exit (its summary, or the bare loop's) equals what was sent
   * less the kernel's drops, over the warm-up and the measured flood.
   */
  countAgrees: boolean;
  /** For file output: per-datagram lines equal the summary's count; else undefined. */
  outputComplete: boolean | undefined;
  /** How the flood sent. */
  method: string;
}

/** One round: every receiver flooded once, (a) first. */
export interface ThroughputRound {
  /** 1-minute load average when the round started. */
  load: number;
  /** Flood processes sending at once. */
  floods: number;
  /** (a) lost at least {@linkcode SATURATION_DROP_SHARE} of what was sent. */
  saturated: boolean;
  /** The run of each receiver. */
  runs: Partial<Record<ReceiverName, ThroughputRun>>;
}

/** The result of one receiver over the counted (saturated) rounds. */
export interface ReceiverResult {
  /** Which. */
  name: ReceiverName;
  /** Its description. */
  label: string;
  /** One run per counted round. */
  runs: ThroughputRun[];
  /** Median processed per second. */
  perSecond: number;
  /** Median over the rounds of processed/s ÷ (a)'s processed/s in the same round. */
  ratioToBare: number;
  /** Those ratios, one per counted round, smallest first. */
  ratiosToBare: number[];
  /** Median CPU µs per datagram. */
  cpuMicrosPerDatagram: number;
  /** Median over the rounds of CPU µs/datagram ÷ (a)'s in the same round. */
  cpuRatioToBare: number;
  /** Those ratios, one per counted round, smallest first. */
  cpuRatiosToBare: number[];
}

/** Everything {@linkcode measureThroughput} found. */
export interface ThroughputResult {
  /** Every round, saturated or not. */
  rounds: ThroughputRound[];
  /** Per receiver, over the saturated rounds only. */
  receivers: ReceiverResult[];
}

/** Options of {@linkcode measureThroughput}. */
export interface ThroughputOptions {
  /** Rounds; each floods every receiver once. */
  rounds: number;
  /** Length of each flood. */
  seconds: number;
  /** Folder for the output files (deleted after each run). */
  dir: string;
  /** Only these receivers ((a) always runs). */
  only?: ReceiverName[];
  /** Also run the main.ts of another checkout, as (b*), (c*) and (d*), to compare. */
  candidate?: string;
  /** V8 flags for the candidate's receivers (the candidate defaults to this checkout). */
  candidateV8Flags?: string;
  /** Called with a line of progress. */
  log?: (line: string) => void;
}

/** Counts the lines of a file that `isMatch` accepts, without holding all of it. */
async function countMatchingLines(
  path: string,
  isMatch: (line: string) => boolean,
): Promise<number> {
  let count = 0;
  let rest = "";
  using file = await Deno.open(path);
  for await (const chunk of file.readable.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop()!;
    for (const line of lines) if (isMatch(line)) count++;
  }
  return count + (rest !== "" && isMatch(rest) ? 1 : 0);
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

/** Runs `floods` flood.ts processes at once against `port`; sums what they sent. */
async function floodPort(port: number, seconds: number, floods: number): Promise<FloodResult> {
  const results = await Promise.all(
    Array.from({ length: floods }, async () => {
      return await runFlood(port, ["--seconds", String(seconds)]);
    }),
  );
  const sent = results.reduce((sum, r) => sum + r.sent, 0);
  const longest = Math.max(...results.map((r) => r.seconds));
  const cpuMs = results.reduce((sum, r) => sum + (r.cpuMs ?? 0), 0);
  return { sent, seconds: longest, rate: sent / longest, method: results[0]!.method, cpuMs };
}

async function runOnce(
  receiver: Receiver,
  seconds: number,
  floods: number,
  path: string,
): Promise<ThroughputRun> {
  const { child } = spawnToFile(receiver.args, path);
  try {
    const port = Number((await waitForFirstLine(path, receiver.ready))[1]);
    await sleep(200);
    // Warm-up, not counted: V8 compiles the hot path while the first datagrams arrive, on the
    // same two cores, and a first flood read up to a quarter lower than the later ones into
    // the same process (docs/performance.md). A peer runs for days: its steady state counts.
    const warmUp = await floodPort(port, WARM_UP_SECONDS, floods);
    await drain(port);
    // The socket is new: its drops so far are the warm-up's.
    const dropsBefore = socketDrops(port);
    const warmUpProcessed = warmUp.sent - dropsBefore;
    const cpuBefore = cpuTimeMs(child.pid);
    const machineBefore = machineBusyMs();
    const ownBefore = process.cpuUsage();
    const startedAt = performance.now();
    const flood = await floodPort(port, seconds, floods);
    // Let the receiver drain its socket buffer before counting.
    await drain(port);
    const cpuAfter = cpuTimeMs(child.pid);
    const machineMs = machineBusyMs() - machineBefore;
    const own = process.cpuUsage(ownBefore);
    const ownMs = (own.user + own.system) / 1000;
    const otherMs = machineMs - (cpuAfter - cpuBefore) - (flood.cpuMs ?? 0) - ownMs;
    const otherCores = Math.max(0, otherMs) / (performance.now() - startedAt);
    const drops = socketDrops(port) - dropsBefore;
    // On loopback a datagram sent is read by the receiver or dropped at its full socket:
    // what it read of this flood is counted at the socket, the same way for every receiver.
    const processed = flood.sent - drops;
    const status = await stopChild(child);
    const tail = await readTail(path);
    const counted = receiver.count(tail);
    if (!status.success || !Number.isFinite(counted)) {
      const stderr = await Deno.readTextFile(`${path}.err`).catch(() => "");
      throw new Error(`${receiver.label} exited with ${status.code}: ${stderr}${tail.slice(-500)}`);
    }
    let outputComplete: boolean | undefined;
    if (receiver.isMessageLine) {
      // Other lines (listening, silent/back, the summary) are not counted.
      outputComplete = (await countMatchingLines(path, receiver.isMessageLine)) === counted;
    }
    return {
      floods,
      sent: flood.sent,
      sentPerSecond: flood.rate,
      processed,
      perSecond: processed / flood.seconds,
      socketDrops: drops,
      cpuMicrosPerDatagram: (cpuAfter - cpuBefore) * 1000 / processed,
      otherCores,
      countAgrees: counted === warmUpProcessed + processed,
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
 * Waits 300 ms, then until the socket bound to `port` holds nothing more (at most
 * {@linkcode DRAIN_TIMEOUT_MS}), so that what the receiver read and the CPU it took for it
 * are complete.
 *
 * @param port The receiver's port.
 * @throws {Error} If the socket still holds datagrams after the wait.
 */
async function drain(port: number): Promise<void> {
  await sleep(300);
  const deadline = performance.now() + DRAIN_TIMEOUT_MS;
  while (socketQueuedBytes(port) > 0) {
    if (performance.now() > deadline) {
      throw new Error(`The receiver on port ${port} did not empty its socket in time`);
    }
    await sleep(20);
  }
}

/** Cores of other programs' work above which a run counts as disturbed. */
export const DISTURBED_CORES = 0.25;

/** Runs tried per receiver and round while other programs disturb them. */
const ATTEMPTS = 3;

/**
 * Runs a receiver once, and again (up to {@linkcode ATTEMPTS} times in all) while other
 * programs kept more than {@linkcode DISTURBED_CORES} busy; keeps the least disturbed run.
 */
async function runQuiet(
  receiver: Receiver,
  seconds: number,
  floods: number,
  path: string,
  log: (line: string) => void,
): Promise<ThroughputRun> {
  let best: ThroughputRun | undefined;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const run = await runOnce(receiver, seconds, floods, path);
    if (best === undefined || run.otherCores < best.otherCores) best = run;
    if (best.otherCores <= DISTURBED_CORES) break;
    if (attempt < ATTEMPTS) {
      log(
        `${receiver.name}: other programs kept ${
          formatNumber(run.otherCores, 2)
        } cores busy; again`,
      );
    }
  }
  return best!;
}

function isSaturated(run: ThroughputRun): boolean {
  return run.socketDrops >= SATURATION_DROP_SHARE * run.sent;
}

/**
 * Floods each receiver once per round, (a) first, and reports the medians of the ratios to
 * (a) over the rounds in which (a) was saturated.
 *
 * @param options Rounds, flood length and a scratch folder.
 * @returns Every round, and per receiver the medians over the saturated ones.
 */
export async function measureThroughput(options: ThroughputOptions): Promise<ThroughputResult> {
  const candidateMain = options.candidate === undefined
    ? `${repoDir}main.ts`
    : `${options.candidate.replace(/\/$/, "")}/main.ts`;
  const all = options.candidate === undefined && options.candidateV8Flags === undefined
    ? receivers
    : [...receivers, ...udpeerReceivers(candidateMain, "*", options.candidateV8Flags)];
  const [bare, ...others] = all.filter((r) =>
    r.name === "bare" || (options.only ?? all.map((r) => r.name)).includes(r.name)
  );
  const log = options.log ?? (() => {});
  const describe = (name: string, run: ThroughputRun) =>
    `${name}: ${formatNumber(run.perSecond)}/s processed of ${
      formatNumber(run.sentPerSecond)
    }/s sent by ${run.floods} flood(s), ${formatNumber(run.socketDrops)} dropped by the kernel, ${
      formatNumber(run.cpuMicrosPerDatagram, 2)
    } µs CPU/datagram, other programs ${formatNumber(run.otherCores, 2)} cores`;
  const rounds: ThroughputRound[] = [];
  let floods = 1;
  for (let round = 0; round < options.rounds; round++) {
    const load = loadAverage();
    const barePath = `${options.dir}/bare-${round}.out`;
    let bareRun = await runQuiet(bare!, options.seconds, floods, barePath, log);
    log(`round ${round + 1} (load ${load}) ${describe("bare", bareRun)}`);
    if (!isSaturated(bareRun) && floods === 1) {
      // The flood, not the receiver, was the bottleneck: flood from two processes.
      floods = 2;
      log(`round ${round + 1}: (a) not saturated; flooding from ${floods} processes from now on`);
      bareRun = await runQuiet(bare!, options.seconds, floods, barePath, log);
      log(`round ${round + 1} (load ${loadAverage()}) ${describe("bare", bareRun)}`);
    }
    const saturated = isSaturated(bareRun);
    const runs: ThroughputRound["runs"] = { bare: bareRun };
    if (!saturated) {
      log(`round ${round + 1}: (a) NOT saturated even so; the round is left out`);
    } else {
      // Rotate the order of the others so that none always follows the same one.
      for (let i = 0; i < others.length; i++) {
        const receiver = others[(i + round) % others.length]!;
        const path = `${options.dir}/${receiver.name}-${round}.out`;
        const run = await runQuiet(receiver, options.seconds, floods, path, log);
        runs[receiver.name] = run;
        log(`round ${round + 1} ${describe(receiver.name, run)}`);
      }
    }
    rounds.push({ load, floods, saturated, runs });
  }
  const counted = rounds.filter((r) => r.saturated);
  return {
    rounds,
    receivers: [bare!, ...others].map((receiver) => {
      const runs = counted.map((r) => r.runs[receiver.name]!);
      const { rate, cpu } = roundRatios(runs, counted.map((r) => r.runs.bare!));
      return {
        name: receiver.name,
        label: receiver.label,
        runs,
        perSecond: median(runs.map((run) => run.perSecond)),
        ratioToBare: median(rate),
        ratiosToBare: rate.toSorted((a, b) => a - b),
        cpuMicrosPerDatagram: median(runs.map((run) => run.cpuMicrosPerDatagram)),
        cpuRatioToBare: median(cpu),
        cpuRatiosToBare: cpu.toSorted((a, b) => a - b),
      };
    }),
  };
}

/**
 * The results as Markdown: one line on the rounds, then a table with a header.
 *
 * @param result From {@linkcode measureThroughput}.
 * @returns Lines.
 */
export function throughputTable(result: ThroughputResult): string[] {
  const counted = result.rounds.filter((r) => r.saturated).length;
  const others = result.rounds.flatMap((r) => Object.values(r.runs).map((run) => run.otherCores));
  const lines = [
    `Rounds: ${counted} of ${result.rounds.length} saturated and counted (load ${
      result.rounds.map((r) => r.load).join(", ")
    }; flood processes ${result.rounds.map((r) => r.floods).join(", ")}); other programs kept ${
      formatNumber(median(others), 2)
    } cores busy (median over the runs, largest ${formatNumber(Math.max(...others), 2)}; ${
      others.filter((cores) => cores > DISTURBED_CORES).length
    } of ${others.length} runs above ${DISTURBED_CORES}, after up to ${ATTEMPTS} attempts each).`,
    "",
    "| receiver | processed/s | vs (a) | rounds | CPU µs/datagram | CPU vs (a) | rounds | sent/s | kernel drops/run | count = sent − drops | output complete |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
  ];
  for (const receiver of result.receivers) {
    const complete = receiver.runs.every((run) => run.outputComplete === undefined)
      ? "–"
      : receiver.runs.every((run) => run.outputComplete)
      ? "yes"
      : "NO";
    const range = (values: number[], format: (value: number) => string) =>
      values.length === 0 ? "–" : `${format(values[0]!)}–${format(values.at(-1)!)}`;
    const percent = (ratio: number) => formatNumber(ratio * 100);
    const times = (ratio: number) => formatNumber(ratio, 2);
    lines.push(
      `| ${receiver.label} | ${formatNumber(receiver.perSecond)} | ${
        percent(receiver.ratioToBare)
      }% | ${range(receiver.ratiosToBare, percent)}% | ${
        formatNumber(receiver.cpuMicrosPerDatagram, 2)
      } | ${times(receiver.cpuRatioToBare)}× | ${range(receiver.cpuRatiosToBare, times)}× | ${
        formatNumber(median(receiver.runs.map((run) => run.sentPerSecond)))
      } | ${formatNumber(median(receiver.runs.map((run) => run.socketDrops)))} | ${
        receiver.runs.every((run) => run.countAgrees) ? "yes" : "NO"
      } | ${complete} |`,
    );
  }
  const likeForLike = batchedToBatchedBare(result);
  if (likeForLike.length > 0) {
    lines.push(
      "",
      `Like for like, each batched receiver to the bare loop that batches too, (a+), in the same rounds (medians): ${
        likeForLike.map(({ label, ratio, cpuRatio }) =>
          `${label} ${formatNumber(ratio * 100)}% (CPU ${formatNumber(cpuRatio, 2)}×)`
        ).join("; ")
      }.`,
    );
  }
  return lines;
}

/**
 * Each `+` receiver against (a+), the bare loop that reads with `recvmmsg` too: the median of
 * the per-round ratios of rate and of CPU per datagram. The targets are against (a); this
 * shows what udpeer's own work costs on the faster receive path.
 *
 * @param result From {@linkcode measureThroughput}.
 * @returns One entry per batched udpeer receiver measured, none without (a+).
 */
function batchedToBatchedBare(
  result: ThroughputResult,
): { label: string; ratio: number; cpuRatio: number }[] {
  const bare = result.receivers.find((receiver) => receiver.name === "bare+");
  if (bare === undefined) return [];
  return result.receivers
    .filter((receiver) => receiver.name.endsWith("+") && receiver !== bare)
    .map((receiver) => {
      const { rate, cpu } = roundRatios(receiver.runs, bare.runs);
      return {
        label: receiver.label.slice(0, receiver.label.indexOf(")") + 1),
        ratio: median(rate),
        cpuRatio: median(cpu),
      };
    });
}

/**
 * Round by round, a receiver's processed/s and CPU per datagram divided by a baseline's in
 * the same round.
 *
 * @param runs The receiver's runs, one per counted round.
 * @param base The baseline's runs of the same rounds, in the same order.
 * @returns The ratios, one per round, in round order.
 */
function roundRatios(
  runs: readonly ThroughputRun[],
  base: readonly ThroughputRun[],
): { rate: number[]; cpu: number[] } {
  return {
    rate: runs.map((run, i) => run.perSecond / base[i]!.perSecond),
    cpu: runs.map((run, i) => run.cpuMicrosPerDatagram / base[i]!.cpuMicrosPerDatagram),
  };
}

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  const onlyIndex = Deno.args.indexOf("--only");
  const only = onlyIndex >= 0 ? Deno.args[onlyIndex + 1]!.split(",") as ReceiverName[] : undefined;
  const candidateIndex = Deno.args.indexOf("--candidate");
  const candidate = candidateIndex >= 0 ? Deno.args[candidateIndex + 1] : undefined;
  const flagsIndex = Deno.args.indexOf("--candidate-v8-flags");
  const candidateV8Flags = flagsIndex >= 0 ? Deno.args[flagsIndex + 1] : undefined;
  const dir = await Deno.makeTempDir({ prefix: "udpeer-bench-" });
  try {
    const result = await measureThroughput({
      ...(candidate ? { candidate } : {}),
      ...(candidateV8Flags ? { candidateV8Flags } : {}),
      rounds: numberFlag(Deno.args, "--rounds", quick ? 1 : DEFAULT_ROUNDS),
      seconds: numberFlag(Deno.args, "--seconds", quick ? 1 : DEFAULT_FLOOD_SECONDS),
      dir,
      ...(only ? { only } : {}),
      log: (line) => console.error(line),
    });
    console.log(throughputTable(result).join("\n"));
    if (Deno.args.includes("--json")) console.log(JSON.stringify(result));
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
