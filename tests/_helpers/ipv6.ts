/**
 * Whether this machine has IPv6 on its loopback (`::1`), checked once by sending a datagram
 * to itself: some containers run with IPv6 off. Test-only; not part of the library.
 *
 * @example
 * ```ts ignore
 * import { ipv6Unavailable } from "./ipv6.ts";
 * const noIpv6 = await ipv6Unavailable();
 * Deno.test({ name: "over ::1", ignore: noIpv6 !== undefined }, () => {});
 * ```
 *
 * @module
 */

let support: Promise<string | undefined> | undefined;

/**
 * Checks once whether a UDP socket can listen on `::1` and receive a datagram sent to it.
 *
 * @returns Undefined if it can; otherwise why not, for the `skipped:` line.
 */
export function ipv6Unavailable(): Promise<string | undefined> {
  support ??= probe();
  return support;
}

async function probe(): Promise<string | undefined> {
  let conn: Deno.DatagramConn;
  try {
    conn = Deno.listenDatagram({ transport: "udp", hostname: "::1", port: 0 });
  } catch (error) {
    return `no IPv6 on the loopback (cannot listen on ::1: ${(error as Error).message})`;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await conn.send(new Uint8Array([1]), conn.addr);
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), 1_000);
    });
    const received = await Promise.race([conn.receive(), timeout]);
    return received === "timeout"
      ? "no IPv6 on the loopback (a datagram to ::1 got lost)"
      : undefined;
  } catch (error) {
    return `no IPv6 on the loopback (cannot send to ::1: ${(error as Error).message})`;
  } finally {
    clearTimeout(timer);
    conn.close();
  }
}
