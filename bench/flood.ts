/**
 * Floods a loopback port with valid 79-byte heartbeats for a fixed time, as fast as this
 * machine sends, then prints one JSON line: `{"sent":…,"seconds":…,"rate":…,"method":…}`.
 *
 * ```sh
 * deno run --config=deno.json --allow-net --allow-ffi bench/flood.ts --to 127.0.0.1:5005 --seconds 2
 * ```
 *
 * On Linux with `--allow-ffi` it calls libc's `sendmmsg`, 32 datagrams per system call: one
 * core then sends 320,000–360,000 datagrams/s over loopback on an otherwise idle 2-core
 * machine, more than `Deno.listenDatagram` receives, so the receivers are measured at
 * saturation. Otherwise (or with `--deno`) it sends with `Deno.DatagramConn.send`, 32 sends
 * in flight, which reaches 140,000–170,000/s. With sendmmsg every datagram carries its own
 * timestamp, in microseconds, one more than the last at least: udpeer counts a repeated
 * timestamp and checksum as a duplicate, not as a message, so a batch of identical
 * datagrams would measure its duplicate check rather than its receive path.
 *
 * `--sources N` sends each datagram from another source address (127.16.0.0, 127.16.0.1 …,
 * N of them), as a flood of forged sources would; `--count` and `--rate` bound it.
 *
 * @module
 */

import {
  DEFAULT_MESSAGE,
  encodeHeartbeat,
  encodeHeartbeatInto,
  HEADER_BYTES,
  type HeartbeatFields,
} from "../protocol.ts";
import { type FloodResult, numberFlag } from "./lib.ts";

export type { FloodMethod, FloodResult } from "./lib.ts";

/** Datagrams per `sendmmsg` call, or sends in flight at once. */
const BATCH = 32;

/** Where and how long to flood. */
export interface FloodOptions {
  /** A loopback IPv4 address. */
  hostname: string;
  /** The receiver's port. */
  port: number;
  /** Length of the flood. */
  seconds: number;
  /** Use Deno's send even where sendmmsg is available. */
  denoOnly?: boolean;
  /**
   * Send each datagram from a different source address, 127.16.0.0 onward, cycling after
   * this many (sendmmsg only: the address goes in an IP_PKTINFO control message; every
   * 127.0.0.0/8 address is local on Linux, so no privilege is needed).
   */
  sources?: number;
  /** Stop after this many datagrams (else only the time limit stops it). */
  count?: number;
  /** At most this many datagrams a second (else as fast as it can). */
  rate?: number;
}

const text = new TextEncoder().encode(DEFAULT_MESSAGE);

function heartbeat(port: number): Uint8Array {
  return encodeHeartbeat({ timestamp: Date.now(), ipv4: "127.0.0.1", port, text });
}

/**
 * Floods with Deno's own `send()`, `BATCH` sends in flight at once.
 *
 * @param options Target and length.
 * @returns What was sent.
 */
export async function floodWithDeno(options: FloodOptions): Promise<FloodResult> {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const ownPort = (conn.addr as Deno.NetAddr).port;
  const target = { transport: "udp" as const, hostname: options.hostname, port: options.port };
  const started = performance.now();
  const end = started + options.seconds * 1000;
  let sent = 0;
  try {
    while (performance.now() < end) {
      const datagram = heartbeat(ownPort);
      const sends: Promise<number>[] = [];
      for (let i = 0; i < BATCH; i++) sends.push(conn.send(datagram, target));
      await Promise.all(sends);
      sent += BATCH;
    }
  } finally {
    conn.close();
  }
  const seconds = (performance.now() - started) / 1000;
  return { sent, seconds, rate: sent / seconds, method: "Deno.send" };
}

// struct sockaddr_in (16 bytes), struct iovec (16) and struct mmsghdr (64) as laid out by
// Linux on 64-bit machines (x86_64 and aarch64).
const SOCKADDR_IN_BYTES = 16;
const IOVEC_BYTES = 16;
const MMSGHDR_BYTES = 64;
const AF_INET = 2;
const SOCK_DGRAM = 2;
// struct cmsghdr (16) + struct in_pktinfo (12), padded: CMSG_SPACE(12) = 32, CMSG_LEN(12) = 28.
const CMSG_SPACE_BYTES = 32;
const CMSG_LEN_BYTES = 28;
const IPPROTO_IP = 0;
const CLOCK_PROCESS_CPUTIME_ID = 2;
const IP_PKTINFO = 8;
/** First forged source address, 127.16.0.0, as a number. */
const FIRST_SOURCE = (127 << 24 | 16 << 16) >>> 0;

/**
 * Floods with libc's `sendmmsg`, `BATCH` datagrams per system call.
 *
 * @param options Target and length.
 * @returns What was sent.
 * @throws {Error} If libc cannot be loaded (not Linux, or no `--allow-ffi`).
 */
export function floodWithSendmmsg(options: FloodOptions): FloodResult {
  const libc = Deno.dlopen("libc.so.6", {
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    sendmmsg: { parameters: ["i32", "pointer", "u32", "i32"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
    clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  });
  const fd = libc.symbols.socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) throw new Error("Cannot open a UDP socket through libc");
  const datagramBytes = HEADER_BYTES + text.length;
  // One buffer for everything the kernel reads, larger than V8's on-heap limit so that
  // it never moves: [sockaddr_in][iovec × BATCH][mmsghdr × BATCH][datagram × BATCH].
  const iovecs = SOCKADDR_IN_BYTES;
  const headers = iovecs + BATCH * IOVEC_BYTES;
  const controls = headers + BATCH * MMSGHDR_BYTES;
  const payloads = controls + BATCH * CMSG_SPACE_BYTES;
  const memory = new ArrayBuffer(payloads + BATCH * datagramBytes);
  const bytes = new Uint8Array(memory);
  const view = new DataView(memory);
  const base = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(memory)));
  view.setUint16(0, AF_INET, true);
  view.setUint16(2, options.port); // network order
  bytes.set(options.hostname.split(".").map(Number), 4);
  for (let i = 0; i < BATCH; i++) {
    const iovec = iovecs + i * IOVEC_BYTES;
    view.setBigUint64(iovec, base + BigInt(payloads + i * datagramBytes), true);
    view.setBigUint64(iovec + 8, BigInt(datagramBytes), true);
    const header = headers + i * MMSGHDR_BYTES;
    view.setBigUint64(header, base, true); // msg_name: the sockaddr_in
    view.setUint32(header + 8, SOCKADDR_IN_BYTES, true); // msg_namelen
    view.setBigUint64(header + 16, base + BigInt(iovec), true); // msg_iov
    view.setBigUint64(header + 24, 1n, true); // msg_iovlen
    if (options.sources !== undefined) {
      const control = controls + i * CMSG_SPACE_BYTES;
      view.setBigUint64(header + 32, base + BigInt(control), true); // msg_control
      view.setBigUint64(header + 40, BigInt(CMSG_SPACE_BYTES), true); // msg_controllen
      view.setBigUint64(control, BigInt(CMSG_LEN_BYTES), true); // cmsg_len
      view.setInt32(control + 8, IPPROTO_IP, true); // cmsg_level
      view.setInt32(control + 12, IP_PKTINFO, true); // cmsg_type
      // in_pktinfo at control + 16: ipi_ifindex 0, ipi_spec_dst (the source) set per send.
    }
  }
  let nextSource = 0;
  // One view per datagram of the batch, made once.
  const slots = Array.from(
    { length: BATCH },
    (_, i) => bytes.subarray(payloads + i * datagramBytes, payloads + (i + 1) * datagramBytes),
  );
  const fields: HeartbeatFields = { timestamp: 0, ipv4: "127.0.0.1", port: 0, text };
  let lastStamp = 0;
  const headersPointer = Deno.UnsafePointer.create(base + BigInt(headers));
  const started = performance.now();
  const end = started + options.seconds * 1000;
  const limit = options.count ?? Infinity;
  let sent = 0;
  try {
    while (performance.now() < end && sent < limit) {
      if (options.rate !== undefined) {
        // Hold back until this batch is due at the given rate.
        const due = started + sent / options.rate * 1000;
        while (performance.now() < due) { /* spin: timers are too coarse at this rate */ }
      }
      const nowUs = Math.floor((performance.timeOrigin + performance.now()) * 1000);
      for (let i = 0; i < BATCH; i++) {
        lastStamp = fields.timestamp = Math.max(nowUs, lastStamp + 1);
        encodeHeartbeatInto(slots[i]!, fields);
      }
      if (options.sources !== undefined) {
        for (let i = 0; i < BATCH; i++) {
          const source = FIRST_SOURCE + nextSource;
          nextSource = (nextSource + 1) % options.sources;
          view.setUint32(controls + i * CMSG_SPACE_BYTES + 20, source); // ipi_spec_dst
        }
      }
      const count = Math.min(BATCH, limit - sent);
      const n = libc.symbols.sendmmsg(fd, headersPointer, count, 0);
      if (n < 0) throw new Error("sendmmsg failed");
      sent += n;
    }
  } finally {
    libc.symbols.close(fd);
  }
  const seconds = (performance.now() - started) / 1000;
  // CPU time of the whole process, so that a bench can tell its own load from others'.
  const timespec = new BigInt64Array(2);
  libc.symbols.clock_gettime(CLOCK_PROCESS_CPUTIME_ID, timespec);
  libc.close();
  const cpuMs = Number(timespec[0]!) * 1000 + Number(timespec[1]!) / 1e6;
  return { sent, seconds, rate: sent / seconds, method: "sendmmsg", cpuMs };
}

/**
 * Floods with sendmmsg where it can, else with Deno's send.
 *
 * @param options Target and length.
 * @returns What was sent.
 * @throws {Error} If the target is not a loopback address.
 */
export async function flood(options: FloodOptions): Promise<FloodResult> {
  if (!/^127\.\d+\.\d+\.\d+$/.test(options.hostname)) {
    throw new Error(`Cannot flood "${options.hostname}": only loopback (127.0.0.0/8) is allowed`);
  }
  const ffi = Deno.build.os === "linux" && !options.denoOnly &&
    (await Deno.permissions.query({ name: "ffi" })).state === "granted";
  if (!ffi && options.sources !== undefined) {
    throw new Error("Cannot forge sources without sendmmsg: run on Linux with --allow-ffi");
  }
  return ffi ? floodWithSendmmsg(options) : await floodWithDeno(options);
}

if (import.meta.main) {
  const to = Deno.args[Deno.args.indexOf("--to") + 1] ?? "";
  const match = to.match(/^([\d.]+):(\d+)$/);
  if (!Deno.args.includes("--to") || !match) {
    console.error(
      "Usage: flood.ts --to 127.0.0.1:PORT [--seconds S] [--deno] [--sources N] [--count N] [--rate R]",
    );
    Deno.exit(2);
  }
  const result = await flood({
    hostname: match[1]!,
    port: Number(match[2]),
    seconds: numberFlag(Deno.args, "--seconds", 2),
    denoOnly: Deno.args.includes("--deno"),
    ...(Deno.args.includes("--sources") ? { sources: numberFlag(Deno.args, "--sources", 0) } : {}),
    ...(Deno.args.includes("--count") ? { count: numberFlag(Deno.args, "--count", 0) } : {}),
    ...(Deno.args.includes("--rate") ? { rate: numberFlag(Deno.args, "--rate", 0) } : {}),
  });
  console.log(JSON.stringify(result));
}
