/**
 * Resident memory of a real peer under a flood of forged sources: `udpeer peer --quiet`
 * receives 1,000,000 valid heartbeats, each from a different source address (127.16.0.0
 * onward, sent by `flood.ts --sources`), at a bounded rate so that the kernel drops few.
 * Its resident memory (VmRSS, and the peak VmHWM, from /proc/<pid>/status) is read after
 * start-up, 2 s after the flood, and then each second until its growth is within 2× the
 * source table's bound (its heap at capacity, measured by `memory.ts`) or `--settle`
 * seconds have passed: V8's memory reducer returns the freed heap pages only after the
 * program has been quiet for a while (~30 s here).
 *
 * ```sh
 * deno run -A bench/forged.ts --datagrams 1000000 --rate 100000 --bound 18500000 --settle 45
 * deno run -A bench/forged.ts --v8-flags=--max-semi-space-size=1   # the same, with a V8 flag
 * ```
 *
 * @module
 */

import {
  formatNumber,
  numberFlag,
  residentBytes,
  runFlood,
  sleep,
  socketDrops,
  spawnToFile,
  stopChild,
  udpeerCommand,
  waitForFirstLine,
} from "./lib.ts";

/** What {@linkcode measureForged} found. */
export interface ForgedResult {
  /** V8 flags udpeer ran with, if any. */
  v8Flags: string;
  /** Datagrams sent, each from another source. */
  sent: number;
  /** Datagrams the kernel dropped before udpeer read them. */
  dropped: number;
  /** Resident memory after start-up, bytes. */
  rssBefore: number;
  /** Resident memory 2 s after the flood, bytes. */
  rssAfter: number;
  /** Resident memory at the end of the settling wait, bytes. */
  rssSettled: number;
  /** Seconds after the flood when rssSettled was read. */
  settledAfterS: number;
  /** Peak resident memory over the run, bytes. */
  rssPeak: number;
}

function peakBytes(pid: number): number {
  const kib = Deno.readTextFileSync(`/proc/${pid}/status`).match(/^VmHWM:\s+(\d+) kB/m)?.[1];
  return Number(kib) * 1024;
}

/**
 * Floods a quiet peer with forged sources and reads its resident memory.
 *
 * @param datagrams How many, each from a distinct source.
 * @param rate Datagrams a second.
 * @param dir Folder for udpeer's output.
 * @param boundBytes The table's bound: waiting stops once growth is within twice this.
 * @param settleS Longest wait for the memory to come back, seconds.
 * @param v8Flags Passed to udpeer's deno as `--v8-flags=…`; "" for none.
 * @returns Memory before, after and at peak.
 */
export async function measureForged(
  datagrams: number,
  rate: number,
  dir: string,
  boundBytes: number,
  settleS: number,
  v8Flags = "",
): Promise<ForgedResult> {
  const args = udpeerCommand(["peer", "--bind", "127.0.0.1", "--port", "0", "--quiet"]);
  if (v8Flags !== "") args.splice(1, 0, `--v8-flags=${v8Flags}`);
  const path = `${dir}/forged.out`;
  const { child } = spawnToFile(args, path);
  try {
    const port = Number((await waitForFirstLine(path, /listening on [\d.]+:(\d+)/))[1]);
    await sleep(500);
    const rssBefore = residentBytes(child.pid);
    const dropsBefore = socketDrops(port);
    const flood = await runFlood(port, [
      "--sources",
      String(datagrams),
      "--count",
      String(datagrams),
      "--rate",
      String(rate),
      "--seconds",
      String(datagrams / rate * 3 + 10),
    ]);
    const floodEnd = performance.now();
    await sleep(2000);
    const rssAfter = residentBytes(child.pid);
    let rssSettled = rssAfter;
    while (
      rssSettled - rssBefore > 2 * boundBytes && performance.now() - floodEnd < settleS * 1000
    ) {
      await sleep(1000);
      rssSettled = residentBytes(child.pid);
    }
    return {
      v8Flags,
      sent: flood.sent,
      dropped: socketDrops(port) - dropsBefore,
      rssBefore,
      rssAfter,
      rssSettled,
      settledAfterS: (performance.now() - floodEnd) / 1000,
      rssPeak: peakBytes(child.pid),
    };
  } finally {
    await stopChild(child, "SIGKILL");
    await Deno.remove(path).catch(() => {});
    await Deno.remove(`${path}.err`).catch(() => {});
  }
}

/**
 * Results as a Markdown table with a header.
 *
 * @param results From {@linkcode measureForged}.
 * @param boundBytes The table's bound, for the last column.
 * @returns Lines.
 */
export function forgedTable(results: ForgedResult[], boundBytes: number): string[] {
  const mb = (bytes: number) => `${formatNumber(bytes / 1e6, 1)} MB`;
  const lines = [
    "| udpeer run with | forged sources processed | RSS after start-up | peak RSS | RSS 2 s after | growth ÷ bound | RSS later | growth ÷ bound |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const r of results) {
    lines.push(
      `| ${r.v8Flags === "" ? "defaults" : `\`--v8-flags=${r.v8Flags}\``} | ${
        formatNumber(r.sent - r.dropped)
      } | ${mb(r.rssBefore)} | ${mb(r.rssPeak)} | ${mb(r.rssAfter)} | ${
        formatNumber((r.rssAfter - r.rssBefore) / boundBytes, 1)
      }× | ${mb(r.rssSettled)} (${formatNumber(r.settledAfterS)} s after) | ${
        formatNumber((r.rssSettled - r.rssBefore) / boundBytes, 1)
      }× |`,
    );
  }
  return lines;
}

if (import.meta.main) {
  const dir = await Deno.makeTempDir({ prefix: "udpeer-bench-" });
  try {
    const flag = Deno.args.find((arg) => arg.startsWith("--v8-flags="));
    const result = await measureForged(
      numberFlag(Deno.args, "--datagrams", 1_000_000),
      numberFlag(Deno.args, "--rate", 100_000),
      dir,
      numberFlag(Deno.args, "--bound", 18_500_000),
      numberFlag(Deno.args, "--settle", 45),
      flag?.slice("--v8-flags=".length) ?? "",
    );
    console.log(JSON.stringify(result));
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
