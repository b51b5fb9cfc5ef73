/**
 * Network namespaces for the tests: private networks made and destroyed by the test
 * itself, so that "real hosts", an unreachable network or a name that stops resolving can
 * be tested on one machine without sending a packet off it. Test-only; not part of the
 * library. Linux only, as root, with iproute2's `ip`.
 *
 * Each namespace has a unique name per run (`udpeer-rt-<pid>-<n>-<label>`), starts with only
 * `lo` up, and is deleted, together with its `/etc/netns/<name>/` files, when disposed.
 *
 * @example
 * ```ts ignore
 * import { netnsUnavailable, Netns } from "./netns.ts";
 * const reason = await netnsUnavailable();
 * if (reason === undefined) {
 *   await using ns = await Netns.create("demo");
 *   console.log(await ns.udpCounters());
 * }
 * ```
 *
 * @module
 */

import { killAfter } from "./process.ts";

const prefix = "udpeer-rt-";
let counter = 0;

/** Output of a finished command. */
export interface CommandResult {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/**
 * Runs a command to completion, killing it after `timeoutMs`.
 *
 * @param command Program and arguments.
 * @param timeoutMs Upper bound on the run.
 * @returns Its exit code and output.
 */
export async function run(command: string[], timeoutMs = 10_000): Promise<CommandResult> {
  const child = new Deno.Command(command[0]!, {
    args: command.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const cancel = killAfter(child, timeoutMs);
  try {
    const { code, stdout, stderr } = await child.output();
    const text = new TextDecoder();
    return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
  } finally {
    cancel();
  }
}

/**
 * Runs a command and fails with its stderr if it exits non-zero.
 *
 * @param command Program and arguments.
 * @returns Its standard output.
 * @throws {Error} If the command fails.
 */
export async function mustRun(command: string[]): Promise<string> {
  const result = await run(command);
  if (result.code !== 0) {
    throw new Error(`Cannot run "${command.join(" ")}": ${result.stderr.trim() || result.code}`);
  }
  return result.stdout;
}

let support: Promise<string | undefined> | undefined;

/**
 * Whether this machine lets the tests make network namespaces, checked once by making one.
 *
 * @returns `undefined` if they can, otherwise why not (to print with the skipped test).
 */
export function netnsUnavailable(): Promise<string | undefined> {
  return support ??= probe();
}

async function probe(): Promise<string | undefined> {
  if (Deno.build.os !== "linux") {
    return `network namespaces are Linux only (this is ${Deno.build.os})`;
  }
  if (Deno.permissions.querySync({ name: "run" }).state !== "granted") {
    return "no --allow-run, so `ip` cannot be run";
  }
  if (Deno.permissions.querySync({ name: "write", path: "/etc/netns" }).state !== "granted") {
    return "no --allow-write for /etc/netns (the namespaces' private /etc/hosts)";
  }
  const name = `${prefix}${Deno.pid}-probe`;
  let result: CommandResult;
  try {
    result = await run(["ip", "netns", "add", name]);
  } catch (error) {
    return `cannot run \`ip\` (install iproute2): ${(error as Error).message}`;
  }
  if (result.code !== 0) {
    return `\`ip netns add\` failed (not root?): ${result.stderr.trim()}`;
  }
  await run(["ip", "netns", "del", name]);
  await removeStale();
  return undefined;
}

/** Deletes namespaces left by an earlier run that was killed before its cleanup ran. */
async function removeStale(): Promise<void> {
  const { stdout } = await run(["ip", "netns", "list"]);
  for (const line of stdout.split("\n")) {
    const name = line.split(" ")[0] ?? "";
    const pid = name.match(/^udpeer-rt-(\d+)-/)?.[1];
    if (pid === undefined || Number(pid) === Deno.pid) continue;
    try {
      Deno.statSync(`/proc/${pid}`);
    } catch {
      // Its test process is gone.
      await run(["ip", "netns", "del", name]);
      await Deno.remove(`/etc/netns/${name}`, { recursive: true }).catch(() => {});
    }
  }
}

/** UDP counters of a namespace, from its `/proc/net/snmp`. */
export interface UdpCounters {
  /** Datagrams read by applications. */
  InDatagrams: number;
  /** Datagrams to a port nobody listened on. */
  NoPorts: number;
  /** Datagrams dropped on receive, RcvbufErrors included. */
  InErrors: number;
  /** Datagrams sent. */
  OutDatagrams: number;
  /** Datagrams dropped because a socket's receive buffer was full. */
  RcvbufErrors: number;
  /** Any other counter of the `Udp:` lines. */
  [name: string]: number;
}

/**
 * Parses the `Udp:` lines of `/proc/net/snmp`.
 *
 * @param snmp The file's text.
 * @returns The UDP counters by name.
 */
export function parseUdpCounters(snmp: string): UdpCounters {
  const [names, values] = snmp.split("\n").filter((line) => line.startsWith("Udp:"));
  if (names === undefined || values === undefined) throw new Error("No Udp: lines in snmp");
  const keys = names.split(/\s+/).slice(1);
  const numbers = values.split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(keys.map((key, i) => [key, numbers[i] ?? 0])) as UdpCounters;
}

/** One network namespace, deleted when disposed. */
export class Netns implements AsyncDisposable {
  /** Its unique name. */
  readonly name: string;
  /** Run a command inside it: put this before the command. */
  readonly exec: string[];

  private constructor(name: string) {
    this.name = name;
    this.exec = ["ip", "netns", "exec", name];
  }

  /**
   * Makes a namespace with only `lo`, up. Check {@linkcode netnsUnavailable} first.
   *
   * @param label A short word for its name.
   * @returns The namespace; dispose of it (`await using`) to delete it.
   */
  static async create(label: string): Promise<Netns> {
    const ns = new Netns(`${prefix}${Deno.pid}-${++counter}-${label}`);
    await mustRun(["ip", "netns", "add", ns.name]);
    try {
      await ns.ip("link", "set", "lo", "up");
      // A private resolver configuration: names not in its hosts file fail at once, and no
      // query leaves the namespace.
      await ns.writeEtc("hosts", "127.0.0.1 localhost\n");
      await ns.writeEtc("resolv.conf", "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
    } catch (error) {
      await ns[Symbol.asyncDispose]();
      throw error;
    }
    return ns;
  }

  /**
   * Runs `ip -n <name> …`.
   *
   * @param args The `ip` arguments.
   * @returns Its output.
   */
  async ip(...args: string[]): Promise<string> {
    return await mustRun(["ip", "-n", this.name, ...args]);
  }

  /**
   * Writes a file that `ip netns exec` shows at `/etc/<file>` to the programs it runs. A
   * program already running sees a rewrite too: the file is rewritten in place, and
   * `ip netns exec` bind-mounts this very file.
   *
   * @param file `hosts` or `resolv.conf`.
   * @param content The whole file.
   */
  async writeEtc(file: "hosts" | "resolv.conf", content: string): Promise<void> {
    await Deno.mkdir(`/etc/netns/${this.name}`, { recursive: true });
    await Deno.writeTextFile(`/etc/netns/${this.name}/${file}`, content);
  }

  /**
   * Reads the namespace's UDP counters.
   *
   * @returns The counters of its `/proc/net/snmp`.
   */
  async udpCounters(): Promise<UdpCounters> {
    return parseUdpCounters(await mustRun([...this.exec, "cat", "/proc/net/snmp"]));
  }

  /** Deletes the namespace (and so its interfaces) and its `/etc/netns` files. */
  async [Symbol.asyncDispose](): Promise<void> {
    await run(["ip", "netns", "del", this.name]);
    await Deno.remove(`/etc/netns/${this.name}`, { recursive: true }).catch(() => {});
  }
}

/**
 * Joins two namespaces with a veth pair and gives each end an address, as two hosts on
 * one Ethernet segment. The interfaces are made inside the namespaces, so nothing appears
 * on the host.
 *
 * An IPv6 address (a ULA such as `fd00:75:64::1/64`) is added with `nodad`: usable at once,
 * with no duplicate address detection to wait for.
 *
 * @param a One namespace.
 * @param addressA Its address on the link, with prefix length: `10.200.1.1/24`.
 * @param b The other.
 * @param addressB Its address: `10.200.1.2/24`.
 */
export async function connect(
  a: Netns,
  addressA: string,
  b: Netns,
  addressB: string,
): Promise<void> {
  // Interface names need only be unique inside each namespace (at most 15 characters).
  const nameA = `v${++counter}`;
  const nameB = `v${++counter}`;
  await a.ip("link", "add", nameA, "type", "veth", "peer", "name", nameB, "netns", b.name);
  const nodad = (address: string) => address.includes(":") ? ["nodad"] : [];
  await a.ip("addr", "add", addressA, "dev", nameA, ...nodad(addressA));
  await b.ip("addr", "add", addressB, "dev", nameB, ...nodad(addressB));
  await a.ip("link", "set", nameA, "up");
  await b.ip("link", "set", nameB, "up");
}
