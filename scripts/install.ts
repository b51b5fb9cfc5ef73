/**
 * `deno task install`: installs the `udpeer` command with `deno install --global`, with
 * exactly udpeer's permissions (scripts/permissions.ts) and this clone's deno.json, which
 * brings the `net` unstable feature along. It needs no network: the program is this clone's
 * `main.ts`, which imports nothing from outside it.
 *
 * The command goes to `$DENO_INSTALL_ROOT/bin` (default `~/.deno/bin`), or to `DIR/bin` with
 * `--root DIR`. Installing again replaces it. Afterwards the script says where the man page
 * and the shell completions go.
 *
 * Exit codes: 0 installed, 1 `deno install` failed, 2 usage error.
 *
 * @example
 * ```sh
 * deno task install
 * deno task install --root ~/.local      # the command in ~/.local/bin
 * DENO_INSTALL_ROOT=/opt/udpeer deno task install
 * ```
 *
 * @module
 */

import { parseArgs } from "node:util";
import { PERMISSIONS, REPO_DIR } from "./permissions.ts";

/** What the command line asked for. */
export interface InstallOptions {
  /** `--root DIR`, or undefined for `deno install`'s own default. */
  root: string | undefined;
  /** `--help` was given. */
  help: boolean;
}

const HELP = `Install the udpeer command with deno install --global.

Usage: deno task install [--root DIR]

  --root DIR   install into DIR/bin (default: $DENO_INSTALL_ROOT/bin, else ~/.deno/bin)
  --help       show this help`;

/**
 * Reads the script's command line.
 *
 * @param args The arguments after the script name.
 * @returns The options.
 * @throws {Error} With a one-line message on an unknown flag or a missing value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseInstallArgs } from "./install.ts";
 * assert.ok(parseInstallArgs(["--root", "/tmp/u"]).root === "/tmp/u");
 * assert.throws(() => parseInstallArgs(["--prefix", "/tmp/u"]), /Unknown flag "--prefix"/);
 * ```
 */
export function parseInstallArgs(args: readonly string[]): InstallOptions {
  try {
    const { values } = parseArgs({
      args: [...args],
      options: { root: { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    });
    if (values.root === "") throw new Error("Cannot parse --root: the folder is empty");
    return { root: values.root, help: values.help === true };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const flag = message.match(/'(-[^' ,]+)'/)?.[1];
    if (/Unknown option/.test(message)) throw new Error(`Unknown flag "${flag}"`);
    if (/argument missing/.test(message)) {
      throw new Error("Cannot parse --root: a folder is missing");
    }
    if (/positional/.test(message)) {
      throw new Error(`Unexpected argument: write the folder after --root, as in --root ~/.local`);
    }
    throw new Error(message);
  }
}

/**
 * The arguments after `deno` that install udpeer: the same flags docs/install.md shows.
 *
 * @param root The install root, or undefined for `deno install`'s default.
 * @returns `install --global …` ending in this clone's `main.ts`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { installArgs } from "./install.ts";
 * const args = installArgs("/tmp/u");
 * assert.ok(args.includes("--allow-net") && args.includes("--root=/tmp/u"));
 * assert.ok(args.at(-1)!.endsWith("/main.ts"));
 * ```
 */
export function installArgs(root: string | undefined): string[] {
  return [
    "install",
    "--global",
    "--force",
    "--name=udpeer",
    ...(root === undefined ? [] : [`--root=${root}`]),
    `--config=${REPO_DIR}deno.json`,
    ...PERMISSIONS,
    `${REPO_DIR}main.ts`,
  ];
}

/** What to do after installing, shown once the command is in place. */
export const AFTER_INSTALL = `
The man page and the shell completions are not installed for you:
  mkdir -p ~/.local/share/man/man1 && cp ${REPO_DIR}docs/udpeer.1 ~/.local/share/man/man1/
  man udpeer
  udpeer completions bash > ~/.local/share/bash-completion/completions/udpeer   # bash
  udpeer completions zsh > ~/.zfunc/_udpeer       # zsh, with fpath+=(~/.zfunc) before compinit
  udpeer completions fish > ~/.config/fish/completions/udpeer.fish               # fish
The command runs ${REPO_DIR}main.ts: keep this clone where it is (see docs/install.md).`;

async function main(args: string[]): Promise<number> {
  let options: InstallOptions;
  try {
    options = parseInstallArgs(args);
  } catch (error) {
    console.error(`udpeer install: ${(error as Error).message}\nRun 'deno task install --help'.`);
    return 2;
  }
  if (options.help) {
    console.log(HELP);
    return 0;
  }
  const { success } = await new Deno.Command(Deno.execPath(), {
    args: installArgs(options.root),
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  if (!success) {
    console.error("udpeer install: deno install failed (its message is above)");
    return 1;
  }
  console.log(AFTER_INSTALL);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
