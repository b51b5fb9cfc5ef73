/**
 * `deno task start`: runs udpeer from this clone with its permissions
 * (scripts/permissions.ts) and exits with udpeer's exit status.
 *
 * Why a launcher and not `deno run … main.ts` as the task itself: on Unix, the task shell of
 * `deno task` passes every SIGINT it receives on to its child. A Ctrl-C at a terminal is
 * already sent by the kernel to every process of the foreground group, udpeer included, so
 * udpeer got Ctrl-C twice. The second copy came while udpeer was shutting down, after it had
 * let go of SIGINT, and killed it: the task exited 130 instead of 0 (3 of 6 tries in tmux).
 *
 * This launcher keeps its SIGINT listener for its whole life, so the copy the task shell sends
 * stops here, and udpeer sees one Ctrl-C: the terminal's. A SIGINT that does not come from the
 * terminal (`kill -INT` of the task) reaches udpeer all the same: it is passed on if udpeer is
 * still running {@linkcode FORWARD_GRACE_MS} later. SIGTERM, SIGHUP and SIGQUIT are passed on
 * at once; the terminal sends none of those to the group.
 *
 * @example
 * ```sh
 * deno task start --port 5006 --to 127.0.0.1:5005
 * ```
 *
 * @module
 */

import { runArgs } from "./permissions.ts";

/**
 * How long a SIGINT may go unanswered before it is passed on: udpeer ends well within this
 * after a Ctrl-C it did receive, so only a SIGINT it never got is sent again.
 */
export const FORWARD_GRACE_MS = 1000;

/**
 * The exit status a shell reports for a child: its exit code, or 128 plus the number of the
 * signal that killed it.
 *
 * @param status The child's status.
 * @returns The exit status to pass on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { exitStatus } from "./start.ts";
 * assert.ok(exitStatus({ success: false, code: 2, signal: null }) === 2);
 * assert.ok(exitStatus({ success: false, code: 0, signal: "SIGKILL" }) === 137);
 * ```
 */
export function exitStatus(status: Deno.CommandStatus): number {
  if (status.signal === null) return status.code;
  const numbers: Partial<Record<Deno.Signal, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGKILL: 9,
    SIGTERM: 15,
  };
  return 128 + (numbers[status.signal] ?? 0);
}

/**
 * Runs udpeer with `args`, its standard streams those of this process, waits for it and
 * exits with its status. The signal listeners stay to the end: a SIGINT that came after
 * them would kill the launcher, and the task would report 130 after all.
 *
 * @param args udpeer's arguments.
 */
async function main(args: readonly string[]): Promise<never> {
  const child = new Deno.Command(Deno.execPath(), {
    args: runArgs(args),
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
  const passOn = (signal: Deno.Signal): void => {
    try {
      child.kill(signal);
    } catch {
      // It has just ended; its status says how.
    }
  };
  let pending: ReturnType<typeof setTimeout> | undefined;
  Deno.addSignalListener("SIGINT", () => {
    // On Windows Ctrl-C reaches the child and deno task forwards nothing: just stay alive.
    if (Deno.build.os === "windows") return;
    pending ??= setTimeout(() => {
      pending = undefined;
      passOn("SIGINT");
    }, FORWARD_GRACE_MS);
  });
  if (Deno.build.os !== "windows") {
    for (const signal of ["SIGTERM", "SIGHUP", "SIGQUIT"] as const) {
      Deno.addSignalListener(signal, () => passOn(signal));
    }
  }
  const status = await child.status;
  clearTimeout(pending);
  Deno.exit(exitStatus(status));
}

if (import.meta.main) await main(Deno.args);
