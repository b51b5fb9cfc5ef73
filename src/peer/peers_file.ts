/**
 * The peers file of `--peers FILE` (see docs/many-hosts.md): one target a line, `HOST:PORT [NAME]`, `#`
 * starts a comment, blank lines are skipped. A pure parser, so that a bad line is reported
 * as `FILE:LINE: problem` both at start (exit 2) and on a SIGHUP reload (an `error` event,
 * the old list kept), and a pure diff that tells a reload which targets to start and stop.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { diffPeers, parsePeersFile } from "./peers_file.ts";
 * const before = parsePeersFile("10.0.0.1:5005 web-1\n10.0.0.2:5005\n", "hosts.txt");
 * const after = parsePeersFile("# rack 3\n10.0.0.2:5005\n10.0.0.3:5005 db-1\n", "hosts.txt");
 * assert.deepEqual(before[0], { host: "10.0.0.1", port: 5005, name: "web-1", line: 1 });
 * const diff = diffPeers(before, after);
 * assert.deepEqual(diff.added.map((p) => p.name), ["db-1"]);
 * assert.deepEqual(diff.removed.map((p) => `${p.host}:${p.port}`), ["10.0.0.1:5005"]);
 * ```
 *
 * @module
 */

import { describeError, StartupError, UsageError } from "../common/errors.ts";
import { escapeForTerminal } from "../common/escape.ts";
import { type HostPort, parseHostPort } from "../common/flags.ts";

/** One target of a peers file. */
export interface PeerEntry extends HostPort {
  /** The optional NAME: the `peer` of JSON events and of the metrics' labels. */
  name?: string;
  /** Line number in the file, from 1, for messages. */
  line: number;
}

/** What a reload changes: targets to start, to stop, and to keep with their statistics. */
export interface PeersDiff {
  /** In the new list only: start sending to them. */
  added: PeerEntry[];
  /** In the old list only: stop sending to them. */
  removed: PeerEntry[];
  /** In both (same `HOST:PORT`), as the new list has them (the name may have changed). */
  kept: PeerEntry[];
}

/** Longest NAME accepted: it is a label value on every series of its target. */
export const MAX_NAME_LENGTH = 64;

// Names go into human lines, JSON and Prometheus labels unescaped by eye: keep them to
// characters that need no escaping anywhere and cannot be confused with the HOST:PORT.
const NAME = /^[\p{L}\p{N}._@\/+-]+$/u;

/**
 * The key that identifies a target across reloads: `HOST:PORT` as written.
 *
 * @param peer A target.
 * @returns `HOST:PORT`.
 */
export function peerKey(peer: HostPort): string {
  return `${peer.host}:${peer.port}`;
}

/**
 * Parses the text of a peers file.
 *
 * @param text The file's content.
 * @param fileName The file's name as given, for messages.
 * @returns The targets in file order.
 * @throws {UsageError} On the first bad line, worded `FILE:LINE: problem`: a bad
 * `HOST:PORT`, a bad or too long NAME, more than two fields, a target or name given twice.
 */
export function parsePeersFile(text: string, fileName: string): PeerEntry[] {
  const peers: PeerEntry[] = [];
  const lineOfKey = new Map<string, number>();
  const lineOfName = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    const line = index + 1;
    const fail = (problem: string): never => {
      throw new UsageError(`${fileName}:${line}: ${problem}`);
    };
    const content = lines[index]!.replace(/#.*$/, "").trim();
    if (content === "") continue;
    const fields = content.split(/\s+/);
    if (fields.length > 2) {
      fail(
        `expected HOST:PORT [NAME], found ${fields.length} fields in "${
          escapeForTerminal(content)
        }" (a name has no spaces; start a comment with #)`,
      );
    }
    let hostPort: HostPort;
    try {
      hostPort = parseHostPort("target", fields[0]!);
    } catch (error) {
      return fail((error as Error).message);
    }
    const peer: PeerEntry = { ...hostPort, line };
    const name = fields[1];
    if (name !== undefined) {
      if (!NAME.test(name)) {
        fail(
          `Cannot use name "${escapeForTerminal(name)}": use letters, digits and . _ - @ / + only`,
        );
      }
      if (name.length > MAX_NAME_LENGTH) {
        fail(`Cannot use name "${name}": it is longer than ${MAX_NAME_LENGTH} characters`);
      }
      const previous = lineOfName.get(name);
      if (previous !== undefined) {
        fail(`name "${name}" is already used on line ${previous}; names must be unique`);
      }
      lineOfName.set(name, line);
      peer.name = name;
    }
    const key = peerKey(peer);
    const previous = lineOfKey.get(key);
    if (previous !== undefined) fail(`target ${key} is already listed on line ${previous}`);
    lineOfKey.set(key, line);
    peers.push(peer);
  }
  return peers;
}

/**
 * Compares the targets before and after a reload, by `HOST:PORT`.
 *
 * @param before The current list.
 * @param after The list just read.
 * @returns What to start, stop and keep; each in the order of the list it comes from.
 */
export function diffPeers(before: readonly PeerEntry[], after: readonly PeerEntry[]): PeersDiff {
  const oldKeys = new Set(before.map(peerKey));
  const newKeys = new Set(after.map(peerKey));
  return {
    added: after.filter((peer) => !oldKeys.has(peerKey(peer))),
    removed: before.filter((peer) => !newKeys.has(peerKey(peer))),
    kept: after.filter((peer) => oldKeys.has(peerKey(peer))),
  };
}

/**
 * The peer's whole list of targets: the `--to` ones first, in order, then the peers file's
 * that are not already among them. A file entry for a `--to` target gives it its name.
 *
 * @param fromFlags The `--to` targets.
 * @param fromFile The peers file's targets.
 * @returns One target per `HOST:PORT`, each with its name if it has one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mergeTargets } from "./peers_file.ts";
 * const merged = mergeTargets(
 *   [{ host: "10.0.0.1", port: 5005 }],
 *   [{ host: "10.0.0.1", port: 5005, name: "a", line: 1 }, { host: "10.0.0.2", port: 5005, line: 2 }],
 * );
 * assert.deepEqual(merged, [{ host: "10.0.0.1", port: 5005, name: "a" }, { host: "10.0.0.2", port: 5005 }]);
 * ```
 */
export function mergeTargets(
  fromFlags: readonly HostPort[],
  fromFile: readonly PeerEntry[],
): (HostPort & { name?: string })[] {
  const named = (peer: HostPort, name: string | undefined): HostPort & { name?: string } =>
    name === undefined
      ? { host: peer.host, port: peer.port }
      : { host: peer.host, port: peer.port, name };
  const fileByKey = new Map(fromFile.map((peer) => [peerKey(peer), peer]));
  const flagKeys = new Set<string>();
  const merged = fromFlags.map((peer) => {
    flagKeys.add(peerKey(peer));
    return named(peer, fileByKey.get(peerKey(peer))?.name);
  });
  for (const peer of fromFile) {
    if (!flagKeys.has(peerKey(peer))) merged.push(named(peer, peer.name));
  }
  return merged;
}

/**
 * Reads and parses a peers file: the I/O edge of {@linkcode parsePeersFile}.
 *
 * @param path The file, as given to `--peers`.
 * @returns The targets in file order.
 * @throws {StartupError} If the file cannot be read, in one line naming the fix.
 * @throws {UsageError} On the first bad line, worded `FILE:LINE: problem`.
 */
export async function loadPeersFile(path: string): Promise<PeerEntry[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.IsADirectory
      ? "it is a folder, not a file"
      : error instanceof Deno.errors.NotCapable
      ? "udpeer may not read files; run it with --allow-read"
      : error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : describeError(error);
    throw new StartupError(`Cannot read --peers "${escapeForTerminal(path)}": ${why}`);
  }
  return parsePeersFile(text, path);
}
