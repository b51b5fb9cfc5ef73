/**
 * The sender at scale: one udpeer with 1,000 targets at a 1 s interval. The targets are
 * 1,000 distinct loopback addresses (127.1.0.1, 127.1.0.2 … ; every 127.0.0.0/8 address is
 * this machine's on Linux), spread over 8 ports, where sockets of this process bound to
 * 0.0.0.0 receive them all and time each arrival (one socket's buffer holds only ~256
 * heartbeats, less than a round's burst). udpeer starts its schedule at a given time
 * (`--start-at`), so round k (from 0) is due at exactly start + k × 1 s; a heartbeat's
 * lateness is its arrival minus its round's due time. Reported per run: heartbeats that
 * arrived of those due, the latest arrival in any round (every round must be out within
 * 50 ms), the least-squares trend of each round's first arrival over the run (cumulative
 * drift would show there), and udpeer's CPU time per heartbeat sent (user + system, every
 * thread, /proc/<pid>/stat, over the rounds).
 *
 * ```sh
 * deno run -A bench/sender.ts --targets 1000 --rounds 60
 * deno run -A bench/sender.ts --rounds 5          # a short run
 * ```
 *
 * @module
 */

import { freePort } from "../tests/_helpers/testing.ts";
import { datagramReceiver } from "../src/common/net.ts";
import {
  cpuTimeMs,
  formatNumber,
  median,
  numberFlag,
  sleep,
  socketDrops,
  spawnToFile,
  stopChild,
  udpeerCommand,
  waitForFirstLine,
} from "./lib.ts";

/** What {@linkcode measureSender} found. */
export interface SenderResult {
  /** Targets. */
  targets: number;
  /** Rounds. */
  rounds: number;
  /** Seconds between rounds. */
  intervalS: number;
  /** Heartbeats that arrived. */
  received: number;
  /** Heartbeats due: targets × rounds. */
  due: number;
  /** Rounds in which every target's heartbeat arrived. */
  completeRounds: number;
  /** Per round: the last arrival minus the round's due time, ms. */
  lastLateMs: number[];
  /** Per round: the first arrival minus the round's due time, ms. */
  firstLateMs: number[];
  /** Largest of lastLateMs: how late the slowest round finished. */
  maxLateMs: number;
  /** Least-squares slope of firstLateMs over the run, times its length, ms. */
  trendMs: number;
  /** CPU time of udpeer over the rounds per heartbeat sent, µs. */
  cpuMicrosPerHeartbeat: number;
  /** udpeer's CPU over the rounds as a share of one core, %. */
  cpuPercent: number;
  /** Datagrams the kernel dropped for the receiving socket (this bench's, not udpeer's). */
  receiverDrops: number;
}

/** Sockets the heartbeats are spread over, so that no socket's buffer overflows. */
const RECEIVING_SOCKETS = 8;

/** The i-th target address: 127.1.0.1 … 127.1.3.232 for 1,000. */
export function targetAddress(i: number): string {
  return `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

/** Least-squares slope of ys over xs = 0, 1, 2, …, times the length of the run. */
function trend(ys: number[]): number {
  const n = ys.length;
  if (n < 2) return 0;
  const meanX = (n - 1) / 2;
  const meanY = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  ys.forEach((y, x) => {
    num += (x - meanX) * (y - meanY);
    den += (x - meanX) ** 2;
  });
  return num / den * (n - 1);
}

/**
 * Runs udpeer with `targets` targets for `rounds` rounds and times the arrivals.
 *
 * @param targets How many targets.
 * @param rounds How many heartbeats each.
 * @param dir Folder for udpeer's output.
 * @param intervalS Seconds between rounds.
 * @returns Lateness, drift and CPU.
 */
export async function measureSender(
  targets: number,
  rounds: number,
  dir: string,
  intervalS = 1,
): Promise<SenderResult> {
  const conns = Array.from({ length: RECEIVING_SOCKETS }, () => {
    const port = freePort("udp", "0.0.0.0");
    return Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port });
  });
  const ports = conns.map((conn) => (conn.addr as Deno.NetAddr).port);
  const intervalMs = intervalS * 1000;
  // Starting 3 s from now leaves udpeer time to start, and the schedule is then known here.
  const startAtMs = Math.ceil(Date.now() / 1000) * 1000 + 3000;
  const args = ["peer", "--bind", "127.0.0.1", "--port", "0", "--quiet", "--interval"];
  args.push(String(intervalS), "--count", String(rounds), "--start-at", String(startAtMs / 1000));
  for (let i = 0; i < targets; i++) {
    args.push("--to", `${targetAddress(i)}:${ports[i % RECEIVING_SOCKETS]}`);
  }
  const path = `${dir}/sender.out`;
  const { child } = spawnToFile(udpeerCommand(args), path);
  const counts = new Array<number>(rounds).fill(0);
  const first = new Array<number>(rounds).fill(Infinity);
  const last = new Array<number>(rounds).fill(-Infinity);
  let received = 0;
  let cpuStart = NaN;
  const drops = () => ports.reduce((sum, port) => sum + socketDrops(port), 0);
  const dropsBefore = drops();
  const receiving = Promise.all(conns.map(async (conn) => {
    const receiver = datagramReceiver(conn, { depth: 2, isClosed: () => true, onError: () => {} });
    while (true) {
      const datagram = await receiver.next();
      if (datagram === undefined) return;
      const now = performance.timeOrigin + performance.now();
      const round = Math.round((now - startAtMs) / intervalMs);
      if (round < 0 || round >= rounds) continue;
      const late = now - (startAtMs + round * intervalMs);
      counts[round]!++;
      received++;
      if (late < first[round]!) first[round] = late;
      if (late > last[round]!) last[round] = late;
    }
  }));
  try {
    await waitForFirstLine(path, /listening on/, 30_000);
    // CPU from half a second before the first round: start-up is not what is measured.
    await sleep(Math.max(0, startAtMs - 500 - Date.now()));
    cpuStart = cpuTimeMs(child.pid);
    await sleep(Math.max(0, startAtMs + (rounds - 1) * intervalMs + 500 - Date.now()));
    const cpuMs = cpuTimeMs(child.pid) - cpuStart;
    const receiverDrops = drops() - dropsBefore;
    const cpuWindowMs = (rounds - 1) * intervalMs + 1000;
    return {
      targets,
      rounds,
      intervalS,
      received,
      due: targets * rounds,
      completeRounds: counts.filter((count) => count === targets).length,
      lastLateMs: last,
      firstLateMs: first,
      maxLateMs: Math.max(...last),
      trendMs: trend(first),
      cpuMicrosPerHeartbeat: cpuMs * 1000 / (targets * rounds),
      cpuPercent: cpuMs / cpuWindowMs * 100,
      receiverDrops,
    };
  } finally {
    await stopChild(child);
    for (const conn of conns) conn.close();
    await receiving;
  }
}

/**
 * The result as a Markdown table with a header.
 *
 * @param result From {@linkcode measureSender}.
 * @returns Lines.
 */
export function senderTable(result: SenderResult): string[] {
  const ms = (value: number) => `${formatNumber(value, 1)} ms`;
  return [
    "| measure | value |",
    "| --- | ---: |",
    `| heartbeats arrived | ${formatNumber(result.received)} of ${formatNumber(result.due)} |`,
    `| rounds complete | ${result.completeRounds} of ${result.rounds} |`,
    `| latest arrival after its round's due time (worst round) | ${ms(result.maxLateMs)} |`,
    `| same, median round | ${ms(median(result.lastLateMs))} |`,
    `| first arrival after due time, median round | ${ms(median(result.firstLateMs))} |`,
    `| trend of the first arrival over the run (drift) | ${ms(result.trendMs)} |`,
    `| udpeer CPU per heartbeat sent | ${formatNumber(result.cpuMicrosPerHeartbeat, 1)} µs |`,
    `| udpeer CPU over the rounds | ${formatNumber(result.cpuPercent, 2)}% of a core |`,
    `| kernel drops at this bench's receiver | ${formatNumber(result.receiverDrops)} |`,
  ];
}

if (import.meta.main) {
  const dir = await Deno.makeTempDir({ prefix: "udpeer-bench-" });
  try {
    const result = await measureSender(
      numberFlag(Deno.args, "--targets", 1000),
      numberFlag(Deno.args, "--rounds", 60),
      dir,
      numberFlag(Deno.args, "--interval", 1),
    );
    console.log(senderTable(result).join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
