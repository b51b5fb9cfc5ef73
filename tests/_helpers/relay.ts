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
 * Starts a relay on 127.0.0.1 that forwards to `target` according to `plan`.
 *
 * @param target Where the datagrams go.
 * @param plan Which datagrams to drop, duplicate, swap or delay.
 * @returns The relay; close it (or `await using` it) when done.
 */
export function startRelay(target: { hostname: string; port: number }, plan: RelayPlan): Relay {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const to = { transport: "udp" as const, ...target };
  const drop = new Set(plan.drop ?? []);
  const duplicate = new Set(plan.duplicate ?? []);
  const swap = new Set(plan.swap ?? []);
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let received = 0;
  let forwarded = 0;
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
      try {
        [datagram] = await conn.receive();
      } catch {
        return; // closed
      }
      const index = received++;
      if (drop.has(index)) continue;
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
