/**
 * The one list of what udpeer may do, read by everything that runs it: `deno task start`
 * (scripts/start.ts), `deno task install` (scripts/install.ts), `deno task compile`
 * (scripts/compile.ts) and the tests' subprocesses (tests/_helpers/testing.ts). A permission
 * added here reaches all of them; docs/install.md shows the same flags and a test keeps it
 * so.
 *
 * The `net` unstable feature (`Deno.listenDatagram`) comes from `"unstable": ["net"]` in
 * deno.json, which every runner passes with `--config`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PERMISSIONS } from "./permissions.ts";
 * assert.ok(PERMISSIONS.includes("--allow-net"));
 * assert.ok(!PERMISSIONS.some((flag) => flag === "--allow-all" || flag === "-A"));
 * ```
 *
 * @module
 */

/**
 * The permission flags udpeer runs with, and nothing more:
 * - `--allow-net`: listen, send, connect, and resolve `--to` names;
 * - `--allow-sys=networkInterfaces`: choose the address to advertise per target;
 * - `--allow-read`: read the `--peers FILE` list.
 */
export const PERMISSIONS: readonly string[] = [
  "--allow-net",
  "--allow-sys=networkInterfaces",
  "--allow-read",
];

/** Absolute path of the repository (the parent of this script's folder), ending in `/`. */
export const REPO_DIR: string = new URL("..", import.meta.url).pathname;

/**
 * The arguments after `deno` that run udpeer from this clone with its permissions.
 *
 * @param args udpeer's own arguments.
 * @returns `run`, the config, the permissions, `main.ts` and `args`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runArgs } from "./permissions.ts";
 * const args = runArgs(["--port", "0"]);
 * assert.ok(args[0] === "run" && args.at(-3)!.endsWith("/main.ts") && args.at(-1) === "0");
 * ```
 */
export function runArgs(args: readonly string[]): string[] {
  return ["run", `--config=${REPO_DIR}deno.json`, ...PERMISSIONS, `${REPO_DIR}main.ts`, ...args];
}
