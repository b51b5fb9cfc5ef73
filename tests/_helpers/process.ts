/**
 * One way to bound a child process in time, for the tests and the benchmarks: every wait on
 * a child ends, if the child does not, with SIGKILL after a deadline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { killAfter } from "./process.ts";
 * const child = new Deno.Command("sleep", { args: ["30"] }).spawn();
 * killAfter(child, 10);
 * assert.equal((await child.status).signal, "SIGKILL");
 * ```
 *
 * @module
 */

/**
 * Sends `signal` to a child, doing nothing if it has already exited.
 *
 * @param child The process.
 * @param signal The signal, SIGTERM by default.
 */
export function signalChild(child: Deno.ChildProcess, signal: Deno.Signal = "SIGTERM"): void {
  try {
    child.kill(signal);
  } catch { /* already gone */ }
}

/**
 * Kills a child with SIGKILL if it is still running after `timeoutMs`.
 *
 * @param child The process.
 * @param timeoutMs The deadline, in ms from now.
 * @returns A function that cancels the deadline (call it once the child has exited).
 */
export function killAfter(child: Deno.ChildProcess, timeoutMs: number): () => void {
  const timer = setTimeout(() => signalChild(child, "SIGKILL"), timeoutMs);
  return () => clearTimeout(timer);
}

/**
 * Runs a command to completion, within 60 s.
 *
 * @param command The program.
 * @param args Its arguments.
 * @param cwd Where it runs.
 * @returns Whether it succeeded, stdout and stderr together, and stderr alone; undefined if the
 * program is not installed.
 */
export async function runToEnd(
  command: string,
  args: string[],
  cwd: string = Deno.cwd(),
): Promise<{ success: boolean; output: string; stderr: string } | undefined> {
  try {
    const { success, stdout, stderr } = await new Deno.Command(command, {
      args,
      cwd,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output();
    const decoder = new TextDecoder();
    const err = decoder.decode(stderr);
    return { success, output: decoder.decode(stdout) + err, stderr: err };
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}
