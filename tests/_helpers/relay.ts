/**
 * A lossy UDP relay for tests, in userspace (this kernel has no `netem` qdisc): it receives
 * datagrams on a port of its own and forwards them to one target, dropping, duplicating,
 * swapping or delaying the ones the plan names, by their arrival index (0 for the first).
 * What it did is exact and repeatable, so a test can demand exact figures from the receiver.
 * Test-only; not part of the library.
 *
 * @example
 * ```ts ignore
 * import { startRelay } from "./relay.ts";
 * await using relay = startRelay({ hostname: "127.0.0.1", port: 5006 }, { drop: [3] });
 * // send to relay.port; the fourth datagram never reaches 5006
 * ```
 *
 * @module
 */

import { decodeHeartbeat, encodeHeartbeat } from "../../protocol.ts";

/** What to do to which datagram, by arrival index (0-based). */
export interface RelayPlan {
  /** Not forwarded. */
  drop?: readonly number[];
  /** Forwarded twice, back to back. */
  duplicate?: readonly number[];
  /** Held until the next datagram has been forwarded, then forwarded (k and k+1 swap). */
  swap?: readonly number[];
  /** Forwarded after this many ms, while later ones go on. */
  delayMs?: Readonly<Record<number, number>>;
  /** Not forwarded either: every n-th (indexes n−1, 2n−1, …), a known 1/n of the stream. */
  dropEvery?: number;
  /**
   * After every n-th datagram forwarded (indexes n−1, 2n−1, …), one forged heartbeat more in
   * the same stream: the same header address and text, an absurd timestamp (1970, the year
   * 2255, ten years ahead, two hours back, in turn) and its own valid checksum.
   */
  forgeEvery?: number;
}

/** The absurd send times a forging relay writes, in turn (µs, as udpeer stamps). */
export function forgedTimestamp(n: number, nowMs: number): number {
  const stamps = [
    0, // 1970: a clock never set
    Number.MAX_SAFE_INTEGER, // µs: the year 2255
    Math.trunc(nowMs + 10 * 365 * 86_400_000) * 1000, // ten years ahead
    Math.trunc(nowMs - 2 * 3_600_000) * 1000, // two hours back
  ];
  return stamps[n % stamps.length]!;
}

/** Where a relay listens, and what it does with the datagrams that come back. */
export interface RelayOptions {
  /** Address to listen on; default 127.0.0.1. */
  hostname?: string;
  /** Port to listen on; default any free one. */
  port?: number;
  /**
   * Datagrams from the target itself are forwarded here, untouched and outside the plan's
   * indexes: a relay on the path of both directions that spoils only one.
   */
  returnTo?: { hostname: string; port: number };
  /** Told of each planned datagram, by index, as it arrives: whether it is dropped. */
  onDatagram?: (index: number, dropped: boolean) => void;
  /** Told of each forged heartbeat sent, with its timestamp. */
  onForged?: (timestamp: number) => void;
}

/** A running relay. */
export interface Relay extends AsyncDisposable {
  /** The port it listens on: send here. */
  readonly port: number;
  /** Datagrams received so far. */
  readonly received: number;
  /** Datagrams forwarded so far (a duplicate counts twice). */
  readonly forwarded: number;
  /** Stops relaying and closes the socket. */
  close(): Promise<void>;
}

/**
 * Starts a relay (on 127.0.0.1 unless `options` say otherwise) that forwards to `target`
 * according to `plan`.
 *
 * @param target Where the datagrams go.
 * @param plan Which datagrams to drop, duplicate, swap or delay.
 * @param options Where to listen; where the target's own datagrams go back to.
 * @returns The relay; close it (or `await using` it) when done.
 */
export function startRelay(
  target: { hostname: string; port: number },
  plan: RelayPlan,
  options: RelayOptions = {},
): Relay {
  const conn = Deno.listenDatagram({
    transport: "udp",
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
  });
  const to = { transport: "udp" as const, ...target };
  const drop = new Set(plan.drop ?? []);
  const duplicate = new Set(plan.duplicate ?? []);
  const swap = new Set(plan.swap ?? []);
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let received = 0;
  let forwarded = 0;
  let forged = 0;
  let held: Uint8Array | undefined;
  let closed = false;

  const forward = async (datagram: Uint8Array): Promise<void> => {
    if (closed) return;
    await conn.send(datagram, to);
    forwarded++;
  };

  const loop = (async () => {
    while (!closed) {
      let datagram: Uint8Array;
      let from: Deno.NetAddr;
      try {
        let addr: Deno.Addr;
        [datagram, addr] = await conn.receive();
        from = addr as Deno.NetAddr;
      } catch {
        return; // closed
      }
      const back = options.returnTo;
      if (back && from.hostname === target.hostname && from.port === target.port) {
        await conn.send(datagram, { transport: "udp", ...back }).catch(() => {});
        continue;
      }
      const index = received++;
      const dropped = drop.has(index) ||
        (plan.dropEvery !== undefined && (index + 1) % plan.dropEvery === 0);
      options.onDatagram?.(index, dropped);
      if (dropped) continue;
      const delay = plan.delayMs?.[index];
      if (delay !== undefined) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          forward(datagram).catch(() => {});
        }, delay);
        timers.add(timer);
        continue;
      }
      if (swap.has(index)) {
        held = datagram;
        continue;
      }
      await forward(datagram);
      if (duplicate.has(index)) await forward(datagram);
      if (plan.forgeEvery !== undefined && (index + 1) % plan.forgeEvery === 0) {
        const original = decodeHeartbeat(datagram);
        if (original.ok) {
          const timestamp = forgedTimestamp(forged++, Date.now());
          const { ipv4, port, text } = original.heartbeat;
          // A forgery that cannot be built must not end the relay (and so the stream).
          try {
            await forward(encodeHeartbeat({ timestamp, ipv4, port, text }));
            options.onForged?.(timestamp);
          } catch (error) {
            console.error(`relay: cannot forge ${timestamp}: ${error}`);
          }
        }
      }
      if (held !== undefined) {
        const late = held;
        held = undefined;
        await forward(late);
      }
    }
  })();

  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    for (const timer of timers) clearTimeout(timer);
    conn.close();
    await loop;
  };
  return {
    port: (conn.addr as Deno.NetAddr).port,
    get received() {
      return received;
    },
    get forwarded() {
      return forwarded;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
