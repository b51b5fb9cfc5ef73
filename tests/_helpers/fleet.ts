/**
 * A fleet of udpeer peers for fault tests: each peer in a network namespace of its own, all
 * plugged into one bridge (a hub namespace, `10.201.0.0/24`), each with `--json --quiet`,
 * `--metrics 0.0.0.0:15005` and one peers file naming every peer, at an interval of 100 ms.
 * The hub runs a real Prometheus (and Alertmanager) with the rules shipped in
 * `deploy/prometheus/`, every duration divided by {@linkcode RULE_SCALE}. The harness causes
 * the faults itself (freeze, restart, a one-way cut, a lossy relay, a bursting sender, a
 * clock 5 s ahead), so it knows the truth each figure must show. Test-only; not part of the
 * library. Linux, as root, with iproute2, nftables, curl and Prometheus.
 *
 * Addresses exist only inside the namespaces the fleet makes; everything dies with it.
 *
 * @example
 * ```ts ignore
 * import { Fleet, fleetUnavailable } from "./fleet.ts";
 * if (await fleetUnavailable() === undefined) {
 *   await using fleet = await Fleet.create({ peers: [{ name: "a" }, { name: "b" }] });
 *   const frozen = await fleet.freezeFor("b", 2_000);
 *   console.log((await fleet.scrape("a")).value("udpeer_heartbeats_missed_total", { peer: "b" }));
 * }
 * ```
 *
 * @module
 */

import { attach, FLEET_PREFIX, makeBridge, Netns, netnsUnavailable, run } from "./netns.ts";
import { killAfter, signalChild } from "./process.ts";
import { type JsonEvent, repoDir, startUdpeer, type UdpeerProcess } from "./testing.ts";
import { querySamples } from "./promtool.ts";

/** The fleet's heartbeat interval, ms (the default is 2,000). */
export const INTERVAL_MS = 100;
/**
 * What every duration of the shipped rules is divided by: `for: 1m` becomes 3 s,
 * `keep_firing_for: 5m` 15 s, `[5m]` 15 s. It is the ratio of udpeer's default interval
 * (2 s) to the fleet's (100 ms), so a rule sees as many heartbeats as it would in service.
 */
export const RULE_SCALE = 20;
/** Every peer's UDP port. */
export const PEER_PORT = 5005;
/** Every peer's metrics port. */
export const METRICS_PORT = 15005;

const SUBNET = "10.201.0";
const PROMETHEUS = "127.0.0.1:9090";
const ALERTMANAGER = "127.0.0.1:9093";
const ahead = new URL("./clock_ahead.ts", import.meta.url).pathname;
const agentPath = new URL("./fleet_agent.ts", import.meta.url).pathname;

async function works(command: string[]): Promise<boolean> {
  try {
    return (await run(command, 20_000)).code === 0;
  } catch {
    return false;
  }
}

/** The Alertmanager binary here: Debian names it `prometheus-alertmanager`. */
export async function alertmanagerCommand(): Promise<string | undefined> {
  for (const name of ["prometheus-alertmanager", "alertmanager"]) {
    if (await works([name, "--version"])) return name;
  }
  return undefined;
}

/**
 * Whether a fleet can be made here.
 *
 * @returns `undefined` if it can, otherwise why not (to print with the skipped test).
 */
export async function fleetUnavailable(): Promise<string | undefined> {
  const netns = await netnsUnavailable();
  if (netns !== undefined) return netns;
  for (
    const [command, pkg] of [["nft", "nftables"], ["prometheus", "prometheus"], ["curl", "curl"]]
  ) {
    if (!await works([command!, "--version"])) {
      return `${command} is not installed (apt-get install ${pkg}; .ci/run installs it)`;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Metrics

/** One sample of a scrape. */
export interface Sample {
  /** Series name, `_bucket` and all. */
  name: string;
  /** Its labels. */
  labels: Record<string, string>;
  /** Its value. */
  value: number;
}

/**
 * Parses the Prometheus text format (0.0.4) into samples; comments are skipped.
 *
 * @param text A scrape.
 * @returns Its samples, in order.
 */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \S+)?$/);
    if (match === null) throw new Error(`Not a sample: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]!] = pair[2]!.replace(/\\(.)/g, (_, c) => c === "n" ? "\n" : c);
    }
    const raw = match[3]!;
    const value = raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw);
    samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}

/** A parsed scrape, with lookups by name and labels. */
export class Scrape {
  /** The samples. */
  readonly samples: Sample[];
  /** The text as served. */
  readonly text: string;

  /** @param text A scrape. */
  constructor(text: string) {
    this.text = text;
    this.samples = parseMetrics(text);
  }

  /**
   * Every sample of `name` whose labels include `labels`.
   *
   * @param name The series name.
   * @param labels Labels it must have, with these values.
   * @returns The samples.
   */
  all(name: string, labels: Record<string, string> = {}): Sample[] {
    return this.samples.filter((s) =>
      s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
    );
  }

  /**
   * The value of the one sample of `name` with `labels`.
   *
   * @param name The series name.
   * @param labels Labels that pick exactly one sample.
   * @returns Its value.
   * @throws {Error} If none or several match.
   */
  value(name: string, labels: Record<string, string> = {}): number {
    const found = this.all(name, labels);
    if (found.length !== 1) {
      throw new Error(
        `${found.length} samples of ${name}${JSON.stringify(labels)} in the scrape:\n${
          this.text.split("\n").filter((l) => l.startsWith(name)).join("\n")
        }`,
      );
    }
    return found[0]!.value;
  }
}

// ---------------------------------------------------------------------------------------
// Rules

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};

function durationMs(text: string): number {
  let total = 0;
  for (const part of text.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)) {
    total += Number(part[1]) * UNITS[part[2]!]!;
  }
  return total;
}

function formatDuration(ms: number): string {
  const whole = Math.max(1, Math.round(ms));
  return whole % 1_000 === 0 ? `${whole / 1_000}s` : `${whole}ms`;
}

/**
 * Divides every duration of a Prometheus rules file by `factor`: `for:`,
 * `keep_firing_for:`, a group's `interval:`, range selectors (`[5m]`, subqueries
 * `[5m:30s]`) and `offset`. Comments and everything else are left as they are.
 *
 * @param text A rules file.
 * @param factor What to divide by.
 * @returns The scaled file.
 */
export function scaleDurations(text: string, factor: number): string {
  const d = "(?:\\d+(?:ms|s|m|h|d|w|y))+";
  const scale = (value: string) => formatDuration(durationMs(value) / factor);
  return text.split("\n").map((line) => {
    if (/^\s*#/.test(line)) return line;
    return line
      .replace(
        new RegExp(`^(\\s*(?:-\\s+)?(?:for|keep_firing_for|interval):\\s*)(${d})\\b`),
        (_, key, value) => `${key}${scale(value)}`,
      )
      .replace(
        new RegExp(`\\[(${d})(:(${d})?)?\\]`, "g"),
        (_, range: string, colon?: string, step?: string) =>
          `[${scale(range)}${
            colon === undefined ? "" : `:${step === undefined ? "" : scale(step)}`
          }]`,
      )
      .replace(new RegExp(`\\boffset\\s+(${d})`, "g"), (_, value) => `offset ${scale(value)}`);
  }).join("\n");
}

/** The rule files `deploy/prometheus/prometheus.yml` loads, as paths in the repository. */
export function shippedRuleFiles(): string[] {
  const config = Deno.readTextFileSync(`${repoDir}deploy/prometheus/prometheus.yml`);
  const block = config.match(/^rule_files:\n((?:\s+-\s+.+\n?)+)/m)?.[1] ?? "";
  return [...block.matchAll(/-\s+"?([^"\s]+)"?/g)].map((m) => `deploy/prometheus/${m[1]}`);
}

// ---------------------------------------------------------------------------------------
// Child processes that are not udpeer

/** A program of the fleet that prints one JSON object a line. */
class JsonChild {
  readonly child: Deno.ChildProcess;
  readonly lines: JsonEvent[] = [];
  stderr = "";
  readonly #done: Promise<void>;

  constructor(command: string[]) {
    const child = this.child = new Deno.Command(command[0]!, {
      args: command.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stdout = (async () => {
      let pending = "";
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        pending += chunk;
        const parts = pending.split("\n");
        pending = parts.pop()!;
        for (const part of parts) {
          try {
            this.lines.push(JSON.parse(part));
          } catch {
            this.lines.push({ text: part });
          }
        }
      }
    })();
    const stderr = (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        this.stderr += chunk;
      }
    })();
    this.#done = Promise.all([stdout, stderr]).then(() => {});
  }

  async stop(): Promise<void> {
    signalChild(this.child, "SIGTERM");
    const cancel = killAfter(this.child, 5_000);
    await this.child.status;
    cancel();
    await this.#done;
  }
}

/** Polls `probe` until it returns a value other than `undefined`, at most `timeoutMs`. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 15_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
      last = undefined;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

// ---------------------------------------------------------------------------------------
// The fleet

/** A udpeer of the fleet. */
export interface PeerSpec {
  /** Its name, in the shared peers file. */
  name: string;
  /** Its wall clock runs 5 s ahead (clock_ahead.ts). */
  clockAhead?: boolean;
  /** More `--to` targets, beside the peers file. */
  extraTo?: string[];
}

/** What the fleet is made of. */
export interface FleetSpec {
  /** The peers, each in every other's peers file. */
  peers: PeerSpec[];
  /**
   * A udpeer `lossy` outside the peers file that sends only to a relay (host `relay`),
   * which forwards to `observer` dropping one in `dropEvery`; `observer`'s peers file has
   * the relay as one more line, named `lossy`, so the lossy stream is a named target.
   */
  lossy?: { observer: string; dropEvery: number; forgeEvery?: number };
  /** A foreign sender (host `burst`, not udpeer) sending to `to`; see fleet_agent.ts. */
  burst?: {
    to: string;
    before: number;
    pauseSlots: number;
    after: number;
    extraBurstAfter?: number;
  };
  /** Start Alertmanager too, with deploy/alertmanager/alertmanager.yml. */
  alertmanager?: boolean;
}

/** One host of the fleet. */
export interface FleetHost {
  /** Its name. */
  readonly name: string;
  /** Its address on the bridge. */
  readonly address: string;
  /** Its namespace. */
  readonly netns: Netns;
}

/** A udpeer host of the fleet, with its current process and the ones before. */
export interface PeerHost extends FleetHost {
  /** The spec it was started from. */
  readonly spec: PeerSpec;
  /** Its arguments. */
  args: string[];
  /** The process running now (the last one started). */
  process: UdpeerProcess;
  /** Every process it ran, oldest first. */
  readonly processes: UdpeerProcess[];
}

/** A JSON event with when the harness read it (`Date.now()` ms). */
export type TimedEvent = JsonEvent & { at: number };

/** An alert as Prometheus's `GET /api/v1/alerts` shows it. */
export interface PromAlert {
  /** Its labels, `alertname` included. */
  labels: Record<string, string>;
  /** `pending` or `firing`. */
  state: string;
  /** Since when. */
  activeAt: string;
  /** The value of the expression. */
  value: string;
}

/** An alert as Alertmanager's `GET /api/v2/alerts` shows it. */
export interface AmAlert {
  /** Its labels. */
  labels: Record<string, string>;
  /** `active`, `suppressed` or `unprocessed`, and by what it is suppressed. */
  status: { state: string; inhibitedBy: string[]; silencedBy: string[] };
}

/** A fleet: make it with {@linkcode Fleet.create}, dispose of it (`await using`) to end it. */
export class Fleet implements AsyncDisposable {
  /** The namespace of the bridge, Prometheus and Alertmanager. */
  readonly hub: Netns;
  /** Every host by name: peers, `relay`, `lossy`, `burst`. */
  readonly hosts = new Map<string, FleetHost>();
  /** The udpeer hosts of the peers file, by name. */
  readonly peers = new Map<string, PeerHost>();
  /** The shared peers file. */
  readonly peersFile: string;
  /** When the peers sent their first heartbeat (`--start-at`), Unix ms. */
  startAtMs = 0;
  /** Whether the peers know `--name` and find themselves in the peers file. */
  readonly namesItself: boolean;
  /** The relay agent, if any: one line per datagram. */
  relay?: JsonChild;
  /** The burst agent, if any: one line per heartbeat. */
  burst?: JsonChild;
  /** Whether Alertmanager runs. */
  alertmanager = false;
  /** The rule files Prometheus loaded (scaled copies of the shipped ones). */
  readonly ruleFiles: string[] = [];
  readonly #dir: string;
  readonly #netns: Netns[] = [];
  readonly #servers: JsonChild[] = [];
  readonly #eventCache = new WeakMap<UdpeerProcess, { lines: number; events: TimedEvent[] }>();
  readonly #unload = () => this.disposeSync();

  private constructor(hub: Netns, dir: string, namesItself: boolean) {
    this.hub = hub;
    this.#dir = dir;
    this.peersFile = `${dir}/peers.txt`;
    this.namesItself = namesItself;
    this.#netns.push(hub);
    globalThis.addEventListener("unload", this.#unload);
  }

  /**
   * Makes the namespaces, starts Prometheus (and Alertmanager), then every peer with one
   * `--start-at`, and waits until each hears all the others.
   *
   * @param spec What the fleet is made of.
   * @returns The fleet, every peer up.
   */
  static async create(spec: FleetSpec): Promise<Fleet> {
    const help = await run([Deno.execPath(), "run", "-A", `${repoDir}main.ts`, "--help"]);
    const dir = await Deno.makeTempDir({ prefix: "udpeer-fleet-" });
    let fleet: Fleet | undefined;
    try {
      const hub = await Netns.create("hub", FLEET_PREFIX);
      fleet = new Fleet(hub, dir, /--name\b/.test(help.stdout));
      await fleet.#build(spec);
      return fleet;
    } catch (error) {
      if (fleet) await fleet[Symbol.asyncDispose]();
      else await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw error;
    }
  }

  async #addHost(name: string): Promise<FleetHost> {
    const netns = await Netns.create(name, FLEET_PREFIX);
    this.#netns.push(netns);
    const host = { name, address: `${SUBNET}.${this.hosts.size + 1}`, netns };
    this.hosts.set(name, host);
    return host;
  }

  async #build(spec: FleetSpec): Promise<void> {
    const bridge = await makeBridge(this.hub, `${SUBNET}.254/24`);
    const hosts = [
      ...spec.peers.map((p) => p.name),
      ...spec.lossy ? ["relay", "lossy"] : [],
      ...spec.burst ? ["burst"] : [],
    ];
    for (const name of hosts) {
      const host = await this.#addHost(name);
      await attach(this.hub, bridge, host.netns, `${host.address}/24`);
    }
    await Deno.writeTextFile(
      this.peersFile,
      spec.peers.map((p) => `${this.hosts.get(p.name)!.address}:${PEER_PORT} ${p.name}\n`).join(""),
    );
    await this.#startServers(spec);

    // Every peer starts sending at one time, so that none is reported silent because
    // another was not running yet.
    this.startAtMs = Date.now() + 5_000;
    for (const p of spec.peers) {
      const host = this.hosts.get(p.name)!;
      // One other peer also as --to (the same target: the merge keeps the file's name),
      // because udpeer refuses --start-at when only a peers file names targets.
      const other = spec.peers.find((q) => q !== p)!;
      const extra = [`${this.hosts.get(other.name)!.address}:${PEER_PORT}`, ...p.extraTo ?? []];
      let peersFile = this.peersFile;
      const relay = p.name === spec.lossy?.observer
        ? `${this.hosts.get("relay")!.address}:${PEER_PORT} lossy\n`
        : "";
      if (!this.namesItself || relay !== "") {
        // A udpeer that does not find itself in the file would send to itself; the lossy
        // observer has the relay as one more line, named `lossy`.
        peersFile = `${this.#dir}/peers-${p.name}.txt`;
        await Deno.writeTextFile(
          peersFile,
          spec.peers.filter((q) => this.namesItself || q !== p).map((q) =>
            `${this.hosts.get(q.name)!.address}:${PEER_PORT} ${q.name}\n`
          ).join("") + relay,
        );
      }
      const args = [
        "--port",
        `${PEER_PORT}`,
        "--peers",
        peersFile,
        "--metrics",
        `0.0.0.0:${METRICS_PORT}`,
        "--interval",
        `${INTERVAL_MS / 1_000}`,
        "--json",
        "--quiet",
        ...this.namesItself ? ["--name", p.name] : [],
        ...extra.flatMap((to) => ["--to", to]),
      ];
      const peer: PeerHost = {
        ...host,
        spec: p,
        args,
        process: undefined as unknown as UdpeerProcess,
        processes: [],
      };
      this.peers.set(p.name, peer);
      this.#launch(peer, this.startAtMs);
    }
    if (spec.lossy) {
      const relay = this.hosts.get("relay")!;
      const lossy = this.hosts.get("lossy")!;
      const observer = this.hosts.get(spec.lossy.observer)!;
      this.relay = this.#agent(relay, "relay", {
        listen: { hostname: relay.address, port: PEER_PORT },
        target: { hostname: observer.address, port: PEER_PORT },
        returnTo: { hostname: lossy.address, port: PEER_PORT },
        dropEvery: spec.lossy.dropEvery,
        ...(spec.lossy.forgeEvery === undefined ? {} : { forgeEvery: spec.lossy.forgeEvery }),
      });
      const peer: PeerHost = {
        ...lossy,
        spec: { name: "lossy" },
        args: [
          "--port",
          `${PEER_PORT}`,
          "--to",
          `${relay.address}:${PEER_PORT}`,
          "--interval",
          `${INTERVAL_MS / 1_000}`,
          "--json",
          "--quiet",
        ],
        process: undefined as unknown as UdpeerProcess,
        processes: [],
      };
      this.#launch(peer, this.startAtMs);
      this.hosts.set("lossy", peer);
      this.#lossy = peer;
    }
    if (spec.burst) {
      const burst = this.hosts.get("burst")!;
      this.burst = this.#agent(burst, "burst", {
        listen: { hostname: burst.address, port: PEER_PORT },
        to: { hostname: this.hosts.get(spec.burst.to)!.address, port: PEER_PORT },
        intervalMs: INTERVAL_MS,
        // A second after the peers, once the start's load has passed.
        startAtMs: this.startAtMs + 1_000,
        before: spec.burst.before,
        pauseSlots: spec.burst.pauseSlots,
        after: spec.burst.after,
        ...(spec.burst.extraBurstAfter === undefined
          ? {}
          : { extraBurstAfter: spec.burst.extraBurstAfter }),
      });
    }
    for (const peer of [...this.peers.values(), ...this.#lossy ? [this.#lossy] : []]) {
      // A peer that exits (a usage error, a module missing) fails the start at once.
      let exited: Deno.CommandStatus | undefined;
      peer.process.child.status.then((status) => exited = status, () => {});
      await peer.process.waitUntil(
        () => {
          if (exited) {
            throw new Error(`${peer.name} exited ${exited.code}: ${peer.process.stderr}`);
          }
          return this.events(peer.name).some((e) => e.event === "listening");
        },
        30_000,
        `${peer.name} to listen`,
      );
      if (Date.now() > this.startAtMs) {
        throw new Error(`The fleet took too long to start: ${peer.name} listened after --start-at`);
      }
    }
    for (const agent of [this.relay, this.burst]) {
      if (agent) await eventually("the agents to listen", () => agent.lines[0]?.ready, 30_000);
    }
    // Up: every peer hears every target.
    for (const peer of this.peers.values()) {
      await eventually(`${peer.name} to hear all its targets`, async () => {
        const up = (await this.scrape(peer.name)).all("udpeer_peer_up")
          .filter((s) => s.labels.target !== undefined);
        return up.length > 0 && up.every((s) => s.value === 1) ? true : undefined;
      }, 20_000);
    }
    await this.#prometheusReady();
  }

  #lossy?: PeerHost;

  #launch(peer: PeerHost, startAtMs?: number): void {
    const startAt = startAtMs === undefined
      ? []
      : ["--start-at", new Date(startAtMs + (peer.spec.clockAhead ? 5_000 : 0)).toISOString()];
    peer.process = startUdpeer([...peer.args, ...startAt], {
      prefix: peer.netns.exec,
      ...peer.spec.clockAhead ? { denoFlags: ["--preload", ahead] } : {},
    });
    peer.processes.push(peer.process);
  }

  #agent(host: FleetHost, role: string, args: unknown): JsonChild {
    const agent = new JsonChild([
      ...host.netns.exec,
      Deno.execPath(),
      "run",
      "--quiet",
      `--config=${repoDir}deno.json`,
      "--allow-net",
      agentPath,
      role,
      JSON.stringify(args),
    ]);
    this.#servers.push(agent);
    return agent;
  }

  async #startServers(spec: FleetSpec): Promise<void> {
    const rules = shippedRuleFiles();
    for (const [i, file] of rules.entries()) {
      const scaled = `${this.#dir}/rules-${i}.yml`;
      await Deno.writeTextFile(
        scaled,
        scaleDurations(await Deno.readTextFile(`${repoDir}${file}`), RULE_SCALE),
      );
      this.ruleFiles.push(scaled);
    }
    const targets = [...spec.peers].map((p) =>
      `"${this.hosts.get(p.name)!.address}:${METRICS_PORT}"`
    );
    const amCommand = spec.alertmanager ? await alertmanagerCommand() : undefined;
    await Deno.writeTextFile(
      `${this.#dir}/prometheus.yml`,
      [
        "global:",
        "  scrape_interval: 1s",
        "  scrape_timeout: 900ms",
        "  evaluation_interval: 1s",
        "rule_files:",
        ...this.ruleFiles.map((f) => `  - ${f}`),
        ...amCommand
          ? [
            "alerting:",
            "  alertmanagers:",
            "    - static_configs:",
            `        - targets: ["${ALERTMANAGER}"]`,
          ]
          : [],
        "scrape_configs:",
        "  - job_name: udpeer",
        "    static_configs:",
        `      - targets: [${targets.join(", ")}]`,
        "",
      ].join("\n"),
    );
    if (amCommand) {
      const config = `${repoDir}deploy/alertmanager/alertmanager.yml`;
      this.#servers.push(
        new JsonChild([
          ...this.hub.exec,
          amCommand,
          `--config.file=${config}`,
          `--storage.path=${this.#dir}/alertmanager`,
          `--web.listen-address=${ALERTMANAGER}`,
          "--cluster.listen-address=",
          "--log.level=warn",
        ]),
      );
      this.alertmanager = true;
    }
    this.#servers.push(
      new JsonChild([
        ...this.hub.exec,
        "prometheus",
        `--config.file=${this.#dir}/prometheus.yml`,
        `--storage.tsdb.path=${this.#dir}/prometheus`,
        `--web.listen-address=${PROMETHEUS}`,
        "--rules.alert.resend-delay=1s",
        "--log.level=warn",
      ]),
    );
  }

  /**
   * A GET from inside the hub (curl), which reaches every host and the servers.
   *
   * @param url The URL.
   * @param timeoutMs Upper bound.
   * @returns The body.
   */
  async get(url: string, timeoutMs = 3_000): Promise<string> {
    const result = await run(
      [...this.hub.exec, "curl", "-sS", "--fail", "--max-time", `${timeoutMs / 1_000}`, url],
      timeoutMs + 5_000,
    );
    if (result.code !== 0) throw new Error(`GET ${url}: ${result.stderr.trim()}`);
    return result.stdout;
  }

  /**
   * Scrapes a host's `/metrics`.
   *
   * @param name The host.
   * @returns The parsed scrape.
   */
  async scrape(name: string): Promise<Scrape> {
    return new Scrape(await this.get(`http://${this.host(name).address}:${METRICS_PORT}/metrics`));
  }

  /**
   * An instant query to Prometheus.
   *
   * @param promql The expression.
   * @returns Each series' labels and value.
   */
  async query(promql: string): Promise<{ metric: Record<string, string>; value: number }[]> {
    return querySamples(
      promql,
      JSON.parse(
        await this.get(`http://${PROMETHEUS}/api/v1/query?query=${encodeURIComponent(promql)}`),
      ),
    );
  }

  /** @returns Prometheus's alerts now, pending and firing. */
  async alerts(): Promise<PromAlert[]> {
    return JSON.parse(await this.get(`http://${PROMETHEUS}/api/v1/alerts`)).data.alerts;
  }

  /** @returns Alertmanager's alerts now (`GET /api/v2/alerts`). */
  async amAlerts(): Promise<AmAlert[]> {
    return JSON.parse(await this.get(`http://${ALERTMANAGER}/api/v2/alerts`));
  }

  /** Waits until Prometheus is ready and has scraped every peer. */
  async #prometheusReady(): Promise<void> {
    await eventually(
      "Prometheus to be ready",
      async () => {
        await this.get(`http://${PROMETHEUS}/-/ready`);
        return true;
      },
      30_000,
      250,
    );
    await eventually(
      "Prometheus to scrape every peer",
      async () => {
        const up = await this.query('up{job="udpeer"}');
        return up.length === this.peers.size && up.every((r) => r.value === 1) ? true : undefined;
      },
      30_000,
      250,
    );
  }

  /**
   * A host by name.
   *
   * @param name Its name.
   * @returns The host.
   */
  host(name: string): FleetHost {
    const host = this.hosts.get(name);
    if (host === undefined) throw new Error(`No host ${name} in the fleet`);
    return host;
  }

  /**
   * A udpeer host by name (a peer, or `lossy`).
   *
   * @param name Its name.
   * @returns The host.
   */
  peer(name: string): PeerHost {
    const peer = this.peers.get(name) ?? (name === "lossy" ? this.#lossy : undefined);
    if (peer === undefined) throw new Error(`No peer ${name} in the fleet`);
    return peer;
  }

  /**
   * The JSON events of a udpeer process, with when each was read.
   *
   * @param name The host.
   * @param process Which of its processes; the current one by default.
   * @returns The events so far.
   */
  events(name: string, process: UdpeerProcess = this.peer(name).process): TimedEvent[] {
    let cache = this.#eventCache.get(process);
    if (cache === undefined) this.#eventCache.set(process, cache = { lines: 0, events: [] });
    for (; cache.lines < process.lines.length; cache.lines++) {
      try {
        const event = JSON.parse(process.lines[cache.lines]!);
        cache.events.push({ ...event, at: process.arrivals[cache.lines] ?? Date.now() });
      } catch { /* not JSON */ }
    }
    return cache.events;
  }

  /**
   * Waits for an event of a host's current process.
   *
   * @param name The host.
   * @param predicate Which event.
   * @param timeoutMs Upper bound.
   * @param what For the failure message.
   * @returns The first event that matches.
   */
  async waitForEvent(
    name: string,
    predicate: (event: TimedEvent) => boolean,
    timeoutMs = 10_000,
    what = "an event",
  ): Promise<TimedEvent> {
    const process = this.peer(name).process;
    let found: TimedEvent | undefined;
    await process.waitUntil(
      () => (found = this.events(name, process).find(predicate)) !== undefined,
      timeoutMs,
      `${name}: ${what}`,
    );
    return found!;
  }

  /**
   * SIGQUIT: the summary so far, the peer running on.
   *
   * @param name The host.
   * @returns The new `summary` event.
   */
  async interim(name: string): Promise<TimedEvent> {
    const before = this.events(name).filter((e) => e.event === "summary").length;
    this.peer(name).process.kill("SIGQUIT");
    let summary: TimedEvent | undefined;
    await this.peer(name).process.waitUntil(
      () =>
        (summary = this.events(name).filter((e) => e.event === "summary")[before]) !== undefined,
      10_000,
      `${name}'s interim summary`,
    );
    return summary!;
  }

  /**
   * SIGSTOP, then SIGCONT `ms` later.
   *
   * @param name The host.
   * @param ms How long, on the harness's clock.
   * @param during Run while it is frozen (its time counts in the freeze).
   * @returns When it was stopped and continued, `Date.now()` ms, and `ms` as it was.
   */
  async freezeFor(
    name: string,
    ms: number,
    during?: () => Promise<void>,
  ): Promise<{ stoppedAt: number; continuedAt: number; frozenMs: number }> {
    const child = this.peer(name).process.child;
    const stoppedAt = Date.now();
    child.kill("SIGSTOP");
    try {
      await during?.();
      await new Promise((resolve) => setTimeout(resolve, stoppedAt + ms - Date.now()));
    } finally {
      signalChild(child, "SIGCONT");
    }
    const continuedAt = Date.now();
    return { stoppedAt, continuedAt, frozenMs: continuedAt - stoppedAt };
  }

  /**
   * SIGTERM, and waits for the exit.
   *
   * @param name The host.
   * @returns When it was signalled, and its final summary.
   */
  async stop(name: string): Promise<{ stoppedAt: number; summary: TimedEvent | undefined }> {
    const process = this.peer(name).process;
    const stoppedAt = Date.now();
    process.kill("SIGTERM");
    const status = await process.exited(10_000);
    if (status.code !== 0) throw new Error(`${name} exited ${status.code}: ${process.stderr}`);
    return {
      stoppedAt,
      summary: this.events(name, process).findLast((e) => e.event === "summary"),
    };
  }

  /**
   * Starts a host's udpeer again, with the same arguments, sending at once.
   *
   * @param name The host.
   * @returns Its `listening` event.
   */
  async start(name: string): Promise<TimedEvent> {
    this.#launch(this.peer(name));
    return await this.waitForEvent(name, (e) => e.event === "listening", 30_000, "listening");
  }

  /**
   * Drops what `from` sends to `to`'s heartbeat port, in `from`'s namespace (nftables).
   *
   * @param from The sending host.
   * @param to The host that no longer hears it.
   * @returns A function that lifts the cut and says how many datagrams it dropped.
   */
  async cut(from: string, to: string): Promise<() => Promise<number>> {
    return await this.host(from).netns.cutTo(this.host(to).address, PEER_PORT);
  }

  /** Kills everything and deletes the namespaces without waiting: the `unload` backstop. */
  disposeSync(): void {
    for (const peer of [...this.peers.values(), ...this.#lossy ? [this.#lossy] : []]) {
      for (const process of peer.processes) signalChild(process.child, "SIGKILL");
    }
    for (const server of this.#servers) signalChild(server.child, "SIGKILL");
    for (const netns of this.#netns) netns.disposeSync();
    try {
      Deno.removeSync(this.#dir, { recursive: true });
    } catch { /* gone */ }
  }

  /** Stops every process, deletes the namespaces and the temporary folder. */
  async [Symbol.asyncDispose](): Promise<void> {
    globalThis.removeEventListener("unload", this.#unload);
    const peers = [...this.peers.values(), ...this.#lossy ? [this.#lossy] : []];
    await Promise.all(
      peers.flatMap((peer) => peer.processes).map((p) => {
        signalChild(p.child, "SIGCONT");
        return p[Symbol.asyncDispose]();
      }),
    );
    await Promise.all(this.#servers.map((s) => s.stop()));
    for (const netns of this.#netns.toReversed()) await netns[Symbol.asyncDispose]();
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}
