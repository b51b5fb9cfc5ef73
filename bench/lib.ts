/**
 * Shared pieces of the benchmarks in this folder: starting udpeer and helper programs with
 * stdout in a file, reading a process's CPU time and the kernel's UDP counters from /proc,
 * and small statistics. Linux only (it reads /proc).
 *
 * @module
 */

import { repoDir, runFlags } from "../tests/_helpers/testing.ts";
import { killAfter, signalChild } from "../tests/_helpers/process.ts";

/** How a flood sends: in batches through sendmmsg (FFI), or one Deno send at a time. */
export type FloodMethod = "sendmmsg" | "Deno.send";

/** What a flood did. */
export interface FloodResult {
  /** Datagrams handed to the kernel. */
  sent: number;
  /** Measured length of the flood. */
  seconds: number;
  /** sent / seconds. */
  rate: number;
  /** How it sent. */
  method: FloodMethod;
  /** CPU time the flood process used (every thread), ms; with sendmmsg only. */
  cpuMs?: number;
}

export { repoDir };

/** CPU time in /proc/<pid>/stat is counted in USER_HZ ticks, 100 a second on Linux. */
const TICKS_PER_SECOND = 100;

/**
 * The command line that runs `main.ts` with exactly the permissions of the `start` task.
 *
 * @param args Arguments to udpeer.
 * @param main The main.ts to run: this checkout's unless given.
 * @returns Arguments for `deno`.
 */
export function udpeerCommand(args: string[], main = `${repoDir}main.ts`): string[] {
  return [...runFlags, main, ...args];
}

/**
 * The command line that runs a script of this folder with the repository's deno.json (it
 * turns on the unstable `Deno.listenDatagram`) and the given permissions.
 *
 * @param script File name inside `bench/`.
 * @param permissions Flags such as `--allow-net`.
 * @param args Arguments to the script.
 * @returns Arguments for `deno`.
 */
export function scriptCommand(script: string, permissions: string[], args: string[]): string[] {
  return [
    "run",
    "--quiet",
    `--config=${repoDir}deno.json`,
    ...permissions,
    `${repoDir}bench/${script}`,
    ...args,
  ];
}

/** A child whose stdout and stderr go to files, as `> out 2> err` would send them. */
export interface FileChild {
  /** The process; its pid is the program's own (the shell execs it). */
  child: Deno.ChildProcess;
  /** Where stdout goes. */
  stdoutPath: string;
  /** Where stderr goes. */
  stderrPath: string;
}

/**
 * Starts `deno` with `args`, its stdout and stderr redirected to files. A pipe read by this
 * process would cost CPU on the same two cores and measure the pipe, not the program.
 *
 * @param args Arguments to `deno`.
 * @param stdoutPath File for stdout.
 * @returns The child and the paths of its output files.
 */
export function spawnToFile(args: string[], stdoutPath: string): FileChild {
  const stderrPath = `${stdoutPath}.err`;
  // A file left by an earlier run would be read as this one's first line.
  for (const path of [stdoutPath, stderrPath]) {
    try {
      Deno.removeSync(path);
    } catch { /* not there */ }
  }
  const child = new Deno.Command("sh", {
    // `exec` replaces the shell, so signals sent to the child reach deno itself.
    args: ["-c", 'exec "$@" >"$0" 2>"$0.err"', stdoutPath, Deno.execPath(), ...args],
    stdin: "null",
    stdout: "null",
    stderr: "null",
    env: { NO_COLOR: "1" },
  }).spawn();
  return { child, stdoutPath, stderrPath };
}

/**
 * Waits until the first line of a growing file matches `pattern`.
 *
 * @param path The file.
 * @param pattern What the first line must match.
 * @param timeoutMs Upper bound on the wait.
 * @returns The match.
 * @throws {Error} If the line does not appear in time.
 */
export async function waitForFirstLine(
  path: string,
  pattern: RegExp,
  timeoutMs = 15_000,
): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = await Deno.readTextFile(path).catch(() => "");
    const newline = text.indexOf("\n");
    if (newline >= 0) {
      const match = text.slice(0, newline).match(pattern);
      if (match) return match;
      throw new Error(`Unexpected first line in ${path}: ${text.slice(0, newline)}`);
    }
    await sleep(20);
  }
  const stderr = await Deno.readTextFile(`${path}.err`).catch(() => "");
  throw new Error(`No first line in ${path} after ${timeoutMs} ms; stderr: ${stderr}`);
}

/**
 * Sends `signal` and waits for the child to exit, killing it if it takes longer than
 * `timeoutMs`.
 *
 * @param child The process.
 * @param signal The signal to send first.
 * @param timeoutMs Upper bound before SIGKILL.
 * @returns The exit status.
 */
export async function stopChild(
  child: Deno.ChildProcess,
  signal: Deno.Signal = "SIGTERM",
  timeoutMs = 15_000,
): Promise<Deno.CommandStatus> {
  signalChild(child, signal);
  const cancel = killAfter(child, timeoutMs);
  try {
    return await child.status;
  } finally {
    cancel();
  }
}

/**
 * CPU time (user + system, every thread) a process has used so far.
 *
 * @param pid The process.
 * @returns Milliseconds, in steps of 10.
 */
export function cpuTimeMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // The command name (field 2) is in parentheses and may hold spaces; count from after it.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) * 1000 / TICKS_PER_SECOND;
}

/**
 * Resident set size of a process.
 *
 * @param pid The process.
 * @returns Bytes.
 */
export function residentBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = status.match(/^VmRSS:\s+(\d+) kB/m)?.[1];
  return Number(kib) * 1024;
}

/** The kernel's UDP counters that say whether datagrams were dropped on receipt. */
export interface UdpCounters {
  /** Datagrams delivered to sockets. */
  InDatagrams: number;
  /** Datagrams not delivered (the sum of the reasons below and others). */
  InErrors: number;
  /** Datagrams dropped because a socket's receive buffer was full. */
  RcvbufErrors: number;
}

/**
 * Reads the `Udp:` lines of /proc/net/snmp (this network namespace, every socket: other
 * programs' traffic counts too).
 *
 * @returns The counters.
 */
export function udpCounters(): UdpCounters {
  const lines = Deno.readTextFileSync("/proc/net/snmp").split("\n").filter((line) =>
    line.startsWith("Udp: ")
  );
  const names = lines[0]!.split(/\s+/).slice(1);
  const values = lines[1]!.split(/\s+/).slice(1).map(Number);
  const get = (name: string) => values[names.indexOf(name)] ?? NaN;
  return {
    InDatagrams: get("InDatagrams"),
    InErrors: get("InErrors"),
    RcvbufErrors: get("RcvbufErrors"),
  };
}

/** The fields of the /proc/net/udp line of the socket bound to `port`, or undefined. */
function udpSocketLine(port: number): string[] | undefined {
  const local = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  for (const line of Deno.readTextFileSync("/proc/net/udp").split("\n")) {
    // sl, local_address (0100007F:1F90), rem_address, st, tx_queue:rx_queue, …, drops last.
    const fields = line.trim().split(/\s+/);
    if (fields[1]?.endsWith(local)) return fields;
  }
  return undefined;
}

/**
 * Datagrams the kernel dropped for the UDP socket bound to `port` on 127.0.0.1 or 0.0.0.0,
 * because its receive buffer was full: the last column of /proc/net/udp, counted from the
 * socket's creation. Unlike RcvbufErrors it counts no other program's traffic.
 *
 * @param port The socket's local port.
 * @returns The count, or NaN if no such socket is listed.
 */
export function socketDrops(port: number): number {
  return Number(udpSocketLine(port)?.at(-1) ?? NaN);
}

/**
 * Bytes waiting in the receive buffer of the UDP socket bound to `port` (the `rx_queue` of
 * /proc/net/udp): 0 once its program has read everything.
 *
 * @param port The socket's local port.
 * @returns The bytes, or NaN if no such socket is listed.
 */
export function socketQueuedBytes(port: number): number {
  const queues = udpSocketLine(port)?.[4];
  return queues === undefined ? NaN : parseInt(queues.split(":")[1]!, 16);
}

/**
 * CPU time the whole machine has spent busy so far (every core; user, nice, system, irq,
 * softirq and steal from the first line of /proc/stat).
 *
 * @returns Milliseconds, in steps of 10.
 */
export function machineBusyMs(): number {
  const fields = Deno.readTextFileSync("/proc/stat").split("\n")[0]!.trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = fields.slice(1).map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) * 1000 / TICKS_PER_SECOND;
}

/**
 * The CPU model of this machine, as `/proc/cpuinfo` names it (`AMD EPYC`, `Intel(R) Xeon(R)
 * …`): figures of time per datagram differ by CPU family, so every report names it.
 *
 * @returns The first `model name`, or `unknown CPU`.
 */
export function cpuModel(): string {
  try {
    const match = Deno.readTextFileSync("/proc/cpuinfo").match(/^model name\s*:\s*(.+)$/m);
    return match?.[1]?.trim().replace(/\s+/g, " ") ?? "unknown CPU";
  } catch {
    return "unknown CPU";
  }
}

/**
 * The 1-minute load average of the machine, from /proc/loadavg.
 *
 * @returns Runnable processes averaged over the last minute.
 */
export function loadAverage(): number {
  return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
}

/**
 * Resolves after `ms` milliseconds.
 *
 * @param ms How long.
 * @returns A promise.
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The median of some numbers (the mean of the middle two for an even count).
 *
 * @param values The numbers; not changed.
 * @returns The median, NaN for none.
 */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * Reads the value of a `--name value` flag.
 *
 * @param args The arguments.
 * @param name The flag, with its dashes.
 * @param fallback Used when the flag is absent.
 * @returns The value as a number.
 * @throws {Error} If the value is not a number.
 */
export function numberFlag(args: string[], name: string, fallback: number): number {
  const index = args.indexOf(name);
  if (index < 0) return fallback;
  const value = Number(args[index + 1]);
  if (!Number.isFinite(value)) throw new Error(`Cannot parse ${name}: "${args[index + 1]}"`);
  return value;
}

/**
 * Formats a number with thousands separators and at most `digits` decimals.
 *
 * @param value The number.
 * @param digits Decimals.
 * @returns The text.
 */
export function formatNumber(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return "n/a";
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/**
 * Runs one `flood.ts` process against a loopback port and waits for it: the flood every
 * throughput, scrape, profile and forged-source benchmark uses.
 *
 * @param port The receiver's UDP port on 127.0.0.1.
 * @param args More flood.ts flags (`--seconds`, `--sources`, `--rate` …).
 * @returns What the flood sent, as flood.ts reports it.
 * @throws {Error} If flood.ts fails, with its stderr.
 */
export async function runFlood(port: number, args: string[]): Promise<FloodResult> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: scriptCommand("flood.ts", ["--allow-net", "--allow-ffi"], [
      "--to",
      `127.0.0.1:${port}`,
      ...args,
    ]),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(`flood.ts failed: ${new TextDecoder().decode(output.stderr)}`);
  }
  return JSON.parse(new TextDecoder().decode(output.stdout)) as FloodResult;
}
