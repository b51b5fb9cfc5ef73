/**
 * Socket plumbing shared by the peer, `serve` and `chat`: address families (which address
 * means "every address", which family a name resolves to), one wording for a socket that
 * cannot be opened or a name that does not resolve, one list of the socket errors that only
 * mean the other side went away, and one receiver that rides out the errors a UDP socket
 * reports about earlier sends, with one receive in flight (serve, chat) or several (the
 * peer, which must keep up with a flood).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { datagramReceiver } from "./net.ts";
 * const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * await conn.send(new Uint8Array([1, 2]), conn.addr);
 * const receiver = datagramReceiver(conn, { depth: 1, isClosed: () => false, onError: () => {} });
 * assert.deepEqual((await receiver.next())?.[0], new Uint8Array([1, 2]));
 * conn.close();
 * ```
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { parseIpv4 } from "../../protocol.ts";
import { canonicalIpv6, type Family, joinHostPort, unmapAddress } from "./endpoint.ts";
import { describeError, StartupError } from "./errors.ts";

/**
 * The address a socket listens on for "every address" of a family: `0.0.0.0` for IPv4, `::`
 * for IPv6 (on Linux `::` takes IPv4 too, as IPv4-mapped addresses, unless
 * `net.ipv6.bindv6only` is set).
 *
 * @param family The family.
 * @returns The unspecified address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { anyAddress } from "./net.ts";
 * assert.ok(anyAddress("ipv4") === "0.0.0.0" && anyAddress("ipv6") === "::");
 * ```
 */
export function anyAddress(family: Family): string {
  return family === "ipv6" ? "::" : "0.0.0.0";
}

/**
 * Resolves a host to an address: an IPv4 address as it is, an IPv6 address in canonical
 * form, a name through the system resolver (so /etc/hosts counts), taking an address of the
 * preferred family first and one of the other family only when the name has none. The
 * default prefers IPv4, as ping does; `-6` prefers IPv6.
 *
 * @param host Name or address.
 * @param prefer The family to take first.
 * @returns The address; an IPv4-mapped IPv6 address as plain IPv4.
 * @throws {Error} If the name does not resolve.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveAddress } from "./net.ts";
 * assert.equal(await resolveAddress("0:0::1"), "::1");
 * assert.equal(await resolveAddress("localhost"), "127.0.0.1");
 * ```
 */
export async function resolveAddress(host: string, prefer: Family = "ipv4"): Promise<string> {
  if (parseIpv4(host) !== undefined) return host;
  const literal = canonicalIpv6(host);
  if (literal !== undefined) return literal;
  const found = await lookup(host, { all: true });
  const want = prefer === "ipv6" ? 6 : 4;
  const chosen = found.find((entry) => entry.family === want) ?? found[0];
  if (chosen === undefined) throw new Error(`no address for "${host}"`);
  return chosen.family === 6 ? canonicalIpv6(chosen.address) ?? chosen.address : chosen.address;
}

/**
 * Resolves a host to an IPv4 address: a dotted quad as it is, a name through the system
 * resolver (so /etc/hosts counts).
 *
 * @param host Name or address.
 * @returns The IPv4 address.
 * @throws {Error} If the name does not resolve to an IPv4 address.
 */
export async function resolveIpv4(host: string): Promise<string> {
  if (parseIpv4(host) !== undefined) return host;
  const { address } = await lookup(host, { family: 4 });
  return address;
}

/**
 * Resolves the host of a `--to` flag, or fails with the one start-up wording for it.
 *
 * @param host Name or address, as given to `--to`.
 * @param prefer The family to take first for a name (the default IPv4; `-6`: IPv6).
 * @returns The address, IPv4 or IPv6 (canonical form).
 * @throws {StartupError} If the name does not resolve, or resolves to the unspecified
 * address 0.0.0.0 or :: (exit code 1).
 */
export async function resolveTo(host: string, prefer: Family = "ipv4"): Promise<string> {
  let address: string;
  try {
    address = await resolveAddress(host, prefer);
  } catch (error) {
    throw new StartupError(
      `Cannot resolve --to "${host}": ${
        describeError(error)
      }; check the name or give an IPv4 address`,
    );
  }
  // A hosts file that blocks a name maps it to 0.0.0.0 (or ::), which is no destination.
  if (address === "0.0.0.0" || address === "::") {
    throw new StartupError(
      `Cannot resolve --to "${host}": it resolves to ${address}, which is no destination; check the name or give an IPv4 address`,
    );
  }
  return address;
}

/**
 * The socket errors that only say that the other side went away, or (`datagramOnly`) that one
 * earlier datagram failed, an ICMP error reported on a later call: Deno's error class where it
 * has one, the errno's name (Deno's `error.code`) and its Linux number (for a system call made
 * through FFI). One list, so the runtime's receive and a batched one skip the same errors. On a
 * connection the ICMP ones end it for a reason worth showing ("No route to host").
 */
const HARMLESS_SOCKET_ERRORS: readonly {
  errorClass?: new (message: string) => Error;
  code: string;
  errno: number;
  datagramOnly?: true;
}[] = [
  { errorClass: Deno.errors.ConnectionReset, code: "ECONNRESET", errno: 104 },
  { errorClass: Deno.errors.ConnectionAborted, code: "ECONNABORTED", errno: 103 },
  { errorClass: Deno.errors.ConnectionRefused, code: "ECONNREFUSED", errno: 111 },
  { errorClass: Deno.errors.BrokenPipe, code: "EPIPE", errno: 32 },
  { errorClass: Deno.errors.Interrupted, code: "EINTR", errno: 4 },
  {
    errorClass: Deno.errors.NetworkUnreachable,
    code: "ENETUNREACH",
    errno: 101,
    datagramOnly: true,
  },
  { code: "EHOSTUNREACH", errno: 113, datagramOnly: true },
  { code: "EHOSTDOWN", errno: 112, datagramOnly: true },
  // A receive reports EMSGSIZE only for an ICMP "fragmentation needed" of an earlier send.
  { code: "EMSGSIZE", errno: 90, datagramOnly: true },
  { code: "EPROTO", errno: 71, datagramOnly: true },
  { code: "ENOPROTOOPT", errno: 92, datagramOnly: true },
  { code: "ENONET", errno: 64, datagramOnly: true },
];
const CONNECTION_HARMLESS = HARMLESS_SOCKET_ERRORS.filter((entry) => !entry.datagramOnly);

// Whether `error` is BadResource, or one of `entries` by its code or its class.
function isListedError(error: unknown, entries: typeof HARMLESS_SOCKET_ERRORS): boolean {
  if (!(error instanceof Error)) return false;
  if (error instanceof Deno.errors.BadResource) return true;
  const code = (error as { code?: unknown }).code;
  return entries.some((entry) =>
    entry.code === code || (entry.errorClass !== undefined && error instanceof entry.errorClass)
  );
}

/**
 * Tells whether an error of a connection only says that the other side went away or the
 * socket was closed (reset, aborted, refused, broken pipe, interrupted, closed resource): it
 * ends one connection, is not worth a line on stderr, and the program goes on serving the
 * others.
 *
 * @param error What a socket call threw.
 * @returns True for those errors.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isHarmlessSocketError } from "./net.ts";
 * assert.ok(isHarmlessSocketError(new Deno.errors.ConnectionReset("reset")));
 * assert.ok(!isHarmlessSocketError(new Deno.errors.PermissionDenied("no")));
 * ```
 */
export function isHarmlessSocketError(error: unknown): boolean {
  return isListedError(error, CONNECTION_HARMLESS);
}

/**
 * The same test for a datagram socket's receive, which also skips the ICMP errors that Linux
 * reports for one earlier datagram (unreachable, fragmentation needed …): each concerns one
 * send, and the socket goes on receiving.
 *
 * @param error What a receive threw.
 * @returns True for those errors.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isHarmlessDatagramError } from "./net.ts";
 * const unreachable = Object.assign(new Error("No route to host"), { code: "EHOSTUNREACH" });
 * assert.ok(isHarmlessDatagramError(unreachable));
 * ```
 */
export function isHarmlessDatagramError(error: unknown): boolean {
  return isListedError(error, HARMLESS_SOCKET_ERRORS);
}

/**
 * The same test for an errno that a receive made through FFI left (Linux numbering): true for
 * exactly the errors {@linkcode isHarmlessDatagramError} skips.
 *
 * @param errno The errno value.
 * @returns True for a harmless error of a datagram socket.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isHarmlessDatagramErrno } from "./net.ts";
 * assert.ok(isHarmlessDatagramErrno(111)); // ECONNREFUSED
 * assert.ok(!isHarmlessDatagramErrno(9)); // EBADF
 * ```
 */
export function isHarmlessDatagramErrno(errno: number): boolean {
  return HARMLESS_SOCKET_ERRORS.some((entry) => entry.errno === errno);
}

/**
 * The one-line start-up error for a socket that cannot listen, naming the likely fix.
 *
 * @param transport `UDP` or `TCP`, for the message.
 * @param bind The address it tried to bind.
 * @param port The port it tried to bind.
 * @param error What `Deno.listen` or `Deno.listenDatagram` threw.
 * @returns The error to throw (exit code 1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listenError } from "./net.ts";
 * const error = listenError("UDP", "0.0.0.0", 5005, new Deno.errors.AddrInUse("in use"));
 * assert.match(error.message, /^Cannot listen on UDP 0\.0\.0\.0:5005: the port is in use/);
 * ```
 */
export function listenError(
  transport: "UDP" | "TCP",
  bind: string,
  port: number,
  error: unknown,
): StartupError {
  const where = `${transport} ${joinHostPort(bind, port)}`;
  if (error instanceof Deno.errors.AddrInUse) {
    return new StartupError(
      `Cannot listen on ${where}: the port is in use; choose another --port, or 0 for any free port`,
    );
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return new StartupError(
      `Cannot listen on ${where}: ${bind} is not an address of this machine; check --bind`,
    );
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return new StartupError(
      `Cannot listen on ${where}: permission denied (ports below 1024 need privileges); choose a --port above 1023`,
    );
  }
  if (error instanceof Deno.errors.NotCapable) {
    return new StartupError(`Cannot listen on ${where}: run with --allow-net`);
  }
  return new StartupError(`Cannot listen on ${where}: ${describeError(error)}`);
}

/** How long to wait after an unexpected receive error, so one that persists is no busy spin. */
const RETRY_AFTER_ERROR_MS = 100;

/** Bytes of each receive buffer: the largest UDP payload, 65,507, plus one. */
export const RECEIVE_BUFFER_BYTES = 65_508;

/** How many `receive()` calls a {@linkcode DatagramReceiver} keeps in flight by default. */
export const DEFAULT_RECEIVE_DEPTH = 4;

/** Options of {@linkcode datagramReceiver}. */
export interface DatagramReceiverOptions {
  /** `receive()` calls kept in flight, each with a buffer of its own; 1 or more. */
  depth?: number;
  /** True once the caller is stopping; an error then ends the receiving. */
  isClosed: () => boolean;
  /** Told about each unexpected error (the receiver tries again after 100 ms). */
  onError: (error: unknown) => void;
}

/** Datagrams from one socket, one at a time, in the order the socket delivered them. */
export interface DatagramReceiver {
  /**
   * The next datagram and its source, or undefined once the socket is closed (and at every
   * call after that). The datagram is a view into one of the receiver's buffers, and the
   * pair itself is reused: both are valid until the next call of `next()` or `poll()`.
   */
  next(): Promise<[Uint8Array, Deno.NetAddr] | undefined>;
  /**
   * The next datagram if one has already arrived, without waiting, else undefined (then
   * `next()` waits for one). A loop that asks `poll()` first skips the promise and the turn
   * of the event loop that each `next()` costs while datagrams are queued, which under a
   * flood is nearly always; the receives in flight keep it bounded, so the loop still
   * yields to the event loop at least once every `depth` datagrams.
   */
  poll(): [Uint8Array, Deno.NetAddr] | undefined;
  /**
   * When the datagram last returned by `next()` or `poll()` reached JavaScript: Unix ms with
   * sub-millisecond resolution, read as its receive settled, before anyone decoded it or
   * waited behind an earlier one.
   */
  readonly receivedAtMs: number;
}

/**
 * What a receiver does after a `receive()` failed: receiving ends once the caller is
 * stopping or the socket is gone (`BadResource`); a harmless error
 * ({@linkcode isHarmlessDatagramError}) is skipped; any other is reported through `onError`,
 * and the receiver waits 100 ms before it tries again, so that one that persists is no busy
 * spin.
 *
 * @param error What the receive threw.
 * @param options The receiver's closing test and error callback.
 * @returns True when receiving ends; false when the receiver should try again.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { receiveErrorEnds } from "./net.ts";
 * const options = { isClosed: () => false, onError: () => assert.fail("harmless") };
 * assert.equal(await receiveErrorEnds(new Deno.errors.ConnectionRefused("icmp"), options), false);
 * assert.equal(await receiveErrorEnds(new Deno.errors.BadResource("closed"), options), true);
 * ```
 */
export async function receiveErrorEnds(
  error: unknown,
  options: DatagramReceiverOptions,
): Promise<boolean> {
  if (options.isClosed() || error instanceof Deno.errors.BadResource) return true;
  if (!isHarmlessDatagramError(error)) {
    options.onError(error);
    await new Promise((resolve) => setTimeout(resolve, RETRY_AFTER_ERROR_MS));
  }
  return false;
}

/** One receive in flight, with its own buffer and what it settled to. */
interface Slot {
  buffer: Uint8Array;
  /** What the runtime's `receive()` resolved to: handed out as it is, never copied. */
  received: [Uint8Array, Deno.NetAddr] | undefined;
  /** When it settled, Unix ms. */
  atMs: number;
  error: unknown;
  /** Issues this slot's receive again. */
  arm: () => void;
}

// performance.timeOrigin is a getter with a brand check: read it once.
const timeOrigin = performance.timeOrigin;

/**
 * The source as udpeer shows and counts it: on a socket listening on `::`, an IPv4 sender
 * arrives as `::ffff:a.b.c.d`, and is made the plain IPv4 address. A reply sent to the plain
 * address from that socket reaches the sender all the same.
 *
 * @param addr The source as the runtime reported it.
 * @returns The same object, or a copy with the plain IPv4 address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shownAddr } from "./net.ts";
 * const addr: Deno.NetAddr = { transport: "udp", hostname: "::ffff:10.0.0.1", port: 5005 };
 * assert.equal(shownAddr(addr).hostname, "10.0.0.1");
 * ```
 */
export function shownAddr(addr: Deno.NetAddr): Deno.NetAddr {
  // 58 is ":": an IPv4 source costs one character test.
  if (addr.hostname.charCodeAt(0) !== 58) return addr;
  const hostname = unmapAddress(addr.hostname);
  return hostname === addr.hostname ? addr : { ...addr, hostname };
}

/**
 * A receiver that keeps `depth` `receive()` calls in flight on `conn`. Each `receive()`
 * waits on a round trip through Deno's runtime (the op is polled on the event loop, then
 * its promise resolves on a later turn); with one call in flight nobody reads the socket
 * during that round trip, and under a flood the kernel's receive buffer fills and drops.
 * With several in flight the next datagram is often already read when the loop asks.
 *
 * Datagrams come out in the order their receives completed, which is the order the socket
 * delivered them; not in the order the receives were issued: Deno hands a datagram to the
 * receive issued last, here (net_test.ts checks the order). Each one's arrival time is read
 * as its receive settles ({@linkcode DatagramReceiver.receivedAtMs}). An error while
 * `isClosed()` is true, or `BadResource`, ends it; the harmless ones
 * ({@linkcode isHarmlessDatagramError}: ICMP errors reported on receive) are skipped; any
 * other is reported through `onError` and the receive tried again after 100 ms. A receive
 * in flight when the socket closes settles with `Interrupted`, and the next one with
 * `BadResource`, which ends it. An IPv4-mapped source (`::ffff:a.b.c.d`, on a socket
 * listening on `::`) comes out as the plain IPv4 address.
 *
 * Per datagram it allocates nothing of its own (but for an IPv4-mapped source): the pair
 * handed out is the one the runtime resolved with, and the callbacks are made once per slot.
 *
 * @param conn The socket.
 * @param options Depth, the closing test and the error callback.
 * @returns The receiver.
 * @throws {RangeError} If depth is not a whole number of at least 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { datagramReceiver } from "./net.ts";
 * const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * const receiver = datagramReceiver(conn, { isClosed: () => false, onError: () => {} });
 * await conn.send(new Uint8Array([1]), conn.addr);
 * await conn.send(new Uint8Array([2]), conn.addr);
 * assert.deepEqual((await receiver.next())?.[0], new Uint8Array([1]));
 * assert.ok(Math.abs(receiver.receivedAtMs - Date.now()) < 1000);
 * assert.deepEqual((receiver.poll() ?? await receiver.next())?.[0], new Uint8Array([2]));
 * conn.close();
 * assert.equal(await receiver.next(), undefined);
 * ```
 */
export function datagramReceiver(
  conn: Deno.DatagramConn,
  options: DatagramReceiverOptions,
): DatagramReceiver {
  const depth = options.depth ?? DEFAULT_RECEIVE_DEPTH;
  if (!Number.isInteger(depth) || depth < 1) {
    throw new RangeError(
      `Cannot use a receive depth of ${depth}: give a whole number of 1 or more`,
    );
  }
  // Slots whose receive has settled, in the order they settled: a ring of `depth` entries
  // (at most `depth` receives are ever in flight), `ready[readyHead]` next.
  const ready: (Slot | undefined)[] = new Array(depth).fill(undefined);
  let readyHead = 0;
  let readyCount = 0;
  let wake: (() => void) | undefined;
  const settled = (slot: Slot): void => {
    ready[(readyHead + readyCount++) % depth] = slot;
    if (wake !== undefined) {
      const resolve = wake;
      wake = undefined;
      resolve();
    }
  };
  const makeSlot = (): Slot => {
    const slot: Slot = {
      buffer: new Uint8Array(RECEIVE_BUFFER_BYTES),
      received: undefined,
      atMs: 0,
      error: undefined,
      arm: () => void conn.receive(slot.buffer).then(onData, onError),
    };
    // Made once per slot, not once per datagram.
    const onData = (received: [Uint8Array, Deno.Addr]): void => {
      // The arrival time, as close to the socket as JavaScript gets: nothing has run for
      // this datagram yet.
      slot.atMs = timeOrigin + performance.now();
      const addr = received[1] as Deno.NetAddr;
      const shown = shownAddr(addr);
      // The pair the runtime resolved with, unless the source had to be unmapped.
      slot.received = shown === addr
        ? received as [Uint8Array, Deno.NetAddr]
        : [received[0], shown];
      settled(slot);
    };
    const onError = (error: unknown): void => {
      slot.error = error;
      settled(slot);
    };
    return slot;
  };
  for (let i = 0; i < depth; i++) makeSlot().arm();
  // The slot whose datagram the caller holds: its receive is issued again on the next call,
  // once the caller is done with its buffer.
  let held: Slot | undefined;
  let ended = false;
  const receiver = {
    receivedAtMs: NaN,
    next,
    poll,
  };

  /** Re-arms the held slot, then takes the next settled one, if any. */
  function take(): Slot | undefined {
    if (held !== undefined) {
      held.arm();
      held = undefined;
    }
    if (readyCount === 0) return undefined;
    const slot = ready[readyHead]!;
    ready[readyHead] = undefined;
    readyHead = (readyHead + 1) % depth;
    readyCount--;
    return slot;
  }

  function poll(): [Uint8Array, Deno.NetAddr] | undefined {
    if (ended) return undefined;
    // Only a datagram is taken here; an error is left for next() to handle.
    if (readyCount === 0 || ready[readyHead]!.received === undefined) {
      if (held !== undefined) {
        held.arm();
        held = undefined;
      }
      return undefined;
    }
    const slot = take()!;
    const received = slot.received!;
    slot.received = undefined;
    receiver.receivedAtMs = slot.atMs;
    held = slot;
    return received;
  }

  async function next(): Promise<[Uint8Array, Deno.NetAddr] | undefined> {
    while (!ended) {
      const slot = take();
      if (slot === undefined) {
        await new Promise<void>((resolve) => wake = resolve);
        continue;
      }
      const { received, error } = slot;
      slot.received = slot.error = undefined;
      if (received !== undefined) {
        receiver.receivedAtMs = slot.atMs;
        held = slot;
        return received;
      }
      if (await receiveErrorEnds(error, options)) {
        ended = true;
        break;
      }
      slot.arm();
    }
    return undefined;
  }
  return receiver;
}
