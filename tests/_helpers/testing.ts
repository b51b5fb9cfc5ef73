/**
 * Helpers for the tests that start udpeer as a subprocess on loopback: free ports, a
 * process handle that collects stdout lines, and bounded waits. Test-only; not part of the
 * library.
 *
 * @example
 * ```ts ignore
 * import { startUdpeer } from "./testing.ts";
 * await using peer = startUdpeer(["--port", "0", "--json"]);
 * const listening = await peer.waitForEvent((e) => e.event === "listening");
 * ```
 *
 * @module
 */

import { PERMISSIONS } from "../../scripts/permissions.ts";
import { killAfter, signalChild } from "./process.ts";

/** Absolute path of the repository (the folder of this file). */
export const repoDir: string = new URL("../../", import.meta.url).pathname;

/** Permissions the program needs: the one list every runner shares (scripts/permissions.ts). */
export const runFlags: string[] = [
  "run",
  "--quiet",
  `--config=${repoDir}deno.json`,
  ...PERMISSIONS,
];

/** A parsed `--json` line. */
export type JsonEvent = Record<string, unknown> & { event?: string };

/**
 * Finds a port that is free on `hostname` right now by binding port 0 and closing.
 *
 * @param transport `udp` or `tcp`.
 * @param hostname Address to probe.
 * @returns A port number that was free a moment ago.
 */
export function freePort(transport: "udp" | "tcp" = "udp", hostname = "127.0.0.1"): number {
  if (transport === "tcp") {
    const listener = Deno.listen({ hostname, port: 0 });
    const { port } = listener.addr as Deno.NetAddr;
    listener.close();
    return port;
  }
  const socket = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
  const { port } = socket.addr as Deno.NetAddr;
  socket.close();
  return port;
}

/** How to start udpeer. */
export interface UdpeerOptions {
  /** Keep a pipe to the child's stdin. */
  stdin?: boolean;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /**
   * A command that runs udpeer, such as `["ip", "netns", "exec", "ns1"]`: it must exec
   * the rest of its arguments, so that signals reach udpeer itself.
   */
  prefix?: string[];
  /** More `deno run` flags, put before `main.ts`: `["--preload", "clock_ahead.ts"]`. */
  denoFlags?: string[];
  /**
   * Another command than udpeer itself (`[program, ...args]`, the `args` of the constructor
   * then follow it), such as `deno task start`: its output is collected the same way.
   */
  command?: string[];
  /** Working directory of the child. */
  cwd?: string;
}

/** A running udpeer subprocess whose stdout is collected line by line. */
export class UdpeerProcess implements AsyncDisposable {
  /** Every stdout line so far. */
  readonly lines: string[] = [];
  /** When each line of {@linkcode lines} was read, in `Date.now()` ms (same index). */
  readonly arrivals: number[] = [];
  /** Everything written to stderr so far. */
  stderr = "";
  /** The child process. */
  readonly child: Deno.ChildProcess;
  #waiters: (() => void)[] = [];
  #done: Promise<void>;
  #stdin: WritableStreamDefaultWriter<Uint8Array> | undefined;

  /**
   * @param args Arguments after `main.ts`.
   * @param options `stdin: true` to keep a pipe to the child's stdin; `prefix` to run it
   * through another command, such as `["ip", "netns", "exec", "ns1"]`.
   */
  constructor(args: string[], options: UdpeerOptions = {}) {
    const command = [
      ...options.prefix ?? [],
      ...options.command ??
        [Deno.execPath(), ...runFlags, ...options.denoFlags ?? [], `${repoDir}main.ts`],
    ];
    this.child = new Deno.Command(command[0]!, {
      args: [...command.slice(1), ...args],
      ...options.cwd === undefined ? {} : { cwd: options.cwd },
      stdin: options.stdin ? "piped" : "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", ...options.env },
    }).spawn();
    if (options.stdin) this.#stdin = this.child.stdin.getWriter();
    this.#done = Promise.all([this.#collectStdout(), this.#collectStderr()]).then(() => {});
  }

  async #collectStdout(): Promise<void> {
    let pending = "";
    for await (const chunk of this.child.stdout.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      const parts = pending.split("\n");
      pending = parts.pop()!;
      if (parts.length > 0) {
        const now = Date.now();
        this.lines.push(...parts);
        for (const _ of parts) this.arrivals.push(now);
        this.#wake();
      }
    }
    if (pending !== "") {
      this.lines.push(pending);
      this.arrivals.push(Date.now());
    }
    this.#wake();
  }

  async #collectStderr(): Promise<void> {
    for await (const chunk of this.child.stderr.pipeThrough(new TextDecoderStream())) {
      this.stderr += chunk;
      this.#wake();
    }
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  /** stdout lines parsed as JSON; lines that are not JSON are skipped. */
  get events(): JsonEvent[] {
    const events: JsonEvent[] = [];
    for (const line of this.lines) {
      try {
        events.push(JSON.parse(line));
      } catch { /* human output */ }
    }
    return events;
  }

  /**
   * Waits until `predicate` holds for the collected output, or fails after `timeoutMs`.
   *
   * @param predicate Checked after each new chunk of output.
   * @param timeoutMs Upper bound on the wait.
   * @param what Description for the failure message.
   */
  async waitUntil(predicate: () => boolean, timeoutMs = 10_000, what = "condition"): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `Timed out after ${timeoutMs} ms waiting for ${what}\nstdout:\n${
            this.lines.slice(-20).join("\n")
          }\nstderr:\n${this.stderr}`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.#waiters.push(resolve)),
        new Promise<void>((resolve) => timer = setTimeout(resolve, Math.min(left, 200))),
      ]);
      clearTimeout(timer);
    }
  }

  /**
   * Waits for the first JSON event that matches and returns it.
   *
   * @param predicate Which event.
   * @param timeoutMs Upper bound on the wait.
   * @returns The event.
   */
  async waitForEvent(
    predicate: (event: JsonEvent) => boolean,
    timeoutMs = 10_000,
  ): Promise<JsonEvent> {
    let found: JsonEvent | undefined;
    await this.waitUntil(
      () => (found = this.events.find(predicate)) !== undefined,
      timeoutMs,
      "event",
    );
    return found!;
  }

  /**
   * Writes text to the child's stdin (the process must be started with `stdin: true`).
   *
   * @param text What to write.
   */
  async write(text: string): Promise<void> {
    await this.#stdin!.write(new TextEncoder().encode(text));
  }

  /** Closes the child's stdin (end of input). */
  async closeStdin(): Promise<void> {
    await this.#stdin?.close().catch(() => {});
    this.#stdin = undefined;
  }

  /**
   * Waits for the process to exit by itself, killing it after `timeoutMs`.
   *
   * @param timeoutMs Upper bound on the wait.
   * @returns The exit status.
   */
  async exited(timeoutMs = 15_000): Promise<Deno.CommandStatus> {
    const cancel = killAfter(this.child, timeoutMs);
    try {
      const status = await this.child.status;
      await this.#done;
      return status;
    } finally {
      cancel();
    }
  }

  /**
   * Sends a signal, ignoring a process that has already exited.
   *
   * @param signal The signal.
   */
  kill(signal: Deno.Signal = "SIGTERM"): void {
    signalChild(this.child, signal);
  }

  /** Kills the process if still running and waits for its streams to close. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.closeStdin();
    this.kill("SIGKILL");
    await this.child.status;
    await this.#done;
  }
}

/**
 * Starts `main.ts` with the given arguments as a subprocess.
 *
 * @param args Arguments after `main.ts`.
 * @param options `stdin: true` to write to the child's stdin; `prefix` to run it through
 * another command.
 * @returns The process handle; use it with `await using`.
 */
export function startUdpeer(
  args: string[],
  options: UdpeerOptions = {},
): UdpeerProcess {
  return new UdpeerProcess(args, options);
}

/**
 * Runs `main.ts` to completion and returns its status and output.
 *
 * @param args Arguments after `main.ts`.
 * @param timeoutMs Upper bound on the run.
 * @param options As for {@linkcode startUdpeer}.
 * @returns Exit code, stdout and stderr.
 */
export async function runUdpeer(
  args: string[],
  timeoutMs = 15_000,
  options: UdpeerOptions = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  await using process = startUdpeer(args, options);
  const status = await process.exited(timeoutMs);
  return { code: status.code, stdout: process.lines.join("\n"), stderr: process.stderr };
}

/**
 * Adler-32 straight from RFC 1950 section 9, one modulo per byte: the slow, obvious oracle
 * the fast version is checked against.
 *
 * @param data The bytes.
 * @returns The checksum, unsigned.
 */
export function referenceAdler32(data: Uint8Array): number {
  let s1 = 1;
  let s2 = 0;
  for (const byte of data) {
    s1 = (s1 + byte) % 65521;
    s2 = (s2 + s1) % 65521;
  }
  return (s2 * 65536 + s1) >>> 0;
}

/**
 * Whether a program runs here, so a test that needs it can be skipped with a reason.
 *
 * @param command The program, e.g. `python3`.
 * @param args Arguments of a harmless call, e.g. `["--version"]`.
 * @returns True if it ran and exited 0.
 */
export async function commandWorks(
  command: string,
  args: string[] = ["--version"],
): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(command, { args, stdout: "null", stderr: "null" })
      .output();
    return success;
  } catch {
    return false;
  }
}

/**
 * Runs udpeer with bad arguments and checks the usage-error contract (see README "The heartbeat peer"): exit 2,
 * nothing on stdout, and on stderr exactly two lines, one naming `flag`, then the hint to
 * the subcommand's `--help`, with no stack trace.
 *
 * @param args The arguments.
 * @param flag What the first line must name.
 * @throws {Error} An assertion error describing the first difference.
 */
export async function assertUsageError(args: string[], flag: string): Promise<void> {
  const { code, stdout, stderr } = await runUdpeer(args);
  const context = `${args.join(" ")} → exit ${code}: ${stderr}`;
  if (code !== 2) throw new Error(`Expected exit code 2 for ${context}`);
  if (stdout !== "") throw new Error(`Expected nothing on stdout for ${context}`);
  const lines = stderr.trimEnd().split("\n");
  const sub = args[0] === "serve" || args[0] === "chat" ? ` ${args[0]}` : "";
  if (
    lines.length !== 2 || !lines[0]!.startsWith("udpeer: ") || !lines[0]!.includes(flag) ||
    lines[1] !== `Try 'udpeer${sub} --help' for more information.`
  ) {
    throw new Error(`Expected one line naming ${flag} and the --help hint for ${context}`);
  }
}
