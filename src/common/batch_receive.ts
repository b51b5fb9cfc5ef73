/**
 * Batched receive on Linux, for a process granted `--allow-ffi`: after each `receive()` of
 * Deno's runtime returns a datagram, the datagrams queued behind it on the same socket are
 * read with one `recvmmsg(2)` call of libc, up to {@linkcode BATCH_DATAGRAMS} at a time.
 *
 * Why: each `receive()` is a round trip through the runtime that costs more than the system
 * call under it. Measured on the bench's loopback flood (AMD EPYC, 2 cores): a loop that
 * drains this way used 0.82× the CPU per datagram of the one-`receive()`-at-a-time loop and
 * read 95–99% of the flood where that loop read about 90% (docs/performance.md).
 *
 * The socket stays the runtime's: Deno binds it, sends on it and closes it; only reading is
 * shared. The runtime's `receive()` is also what waits for the next datagram (on its own event
 * loop, so no thread is parked in a system call), and only one is ever in flight, so the
 * order the socket delivered the datagrams is the order they come out. Without the permission,
 * on another system, or when the socket cannot be found among the process's file
 * descriptors, {@linkcode batchReceiver} returns undefined and the caller reads through
 * `datagramReceiver()` of net.ts as before.
 *
 * @example
 * ```ts ignore
 * // Needs --allow-ffi (and Linux), else batchReceiver() returns undefined.
 * import { batchReceiver } from "./batch_receive.ts";
 * import { datagramReceiver } from "./net.ts";
 * const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
 * const options = { isClosed: () => false, onError: console.error };
 * const receiver = batchReceiver(conn, options) ?? datagramReceiver(conn, options);
 * ```
 *
 * @module
 */

import { formatIpv6, unmapAddress } from "./endpoint.ts";
import {
  type DatagramReceiver,
  type DatagramReceiverOptions,
  isHarmlessDatagramErrno,
  RECEIVE_BUFFER_BYTES,
  receiveErrorEnds,
  shownAddr,
} from "./net.ts";

/**
 * Datagrams read by one `recvmmsg` call at most. The loop yields to the event loop once per
 * batch (timers, output, signals), so a batch is also the longest run of datagrams handled
 * without a turn of it.
 */
export const BATCH_DATAGRAMS = 32;

// Layout of the C structures on 64-bit Linux (x86_64 and aarch64 share it).
/** `struct mmsghdr`: a `struct msghdr` (56 bytes) and `msg_len`, padded to 64. */
const MMSGHDR_BYTES = 64;
const MSG_NAME = 0;
const MSG_NAMELEN = 8;
const MSG_IOV = 16;
const MSG_IOVLEN = 24;
const MSG_LEN = 56;
/** `struct sockaddr_in6`, the larger of the two source addresses. */
const SOCKADDR_BYTES = 28;
/** `struct iovec`: base pointer and length. */
const IOVEC_BYTES = 16;

const AF_INET = 2;
const AF_INET6 = 10;
const SOL_SOCKET = 1;
const SO_TYPE = 3;
const SOCK_DGRAM = 2;
const MSG_DONTWAIT = 0x40;
/** Socket file descriptors looked at to find the runtime's socket (a fresh process has few). */
const MAX_FD_SCANNED = 1024;

/** errno of a non-blocking call that found nothing queued. */
const EAGAIN = 11;

const SYMBOLS = {
  recvmmsg: { parameters: ["i32", "buffer", "u32", "i32", "pointer"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let libc: Libc | null | undefined;

/** libc, once; null where batching is not possible or not permitted. */
function openLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  const arch = Deno.build.arch;
  if (Deno.build.os !== "linux" || (arch !== "x86_64" && arch !== "aarch64")) return libc;
  // querySync never prompts: without the permission this is simply the usual path.
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return libc;
  try {
    libc = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  } catch {
    // A libc of another name (musl): the usual path.
  }
  return libc;
}

function errno(c: Libc): number {
  return new Deno.UnsafePointerView(c.__errno_location()!).getInt32();
}

function address(pointer: Deno.PointerValue): bigint {
  return BigInt(Deno.UnsafePointer.value(pointer));
}

/**
 * The source address in `bytes` at `at` (a `sockaddr_in` or `sockaddr_in6`), as udpeer shows
 * it: dotted IPv4, canonical IPv6, an IPv4-mapped one as the plain IPv4 address.
 *
 * @param bytes The buffer of socket addresses.
 * @param at Offset of this one.
 * @returns The address text, or undefined for another family.
 */
export function sockaddrHost(bytes: Uint8Array, at: number): string | undefined {
  const family = bytes[at]! | bytes[at + 1]! << 8;
  if (family === AF_INET) {
    return `${bytes[at + 4]}.${bytes[at + 5]}.${bytes[at + 6]}.${bytes[at + 7]}`;
  }
  if (family !== AF_INET6) return undefined;
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(bytes[at + 8 + 2 * i]! << 8 | bytes[at + 9 + 2 * i]!);
  return unmapAddress(formatIpv6(groups));
}

/** The port of the socket address in `bytes` at `at`, in network byte order there. */
function sockaddrPort(bytes: Uint8Array, at: number): number {
  return bytes[at + 2]! << 8 | bytes[at + 3]!;
}

/**
 * The file descriptor of the runtime's socket: the one datagram socket bound to its address
 * and port. Deno does not give it out, so the descriptors of the process are asked in turn.
 */
function findSocketFd(c: Libc, addr: Deno.NetAddr): number | undefined {
  const hostname = unmapAddress(addr.hostname);
  const name = new Uint8Array(128);
  const length = new Uint32Array(1);
  const lengthBytes = new Uint8Array(length.buffer);
  const type = new Int32Array(1);
  const typeBytes = new Uint8Array(type.buffer);
  const typeLength = new Uint32Array(1);
  const typeLengthBytes = new Uint8Array(typeLength.buffer);
  let found: number | undefined;
  for (let fd = 0; fd < MAX_FD_SCANNED; fd++) {
    length[0] = name.length;
    if (c.getsockname(fd, name, lengthBytes) !== 0) continue;
    if (sockaddrPort(name, 0) !== addr.port || sockaddrHost(name, 0) !== hostname) continue;
    typeLength[0] = 4;
    if (c.getsockopt(fd, SOL_SOCKET, SO_TYPE, typeBytes, typeLengthBytes) !== 0) continue;
    if (type[0] !== SOCK_DGRAM) continue;
    // Two datagram sockets on one address and port (SO_REUSEPORT): which is ours is unknown.
    if (found !== undefined) return undefined;
    found = fd;
  }
  return found;
}

/**
 * A receiver of `conn`'s datagrams that reads those queued behind each one with `recvmmsg`,
 * or undefined where that is not possible: not Linux on x86_64 or aarch64, no `--allow-ffi`,
 * no `libc.so.6`, or the socket not found. It behaves as `datagramReceiver()` of net.ts does
 * (same order, same sources, same errors, `receivedAtMs` when the datagram reached
 * JavaScript), and yields to the event loop at least once every
 * {@linkcode BATCH_DATAGRAMS} + 1 datagrams.
 *
 * An unexpected `recvmmsg` error is reported once through `onError`, and the receiver reads
 * one datagram at a time through the runtime from then on: the datagrams stay in the socket
 * for it, so none is lost.
 *
 * The caller must stop asking (`isClosed()` true) before the socket is closed: the file
 * descriptor is read directly, and after a close its number may belong to another file.
 *
 * @param conn The socket, bound.
 * @param options The closing test and the error callback (the depth is not used: one
 * `receive()` is in flight, so that the order holds).
 * @returns The receiver, or undefined.
 */
export function batchReceiver(
  conn: Deno.DatagramConn,
  options: DatagramReceiverOptions,
): DatagramReceiver | undefined {
  const c = openLibc();
  if (c === null) return undefined;
  const fd = findSocketFd(c, conn.addr as Deno.NetAddr);
  return fd === undefined ? undefined : createBatchReceiver(c, fd, conn, options);
}

// performance.timeOrigin is a getter with a brand check: read it once.
const timeOrigin = performance.timeOrigin;

function createBatchReceiver(
  c: Libc,
  fd: number,
  conn: Deno.DatagramConn,
  options: DatagramReceiverOptions,
): DatagramReceiver {
  const single = new Uint8Array(RECEIVE_BUFFER_BYTES);
  const data = new Uint8Array(BATCH_DATAGRAMS * RECEIVE_BUFFER_BYTES);
  const names = new Uint8Array(BATCH_DATAGRAMS * SOCKADDR_BYTES);
  const iovecs = new BigUint64Array(BATCH_DATAGRAMS * IOVEC_BYTES / 8);
  const headers = new Uint8Array(BATCH_DATAGRAMS * MMSGHDR_BYTES);
  const headerWords = new Uint32Array(headers.buffer);
  const headerView = new DataView(headers.buffer);
  // The kernel holds raw pointers into these: they must live as long as the receiver. V8
  // frees a buffer that no live variable names, whatever C holds (measured: recvmmsg failed
  // with EFAULT once the iovecs were collected), so the receiver keeps them all.
  const kept = [data, names, iovecs, headers];
  const dataAt = address(Deno.UnsafePointer.of(data));
  const namesAt = address(Deno.UnsafePointer.of(names));
  const iovecsAt = address(Deno.UnsafePointer.of(iovecs));
  for (let i = 0; i < BATCH_DATAGRAMS; i++) {
    iovecs[2 * i] = dataAt + BigInt(i * RECEIVE_BUFFER_BYTES);
    iovecs[2 * i + 1] = BigInt(RECEIVE_BUFFER_BYTES);
    const at = i * MMSGHDR_BYTES;
    headerView.setBigUint64(at + MSG_NAME, namesAt + BigInt(i * SOCKADDR_BYTES), true);
    headerView.setBigUint64(at + MSG_IOV, iovecsAt + BigInt(i * IOVEC_BYTES), true);
    headerView.setBigUint64(at + MSG_IOVLEN, 1n, true);
  }
  // Per slot, the view and the pair handed out last: reused while the length and the source
  // stay the same, so a flood of one size from one source allocates nothing per datagram.
  const views: Uint8Array[] = [];
  const pairs: [Uint8Array, Deno.NetAddr][] = [];
  for (let i = 0; i < BATCH_DATAGRAMS; i++) {
    const view = data.subarray(i * RECEIVE_BUFFER_BYTES, i * RECEIVE_BUFFER_BYTES);
    views.push(view);
    pairs.push([view, { transport: "udp", hostname: "", port: 0 }]);
  }
  // The last source read, by its bytes: most datagrams come from the one sent before.
  const lastSource = new Uint8Array(SOCKADDR_BYTES);
  let lastAddr: Deno.NetAddr | undefined;

  let batchLength = 0;
  let batchNext = 0;
  let batchAtMs = 0;
  /** A `receive()` just returned: the socket may hold more behind it. */
  let mayDrain = false;
  let batched = true;
  let ended = false;

  function sourceOf(slot: number): Deno.NetAddr | undefined {
    const at = slot * SOCKADDR_BYTES;
    const length = names[at] === AF_INET ? 8 : 24;
    let same = lastAddr !== undefined;
    for (let i = 0; same && i < length; i++) same = names[at + i] === lastSource[i];
    if (same) return lastAddr;
    const hostname = sockaddrHost(names, at);
    if (hostname === undefined) return undefined;
    lastSource.set(names.subarray(at, at + SOCKADDR_BYTES));
    lastAddr = { transport: "udp", hostname, port: sockaddrPort(names, at) };
    return lastAddr;
  }

  /** Reads what is queued into the slots; the number read. */
  function readBatch(): number {
    for (let i = 0; i < BATCH_DATAGRAMS; i++) {
      headerWords[(i * MMSGHDR_BYTES + MSG_NAMELEN) / 4] = SOCKADDR_BYTES;
    }
    const read = c.recvmmsg(fd, headers, BATCH_DATAGRAMS, MSG_DONTWAIT, null);
    if (read >= 0) {
      batchAtMs = timeOrigin + performance.now();
      return read;
    }
    const code = errno(c);
    // Nothing queued, or an error the runtime's receive would skip as harmless too (an ICMP
    // error for an earlier send): the drain ends and the runtime's next receive() takes over.
    if (code !== EAGAIN && !isHarmlessDatagramErrno(code)) {
      batched = false;
      options.onError(
        new Error(
          `recvmmsg failed (errno ${code}); reading one datagram at a time from now on`,
        ),
      );
    }
    return 0;
  }

  /** The datagram of the next slot of the batch, or undefined for a source of no family. */
  function takeSlot(): [Uint8Array, Deno.NetAddr] | undefined {
    const slot = batchNext++;
    const source = sourceOf(slot);
    if (source === undefined) return undefined;
    const length = headerWords[(slot * MMSGHDR_BYTES + MSG_LEN) / 4]!;
    let view = views[slot]!;
    if (view.length !== length) {
      const start = slot * RECEIVE_BUFFER_BYTES;
      view = views[slot] = data.subarray(start, start + length);
    }
    const pair = pairs[slot]!;
    pair[0] = view;
    pair[1] = source;
    receiver.receivedAtMs = batchAtMs;
    return pair;
  }

  function poll(): [Uint8Array, Deno.NetAddr] | undefined {
    if (ended) return undefined;
    while (batchNext < batchLength) {
      const taken = takeSlot();
      if (taken !== undefined) return taken;
    }
    // One recvmmsg per receive(): a turn of the event loop between batches.
    if (!mayDrain || !batched || options.isClosed()) return undefined;
    mayDrain = false;
    batchLength = readBatch();
    batchNext = 0;
    return batchLength > 0 ? poll() : undefined;
  }

  async function next(): Promise<[Uint8Array, Deno.NetAddr] | undefined> {
    const polled = poll();
    if (polled !== undefined) return polled;
    while (!ended) {
      let received: [Uint8Array, Deno.Addr];
      try {
        received = await conn.receive(single);
      } catch (error) {
        if (await receiveErrorEnds(error, options)) {
          ended = true;
          break;
        }
        continue;
      }
      // The arrival time, as close to the socket as JavaScript gets.
      receiver.receivedAtMs = timeOrigin + performance.now();
      mayDrain = true;
      const addr = received[1] as Deno.NetAddr;
      const shown = shownAddr(addr);
      return shown === addr ? received as [Uint8Array, Deno.NetAddr] : [received[0], shown];
    }
    return undefined;
  }

  // `kept` holds the buffers lent to the kernel for as long as the receiver lives.
  const receiver = { receivedAtMs: NaN, next, poll, kept };
  return receiver;
}
