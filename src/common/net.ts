/**
 * Socket plumbing shared by the peer, `serve` and `chat`: one wording for a socket that
 * cannot be opened or a name that does not resolve, one list of the socket errors that only
 * mean the other side went away, and one receive step that rides out the errors a UDP socket
 * reports about earlier sends.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { receiveDatagram } from "./net.ts";
 * const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * await conn.send(new Uint8Array([1, 2]), conn.addr);
 * const received = await receiveDatagram(conn, new Uint8Array(65_508), () => false, () => {});
 * assert.deepEqual(received?.[0], new Uint8Array([1, 2]));
 * conn.close();
 * ```
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { parseIpv4 } from "../../protocol.ts";
import { describeError, StartupError } from "./errors.ts";

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
 * @returns The IPv4 address.
 * @throws {StartupError} If the name does not resolve, or resolves to 0.0.0.0 (exit code 1).
 */
export async function resolveTo(host: string): Promise<string> {
  let address: string;
  try {
    address = await resolveIpv4(host);
  } catch (error) {
    throw new StartupError(
      `Cannot resolve --to "${host}": ${
        describeError(error)
      }; check the name or give an IPv4 address`,
    );
  }
  // A hosts file that blocks a name maps it to 0.0.0.0, which is no destination.
  if (address === "0.0.0.0") {
    throw new StartupError(
      `Cannot resolve --to "${host}": it resolves to 0.0.0.0, which is no destination; check the name or give an IPv4 address`,
    );
  }
  return address;
}

/**
 * Tells whether a socket error only says that the other side went away or the socket was
 * closed (reset, aborted, refused, broken pipe, interrupted, closed resource): it ends one
 * connection or concerns one earlier datagram, is not worth a line on stderr, and the
 * program goes on serving the others.
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
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.ConnectionRefused ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.Interrupted ||
    error instanceof Deno.errors.BadResource;
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
  const where = `${transport} ${bind}:${port}`;
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

/**
 * Receives the next datagram into `buffer`. ICMP errors about an earlier send
 * (`ConnectionReset`, `ConnectionRefused`, which some systems report on receive) and
 * `Interrupted` concern no datagram ({@linkcode isHarmlessSocketError}), so it simply
 * receives again; any other error goes to `onError` and it tries again after 100 ms.
 *
 * @param conn The socket.
 * @param buffer Where the datagram goes: at least 65,507 bytes, or long ones are cut short.
 * @param isClosed True once the caller is stopping; an error then ends the receiving.
 * @param onError Told about each unexpected error.
 * @returns The datagram (a view into `buffer`) and its source, or undefined once the socket
 * is closed.
 */
export async function receiveDatagram(
  conn: Deno.DatagramConn,
  buffer: Uint8Array,
  isClosed: () => boolean,
  onError: (error: unknown) => void,
): Promise<[Uint8Array, Deno.NetAddr] | undefined> {
  while (true) {
    try {
      const [data, addr] = await conn.receive(buffer);
      return [data, addr as Deno.NetAddr];
    } catch (error) {
      if (isClosed() || error instanceof Deno.errors.BadResource) return undefined;
      if (isHarmlessSocketError(error)) continue;
      onError(error);
      await new Promise((resolve) => setTimeout(resolve, RETRY_AFTER_ERROR_MS));
    }
  }
}
