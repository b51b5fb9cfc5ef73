/**
 * CPU time per received datagram at a fixed rate below saturation, for udpeer checkouts
 * side by side: the flood (`flood.ts --rate`) offers the same datagrams to each in turn,
 * the order rotating from round to round, and each receiver's CPU time (user + system, every
 * thread, /proc/<pid>/stat) over the flood and its drain is divided by what it processed.
 * Below saturation nothing is dropped, so the figure is the work per datagram, without the
 * noise a saturated flood adds (whose rate varies by ±10% from run to run); it resolves a
 * change of a few percent that `throughput.ts` cannot. It says nothing of the maximum rate.
 *
 * ```sh
 * deno run -A bench/receive_cost.ts --rounds 5 --rate 100000 --seconds 2 [--mode quiet|json|human] [--bare] DIR...
 * ```
 *
 * Each DIR is a checkout whose main.ts is run (this one when none is given); `--bare` adds
 * the bare loop (`bare_receiver.ts --depth 4`, the receive mechanism of udpeer without udpeer).
 * Medians over the rounds, with the CPU model.
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
  repoDir,
  runFlood,
  scriptCommand,
  sleep,
  socketDrops,
  spawnToFile,
  stopChild,
  udpeerCommand,
  waitForFirstLine,
} from "./lib.ts";

const args = Deno.args;
const rounds = numberFlag(args, "--rounds", 5);
const rate = numberFlag(args, "--rate", 100_000);
const seconds = numberFlag(args, "--seconds", 2);
const mode = args.includes("--mode") ? args[args.indexOf("--mode") + 1]! : "quiet";
const flagsWithValue = new Set(["--rounds", "--rate", "--seconds", "--mode"]);
const dirs = args.filter((arg, i) =>
  !arg.startsWith("--") && !flagsWithValue.has(args[i - 1] ?? "")
);
const modeArgs: Record<string, string[]> = { quiet: ["--quiet"], json: ["--json"], human: [] };

interface Variant {
  label: string;
  command: string[];
  count: (text: string) => number;
}

const summaryCount = (text: string): number => {
  const json = text.match(/\{"event":"summary".*\}/)?.[0];
  if (json) return JSON.parse(json).sources?.[0]?.messages ?? NaN;
  return Number(text.match(/^--- from 127\.0\.0\.1 ---\n(\d+) received/m)?.[1] ?? NaN);
};
const variants: Variant[] = (dirs.length === 0 ? [repoDir] : dirs).map((dir) => ({
  label: dir,
  command: udpeerCommand(
    ["peer", "--bind", "127.0.0.1", "--port", "0", ...(modeArgs[mode] ?? [])],
    `${dir.replace(/\/$/, "")}/main.ts`,
  ),
  count: summaryCount,
}));
if (args.includes("--bare")) {
  variants.unshift({
    label: "bare loop, 4 in flight",
    command: scriptCommand("bare_receiver.ts", ["--allow-net"], ["--port", "0", "--depth", "4"]),
    count: (text) => Number(text.match(/\{"count":(\d+)\}/)?.[1] ?? NaN),
  });
}

const dir = await Deno.makeTempDir({ prefix: "udpeer-cost-" });
const results = variants.map(() => [] as number[]);
const drops = variants.map(() => 0);
try {
  for (let round = 0; round < rounds; round++) {
    const load = loadAverage();
    for (let k = 0; k < variants.length; k++) {
      const i = (k + round) % variants.length;
      const variant = variants[i]!;
      const path = `${dir}/out-${i}`;
      const { child } = spawnToFile(variant.command, path);
      try {
        const port = Number(
          (await waitForFirstLine(path, /(?:"port":|listening on [\d.]+:)(\d+)/))[1],
        );
        await sleep(200);
        const dropsBefore = socketDrops(port);
        const before = cpuTimeMs(child.pid);
        await runFlood(port, ["--seconds", String(seconds), "--rate", String(rate)]);
        await sleep(300);
        const used = cpuTimeMs(child.pid) - before;
        drops[i]! += socketDrops(port) - dropsBefore;
        await stopChild(child);
        const processed = variant.count(await Deno.readTextFile(path));
        results[i]!.push(used * 1000 / processed);
        console.error(
          `round ${round + 1} (load ${load}) ${variant.label}: ${
            formatNumber(processed)
          } processed, ${formatNumber(used * 1000 / processed, 3)} µs CPU/datagram`,
        );
      } finally {
        await stopChild(child, "SIGKILL").catch(() => {});
      }
    }
  }
} finally {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
const base = median(results[0]!);
console.log(
  `CPU per datagram at ${
    formatNumber(rate)
  }/s offered for ${seconds} s, ${mode}, median of ${rounds} rounds; CPU: ${cpuModel()}`,
);
console.log(
  "\n| receiver | CPU µs/datagram | vs first | kernel drops | CPU |\n| --- | ---: | ---: | ---: | --- |",
);
variants.forEach((variant, i) => {
  const value = median(results[i]!);
  console.log(
    `| ${variant.label} | ${formatNumber(value, 3)} | ${formatNumber(value / base, 3)}× | ${
      formatNumber(drops[i]!)
    } | ${cpuModel()} |`,
  );
});
