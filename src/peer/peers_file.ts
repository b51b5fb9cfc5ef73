/**
 * The peers file of `--peers FILE` (see docs/many-hosts.md): one target a line, `HOST:PORT [NAME]`, `#`
 * starts a comment, blank lines are skipped. A pure parser, so that a bad line is reported
 * as `FILE:LINE: problem` both at start (exit 2) and on a SIGHUP reload (an `error` event,
 * the old list kept), and a pure diff that tells a reload which targets to start and stop.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { diffPeers, parsePeersFile, peerKey } from "./peers_file.ts";
 * const before = parsePeersFile("10.0.0.1:5005 web-1\n10.0.0.2:5005\n", "hosts.txt");
 * const after = parsePeersFile("# rack 3\n10.0.0.2:5005\n10.0.0.3:5005 db-1\n", "hosts.txt");
 * assert.deepEqual(before[0], { host: "10.0.0.1", port: 5005, name: "web-1", line: 1 });
 * const diff = diffPeers(before, after);
 * assert.deepEqual(diff.added.map((p) => p.name), ["db-1"]);
 * assert.deepEqual(diff.removed.map(peerKey), ["10.0.0.1:5005"]);
 * ```
 *
 * @module
 */

import { describeError, StartupError, UsageError } from "../common/errors.ts";
import { escapeForTerminal } from "../common/escape.ts";
import { formatEndpoint, type HostAndPort as HostPort, parseEndpoint } from "../common/endpoint.ts";

/** One target of a peers file. */
export interface PeerEntry extends HostPort {
  /** The optional NAME: the `peer` of JSON events and of the metrics' labels. */
  name?: string;
  /** Line number in the file, from 1, for messages. */
  line: number;
}

/** A target as a list gives it: `HOST:PORT` and maybe a name. */
export type NamedHostPort = HostPort & { name?: string | undefined };

/** What a reload changes: targets to start, to stop, and to keep with their statistics. */
export interface PeersDiff<T extends NamedHostPort = PeerEntry> {
  /** In the new list only: start sending to them. */
  added: T[];
  /** In the old list only: stop sending to them. */
  removed: T[];
  /** In both (same `HOST:PORT`), as the new list has them (the name may have changed). */
  kept: T[];
  /** Kept ones whose name changed: the key, the old name and the new (null: none). */
  renamed: { target: string; from: string | null; to: string | null }[];
}

/** Longest NAME accepted: it is a label value on every series of its target. */
export const MAX_NAME_LENGTH = 64;

// Names go into human lines, JSON and Prometheus labels unescaped by eye: keep them to
// characters that need no escaping anywhere and cannot be confused with the HOST:PORT.
const NAME = /^[\p{L}\p{N}._@\/+-]+$/u;

/**
 * The key that identifies a target across reloads: `HOST:PORT` as written (an IPv6 address
 * in its canonical form, in brackets).
 *
 * @param peer A target.
 * @returns `HOST:PORT` or `[IPV6]:PORT`.
 */
export function peerKey(peer: HostPort): string {
  return formatEndpoint(peer);
}

/** Largest peers file read, in bytes: 10 MB. A larger file is refused unread. */
export const MAX_PEERS_FILE_BYTES = 10_000_000;

/** Most targets a peers file may list. */
export const MAX_PEERS = 65_536;

/** Characters of a line quoted in an error: never a whole file, never a whole long line. */
export const QUOTED_CHARACTERS = 80;

/**
 * Milliseconds {@linkcode loadPeersFile} parses before it lets the event loop run: steps by
 * time, not by lines, since a line may be a target or an empty comment, and each yield costs
 * a timer's turn (about 2 ms).
 */
export const STEP_MS = 5;

// What a HOST:PORT of the peers file may hold: an IPv4 address, an IPv6 address in
// brackets or a DNS name (at most 253 characters), a colon, a port.
const TARGET_CHARACTERS = /^[A-Za-z0-9._:\[\]-]+$/;
const MAX_TARGET_LENGTH = 253 + 6;

/**
 * Quotes text read from a file for an error line: at most {@linkcode QUOTED_CHARACTERS}
 * code points, escaped so no control byte reaches a terminal, `…` when cut.
 *
 * @param text Text from the file.
 * @returns The quoted, shortened, escaped text, such as `"a\x1b[2J"`.
 */
export function quoteFromFile(text: string): string {
  // Code points, not UTF-16 units; a long line is cut before Array.from sees it whole.
  const points = Array.from(text.slice(0, 2 * QUOTED_CHARACTERS + 2));
  const cut = points.length > QUOTED_CHARACTERS;
  return `"${escapeForTerminal(points.slice(0, QUOTED_CHARACTERS).join(""))}${cut ? "…" : ""}"`;
}

/** The state of a parse in progress: what {@linkcode parseSteps} fills. */
interface ParseState {
  peers: PeerEntry[];
  lineOfKey: Map<string, number>;
  lineOfName: Map<string, number>;
}

/**
 * Parses the text of a peers file.
 *
 * @param text The file's content.
 * @param fileName The file's name as given, for messages.
 * @returns The targets in file order.
 * @throws {UsageError} On the first bad line, worded `FILE:LINE: problem`: a bad
 * `HOST:PORT`, a bad or too long NAME, more than two fields, a target or name given twice,
 * more than {@linkcode MAX_PEERS} targets. File text in a message is escaped and at most
 * {@linkcode QUOTED_CHARACTERS} characters long.
 */
export function parsePeersFile(text: string, fileName: string): PeerEntry[] {
  const state: ParseState = { peers: [], lineOfKey: new Map(), lineOfName: new Map() };
  for (const _ of parseSteps(text, fileName, state, Infinity)) { /* never yields */ }
  return state.peers;
}

/**
 * The parser, in steps of about `stepMs` milliseconds: it yields between two steps, so that
 * an async caller can let the event loop run (a reload of 65,536 lines must not hold the
 * receive loop for more than a few milliseconds at a time).
 */
function* parseSteps(
  text: string,
  fileName: string,
  { peers, lineOfKey, lineOfName }: ParseState,
  stepMs: number,
): Generator<void> {
  const timed = Number.isFinite(stepMs);
  let stepStart = timed ? performance.now() : 0;
  let start = 0;
  for (let line = 1; start <= text.length; line++) {
    // Line by line with indexOf: no array of every line, no regex over 10 MB at once.
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    const raw = text.slice(start, end > start && text[end - 1] === "\r" ? end - 1 : end);
    start = end + 1;
    if (timed && line % 128 === 0 && performance.now() - stepStart >= stepMs) {
      yield;
      stepStart = performance.now();
    }
    const fail = (problem: string): never => {
      throw new UsageError(`${fileName}:${line}: ${problem}`);
    };
    const hash = raw.indexOf("#");
    const content = (hash < 0 ? raw : raw.slice(0, hash)).trim();
    if (content === "") continue;
    const fields = content.split(/\s+/);
    if (fields.length > 2) {
      fail(
        `expected HOST:PORT [NAME], found ${fields.length} fields in ${
          quoteFromFile(content)
        } (a name has no spaces; start a comment with #)`,
      );
    }
    const target = fields[0]!;
    const badTarget = (): never =>
      fail(
        `Cannot parse target ${
          quoteFromFile(target)
        }: write HOST:PORT, HOST an IPv4 address or a name of letters, digits, . - _`,
      );
    // A control byte, a quote, a non-ASCII letter: refused here, never handed to the
    // resolver, whose error would quote it raw.
    if (!TARGET_CHARACTERS.test(target) || target.length > MAX_TARGET_LENGTH) badTarget();
    let hostPort: HostPort;
    try {
      const { host, port } = parseEndpoint(target, "target");
      hostPort = { host, port };
    } catch (error) {
      // parseEndpoint quotes the whole target: only a short one.
      return target.length > QUOTED_CHARACTERS ? badTarget() : fail((error as Error).message);
    }
    const peer: PeerEntry = { ...hostPort, line };
    const name = fields[1];
    if (name !== undefined) {
      if (!NAME.test(name)) {
        fail(
          `Cannot use name ${quoteFromFile(name)}: use letters, digits and . _ - @ / + only`,
        );
      }
      if (name.length > MAX_NAME_LENGTH) {
        fail(
          `Cannot use name ${quoteFromFile(name)}: it is longer than ${MAX_NAME_LENGTH} characters`,
        );
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
    if (peers.length >= MAX_PEERS) {
      fail(
        `more than ${
          MAX_PEERS.toLocaleString("en-US")
        } targets; a peers file lists at most as many`,
      );
    }
    lineOfKey.set(key, line);
    peers.push(peer);
  }
}

/**
 * Compares the targets before and after a reload, by `HOST:PORT`.
 *
 * @param before The current list.
 * @param after The list just read.
 * @returns What to start, stop and keep; each in the order of the list it comes from.
 */
export function diffPeers<T extends NamedHostPort>(
  before: readonly T[],
  after: readonly T[],
): PeersDiff<T> {
  const old = new Map(before.map((peer) => [peerKey(peer), peer]));
  const newKeys = new Set(after.map(peerKey));
  const kept = after.filter((peer) => old.has(peerKey(peer)));
  return {
    added: after.filter((peer) => !old.has(peerKey(peer))),
    removed: before.filter((peer) => !newKeys.has(peerKey(peer))),
    kept,
    renamed: kept.flatMap((peer) => {
      const from = old.get(peerKey(peer))!.name ?? null;
      const to = peer.name ?? null;
      return from === to ? [] : [{ target: peerKey(peer), from, to }];
    }),
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

/** Lets timers, signals and the receive loop run: a macrotask, not a microtask. */
function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Why a file cannot be read (missing, no permission), in words. */
function readError(error: unknown): string {
  return error instanceof Deno.errors.NotFound
    ? "no such file"
    : error instanceof Deno.errors.NotCapable
    ? "udpeer may not read files; run it with --allow-read"
    : error instanceof Deno.errors.PermissionDenied
    ? "permission denied"
    : describeError(error);
}

/** What a file that is not a regular file is, for the message. */
function kindOf(info: Deno.FileInfo): string {
  if (info.isDirectory) return "a folder";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  if (info.isFifo) return "a FIFO";
  if (info.isSocket) return "a socket";
  return "not a regular file";
}

/**
 * Reads and parses a peers file: the I/O edge of {@linkcode parsePeersFile}. The file must
 * be a regular file of at most {@linkcode MAX_PEERS_FILE_BYTES}: it is looked at (`stat`,
 * following symlinks) before it is opened, so a FIFO with no writer, a device or a folder
 * is refused at once, unopened. At most {@linkcode MAX_PEERS_FILE_BYTES} + 1 bytes are
 * read, and a file that reads otherwise than its size says (`/proc/self/environ` is a
 * "regular file" of size 0 that holds the environment) or holds NUL bytes is refused
 * without a word of its content. Parsing yields to the event loop every
 * {@linkcode STEP_MS} milliseconds.
 *
 * @param path The file, as given to `--peers`.
 * @returns The targets in file order.
 * @throws {StartupError} If the file cannot be read (missing, no permission), in one line
 * naming it.
 * @throws {UsageError} If it is no regular file, too large, not text, or has a bad line
 * (`FILE:LINE: problem`).
 */
export async function loadPeersFile(path: string): Promise<PeerEntry[]> {
  const shown = `--peers "${escapeForTerminal(path)}"`;
  const refuse = (why: string): never => {
    throw new UsageError(`Cannot read ${shown}: ${why}`);
  };
  const limit = `at most ${MAX_PEERS_FILE_BYTES.toLocaleString("en-US")} bytes`;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    throw new StartupError(`Cannot read ${shown}: ${readError(error)}`);
  }
  if (!info.isFile) refuse(`it is ${kindOf(info)}, not a regular file`);
  if (info.size > MAX_PEERS_FILE_BYTES) {
    refuse(`it is ${info.size.toLocaleString("en-US")} bytes; a peers file has ${limit}`);
  }
  // A /proc or /sys file "is" a regular file of size 0 that may hold secrets
  // (/proc/self/environ is the whole environment): refused by where it really is.
  let real = path;
  try {
    real = await Deno.realPath(path);
  } catch { /* read below, and refused there if it must be */ }
  if (/^\/(proc|sys)\//.test(real)) {
    refuse(`it is a file of /${real.split("/")[1]}, not a regular file`);
  }
  let bytes: Uint8Array;
  let size: number;
  try {
    ({ bytes, size } = await readBounded(path, MAX_PEERS_FILE_BYTES + 1));
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new StartupError(`Cannot read ${shown}: ${readError(error)}`);
  }
  if (bytes.length > MAX_PEERS_FILE_BYTES) {
    refuse(
      `it reads more than ${
        MAX_PEERS_FILE_BYTES.toLocaleString("en-US")
      } bytes; a peers file has ${limit}`,
    );
  }
  if (bytes.length !== size) {
    // Never quoted: such a file (/proc, /sys) may hold secrets, such as the environment.
    refuse(
      `it read ${bytes.length} bytes where its size says ${size}: a file of /proc or /sys, or one being written; give a regular file`,
    );
  }
  if (bytes.includes(0)) refuse("it holds NUL bytes: it is not a text file");
  const text = new TextDecoder().decode(bytes);
  const state: ParseState = { peers: [], lineOfKey: new Map(), lineOfName: new Map() };
  for (const _ of parseSteps(text, path, state, STEP_MS)) await nextMacrotask();
  return state.peers;
}

/**
 * Reads at most `limit` bytes of a file, and the size the open file says it has; an open file
 * that is no regular file is refused.
 */
async function readBounded(
  path: string,
  limit: number,
): Promise<{ bytes: Uint8Array; size: number }> {
  using file = await Deno.open(path, { read: true });
  // stat and open are two calls: the path may have become something else in between.
  const info = await file.stat();
  if (!info.isFile) {
    throw new UsageError(
      `Cannot read --peers "${escapeForTerminal(path)}": it is ${kindOf(info)}, not a regular file`,
    );
  }
  // Sized by the file's size, grown when it reads more (a /proc file says 0), never past limit.
  let buffer = new Uint8Array(Math.min(limit, Math.max(info.size + 1, 65_536)));
  let length = 0;
  while (length < limit) {
    if (length === buffer.length) {
      const larger = new Uint8Array(Math.min(limit, buffer.length * 2));
      larger.set(buffer);
      buffer = larger;
    }
    const read = await file.read(buffer.subarray(length));
    if (read === null) break;
    length += read;
  }
  return { bytes: buffer.subarray(0, length), size: info.size };
}
