/**
 * Where a receiver's main thread spends its time under a flood: udpeer (or the bare loop)
 * runs with Deno's `--cpu-prof` while `flood.ts` saturates it, and the profile V8 writes at
 * exit is summarised: the share of samples that were idle (the thread waiting on the event
 * loop), garbage collection, and the functions with the most self time.
 *
 * ```sh
 * deno run -A bench/profile.ts --receiver quiet --seconds 3      # quiet | json | human | bare
 * ```
 *
 * Only the main (JavaScript) thread is sampled: the time Deno's own threads spend in the
 * system calls is outside the profile, and shows in /proc as CPU time beyond it.
 *
 * @module
 */

import type { FloodResult } from "./flood.ts";
import {
  formatNumber,
  numberFlag,
  runFlood,
  scriptCommand,
  sleep,
  socketDrops,
  spawnToFile,
  stopChild,
  udpeerCommand,
  waitForFirstLine,
} from "./lib.ts";

/** A node of V8's `.cpuprofile` JSON. */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** V8's `.cpuprofile` JSON, as much as is read here. */
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** One line of the summary. */
export interface ProfileEntry {
  /** Function, with its file and line. */
  name: string;
  /** Share of the samples in which it was on top of the stack. */
  selfShare: number;
}

/** The op that receives a datagram: its samples mark the flood. */
const RECEIVE_OP = "op_net_recv_udp";

/**
 * Self-time shares by function over the flood, largest first. The flood is taken as the
 * span from the first to the last sample in the receive op, so that start-up and the quiet
 * before and after do not count as idle. Runtime pseudo-frames ("(idle)", "(garbage
 * collector)", "(program)") keep their names.
 *
 * @param profile A parsed `.cpuprofile`.
 * @returns Every function with samples in the span, largest share first, and the span.
 */
export function selfTimes(profile: CpuProfile): { entries: ProfileEntry[]; spanMs: number } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const names = profile.samples.map((id) => {
    const frame = byId.get(id)!.callFrame;
    const file = frame.url.replace(/^.*\//, "");
    return file === ""
      ? frame.functionName
      : `${frame.functionName || "(anonymous)"} ${file}:${frame.lineNumber + 1}`;
  });
  const first = Math.max(0, names.indexOf(RECEIVE_OP));
  const last = names.lastIndexOf(RECEIVE_OP);
  const counts = new Map<string, number>();
  let spanUs = 0;
  for (let i = first; i <= last; i++) {
    counts.set(names[i]!, (counts.get(names[i]!) ?? 0) + 1);
    if (i > first) spanUs += profile.timeDeltas[i]!;
  }
  const total = Math.max(1, last - first + 1);
  const entries = [...counts].map(([name, n]) => ({ name, selfShare: n / total }))
    .sort((a, b) => b.selfShare - a.selfShare);
  return { entries, spanMs: spanUs / 1000 };
}

const receivers: Record<string, string[]> = {
  bare: scriptCommand("bare_receiver.ts", ["--allow-net"], ["--port", "0"]),
  quiet: udpeerCommand(["peer", "--bind", "127.0.0.1", "--port", "0", "--quiet"]),
  json: udpeerCommand(["peer", "--bind", "127.0.0.1", "--port", "0", "--json"]),
  human: udpeerCommand(["peer", "--bind", "127.0.0.1", "--port", "0"]),
};

if (import.meta.main) {
  const name = Deno.args[Deno.args.indexOf("--receiver") + 1] ?? "quiet";
  const seconds = numberFlag(Deno.args, "--seconds", 3);
  const base = Deno.args.includes("--receiver") ? receivers[name] : receivers.quiet;
  if (!base) {
    console.error(`Cannot profile "${name}": choose one of ${Object.keys(receivers).join(", ")}`);
    Deno.exit(2);
  }
  const dir = await Deno.makeTempDir({ prefix: "udpeer-profile-" });
  try {
    // `deno run --cpu-prof --cpu-prof-dir=DIR …`: V8 writes the profile when the program exits.
    const args = [base[0]!, "--cpu-prof", `--cpu-prof-dir=${dir}`, ...base.slice(1)];
    const { child } = spawnToFile(args, `${dir}/out`);
    let flood: FloodResult;
    let dropped: number;
    try {
      const ready = await waitForFirstLine(`${dir}/out`, /(?:"port":|listening on [\d.]+:)(\d+)/);
      const port = Number(ready[1]);
      await sleep(300);
      const before = socketDrops(port);
      flood = await runFlood(port, ["--seconds", String(seconds)]);
      dropped = socketDrops(port) - before;
    } finally {
      await stopChild(child);
    }
    const file = [...Deno.readDirSync(dir)].find((entry) => entry.name.endsWith(".cpuprofile"));
    if (!file) throw new Error("No .cpuprofile was written");
    const profile: CpuProfile = JSON.parse(await Deno.readTextFile(`${dir}/${file.name}`));
    const { entries, spanMs } = selfTimes(profile);
    console.log(
      `${name}: ${formatNumber(flood.rate)}/s sent for ${formatNumber(flood.seconds, 1)} s, ${
        formatNumber(dropped)
      } dropped at the socket; profile span of the flood ${formatNumber(spanMs)} ms`,
    );
    console.log("| self time | function |\n| ---: | --- |");
    for (const entry of entries.slice(0, numberFlag(Deno.args, "--top", 15))) {
      console.log(`| ${formatNumber(entry.selfShare * 100, 1)}% | ${entry.name} |`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
