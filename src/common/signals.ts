/**
 * The signals that end a run: SIGINT (Ctrl-C) everywhere, SIGTERM too where the system has
 * it (Deno cannot listen for SIGTERM on Windows). Every subcommand stops the same way.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { onStopSignals } from "./signals.ts";
 * const removeListeners = onStopSignals(() => {});
 * assert.equal(typeof removeListeners, "function");
 * removeListeners();
 * ```
 *
 * @module
 */

/** The signals that stop a run on this system. */
export const STOP_SIGNALS: readonly Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT"]
  : ["SIGINT", "SIGTERM"];

/**
 * Calls `stop` on SIGINT or SIGTERM until the returned function removes the listeners.
 *
 * @param stop What to do on a signal; it may be called more than once.
 * @returns A function that removes the listeners again (call it when the run is over, so
 *   the process can exit).
 */
export function onStopSignals(stop: () => void): () => void {
  for (const signal of STOP_SIGNALS) Deno.addSignalListener(signal, stop);
  return () => {
    for (const signal of STOP_SIGNALS) Deno.removeSignalListener(signal, stop);
  };
}
