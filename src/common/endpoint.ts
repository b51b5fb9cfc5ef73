/**
 * One endpoint type for every subcommand: an IPv4 address, an IPv6 address or a name, and a
 * port. This module is the only place a host and a port are joined into text or split out of
 * it, as Go's `net.JoinHostPort`, `net.SplitHostPort` and `UDPAddr.String()` are: an IPv6
 * address is written in brackets (`[2001:db8::1]:5005`), and an IPv4-mapped IPv6 address
 * (`::ffff:192.0.2.1`, what a dual-stack socket reports for an IPv4 sender) is shown as the
 * plain IPv4 address it stands for.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatEndpoint, parseEndpoint } from "./endpoint.ts";
 * const endpoint = parseEndpoint("[2001:DB8:0::1]:5005");
 * assert.deepEqual(endpoint, { host: "2001:db8::1", port: 5005, family: "ipv6" });
 * assert.equal(formatEndpoint(endpoint), "[2001:db8::1]:5005");
 * assert.equal(formatEndpoint({ host: "::ffff:127.0.0.1", port: 5005 }), "127.0.0.1:5005");
 * ```
 *
 * @module
 */

import { parseIpv4 } from "../../protocol.ts";
import { UsageError } from "./errors.ts";

/** The family of an IP address. */
export type Family = "ipv4" | "ipv6";

/** A host and a port: what {@linkcode formatEndpoint} joins. */
export interface HostAndPort {
  /** IPv4 address, IPv6 address (without brackets) or name. */
  readonly host: string;
  /** Port, 0..65535. */
  readonly port: number;
}

/** A `HOST:PORT` or `[IPV6]:PORT`, parsed. */
export interface Endpoint extends HostAndPort {
  /**
   * A dotted-quad IPv4 address; an IPv6 address in its canonical form (RFC 5952: lower
   * case, the longest run of zero groups shortened to `::`), never IPv4-mapped; or a name.
   */
  readonly host: string;
  /** Port, 1..65535. */
  readonly port: number;
  /** `ipv4` or `ipv6` for an address; `name` for a name, resolved later. */
  readonly family: Family | "name";
}

/**
 * Reads a destination: `a.b.c.d:PORT`, `[IPV6]:PORT` or `NAME:PORT`.
 *
 * @param text The text given, such as `127.0.0.1:5005`, `[::1]:5005` or `peer.example:5005`.
 * @param flag The flag name, for the message (`--to`, or `target` in a peers file).
 * @returns The endpoint; an IPv6 host in canonical form, an IPv4-mapped one as IPv4.
 * @throws {UsageError} If the port is missing or out of 1..65535; the host is empty; it holds
 * a colon outside brackets, or the brackets hold no IPv6 address; it looks like an IPv4
 * address but is not one; or it is the unspecified address (0.0.0.0 or ::), which is no
 * destination.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseEndpoint } from "./endpoint.ts";
 * assert.deepEqual(parseEndpoint("127.0.0.1:5005"), { host: "127.0.0.1", port: 5005, family: "ipv4" });
 * assert.deepEqual(parseEndpoint("peer.example:1"), { host: "peer.example", port: 1, family: "name" });
 * assert.throws(() => parseEndpoint("::1:5005"), /write an IPv6 address in brackets/);
 * ```
 */
export function parseEndpoint(text: string, flag = "--to"): Endpoint {
  const colon = text.lastIndexOf(":");
  const bracketed = text.startsWith("[");
  const close = text.lastIndexOf("]");
  if (colon < 0 || (bracketed && colon < close)) {
    const form = bracketed ? "[IPV6]:PORT" : "HOST:PORT";
    throw new UsageError(`Cannot parse ${flag}: "${text}" has no port (write ${form})`);
  }
  const portText = text.slice(colon + 1);
  let host: string;
  let family: Family | "name";
  if (bracketed) {
    if (close !== colon - 1) {
      throw new UsageError(
        `Cannot parse ${flag}: "${text}" needs the port right after the "]", as in [2001:db8::1]:5005`,
      );
    }
    const inside = text.slice(1, close);
    const canonical = canonicalIpv6(inside);
    if (canonical === undefined) {
      throw new UsageError(
        `Cannot parse ${flag}: "${inside}" is not an IPv6 address (like 2001:db8::1)`,
      );
    }
    host = canonical;
    family = host.includes(":") ? "ipv6" : "ipv4";
  } else {
    host = text.slice(0, colon);
    if (
      host.includes(":") &&
      (canonicalIpv6(host) !== undefined || canonicalIpv6(text) !== undefined)
    ) {
      throw new UsageError(
        `Cannot parse ${flag}: "${text}" holds an IPv6 address: write an IPv6 address in brackets, as in [2001:db8::1]:5005`,
      );
    }
    if (host === "" || host.includes(":") || host.includes("[") || /\s/.test(host)) {
      throw new UsageError(
        `Cannot parse ${flag}: "${text}" needs an IPv4 address or a name before the port`,
      );
    }
    // Digits and dots are never a name: "999.1.1.1" or "10.1" would otherwise go to the
    // resolver, which fails with a lookup error (or reads "10.1" as 10.0.0.1).
    if (/^[0-9.]+$/.test(host) && parseIpv4(host) === undefined) {
      throw new UsageError(
        `Cannot parse ${flag}: "${host}" is not an IPv4 address (four numbers 0..255, like 192.0.2.1)`,
      );
    }
    family = parseIpv4(host) === undefined ? "name" : "ipv4";
  }
  if (host === "0.0.0.0") {
    // Linux delivers a datagram sent to 0.0.0.0 to this host, from 127.0.0.1, and Windows
    // refuses it: say what is meant instead.
    throw new UsageError(
      `Cannot parse ${flag}: 0.0.0.0 means "any address" and is no destination; use 127.0.0.1 for this host`,
    );
  }
  if (host === "::") {
    throw new UsageError(
      `Cannot parse ${flag}: :: means "any address" and is no destination; use ::1 for this host`,
    );
  }
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    throw new UsageError(`Cannot parse ${flag}: "${portText}" is not a port in 1..65535`);
  }
  return { host, port: Number(portText), family };
}

/**
 * Reads a local address to listen on: an IPv4 address, or an IPv6 address with or without
 * brackets (`::`, `[::1]`).
 *
 * @param text The text given, such as `0.0.0.0`, `127.0.0.2`, `::` or `fd00::1`.
 * @param flag The flag name, for the message.
 * @returns The address, IPv6 in canonical form, IPv4-mapped as IPv4.
 * @throws {UsageError} If it is neither an IPv4 nor an IPv6 address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseLocalAddress } from "./endpoint.ts";
 * assert.equal(parseLocalAddress("[::]"), "::");
 * assert.equal(parseLocalAddress("0.0.0.0"), "0.0.0.0");
 * assert.throws(() => parseLocalAddress("localhost"), /"localhost" is not an IPv4 address/);
 * ```
 */
export function parseLocalAddress(text: string, flag = "--bind"): string {
  if (parseIpv4(text) !== undefined) return text;
  const inside = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const canonical = canonicalIpv6(inside);
  if (canonical === undefined) {
    throw new UsageError(
      `Cannot parse ${flag}: "${text}" is not an IPv4 address like 192.0.2.1 or an IPv6 address like ::1`,
    );
  }
  return canonical;
}

/**
 * Splits `HOST:PORT` or `[HOST]:PORT` without judging either part, as Go's
 * `net.SplitHostPort`: a host with a colon must be in brackets.
 *
 * @param text The text, such as `127.0.0.1:9100` or `[::1]:9100`.
 * @returns The host (without brackets) and the port text, or undefined if the text is not
 * of that form (no colon, a colon outside brackets, text after the `]` other than `:PORT`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitHostPort } from "./endpoint.ts";
 * assert.deepEqual(splitHostPort("[::1]:9100"), { host: "::1", port: "9100" });
 * assert.deepEqual(splitHostPort("0.0.0.0:9100"), { host: "0.0.0.0", port: "9100" });
 * assert.equal(splitHostPort("::1:9100"), undefined);
 * ```
 */
export function splitHostPort(text: string): { host: string; port: string } | undefined {
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0 || text[close + 1] !== ":") return undefined;
    return { host: text.slice(1, close), port: text.slice(close + 2) };
  }
  const colon = text.indexOf(":");
  if (colon < 0 || text.indexOf(":", colon + 1) >= 0) return undefined;
  return { host: text.slice(0, colon), port: text.slice(colon + 1) };
}

/**
 * A host as it is written before `:PORT`: an IPv6 address in brackets, an IPv4-mapped one as
 * plain IPv4, anything else as it is.
 *
 * @param host IPv4 address, IPv6 address (without brackets) or name.
 * @returns `host` or `[host]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatHost } from "./endpoint.ts";
 * assert.ok(formatHost("::1") === "[::1]" && formatHost("10.0.0.1") === "10.0.0.1");
 * ```
 */
export function formatHost(host: string): string {
  if (!host.includes(":")) return host;
  const shown = unmapAddress(host);
  return shown === host ? `[${host}]` : shown;
}

/**
 * Joins a host and a port, as Go's `net.JoinHostPort`: an IPv6 address in brackets, an
 * IPv4-mapped IPv6 address as plain IPv4.
 *
 * @param host IPv4 address, IPv6 address (without brackets) or name.
 * @param port The port.
 * @returns `host:port` or `[host]:port`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { joinHostPort } from "./endpoint.ts";
 * assert.equal(joinHostPort("::1", 5005), "[::1]:5005");
 * assert.equal(joinHostPort("127.0.0.1", 5005), "127.0.0.1:5005");
 * ```
 */
export function joinHostPort(host: string, port: number): string {
  // One character test for the common case: an IPv4 address or a name has no colon.
  if (host.includes(":")) {
    const shown = unmapAddress(host);
    return shown === host ? `[${host}]:${port}` : `${shown}:${port}`;
  }
  return `${host}:${port}`;
}

/**
 * {@linkcode joinHostPort} that remembers its last answer: a receive path that names the
 * same endpoint datagram after datagram gets the same string back, which also makes the
 * next comparison of it a pointer test instead of a walk through two new strings.
 *
 * @returns A function with joinHostPort's parameters and result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { joinHostPortMemo } from "./endpoint.ts";
 * const join = joinHostPortMemo();
 * assert.equal(join("::1", 5006), "[::1]:5006");
 * assert.equal(join("127.0.0.1", 5006), "127.0.0.1:5006");
 * ```
 */
export function joinHostPortMemo(): (host: string, port: number) => string {
  let lastHost = "";
  let lastPort = -1;
  let last = "";
  return (host, port) => {
    if (port !== lastPort || host !== lastHost) {
      last = joinHostPort(host, port);
      lastHost = host;
      lastPort = port;
    }
    return last;
  };
}

/**
 * Writes an endpoint as text, as Go's `UDPAddr.String()`: `a.b.c.d:PORT`, `[IPV6]:PORT` or
 * `NAME:PORT`; what {@linkcode parseEndpoint} reads back.
 *
 * @param endpoint Host and port (an {@linkcode Endpoint}, a `Deno.NetAddr`'s hostname and
 * port).
 * @returns The text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatEndpoint } from "./endpoint.ts";
 * assert.equal(formatEndpoint({ host: "fd00:75:64::2", port: 5005 }), "[fd00:75:64::2]:5005");
 * ```
 */
export function formatEndpoint(endpoint: HostAndPort): string {
  return joinHostPort(endpoint.host, endpoint.port);
}

/**
 * The address a socket reports, as udpeer shows and counts it: an IPv4-mapped IPv6 address
 * (`::ffff:a.b.c.d`, an IPv4 sender seen by a socket listening on `::`) becomes the plain
 * IPv4 address; anything else is returned as it is. Cheap on the receive path: one
 * character test for an IPv4 address.
 *
 * @param address As `Deno.NetAddr.hostname` has it.
 * @returns The address to show and count.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unmapAddress } from "./endpoint.ts";
 * assert.equal(unmapAddress("::ffff:127.0.0.1"), "127.0.0.1");
 * assert.equal(unmapAddress("::1"), "::1");
 * ```
 */
export function unmapAddress(address: string): string {
  // 58 is ":": an IPv4 address never starts with one, a mapped address always does (in the
  // lower case that sockets and formatIpv6 write).
  if (address.charCodeAt(0) !== 58 || !address.startsWith("::ffff:")) return address;
  const ipv4 = address.slice(7);
  return parseIpv4(ipv4) === undefined ? address : ipv4;
}

/**
 * The family of an address.
 *
 * @param address An IPv4 or IPv6 address (a name counts as neither: `undefined`).
 * @returns `ipv4`, `ipv6`, or undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { familyOf } from "./endpoint.ts";
 * assert.ok(familyOf("::1") === "ipv6" && familyOf("10.0.0.1") === "ipv4");
 * assert.equal(familyOf("localhost"), undefined);
 * ```
 */
export function familyOf(address: string): Family | undefined {
  if (parseIpv4(address) !== undefined) return "ipv4";
  return parseIpv6(address) === undefined ? undefined : "ipv6";
}

/**
 * Reads an IPv6 address into its eight 16-bit groups: hex groups, at most one `::`, an
 * optional dotted quad for the last 32 bits. No brackets, no zone (`%eth0`).
 *
 * @param text The address, such as `2001:db8::1` or `::ffff:192.0.2.1`.
 * @returns The eight groups, or undefined if it is not an IPv6 address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseIpv6 } from "./endpoint.ts";
 * assert.deepEqual(parseIpv6("::1"), [0, 0, 0, 0, 0, 0, 0, 1]);
 * assert.equal(parseIpv6("1::2::3"), undefined);
 * ```
 */
export function parseIpv6(text: string): number[] | undefined {
  if (text.length < 2 || text.length > 45 || !/^[0-9A-Fa-f:.]+$/.test(text)) return undefined;
  const gap = text.indexOf("::");
  if (gap >= 0 && text.indexOf("::", gap + 1) >= 0) return undefined;
  const readGroups = (part: string, allowIpv4: boolean): number[] | undefined => {
    if (part === "") return [];
    const groups: number[] = [];
    const fields = part.split(":");
    for (const [i, field] of fields.entries()) {
      if (allowIpv4 && i === fields.length - 1 && field.includes(".")) {
        const ipv4 = parseIpv4(field);
        if (ipv4 === undefined) return undefined;
        groups.push(ipv4 >>> 16, ipv4 & 0xffff);
      } else if (/^[0-9A-Fa-f]{1,4}$/.test(field)) groups.push(parseInt(field, 16));
      else return undefined;
    }
    return groups;
  };
  if (gap < 0) {
    const groups = readGroups(text, true);
    return groups?.length === 8 ? groups : undefined;
  }
  const head = readGroups(text.slice(0, gap), false);
  const tail = readGroups(text.slice(gap + 2), true);
  if (head === undefined || tail === undefined || head.length + tail.length > 7) return undefined;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/**
 * Writes eight 16-bit groups as an IPv6 address in the canonical form of RFC 5952, as
 * sockets report it: lower-case hex without leading zeros, the longest run of two or more
 * zero groups (the first of equal runs) written `::`; an IPv4-mapped address as
 * `::ffff:a.b.c.d`.
 *
 * @param groups Eight numbers 0..65535.
 * @returns The address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatIpv6 } from "./endpoint.ts";
 * assert.equal(formatIpv6([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]), "2001:db8::1:0:0:1");
 * ```
 */
export function formatIpv6(groups: readonly number[]): string {
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const [high, low] = [groups[6]!, groups[7]!];
    return `::ffff:${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = (part: readonly number[]): string => part.map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

/**
 * An IPv6 address in canonical form, or the IPv4 address an IPv4-mapped one stands for.
 *
 * @param text An IPv6 address without brackets.
 * @returns The canonical text, or undefined if it is not an IPv6 address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { canonicalIpv6 } from "./endpoint.ts";
 * assert.equal(canonicalIpv6("FD00:0075:0064:0:0:0:0:0001"), "fd00:75:64::1");
 * assert.equal(canonicalIpv6("::FFFF:10.0.0.1"), "10.0.0.1");
 * ```
 */
export function canonicalIpv6(text: string): string | undefined {
  const groups = parseIpv6(text);
  return groups === undefined ? undefined : unmapAddress(formatIpv6(groups));
}
