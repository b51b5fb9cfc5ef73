/**
 * Choosing the IPv4 address a heartbeat advertises to each target (see README "The heartbeat peer" `--advertise`):
 * the one the target can reach us at, so a host on two networks tells each target its
 * address on that target's network. The header has room for IPv4 only: a heartbeat sent
 * over IPv6 advertises `0.0.0.0`, and its receiver takes the UDP source as the sender's
 * address (see protocol.ts).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { chooseAdvertisedAddress } from "./advertise.ts";
 * const interfaces = [
 *   { family: "IPv4" as const, address: "127.0.0.1", netmask: "255.0.0.0" },
 *   { family: "IPv4" as const, address: "10.0.0.5", netmask: "255.255.255.0" },
 *   { family: "IPv4" as const, address: "192.168.7.2", netmask: "255.255.255.0" },
 * ];
 * const address = chooseAdvertisedAddress({ bind: "0.0.0.0", target: "192.168.7.40", interfaces });
 * assert.ok(address === "192.168.7.2");
 * ```
 *
 * @module
 */

import { NO_IPV4_ADDRESS, parseIpv4 } from "../../protocol.ts";
import { joinHostPortMemo } from "../common/endpoint.ts";

/** The part of `Deno.NetworkInterfaceInfo` the choice needs. */
export interface InterfaceAddress {
  /** `IPv4` or `IPv6`; only IPv4 is used. */
  family: "IPv4" | "IPv6";
  /** The interface's address. */
  address: string;
  /** Its netmask, dotted quad. */
  netmask: string;
}

/** What the choice depends on. */
export interface AdvertiseInput {
  /** The `--advertise` value, if given: it wins. */
  advertise?: string | undefined;
  /**
   * The bound address; a specific IPv4 one is advertised as it is; `0.0.0.0` and `::` bind
   * every address.
   */
  bind: string;
  /** The target's address, IPv4 or IPv6, or undefined when there is no target. */
  target?: string | undefined;
  /** The machine's interface addresses, or undefined when they could not be read. */
  interfaces?: readonly InterfaceAddress[] | undefined;
}

/**
 * True for an address in 127.0.0.0/8.
 *
 * @param ipv4 Dotted quad.
 * @returns Whether it is a loopback address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isLoopback } from "./advertise.ts";
 * assert.ok(isLoopback("127.0.0.3") && !isLoopback("10.0.0.1"));
 * ```
 */
export function isLoopback(ipv4: string): boolean {
  return ((parseIpv4(ipv4) ?? 0) >>> 24) === 127;
}

/**
 * Whether choosing for this input needs the interface list, so it is read only then.
 *
 * @param input As for {@linkcode chooseAdvertisedAddress}, without `interfaces`.
 * @returns True unless `--advertise`, a specific bind or a loopback target decides alone.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { needsInterfaces } from "./advertise.ts";
 * assert.ok(!needsInterfaces({ bind: "0.0.0.0", target: "127.0.0.1" }));
 * ```
 */
export function needsInterfaces(input: AdvertiseInput): boolean {
  return input.advertise === undefined && isUnspecified(input.bind) &&
    !(input.target !== undefined && (isLoopback(input.target) || isIpv6(input.target)));
}

/** True for a bind of every address, IPv4 or IPv6. */
function isUnspecified(bind: string): boolean {
  return bind === "0.0.0.0" || bind === "::";
}

/** True for an IPv6 address (an IPv4 address or a name has no colon). */
function isIpv6(address: string): boolean {
  return address.includes(":");
}

/**
 * Chooses the address to advertise: `--advertise` if given; `0.0.0.0` to an IPv6 target, or
 * from a socket bound to a specific IPv6 address (the header holds IPv4 only: the receiver
 * then takes the UDP source); the bound address if it is a specific IPv4 one; `127.0.0.1`
 * for a loopback target; otherwise the interface address on the target's subnet, else the
 * first non-loopback IPv4, else `127.0.0.1`.
 *
 * @param input The flags, the target and the interface list.
 * @returns A dotted-quad IPv4 address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { chooseAdvertisedAddress } from "./advertise.ts";
 * assert.ok(chooseAdvertisedAddress({ bind: "127.0.0.2", target: "10.0.0.9" }) === "127.0.0.2");
 * assert.ok(chooseAdvertisedAddress({ bind: "::", target: "::1" }) === "0.0.0.0");
 * ```
 */
export function chooseAdvertisedAddress(input: AdvertiseInput): string {
  if (input.advertise !== undefined) return input.advertise;
  if (input.target !== undefined && isIpv6(input.target)) return NO_IPV4_ADDRESS;
  if (!isUnspecified(input.bind)) return isIpv6(input.bind) ? NO_IPV4_ADDRESS : input.bind;
  if (input.target !== undefined && isLoopback(input.target)) return "127.0.0.1";
  const candidates = (input.interfaces ?? []).filter((entry) =>
    entry.family === "IPv4" && !isLoopback(entry.address) && parseIpv4(entry.address) !== undefined
  );
  const target = input.target === undefined ? undefined : parseIpv4(input.target);
  if (target !== undefined) {
    const sameSubnet = candidates.find((entry) => {
      const address = parseIpv4(entry.address)!;
      const mask = parseIpv4(entry.netmask) ?? 0;
      return ((address & mask) >>> 0) === ((target & mask) >>> 0);
    });
    if (sameSubnet !== undefined) return sameSubnet.address;
  }
  return candidates[0]?.address ?? "127.0.0.1";
}

// Called for every heartbeat printed: a stream repeats its header address.
const joinAdvertised = joinHostPortMemo();

/**
 * What a received header advertises, as `ADDR:PORT`: its IPv4 address and port, or, when
 * the address is 0.0.0.0 (what a sender on IPv6 writes), the UDP source address with the
 * header's port (`[IPV6]:PORT`).
 *
 * @param ipv4 The header's address.
 * @param port The header's port.
 * @param source The UDP source address the datagram came from.
 * @returns The advertised endpoint as text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { advertisedEndpoint } from "./advertise.ts";
 * assert.equal(advertisedEndpoint("0.0.0.0", 5006, "::1"), "[::1]:5006");
 * assert.equal(advertisedEndpoint("10.0.0.1", 5006, "::1"), "10.0.0.1:5006");
 * ```
 */
export function advertisedEndpoint(ipv4: string, port: number, source: string): string {
  return joinAdvertised(ipv4 === NO_IPV4_ADDRESS ? source : ipv4, port);
}
