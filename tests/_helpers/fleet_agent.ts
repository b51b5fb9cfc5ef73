/**
 * The programs of a test fleet that are not udpeer, run inside a host's network namespace
 * by `fleet.ts` (`ip netns exec NS deno run --allow-net fleet_agent.ts ROLE JSON`). Each
 * prints one JSON object a line: `{"ready":true}` once it listens, then what it did, which is
 * the ground truth a test compares udpeer's figures with. SIGTERM ends it. Test-only; not
 * part of the library.
 *
 * - `relay`: {@linkcode RelayRole}, a relay (relay.ts) dropping a known 1 in n; one line per
 *   datagram, `{"index":i,"dropped":false,"at":ms}`.
 * - `burst`: {@linkcode BurstRole}, a foreign sender (not udpeer) that sends every
 *   `intervalMs`, stops for `pauseSlots` slots, then catches up with one heartbeat per
 *   skipped slot and one for the current slot, 1 ms apart, each with its true send time, and
 *   goes on; one line per heartbeat, `{"sent":ms,"phase":"burst"}`, and `{"skipped":slot}` for
 *   a slot its timer came too late for.
 *
 * @module
 */

import { encodeHeartbeat } from "../../protocol.ts";
import { startRelay } from "./relay.ts";

/** Where a role listens or sends. */
export interface Address {
  /** IPv4 address. */
  hostname: string;
  /** UDP port. */
  port: number;
}

/** Arguments of the `relay` role. */
export interface RelayRole {
  /** Where it listens. */
  listen: Address;
  /** Where the datagrams of everyone else go, every `dropEvery`-th dropped. */
  target: Address;
  /** Where the target's own datagrams go, untouched. */
  returnTo: Address;
  /** Drop one datagram in this many. */
  dropEvery: number;
  /** After one forwarded datagram in this many, a forged one with an absurd timestamp. */
  forgeEvery?: number;
}

/** Arguments of the `burst` role. */
export interface BurstRole {
  /** Where it listens and sends from. */
  listen: Address;
  /** Where its heartbeats go. */
  to: Address;
  /** Its interval, ms. */
  intervalMs: number;
  /** Unix ms of its first slot. */
  startAtMs: number;
  /** Slots sent before the pause. */
  before: number;
  /** Slots skipped in the pause. */
  pauseSlots: number;
  /** Slots after the catch-up at which a burst of 30 with no pause before it is sent. */
  extraBurstAfter?: number;
  /** Slots sent after the burst before it stops, bounded. */
  after: number;
}

function say(line: Record<string, unknown>): void {
  console.log(JSON.stringify(line));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

async function relay(role: RelayRole): Promise<void> {
  const relay = startRelay(role.target, {
    dropEvery: role.dropEvery,
    ...(role.forgeEvery === undefined ? {} : { forgeEvery: role.forgeEvery }),
  }, {
    hostname: role.listen.hostname,
    port: role.listen.port,
    returnTo: role.returnTo,
    onDatagram: (index, dropped) => say({ index, dropped, at: Date.now() }),
    onForged: (timestamp) => say({ forged: timestamp, at: Date.now() }),
  });
  say({ ready: true });
  await new Promise<void>((resolve) => Deno.addSignalListener("SIGTERM", resolve));
  await relay.close();
}

async function burst(role: BurstRole): Promise<void> {
  const conn = Deno.listenDatagram({ transport: "udp", ...role.listen });
  say({ ready: true });
  const to = { transport: "udp" as const, ...role.to };
  let stop = false;
  Deno.addSignalListener("SIGTERM", () => stop = true);
  const send = async (phase: string): Promise<void> => {
    // Its true send time, in ms: never two heartbeats with the same timestamp.
    const sent = Date.now();
    await conn.send(
      encodeHeartbeat({
        timestamp: sent,
        ipv4: role.listen.hostname,
        port: role.listen.port,
        text: `burst sender, ${phase}`,
      }),
      to,
    );
    say({ sent, phase });
    while (Date.now() === sent) { /* 1 ms apart at least */ }
  };
  // A late start (a slow machine) starts the schedule late, rather than sending the slots
  // that passed back to back: the one burst is the planned one.
  const startAtMs = Math.max(role.startAtMs, Date.now());
  const total = role.before + role.pauseSlots + 1 + role.after;
  const extraAt = role.extraBurstAfter === undefined
    ? -1
    : role.before + role.pauseSlots + 1 + role.extraBurstAfter;
  for (let slot = 0; slot < total && !stop; slot++) {
    if (slot >= role.before && slot < role.before + role.pauseSlots) continue;
    const due = startAtMs + slot * role.intervalMs;
    await sleep(due - Date.now());
    if (slot === role.before + role.pauseSlots) {
      // Catching up: every skipped slot and this one, 1 ms apart.
      for (let i = 0; i <= role.pauseSlots && !stop; i++) await send("burst");
    } else if (slot === extraAt) {
      // A burst with nothing to catch up: this slot and 29 extra heartbeats, 1 ms apart.
      for (let i = 0; i < 30 && !stop; i++) await send("extra");
    } else if (Date.now() - due > role.intervalMs / 2) {
      // A timer late by half an interval (a loaded machine): that slot is not sent, and
      // said, so that the one burst stays the planned one.
      say({ skipped: slot });
    } else {
      await send(slot < role.before ? "before" : "after");
    }
  }
  say({ done: true });
  conn.close();
}

if (import.meta.main) {
  const [role, json] = Deno.args;
  const args = JSON.parse(json ?? "{}");
  if (role === "relay") await relay(args);
  else if (role === "burst") await burst(args);
  else throw new Error(`Unknown role ${role}`);
  Deno.exit(0);
}
