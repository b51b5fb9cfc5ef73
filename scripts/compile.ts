/**
 * Builds standalone udpeer executables with `deno compile`, one per target, into `dist/` as
 * `udpeer-<target>` (`.exe` for Windows). The permissions udpeer needs (the list in
 * scripts/permissions.ts, which every runner shares) are baked in, and so is the `net` unstable
 * feature, from `"unstable": ["net"]` in deno.json (giving `--unstable-net` as well once made
 * `deno compile` panic). The binaries run without Deno installed.
 *
 * `deno compile` downloads its base binary (`denort`) for each target from Deno's download
 * server on first use and caches it. Offline, point `DENORT_BIN` at a local denort: it can
 * serve one target only, so with it the script builds the host target unless `--target`
 * names another.
 *
 * Exit codes: 0 every target built, 1 a target failed, 2 usage error.
 *
 * @example Build all five, or only some
 * ```sh
 * deno task compile
 * deno task compile --target x86_64-unknown-linux-gnu --target aarch64-apple-darwin
 * DENORT_BIN=/opt/denort deno task compile --out-dir /tmp/udpeer-dist
 * ```
 *
 * @module
 */

import { PERMISSIONS, REPO_DIR } from "./permissions.ts";

/** The targets `deno compile --target` accepts, all of which udpeer is built for. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/** One of {@linkcode TARGETS}. */
export type Target = typeof TARGETS[number];

/** Where binaries go by default: `dist/` in the repository. */
export const DEFAULT_OUT_DIR: string = `${REPO_DIR}dist`;

const HELP = `Build standalone udpeer executables with deno compile.

Usage: deno task compile [--target TARGET]... [--out-dir DIR]

  --target TARGET   build only this target (repeatable); default: all of
                    ${TARGETS.join("\n                    ")}
  --out-dir DIR     where to write udpeer-<target>[.exe]; default: dist/ in the repo
  --help            show this help

DENORT_BIN=/path/to/denort uses a local base binary instead of downloading one; it serves
one target, so then only the host target is built unless --target names one.`;

/** What the command line asked for. */
export interface CompileOptions {
  /** Targets to build, in order, without repeats. */
  targets: Target[];
  /** Folder for the binaries. */
  outDir: string;
  /** `--help` was given. */
  help: boolean;
}

/** A command line the script cannot act on; exit code 2. */
export class UsageError extends Error {
  /** Always `"UsageError"`. */
  override name = "UsageError";
}

/**
 * The target triple of the machine running this, if it is one udpeer is built for.
 *
 * @returns The host's target, or `undefined` on other platforms.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hostTarget, TARGETS } from "./compile.ts";
 * const host = hostTarget();
 * assert.ok(host === undefined || TARGETS.includes(host));
 * ```
 */
export function hostTarget(): Target | undefined {
  return TARGETS.find((target) => target === Deno.build.target);
}

/**
 * The file name of the binary for `target`: `udpeer-<target>`, with `.exe` for Windows.
 *
 * @param target The target triple.
 * @returns The file name, without a folder.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { outputName } from "./compile.ts";
 * assert.ok(outputName("x86_64-pc-windows-msvc") === "udpeer-x86_64-pc-windows-msvc.exe");
 * assert.ok(outputName("aarch64-apple-darwin") === "udpeer-aarch64-apple-darwin");
 * ```
 */
export function outputName(target: Target): string {
  return `udpeer-${target}${target.includes("windows") ? ".exe" : ""}`;
}

/**
 * The arguments after `deno` that build `target` into `outDir`.
 *
 * @param target The target triple.
 * @param outDir Folder for the binary.
 * @returns The `compile` arguments: permissions, config, target, output and `main.ts`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compileArgs } from "./compile.ts";
 * const args = compileArgs("x86_64-unknown-linux-gnu", "dist");
 * assert.ok(args.includes("--allow-net") && args.at(-1)!.endsWith("main.ts"));
 * ```
 */
export function compileArgs(target: Target, outDir: string): string[] {
  return [
    "compile",
    // deno.json brings "unstable": ["net"] and the version; name it so the script works
    // from any folder.
    `--config=${REPO_DIR}deno.json`,
    ...PERMISSIONS,
    `--target=${target}`,
    `--output=${outDir.replace(/\/+$/, "")}/${outputName(target)}`,
    `${REPO_DIR}main.ts`,
  ];
}

function isTarget(value: string): value is Target {
  return (TARGETS as readonly string[]).includes(value);
}

/**
 * Reads the script's command line.
 *
 * @param args The arguments after the script name.
 * @param denortBin The value of `DENORT_BIN`, if set: then the default is the host target.
 * @returns The targets and output folder.
 * @throws {UsageError} On an unknown flag, a missing value, an unknown target, more than one
 * target with `DENORT_BIN`, or `DENORT_BIN` on a host that is not a target.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCompileArgs } from "./compile.ts";
 * const options = parseCompileArgs(["--target", "aarch64-apple-darwin", "--out-dir", "out"]);
 * assert.ok(options.targets.length === 1 && options.outDir === "out");
 * ```
 */
export function parseCompileArgs(args: string[], denortBin?: string): CompileOptions {
  const targets: Target[] = [];
  let outDir = DEFAULT_OUT_DIR;
  let help = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [flag, inline] = arg.startsWith("--") && arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    const value = (): string => {
      const next = inline ?? args[++i];
      if (next === undefined || next === "") {
        throw new UsageError(`Cannot parse ${flag}: a value is required`);
      }
      return next;
    };
    if (flag === "--help" || flag === "-h") help = true;
    else if (flag === "--out-dir") outDir = value();
    else if (flag === "--target") {
      const target = value();
      if (!isTarget(target)) {
        throw new UsageError(
          `Cannot parse --target: "${target}" is not one of ${TARGETS.join(", ")}`,
        );
      }
      if (!targets.includes(target)) targets.push(target);
    } else throw new UsageError(`Cannot parse arguments: unknown flag "${arg}"`);
  }
  if (denortBin !== undefined && denortBin !== "") {
    if (targets.length > 1) {
      throw new UsageError(
        `Cannot build ${targets.length} targets with DENORT_BIN: "${denortBin}" is one base binary, pass one --target`,
      );
    }
    if (targets.length === 0) {
      const host = hostTarget();
      if (host === undefined) {
        throw new UsageError(
          `Cannot pick a target for DENORT_BIN: host "${Deno.build.target}" is not a target, pass --target`,
        );
      }
      targets.push(host);
    }
  } else if (targets.length === 0) targets.push(...TARGETS);
  return { targets, outDir, help };
}

/** How building one target went. */
export interface CompileResult {
  /** The target triple. */
  target: Target;
  /** Path of the binary. */
  output: string;
  /** Whether `deno compile` succeeded. */
  ok: boolean;
  /** Why it failed, one line, when it did. */
  reason?: string;
}

/**
 * Runs `deno compile` for each target in turn, passing its output through to stderr.
 *
 * @param options Targets and output folder.
 * @returns One result per target.
 */
export async function compile(options: CompileOptions): Promise<CompileResult[]> {
  await Deno.mkdir(options.outDir, { recursive: true });
  const results: CompileResult[] = [];
  for (const target of options.targets) {
    const args = compileArgs(target, options.outDir);
    const output = args.find((arg) => arg.startsWith("--output="))!.slice("--output=".length);
    console.error(`Compiling ${outputName(target)} …`);
    const { success, stderr } = await new Deno.Command(Deno.execPath(), {
      args,
      stdin: "null",
      stdout: "inherit",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(stderr);
    await Deno.stderr.write(stderr);
    if (success) {
      results.push({ target, output, ok: true });
    } else if (/base binary|denort/i.test(text)) {
      results.push({
        target,
        output,
        ok: false,
        reason:
          "deno compile could not get its base binary (denort) for this target; it downloads it from Deno's server, so build where that is reachable or set DENORT_BIN to a local denort",
      });
    } else {
      const last = text.trim().split("\n").find((line) => /error/i.test(line)) ?? "failed";
      // deno colours its messages; a summary line should be plain.
      results.push({ target, output, ok: false, reason: stripAnsi(last).trim() });
    }
  }
  return results;
}

function stripAnsi(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}

async function main(args: string[]): Promise<number> {
  let options: CompileOptions;
  try {
    options = parseCompileArgs(args, Deno.env.get("DENORT_BIN"));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\nRun 'deno task compile --help' for usage.`);
    return 2;
  }
  if (options.help) {
    console.log(HELP);
    return 0;
  }
  const results = await compile(options);
  for (const result of results) {
    if (result.ok) {
      const { size } = await Deno.stat(result.output);
      console.log(`built  ${result.output} (${(size / 1e6).toFixed(1)} MB)`);
    } else {
      console.log(`FAILED ${result.output}: ${result.reason}`);
    }
  }
  return results.every((result) => result.ok) ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
