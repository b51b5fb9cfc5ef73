/**
 * SIGHUP: the peers file read again (docs/many-hosts.md). One reload at a time, and the
 * SIGHUPs that arrive meanwhile are merged into one more; new targets are resolved in
 * batches with a turn of the event loop between them, so a file of 65,536 targets never
 * holds the receive loop; the registry then takes the new list in one step, after any send
 * round in flight. Whatever goes wrong is an `error` event, and the old list stays.
 *
 * @module
 */

import { describeError } from "../common/errors.ts";
import { plural } from "../common/words.ts";
import type { PeerEvent } from "./events.ts";
import { type FleetSplit, splitFleet } from "./fleet.ts";
import type { PeerOptions } from "./flags.ts";
import {
  loadPeersFile,
  mergeTargets,
  type NamedHostPort,
  type PeerEntry,
  peerKey,
} from "./peers_file.ts";
import { newTarget, type Target, type TargetRegistry } from "./targets.ts";

/** Targets of a reloaded peers file resolved in one step. */
export const RELOAD_BATCH = 256;

/** What a reload works with. */
export interface ReloadContext {
  /** The command line (`--to` targets, the peers file, own address for the fleet split). */
  options: PeerOptions;
  /** The targets. */
  registry: TargetRegistry;
  /** Resolves a target's host; rejects with the worded failure. */
  resolve: (host: string) => Promise<string>;
  /** The address advertised to a target at `address` (undefined: not resolved). */
  advertiseFor: (address: string | undefined) => string;
  /** Where events go. */
  emit: (event: PeerEvent) => void;
  /** Resolves when no send round is in flight (a reload must not change a round's list). */
  idle: () => Promise<unknown>;
  /** Takes in the registry's change (the monitor re-indexes its streams). */
  changed: (stopped: readonly Target[]) => void;
  /** Told of this peer's own line in the file, when the file is read again. */
  fleet: (split: FleetSplit<PeerEntry>) => void;
  /** True once the run stops: nothing more is changed or reported. */
  isStopping: () => boolean;
}

/** The reload step's handle. */
export interface Reloader {
  /** Called on SIGHUP. */
  onHangup(): void;
  /** Resolves when no reload runs. */
  settled(): Promise<void>;
}

/**
 * Creates the reload step.
 *
 * @param context What a reload works with.
 * @returns The handle.
 */
export function createReloader(context: ReloadContext): Reloader {
  const { options, registry, emit } = context;
  let running: Promise<void> = Promise.resolve();
  let busy = false;
  let again = false;
  const reportError = (path: string, error: unknown): void => {
    if (context.isStopping()) return;
    emit({
      event: "error",
      op: "reload",
      peers: path,
      message: `${describeError(error)}; the ${plural(registry.size, "target")} stay as they were`,
    });
  };
  /** A new target's record, its name resolved (or to be resolved at each send). */
  const create = async (spec: NamedHostPort): Promise<Target> => {
    try {
      const target = newTarget(spec, await context.resolve(spec.host));
      target.advertise = context.advertiseFor(target.address);
      return target;
    } catch (error) {
      // Added all the same: each send tries the name again and reports the failure.
      emit({ event: "error", op: "resolve", to: peerKey(spec), message: describeError(error) });
      const target = newTarget(spec, "0.0.0.0");
      target.needsResolve = true;
      target.advertise = context.advertiseFor(undefined);
      return target;
    }
  };
  const reload = async (path: string): Promise<void> => {
    let split: FleetSplit<PeerEntry>;
    try {
      split = await splitFleet(await loadPeersFile(path), options);
    } catch (error) {
      return reportError(path, error);
    }
    const next = mergeTargets(options.targets, split.targets);
    const fresh = next.filter((spec) => registry.get(peerKey(spec)) === undefined);
    const created = new Map<string, Target>();
    for (let start = 0; start < fresh.length && !context.isStopping(); start += RELOAD_BATCH) {
      if (start > 0) await new Promise((resolve) => setTimeout(resolve, 0));
      const batch = await Promise.all(fresh.slice(start, start + RELOAD_BATCH).map(create));
      for (const target of batch) created.set(target.to, target);
    }
    await context.idle();
    if (context.isStopping()) return;
    context.fleet(split);
    const change = registry.replace(next, (spec) => created.get(peerKey(spec))!);
    context.changed(change.stopped);
    emit({
      event: "reload",
      added: change.added,
      removed: change.removed,
      renamed: change.renamed,
      targets: registry.size,
    });
  };
  const onHangup = (): void => {
    const path = options.peersFile;
    if (path === undefined) {
      // Nothing to re-read: SIGHUP must not end a peer (its default would).
      console.error("udpeer: SIGHUP ignored: there is no --peers file to read again");
      return;
    }
    if (context.isStopping()) return;
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    running = (async () => {
      do {
        again = false;
        // Whatever goes wrong, the peer goes on with the list it has.
        await reload(path).catch((error) => reportError(path, error));
      } while (again && !context.isStopping());
      busy = false;
    })();
  };
  return { onHangup, settled: () => running };
}
