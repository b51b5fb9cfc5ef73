/**
 * Network namespaces for the tests: private networks made and destroyed by the test
 * itself, so that "real hosts", an unreachable network or a name that stops resolving can
 * be tested on one machine without sending a packet off it. Test-only; not part of the
 * library. Linux only, as root, with iproute2's `ip`.
 *
 * Each namespace has a unique name per run (`udpeer-rt-<pid>-<n>-<label>`; a fault fleet's
 * `udpeer-fl-…`), starts with only `lo` up, and is deleted, together with its
 * `/etc/netns/<name>/` files, when disposed. {@linkcode makeBridge} and {@linkcode attach}
 * join many of them on one segment; {@linkcode Netns.cutTo} cuts one direction with nftables.
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
/**
 * The prefix of the fault fleet's namespaces (fleet.ts): another, so that a copy of this
 * file from before its stale check looked inside a namespace cannot take them for stale.
 */
export const FLEET_PREFIX = "udpeer-fl-";
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
    const pid = name.match(/^udpeer-(?:rt|fl)-(\d+)-/)?.[1];
    if (pid === undefined || Number(pid) === Deno.pid) continue;
    try {
      Deno.statSync(`/proc/${pid}`);
      continue;
    } catch (error) {
      // Only a test process that is gone leaves stale namespaces; one this process cannot
      // see (another PID namespace) may be running.
      if (!(error instanceof Deno.errors.NotFound)) continue;
    }
    // Nothing runs in it any more.
    if ((await run(["ip", "netns", "pids", name])).stdout.trim() !== "") continue;
    await run(["ip", "netns", "del", name]);
    await Deno.remove(`/etc/netns/${name}`, { recursive: true }).catch(() => {});
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
   * @param namePrefix The start of its name, {@linkcode FLEET_PREFIX} for a fleet's.
   * @returns The namespace; dispose of it (`await using`) to delete it.
   */
  static async create(label: string, namePrefix: string = prefix): Promise<Netns> {
    const ns = new Netns(`${namePrefix}${Deno.pid}-${++counter}-${label}`);
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

  /**
   * Runs `nft …` inside the namespace (Debian's `nftables`). Its tables die with the
   * namespace.
   *
   * @param args The `nft` arguments, e.g. `["add", "table", "inet", "t"]`.
   * @returns Its output.
   */
  async nft(...args: string[]): Promise<string> {
    return await mustRun([...this.exec, "nft", ...args]);
  }

  /**
   * Drops, inside this namespace, the UDP datagrams it sends to `address:port`: one
   * direction of a link cut, the other left alone. The rule counts what it dropped.
   *
   * @param address The IPv4 address the datagrams go to.
   * @param port Their UDP destination port.
   * @returns A function that lifts the cut and returns how many datagrams it dropped.
   */
  async cutTo(address: string, port: number): Promise<() => Promise<number>> {
    const table = `udpeer_cut_${++counter}`;
    await this.nft("add", "table", "inet", table);
    await this.nft(
      "add",
      "chain",
      "inet",
      table,
      "out",
      "{ type filter hook output priority 0 ; }",
    );
    await this.nft(
      "add",
      "rule",
      "inet",
      table,
      "out",
      "ip",
      "daddr",
      address,
      "udp",
      "dport",
      `${port}`,
      "counter",
      "drop",
    );
    return async () => {
      const listing = await this.nft("list", "table", "inet", table);
      await this.nft("delete", "table", "inet", table);
      return Number(listing.match(/counter packets (\d+)/)?.[1] ?? Number.NaN);
    };
  }

  /**
   * Deletes the namespace at once, without waiting: for an `unload` handler, where nothing
   * can be awaited.
   */
  disposeSync(): void {
    try {
      new Deno.Command("ip", { args: ["netns", "del", this.name], stdout: "null", stderr: "null" })
        .outputSync();
      Deno.removeSync(`/etc/netns/${this.name}`, { recursive: true });
    } catch { /* already gone */ }
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

/**
 * Makes a bridge inside `hub`, as the switch of one Ethernet segment that {@linkcode attach}
 * plugs hosts into.
 *
 * @param hub The namespace that holds the bridge.
 * @param address The hub's own address on the segment, with prefix length, so that programs
 * run in the hub (a Prometheus) reach every host: `10.201.0.254/24`.
 * @returns The bridge's name, for {@linkcode attach}.
 */
export async function makeBridge(hub: Netns, address: string): Promise<string> {
  const bridge = `br${++counter}`;
  await hub.ip("link", "add", bridge, "type", "bridge");
  await hub.ip("addr", "add", address, "dev", bridge);
  await hub.ip("link", "set", bridge, "up");
  return bridge;
}

/**
 * Plugs a host into a bridge made by {@linkcode makeBridge}: a veth pair, one end in the
 * host with `address`, the other in the hub, enslaved to the bridge.
 *
 * @param hub The namespace that holds the bridge.
 * @param bridge The bridge's name.
 * @param host The namespace to plug in.
 * @param address Its address on the segment, with prefix length: `10.201.0.1/24`.
 */
export async function attach(
  hub: Netns,
  bridge: string,
  host: Netns,
  address: string,
): Promise<void> {
  const hubEnd = `v${++counter}`;
  const hostEnd = `v${++counter}`;
  await hub.ip("link", "add", hubEnd, "type", "veth", "peer", "name", hostEnd, "netns", host.name);
  await hub.ip("link", "set", hubEnd, "master", bridge);
  await hub.ip("link", "set", hubEnd, "up");
  await host.ip("addr", "add", address, "dev", hostEnd);
  await host.ip("link", "set", hostEnd, "up");
}
