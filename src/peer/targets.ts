/**
 * The peer's targets, one record each, keyed by `HOST:PORT` as given: the sender reads its
 * address, advertised address and name from it, the monitor hangs the counters and the
 * stream that answers it on it, and a reload replaces the list through
 * {@linkcode diffPeers}, keeping the record (and its statistics) of every target it keeps.
 * There is no second copy to keep in step, and no position in a list to agree on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { newTarget, TargetRegistry } from "./targets.ts";
 * const registry = new TargetRegistry([newTarget({ host: "10.0.0.1", port: 5005, name: "a" }, "10.0.0.1")]);
 * const kept = registry.get("10.0.0.1:5005")!;
 * kept.sent = 7;
 * const change = registry.replace(
 *   [{ host: "10.0.0.1", port: 5005, name: "alpha" }, { host: "10.0.0.2", port: 5005 }],
 *   (spec) => newTarget(spec, spec.host),
 * );
 * assert.deepEqual(change.added, ["10.0.0.2:5005"]);
 * assert.deepEqual(change.renamed, [{ target: "10.0.0.1:5005", from: "a", to: "alpha" }]);
 * assert.ok(registry.get("10.0.0.1:5005") === kept && kept.sent === 7 && kept.name === "alpha");
 * ```
 *
 * @module
 */

import { splitHostPort } from "../common/endpoint.ts";
import type { StreamHealth, StreamStats } from "./health.ts";
import { diffPeers, type NamedHostPort, peerKey } from "./peers_file.ts";

/** One target: where heartbeats go, what they say, and what came of them. */
export interface Target {
  /** `HOST:PORT` as given: the key, and how events name it. */
  readonly to: string;
  /** The host as given (a name is looked up again after a failed send). */
  readonly host: string;
  /** The UDP port. */
  readonly port: number;
  /** Its name from a peers file, if any. */
  name: string | undefined;
  /** The resolved address heartbeats are sent to. */
  address: string;
  /** True when the name must be looked up before the next send. */
  needsResolve: boolean;
  /** The IPv4 address written into the heartbeats' header for it (0.0.0.0 over IPv6). */
  advertise: string;
  /** Heartbeats sent. */
  sent: number;
  /** Sends that failed. */
  sendErrors: number;
  /** Slots of the send grid skipped because a tick came late. */
  skipped: number;
  /** When the first heartbeat went out (receiver's clock), NaN before. */
  firstSentAtMs: number;
  /** The stream that answers it, once heard. */
  stream: StreamHealth | undefined;
  /** Whether {@linkcode stream} matched by source (an exact match) rather than by header. */
  bySource: boolean;
  /** Whether it was reported silent before it was ever heard (an outage of its own). */
  silentBeforeHeard: boolean;
  /** Silent now for want of any heartbeat (reset when the first arrives). */
  neverHeardSilent: boolean;
}

/** What anyone but the monitor and the sender may read of a target. */
export type TargetView = Readonly<Omit<Target, "stream">> & {
  /** The stream that answers it, once heard. */
  readonly stream: StreamStats | undefined;
};

/**
 * A target that has sent and received nothing yet.
 *
 * @param spec `HOST:PORT` and maybe a name.
 * @param address The address it resolved to ("0.0.0.0" with `needsResolve` when it did not).
 * @returns The record.
 */
export function newTarget(spec: NamedHostPort, address: string): Target {
  return {
    to: peerKey(spec),
    host: spec.host,
    port: spec.port,
    name: spec.name,
    address,
    needsResolve: false,
    advertise: "",
    sent: 0,
    sendErrors: 0,
    skipped: 0,
    firstSentAtMs: NaN,
    stream: undefined,
    bySource: false,
    silentBeforeHeard: false,
    neverHeardSilent: false,
  };
}

/** A target already resolved, as a test or a library user names it. */
export interface TargetSpec {
  /** `HOST:PORT` as given. */
  to: string;
  /** Its resolved address. */
  address: string;
  /** Its UDP port. */
  port: number;
  /** Its name, if any. */
  name?: string | undefined;
}

/**
 * A registry of targets already resolved.
 *
 * @param specs The targets, in order.
 * @returns The registry.
 */
export function registryOf(specs: readonly TargetSpec[]): TargetRegistry {
  return new TargetRegistry(specs.map((spec) => {
    const host = splitHostPort(spec.to)?.host ?? spec.to;
    return { ...newTarget({ host, port: spec.port, name: spec.name }, spec.address), to: spec.to };
  }));
}

/** What {@linkcode TargetRegistry.replace} changed, as the `reload` event reports it. */
export interface TargetChange {
  /** Targets started, `HOST:PORT`. */
  added: string[];
  /** Targets stopped, `HOST:PORT`. */
  removed: string[];
  /** Kept targets whose name changed. */
  renamed: { target: string; from: string | null; to: string | null }[];
  /** The records of the targets stopped (their streams may still be named). */
  stopped: Target[];
}

/** The targets of a run, in the order given, one record per `HOST:PORT`. */
export class TargetRegistry {
  #list: Target[];
  #byKey: Map<string, Target>;

  /**
   * Creates the registry of the targets given at start.
   *
   * @param targets One record per `HOST:PORT`, in order.
   */
  constructor(targets: Target[]) {
    this.#list = targets;
    this.#byKey = new Map(targets.map((target) => [target.to, target]));
  }

  /** Every target, in order. */
  get all(): readonly Target[] {
    return this.#list;
  }

  /** How many targets there are. */
  get size(): number {
    return this.#list.length;
  }

  /**
   * The target of `HOST:PORT`.
   *
   * @param to `HOST:PORT` as given.
   * @returns Its record, or undefined.
   */
  get(to: string): Target | undefined {
    return this.#byKey.get(to);
  }

  /**
   * Replaces the list: targets no longer listed stop, new ones start with records made by
   * `create`, kept ones keep their record (counters, stream, address) under their new name.
   *
   * @param next The new list, in order.
   * @param create Makes the record of a new target.
   * @returns What changed.
   */
  replace(next: readonly NamedHostPort[], create: (spec: NamedHostPort) => Target): TargetChange {
    const diff = diffPeers(this.#list, next);
    const added = new Set(diff.added.map(peerKey));
    const stopped = diff.removed.map((target) => this.#byKey.get(peerKey(target))!);
    const list = next.map((spec) => {
      const key = peerKey(spec);
      if (added.has(key)) return create(spec);
      const kept = this.#byKey.get(key)!;
      kept.name = spec.name;
      return kept;
    });
    this.#list = list;
    this.#byKey = new Map(list.map((target) => [target.to, target]));
    return {
      added: [...added],
      removed: diff.removed.map(peerKey),
      renamed: diff.renamed,
      stopped,
    };
  }
}
