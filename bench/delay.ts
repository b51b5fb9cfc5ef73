/**
 * How precisely udpeer measures one-way delay, on idle loopback, in one run: the same
 * heartbeats (microsecond stamps, every 20 ms, from a udpeer sender) go in turn to
 *
 * - (p) a Python receiver blocked in `recvfrom()`, which reads the clock as soon as it
 *   returns: about the least a program without kernel timestamps can see;
 * - (u) `udpeer peer --json`, whose `elapsedMs` is its measured delay;
 *
 * and then (d) two udpeers with their defaults send each other heartbeats at the same
 * interval (both directions counted; with `--json`, to read each delay, which also prints
 * each send where the default human output prints none), the second half an interval after
 * the first as two peers started by hand would be; (d′) the same with both sending at the
 * same instants, as peers started with one `--start-at` do (each then receives during its
 * own send round). The median delay of each is reported with its ratio to (p); the issue's
 * targets are (u) ≤ 1.5× (p) and (d) ≤ 1.5× (p). The phases rotate from
 * round to round, so none always runs first on a machine whose load drifts.
 *
 * ```sh
 * deno run -A bench/delay.ts                 # 3 rounds × 250 heartbeats per phase (~1 min)
 * deno run -A bench/delay.ts --quick         # 1 round × 100 heartbeats
 * deno run -A bench/delay.ts --rounds 5 --count 500 --interval 0.02
 * deno run -A bench/delay.ts --candidate ../other-checkout   # adds (u*) and (d*) from there
 * ```
 *
 * Run it on a quiet machine: a delay of a few tens of µs is easily doubled by another
 * program on the same cores. The CPU model is printed beside every figure.
 *
 * @module
 */

import {
  cpuModel,
  formatNumber,
  loadAverage,
  median,
  numberFlag,
  sleep,
  spawnToFile,
  stopChild,
  udpeerCommand,
  waitForFirstLine,
} from "./lib.ts";
import { freePort } from "../tests/_helpers/testing.ts";

/** The phases of a round; `*` ones run a candidate checkout's udpeer as the receiver. */
export type DelayCase =
  | "python"
  | "udpeer"
  | "defaults"
  | "aligned"
  | "udpeer*"
  | "defaults*";

/** Delays of one phase, ms. */
export type DelaySamples = Record<DelayCase, number[]>;

/** What {@linkcode measureDelay} returns. */
export interface DelayResult {
  /** CPU model of the machine. */
  cpu: string;
  /** Load average before each round. */
  loads: number[];
  /** Heartbeats per phase and round. */
  count: number;
  /** Seconds between heartbeats. */
  interval: number;
  /** Every delay measured, ms, per case, all rounds together. */
  samples: DelaySamples;
}

/** Options of {@linkcode measureDelay}. */
export interface DelayOptions {
  /** Rounds of the three phases. */
  rounds: number;
  /** Heartbeats per phase. */
  count: number;
  /** Seconds between heartbeats. */
  interval: number;
  /** A folder for the programs' output. */
  dir: string;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Another checkout whose main.ts also runs (u*) and (d*), to compare a change. */
  candidate?: string;
}

// Blocking recvfrom(), clock read at once; the unit inferred as udpeer does. It prints its
// port, then one JSON array of delays in ms when `count` arrived or 2 s passed in silence.
const PYTHON_RECEIVER = `
import json, socket, struct, sys, time
count = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
s.settimeout(2.0)
delays = []
while len(delays) < count:
    try:
        data, _ = s.recvfrom(65536)
    except socket.timeout:
        break
    now_ns = time.time_ns()
    if len(data) < 18:
        continue
    v = struct.unpack(">Q", data[4:12])[0]
    sent_ns = v * 10**9 if v < 1e11 else v * 10**6 if v < 1e14 else v * 10**3 if v < 1e17 else v
    delays.append((now_ns - sent_ns) / 1e6)
print(json.dumps(delays), flush=True)
`;

/** Runs a udpeer sender of `count` µs-stamped heartbeats to a port and waits for it. */
async function sendHeartbeats(port: number, options: DelayOptions): Promise<void> {
  await new Deno.Command(Deno.execPath(), {
    args: udpeerCommand([
      "peer",
      "--bind=127.0.0.1",
      "--port=0",
      `--to=127.0.0.1:${port}`,
      `--interval=${options.interval}`,
      `--count=${options.count}`,
      "--timestamp-unit=us",
      "--quiet",
    ]),
    stdout: "null",
    stderr: "null",
  }).output();
}

async function pythonPhase(options: DelayOptions): Promise<number[]> {
  const script = `${options.dir}/receiver.py`;
  await Deno.writeTextFile(script, PYTHON_RECEIVER);
  const child = new Deno.Command("python3", {
    args: [script, String(options.count)],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines: string[] = [];
  let partial = "";
  const reading = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      partial += chunk;
      let newline;
      while ((newline = partial.indexOf("\n")) >= 0) {
        lines.push(partial.slice(0, newline));
        partial = partial.slice(newline + 1);
      }
    }
  })();
  while (lines.length === 0) await sleep(20);
  await sendHeartbeats(Number(lines[0]), options);
  await child.status;
  await reading;
  return JSON.parse(lines[1] ?? "[]") as number[];
}

/** The `elapsedMs` of every `message` event in a udpeer's `--json` output. */
async function elapsedOf(path: string): Promise<number[]> {
  const text = await Deno.readTextFile(path);
  return text.split("\n").filter((line) => line.includes('"event":"message"')).map((line) =>
    JSON.parse(line).elapsedMs as number
  );
}

async function udpeerPhase(options: DelayOptions, main?: string): Promise<number[]> {
  const path = `${options.dir}/udpeer.out`;
  const { child } = spawnToFile(
    udpeerCommand(["peer", "--bind=127.0.0.1", "--port=0", "--json"], main),
    path,
  );
  try {
    const ready = await waitForFirstLine(path, /"port":(\d+)/);
    await sendHeartbeats(Number(ready[1]), options);
    await sleep(100);
  } finally {
    await stopChild(child);
  }
  return await elapsedOf(path);
}

/**
 * Two udpeers sending each other heartbeats. Peers started by hand send at unrelated
 * moments: the second starts half an interval after the first (both after both listen).
 * `aligned` starts both at the same instant, as `--start-at` does for a fleet: then each
 * receives while it is sending, and its own send round delays the arrival's turn.
 */
async function defaultsPhase(
  options: DelayOptions,
  main?: string,
  aligned = false,
): Promise<number[]> {
  const ports = [freePort(), freePort()];
  const startAtMs = Date.now() + 3000;
  const children = ports.map((port, i) => {
    const offsetMs = aligned || i === 0 ? 0 : options.interval * 500;
    const startAt = ((startAtMs + offsetMs) / 1000).toFixed(4);
    const path = `${options.dir}/defaults-${i}.out`;
    return {
      path,
      ...spawnToFile(
        udpeerCommand([
          "peer",
          `--port=${port}`,
          `--to=127.0.0.1:${ports[1 - i]}`,
          `--interval=${options.interval}`,
          `--count=${options.count}`,
          `--start-at=${startAt}`,
          "--json",
        ], main),
        path,
      ),
    };
  });
  await Promise.all(children.map(({ child }) => child.status));
  return (await Promise.all(children.map(({ path }) => elapsedOf(path)))).flat();
}

const candidateMain = (options: DelayOptions): string =>
  `${options.candidate!.replace(/\/$/, "")}/main.ts`;

const phases: Record<DelayCase, (options: DelayOptions) => Promise<number[]>> = {
  python: pythonPhase,
  udpeer: (options) => udpeerPhase(options),
  defaults: (options) => defaultsPhase(options),
  aligned: (options) => defaultsPhase(options, undefined, true),
  "udpeer*": (options) => udpeerPhase(options, candidateMain(options)),
  "defaults*": (options) => defaultsPhase(options, candidateMain(options)),
};

/**
 * Runs the rounds.
 *
 * @param options Rounds, heartbeats, interval, a folder.
 * @returns Every delay measured, per case.
 */
export async function measureDelay(options: DelayOptions): Promise<DelayResult> {
  const samples: DelaySamples = {
    python: [],
    udpeer: [],
    defaults: [],
    aligned: [],
    "udpeer*": [],
    "defaults*": [],
  };
  const loads: number[] = [];
  const order: DelayCase[] = ["python", "udpeer", "defaults", "aligned"];
  if (options.candidate !== undefined) order.push("udpeer*", "defaults*");
  for (let round = 0; round < options.rounds; round++) {
    loads.push(loadAverage());
    for (let i = 0; i < order.length; i++) {
      const name = order[(i + round) % order.length]!;
      const delays = await phases[name](options);
      samples[name].push(...delays);
      options.log?.(
        `round ${round + 1} ${name}: ${delays.length} heartbeats, median ${
          formatNumber(median(delays), 3)
        } ms`,
      );
    }
  }
  return { cpu: cpuModel(), loads, count: options.count, interval: options.interval, samples };
}

/**
 * A value at a quantile (nearest rank).
 *
 * @param values The numbers; not changed.
 * @param q The quantile, 0..1.
 * @returns The value, NaN for none.
 */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** The labels of the table's rows. */
const LABELS: Record<DelayCase, string> = {
  python: "(p) Python blocking receiver, µs stamps",
  udpeer: "(u) udpeer receiving the same µs stamps",
  defaults: "(d) two udpeers with their defaults",
  aligned: "(d′) the same, both sending at the same instants",
  "udpeer*": "(u*) the candidate receiving the same µs stamps",
  "defaults*": "(d*) two candidates with their defaults",
};

/**
 * The result as Markdown.
 *
 * @param result From {@linkcode measureDelay}.
 * @returns Lines.
 */
export function delayTable(result: DelayResult): string[] {
  const base = median(result.samples.python);
  const lines = [
    `One-way delay on loopback, ${result.count} heartbeats every ${
      result.interval * 1000
    } ms per phase and round, ${result.loads.length} round(s) (load ${
      result.loads.join(", ")
    }); CPU: ${result.cpu}.`,
    "",
    "| receiver | heartbeats | median | p90 | vs (p) | CPU |",
    "| --- | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const name of Object.keys(LABELS) as DelayCase[]) {
    const values = result.samples[name];
    if (values.length === 0) continue;
    lines.push(
      `| ${LABELS[name]} | ${formatNumber(values.length)} | ${
        formatNumber(median(values), 3)
      } ms | ${formatNumber(quantile(values, 0.9), 3)} ms | ${
        formatNumber(median(values) / base, 2)
      }× | ${result.cpu} |`,
    );
  }
  return lines;
}

/**
 * The targets of the issue that do not hold: (u) and (d) within 1.5× of (p).
 *
 * @param result From {@linkcode measureDelay}.
 * @returns One line per target missed.
 */
export function delayMisses(result: DelayResult): string[] {
  const base = median(result.samples.python);
  const misses: string[] = [];
  for (const name of ["udpeer", "defaults"] as const) {
    const ratio = median(result.samples[name]) / base;
    if (!(ratio <= 1.5)) {
      misses.push(`${LABELS[name]} ÷ (p): ${formatNumber(ratio, 2)}×, target ≤ 1.5×`);
    }
  }
  return misses;
}

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  const dir = await Deno.makeTempDir({ prefix: "udpeer-delay-" });
  try {
    const result = await measureDelay({
      rounds: numberFlag(Deno.args, "--rounds", quick ? 1 : 3),
      count: numberFlag(Deno.args, "--count", quick ? 100 : 250),
      interval: numberFlag(Deno.args, "--interval", 0.02),
      dir,
      log: (line) => console.error(line),
      ...(Deno.args.includes("--candidate")
        ? { candidate: Deno.args[Deno.args.indexOf("--candidate") + 1]! }
        : {}),
    });
    console.log(delayTable(result).join("\n"));
    for (const miss of delayMisses(result)) console.error(`delay: TARGET NOT MET: ${miss}`);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
