/**
 * One peers file for the whole fleet (see docs/many-hosts.md "One file for the whole
 * fleet"): the same file is copied to every host, and each peer finds itself in it. A line
 * whose `HOST:PORT` is this peer's own is this peer: it is no target, and its NAME is this
 * peer's name (unless `--name` says otherwise). Own means: the port it listens on, and the
 * address it is bound to when it is bound to one, else an address listed on one of its
 * interfaces (or any of 127.0.0.0/8, which the kernel delivers to any socket bound to all
 * addresses).
 *
 * The choice is a pure function, {@linkcode findSelf}; {@linkcode splitFleet} is its I/O
 * edge (names resolved, interfaces listed), and {@linkcode peerIdentity} says what the
 * metrics' `udpeer_info{name,address}` shows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findSelf } from "./fleet.ts";
 * const entries = [
 *   { host: "10.0.0.1", port: 5005, name: "a" },
 *   { host: "10.0.0.2", port: 5005, name: "b" },
 *   { host: "10.0.0.3", port: 5005, name: "c" },
 * ];
 * // On host b (10.0.0.2), listening on 5005 on all addresses:
 * const { self, targets } = findSelf(entries, {
 *   port: 5005,
 *   bind: "0.0.0.0",
 *   interfaceAddresses: ["127.0.0.1", "10.0.0.2"],
 * });
 * assert.equal(self?.name, "b");
 * assert.deepEqual(targets.map((t) => t.name), ["a", "c"]);
 * ```
 *
 * @module
 */

import { parseIpv4 } from "../../protocol.ts";
import { canonicalIpv6, familyOf, joinHostPort } from "../common/endpoint.ts";
import { UsageError } from "../common/errors.ts";
import { escapeForTerminal } from "../common/escape.ts";
import { resolveAddress } from "../common/net.ts";
import { MAX_NAME_LENGTH } from "./peers_file.ts";

/** A line of a peers file, as far as finding oneself goes. */
export interface FleetEntry {
  /** HOST as written: an IPv4 address, an IPv6 address (canonical form) or a name. */
  host: string;
  /** PORT. */
  port: number;
  /** NAME, if the line has one. */
  name?: string | undefined;
  /** The resolved address of a HOST that is a name, when it is known. */
  address?: string | undefined;
}

/** What makes a `HOST:PORT` this peer's own. */
export interface OwnAddress {
  /** The port it listens on (as asked: `--port 0` matches no line). */
  port: number;
  /** The address it is bound to; `0.0.0.0` or `::` for all. */
  bind: string;
  /** The addresses listed on its interfaces, IPv4 and IPv6 (looked at only when bound to all). */
  interfaceAddresses: readonly string[];
}

/** A peers file split into this peer's own line and its targets. */
export interface FleetSplit<E> {
  /** This peer's own line, if the file has one. */
  self?: E;
  /** Every other line, in file order. */
  targets: E[];
}

/** Whether a bind takes every address: 0.0.0.0, or :: (IPv6, and IPv4 where dual-stack). */
function isAllAddresses(bind: string): boolean {
  return bind === "0.0.0.0" || bind === "::";
}

/** Whether an address is in 127.0.0.0/8, or is ::1. */
function isLoopback(address: string): boolean {
  const value = parseIpv4(address);
  return value === undefined ? address === "::1" : value >>> 24 === 127;
}

/**
 * Whether a line is this peer: its port is the listening port, and its address (HOST, or
 * the name's resolved address) is the bound address, or with all addresses bound, one on
 * an interface or any loopback address.
 *
 * @param entry A line of the peers file.
 * @param own This peer's port and addresses.
 * @returns True if the line is this peer's own.
 */
export function isSelf(entry: FleetEntry, own: OwnAddress): boolean {
  if (entry.port !== own.port || own.port === 0) return false;
  const address = familyOf(entry.host) !== undefined ? entry.host : entry.address;
  if (address === undefined) return false;
  if (!isAllAddresses(own.bind)) return address === own.bind;
  return isLoopback(address) || own.interfaceAddresses.includes(address);
}

/**
 * Finds this peer's own line in a peers file shared by the whole fleet. The first line
 * that is this peer's own is taken; any other such line stays a target (two lines cannot
 * both be this peer, and sending to oneself is what a `--to` of oneself does anyway).
 *
 * @param entries The lines, in file order.
 * @param own This peer's port and addresses.
 * @returns Its own line, if any, and the targets: every other line, in order.
 */
export function findSelf<E extends FleetEntry>(
  entries: readonly E[],
  own: OwnAddress,
): FleetSplit<E> {
  const index = entries.findIndex((entry) => isSelf(entry, own));
  if (index < 0) return { targets: [...entries] };
  return { self: entries[index]!, targets: entries.filter((_, i) => i !== index) };
}

/**
 * The IPv4 and IPv6 addresses on this host's interfaces (IPv6 in canonical form), if Deno
 * may list them
 * (`--allow-sys=networkInterfaces`, asked without a prompt); none otherwise.
 *
 * @returns The addresses.
 */
export function readInterfaceAddresses(): string[] {
  const permission = Deno.permissions.querySync({ name: "sys", kind: "networkInterfaces" });
  if (permission.state !== "granted") return [];
  try {
    return Deno.networkInterfaces().map((iface) =>
      iface.family === "IPv6" ? canonicalIpv6(iface.address) ?? iface.address : iface.address
    );
  } catch {
    return [];
  }
}

/**
 * This host's name, if Deno may read it (`--allow-sys=hostname`, asked without a prompt).
 *
 * @returns The host name, or undefined.
 */
export function readHostname(): string | undefined {
  const permission = Deno.permissions.querySync({ name: "sys", kind: "hostname" });
  if (permission.state !== "granted") return undefined;
  try {
    return Deno.hostname() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The I/O edge of {@linkcode findSelf}: lists the interfaces and resolves names, but only
 * for the lines that could be this peer (its port), so a file without such a line costs
 * nothing. A name that does not resolve is not this peer; as a target it is reported the
 * usual way.
 *
 * @param entries The peers file's lines.
 * @param options The peer's `port`, `bind`, and `ipv6` (`-6`: names resolve to IPv6 first).
 * @param interfaces Lists the interfaces' addresses (for tests).
 * @returns Its own line (with `address`, the resolved HOST), if any, and the targets.
 */
export async function splitFleet<E extends FleetEntry>(
  entries: readonly E[],
  options: { port: number; bind: string; ipv6?: boolean },
  interfaces: () => string[] = readInterfaceAddresses,
): Promise<FleetSplit<E & { address?: string | undefined }>> {
  const candidates = entries.filter((entry) => entry.port === options.port && options.port !== 0);
  if (candidates.length === 0) return { targets: [...entries] };
  const resolved = new Map<E, string>();
  await Promise.all(candidates.map(async (entry) => {
    if (familyOf(entry.host) !== undefined) return;
    try {
      resolved.set(entry, await resolveAddress(entry.host, options.ipv6 ? "ipv6" : "ipv4"));
    } catch {
      // Not resolvable now: not this peer.
    }
  }));
  const own: OwnAddress = {
    port: options.port,
    bind: options.bind,
    interfaceAddresses: isAllAddresses(options.bind) ? interfaces() : [],
  };
  const index = entries.findIndex((entry) =>
    isSelf({ host: entry.host, port: entry.port, address: resolved.get(entry) }, own)
  );
  if (index < 0) return { targets: [...entries] };
  const self = entries[index]!;
  const address = resolved.get(self);
  return {
    self: address === undefined ? self : { ...self, address },
    targets: entries.filter((_, i) => i !== index),
  };
}

/** What `udpeer_info` says of this peer. */
export interface PeerIdentity {
  /** Its name: `--name`, else its own line's NAME, else the host name, else `address`. */
  name: string;
  /** The `IP:PORT` the others see as its `source`. */
  address: string;
}

/**
 * Who this peer is, for `udpeer_info{name,address}` and the `listening` event. `address` is
 * its own line's `HOST:PORT` (HOST resolved) when the peers file has one, else the
 * advertised address and the listening port: what the others see as its `source`.
 *
 * @param input `--name`, its own line, the host name, what it advertises and its port.
 * @returns Its name and address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { peerIdentity } from "./fleet.ts";
 * const self = { host: "10.0.0.2", port: 5005, name: "b" };
 * assert.deepEqual(
 *   peerIdentity({ self, hostname: "host-b", advertise: "10.0.0.2", port: 5005 }),
 *   { name: "b", address: "10.0.0.2:5005" },
 * );
 * assert.deepEqual(
 *   peerIdentity({ name: "web-2", hostname: "host-b", advertise: "10.0.0.2", port: 5005 }),
 *   { name: "web-2", address: "10.0.0.2:5005" },
 * );
 * ```
 */
export function peerIdentity(input: {
  name?: string | undefined;
  self?: FleetEntry | undefined;
  hostname?: string | undefined;
  advertise: string;
  port: number;
}): PeerIdentity {
  const { self } = input;
  const address = self === undefined ? joinHostPort(input.advertise, input.port) : joinHostPort(
    familyOf(self.host) !== undefined ? self.host : self.address ?? self.host,
    self.port,
  );
  return { name: input.name ?? self?.name ?? input.hostname ?? address, address };
}

// The same rule as a peers file's NAME (peers_file.ts): the name is a label value and is
// compared with the names in the other peers' files.
const NAME = /^[\p{L}\p{N}._@\/+-]+$/u;

/**
 * Checks `--name NAME`: the rule of a peers file's NAME.
 *
 * @param value The flag's value.
 * @returns The name.
 * @throws {UsageError} If it is empty, too long or has other characters.
 */
export function parseNameFlag(value: string): string {
  if (!NAME.test(value)) {
    throw new UsageError(
      `Cannot use --name "${escapeForTerminal(value)}": use letters, digits and . _ - @ / + only`,
    );
  }
  if (value.length > MAX_NAME_LENGTH) {
    throw new UsageError(
      `Cannot use --name "${value}": it is longer than ${MAX_NAME_LENGTH} characters`,
    );
  }
  return value;
}
