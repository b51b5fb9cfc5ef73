/**
 * udpeer against IRTT (Debian `irtt`) on the same loopback link at the same interval: IRTT
 * timestamps with the kernel where it can and is the reference for what this machine
 * allows; udpeer stamps in JavaScript. In one run:
 *
 * - `irtt server -b 127.0.0.1:PORT` and `irtt client -i 20ms -d 5s -o out.json`: the one-way
 *   delay of each round trip's two legs (client → server: `send`, server → client:
 *   `receive`), from its JSON;
 * - two udpeers with their defaults sending each other heartbeats every 20 ms for as long
 *   (`--json`: each heartbeat's `elapsedMs`), both directions together;
 * - the same pair with `--quiet`, for the CPU a peer costs when it prints nothing.
 *
 * For each: median and p90 of the one-way delay, the RFC 3550 jitter of those delays
 * (`J += (|D| − J) / 16` over consecutive packets, as udpeer computes it; IRTT's own mean
 * IPDV beside it), and the CPU time of both programs (user + system, /proc/<pid>/stat; the
 * IRTT client's from its parent shell's `cutime`) per packet sent by either. CPU time comes in
 * 10 ms ticks: over 5 s that is ±10 ms of ~500 packets, so use `--seconds 30` for final
 * figures. The CPU model is printed beside every figure.
 *
 * ```sh
 * deno run -A bench/irtt.ts                    # 5 s each, 20 ms interval
 * deno run -A bench/irtt.ts --quick            # 2 s each
 * deno run -A bench/irtt.ts --seconds 30 --interval 0.02
 * ```
 *
 * @module
 */

import {
  cpuModel,
  cpuTimeMs,
  formatNumber,
  loadAverage,
  median,
  numberFlag,
  sleep,
  spawnToFile,
  stopChild,
  udpeerCommand,
} from "./lib.ts";
import { quantile } from "./delay.ts";
import { freePort } from "../tests/_helpers/testing.ts";

/** One row of the comparison. */
export interface IrttRow {
  /** What was measured. */
  label: string;
  /** One-way delays, ms, in the order the packets were sent. */
  delaysMs: number[];
  /** A jitter figure the program reports itself, ms, if any. */
  ownJitterMs?: number;
  /** CPU time of the programs, ms, or NaN. */
  cpuMs: number;
  /** Packets sent by either program over the measured span. */
  packets: number;
}

/** What {@linkcode measureIrtt} returns. */
export interface IrttResult {
  /** CPU model. */
  cpu: string;
  /** Load average before the run. */
  load: number;
  /** Seconds of each test. */
  seconds: number;
  /** Seconds between packets. */
  interval: number;
  /** The rows. */
  rows: IrttRow[];
}

/**
 * RFC 3550 interarrival jitter over consecutive one-way delays (the clock offset cancels).
 *
 * @param delaysMs Delays in send order.
 * @returns The jitter, ms; 0 for fewer than two.
 */
export function rfc3550Jitter(delaysMs: number[]): number {
  let jitter = 0;
  for (let i = 1; i < delaysMs.length; i++) {
    jitter += (Math.abs(delaysMs[i]! - delaysMs[i - 1]!) - jitter) / 16;
  }
  return jitter;
}

/** CPU ms of a finished child, from `cutime`/`cstime` of the shell that waited for it. */
function childrenCpuMs(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

interface IrttJson {
  stats: {
    packets_sent: number;
    server_packets_received: number;
    ipdv_send?: { mean: number };
    ipdv_receive?: { mean: number };
  };
  round_trips: { lost: string; delay: { send?: number; receive?: number } }[];
}

async function irttRows(seconds: number, interval: number, dir: string): Promise<IrttRow[]> {
  const port = freePort();
  const server = new Deno.Command("irtt", {
    args: ["server", "-b", `127.0.0.1:${port}`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await sleep(300);
    const serverBefore = cpuTimeMs(server.pid);
    const out = `${dir}/irtt.json`;
    const ms = Math.round(interval * 1000);
    const client = await new Deno.Command("sh", {
      args: [
        "-c",
        `irtt client -Q -i ${ms}ms -d ${seconds}s -o "$0" 127.0.0.1:${port} && cat /proc/$$/stat`,
        out,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!client.success) {
      throw new Error(`irtt client failed: ${new TextDecoder().decode(client.stderr)}`);
    }
    const clientCpu = childrenCpuMs(new TextDecoder().decode(client.stdout));
    const serverCpu = cpuTimeMs(server.pid) - serverBefore;
    const json: IrttJson = JSON.parse(await Deno.readTextFile(out));
    const trips = json.round_trips.filter((trip) => trip.lost === "false");
    const leg = (key: "send" | "receive") =>
      trips.map((trip) => (trip.delay[key] ?? NaN) / 1e6).filter(Number.isFinite);
    const packets = json.stats.packets_sent + json.stats.server_packets_received;
    const cpuMs = clientCpu + serverCpu;
    return [
      {
        label: "IRTT client → server (send delay)",
        delaysMs: leg("send"),
        ...(json.stats.ipdv_send ? { ownJitterMs: json.stats.ipdv_send.mean / 1e6 } : {}),
        cpuMs,
        packets,
      },
      {
        label: "IRTT server → client (receive delay)",
        delaysMs: leg("receive"),
        ...(json.stats.ipdv_receive ? { ownJitterMs: json.stats.ipdv_receive.mean / 1e6 } : {}),
        cpuMs,
        packets,
      },
    ];
  } finally {
    await stopChild(server).catch(() => {});
  }
}

/** Two udpeers with defaults, each sending to the other; `mode` is `--json` or `--quiet`. */
async function udpeerPair(
  seconds: number,
  interval: number,
  dir: string,
  mode: "--json" | "--quiet",
): Promise<IrttRow> {
  const ports = [freePort(), freePort()];
  const startAtMs = Date.now() + 3000;
  const peers = ports.map((port, i) =>
    spawnToFile(
      udpeerCommand([
        "peer",
        `--port=${port}`,
        `--to=127.0.0.1:${ports[1 - i]}`,
        `--interval=${interval}`,
        // The second half an interval after the first, as peers started apart would be.
        `--start-at=${((startAtMs + i * interval * 500) / 1000).toFixed(4)}`,
        mode,
      ]),
      `${dir}/pair-${i}.out`,
    )
  );
  try {
    await sleep(startAtMs - Date.now() - 20);
    const before = peers.map(({ child }) => cpuTimeMs(child.pid));
    await sleep(seconds * 1000);
    const cpuMs = peers.reduce((sum, { child }, i) => sum + cpuTimeMs(child.pid) - before[i]!, 0);
    await Promise.all(peers.map(({ child }) => stopChild(child)));
    const delaysMs: number[] = [];
    const jitters: number[] = [];
    for (const { stdoutPath } of peers) {
      const lines = (await Deno.readTextFile(stdoutPath)).split("\n").filter((line) => line);
      for (const line of lines) {
        if (mode === "--json" && line.includes('"event":"message"')) {
          delaysMs.push(JSON.parse(line).elapsedMs);
        }
      }
      const jitter = mode === "--json"
        ? JSON.parse(lines.at(-1)!).targets?.[0]?.jitterMs
        : Number(lines.join("\n").match(/jitter ([\d.]+) ms/)?.[1]);
      if (Number.isFinite(jitter)) jitters.push(jitter);
    }
    return {
      label: mode === "--json" ? "udpeer ⇄ udpeer, defaults, --json" : "udpeer ⇄ udpeer, --quiet",
      delaysMs,
      ...(jitters.length > 0 ? { ownJitterMs: median(jitters) } : {}),
      cpuMs,
      packets: 2 * Math.round(seconds / interval),
    };
  } finally {
    for (const { child } of peers) await stopChild(child, "SIGKILL").catch(() => {});
  }
}

/**
 * Runs IRTT, then the udpeer pair, then the quiet pair.
 *
 * @param seconds Length of each test.
 * @param interval Seconds between packets.
 * @param dir A scratch folder.
 * @returns The rows.
 */
export async function measureIrtt(
  seconds: number,
  interval: number,
  dir: string,
): Promise<IrttResult> {
  const load = loadAverage();
  const rows = [
    ...await irttRows(seconds, interval, dir),
    await udpeerPair(seconds, interval, dir, "--json"),
    await udpeerPair(seconds, interval, dir, "--quiet"),
  ];
  return { cpu: cpuModel(), load, seconds, interval, rows };
}

/**
 * The result as Markdown.
 *
 * @param result From {@linkcode measureIrtt}.
 * @returns Lines.
 */
export function irttTable(result: IrttResult): string[] {
  const ms = (value: number) => `${formatNumber(value * 1000)} µs`;
  const lines = [
    `Loopback, a packet every ${
      result.interval * 1000
    } ms each way for ${result.seconds} s per test (load ${result.load}); CPU: ${result.cpu}.`,
    "",
    "| sender → receiver | packets | median one-way | p90 | jitter (RFC 3550) | jitter, program's own | CPU µs/packet | CPU |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const row of result.rows) {
    const has = row.delaysMs.length > 0;
    lines.push(
      `| ${row.label} | ${formatNumber(row.packets)} | ${has ? ms(median(row.delaysMs)) : "–"} | ${
        has ? ms(quantile(row.delaysMs, 0.9)) : "–"
      } | ${has ? ms(rfc3550Jitter(row.delaysMs)) : "–"} | ${
        row.ownJitterMs === undefined ? "–" : ms(row.ownJitterMs)
      } | ${formatNumber(row.cpuMs * 1000 / row.packets, 1)} | ${result.cpu} |`,
    );
  }
  lines.push(
    "",
    "IRTT's own jitter is its mean IPDV; udpeer's is the RFC 3550 jitter of its summary. The two IRTT rows share one CPU figure (client and server together).",
  );
  return lines;
}

if (import.meta.main) {
  const quick = Deno.args.includes("--quick");
  const dir = await Deno.makeTempDir({ prefix: "udpeer-irtt-" });
  try {
    const result = await measureIrtt(
      numberFlag(Deno.args, "--seconds", quick ? 2 : 5),
      numberFlag(Deno.args, "--interval", 0.02),
      dir,
    );
    console.log(irttTable(result).join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
