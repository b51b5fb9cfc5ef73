/**
 * Cost at rest: a peer at the default 2 s interval that sends to itself (the demo that
 * `deno task start` runs, on a free port), human output to a file. After it has started and
 * sent its first heartbeat, its CPU time (user + system, every thread, from
 * /proc/<pid>/stat) is read over a fixed window.
 *
 * ```sh
 * deno run -A bench/idle.ts --seconds 20
 * ```
 *
 * @module
 */

import { freePort } from "../tests/_helpers/testing.ts";
import {
  cpuTimeMs,
  formatNumber,
  numberFlag,
  residentBytes,
  sleep,
  spawnToFile,
  stopChild,
  udpeerCommand,
  waitForFirstLine,
} from "./lib.ts";

/** What {@linkcode measureIdle} found. */
export interface IdleResult {
  /** Length of the window. */
  seconds: number;
  /** CPU time used in the window, ms (10 ms steps). */
  cpuMs: number;
  /** cpuMs as a share of one core, %. */
  cpuPercent: number;
  /** Resident memory at the end, bytes. */
  residentBytes: number;
  /** Heartbeats it printed (received from itself), a check that it was working. */
  messages: number;
}

/**
 * Starts an idle peer and reads the CPU time it uses over `seconds`.
 *
 * @param seconds Length of the window.
 * @param dir Folder for its output file.
 * @returns CPU time and memory.
 */
export async function measureIdle(seconds: number, dir: string): Promise<IdleResult> {
  const port = freePort("udp", "127.0.0.1");
  const path = `${dir}/idle.out`;
  const { child } = spawnToFile(
    udpeerCommand(["--bind", "127.0.0.1", "--port", String(port), "--to", `127.0.0.1:${port}`]),
    path,
  );
  try {
    await waitForFirstLine(path, /listening on/);
    // Past start-up: the first heartbeat has gone out and come back.
    await sleep(1000);
    const before = cpuTimeMs(child.pid);
    await sleep(seconds * 1000);
    const cpuMs = cpuTimeMs(child.pid) - before;
    const resident = residentBytes(child.pid);
    await stopChild(child);
    const output = await Deno.readTextFile(path);
    return {
      seconds,
      cpuMs,
      cpuPercent: cpuMs / (seconds * 1000) * 100,
      residentBytes: resident,
      messages: output.split("\n").filter((line) => line.includes(" count=")).length,
    };
  } finally {
    await stopChild(child, "SIGKILL").catch(() => {});
    await Deno.remove(path).catch(() => {});
    await Deno.remove(`${path}.err`).catch(() => {});
  }
}

/**
 * The result as Markdown table rows.
 *
 * @param result From {@linkcode measureIdle}.
 * @returns Lines of a table with a header.
 */
export function idleTable(result: IdleResult): string[] {
  return [
    "| measure | value |",
    "| --- | ---: |",
    `| CPU time over ${result.seconds} s | ${formatNumber(result.cpuMs)} ms |`,
    `| share of one core | ${formatNumber(result.cpuPercent, 2)}% |`,
    `| resident memory | ${formatNumber(result.residentBytes / 2 ** 20, 1)} MiB |`,
    `| heartbeats received from itself (whole run) | ${result.messages} |`,
  ];
}

if (import.meta.main) {
  const dir = await Deno.makeTempDir({ prefix: "udpeer-bench-" });
  try {
    console.log(
      idleTable(await measureIdle(numberFlag(Deno.args, "--seconds", 20), dir)).join("\n"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
