// The batched reader against real sockets. These run where the test task grants --allow-ffi
// on Linux; elsewhere batchReceiver() is undefined (the first test checks which) and the
// rest are ignored.
import assert from "node:assert/strict";
import { BATCH_DATAGRAMS, batchReceiver, sockaddrHost } from "./batch_receive.ts";
import type { DatagramReceiver } from "./net.ts";
import { assertArrivalTimes, numbered, numberOf } from "../../tests/_helpers/datagrams.ts";

const batchable = Deno.build.os === "linux" &&
  (Deno.build.arch === "x86_64" || Deno.build.arch === "aarch64") &&
  Deno.permissions.querySync({ name: "ffi" }).state === "granted";

function open(conn: Deno.DatagramConn, closed = () => false): DatagramReceiver {
  const receiver = batchReceiver(conn, {
    isClosed: closed,
    onError: (error) => assert.fail(`no error expected: ${error}`),
  });
  assert.ok(receiver, "a batched receiver on this system");
  return receiver;
}

/** Reads `count` datagrams, polling first as the peer's loop does; how many came by poll(). */
async function readAll(
  receiver: DatagramReceiver,
  count: number,
  each: (data: Uint8Array, addr: Deno.NetAddr, atMs: number) => void,
): Promise<number> {
  let polled = 0;
  for (let i = 0; i < count; i++) {
    let received = receiver.poll();
    if (received !== undefined) polled++;
    else received = await receiver.next();
    assert.ok(received, `datagram ${i} arrived`);
    each(received[0], received[1], receiver.receivedAtMs);
  }
  return polled;
}

Deno.test("batchReceiver() is there exactly where --allow-ffi is granted on 64-bit Linux", () => {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const receiver = batchReceiver(conn, { isClosed: () => false, onError: () => {} });
    assert.equal(receiver !== undefined, batchable);
  } finally {
    conn.close();
  }
});

Deno.test({
  name:
    "batchReceiver() yields every datagram in the order sent, most from recvmmsg batches, each with its arrival time",
  ignore: !batchable,
  fn: async () => {
    const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const sender = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    try {
      const receiver = open(conn);
      assert.equal(receiver.poll(), undefined, "nothing has arrived yet");
      const startedAt = performance.timeOrigin + performance.now();
      // 150 wait in the socket before the first read (it holds ~256 small datagrams), then
      // 150 more after 100 are read.
      for (let n = 0; n < 150; n++) await sender.send(numbered(n), conn.addr);
      const seen: number[] = [];
      const times: number[] = [];
      const each = (data: Uint8Array, addr: Deno.NetAddr, atMs: number) => {
        assert.deepEqual({ ...addr }, { ...sender.addr });
        seen.push(numberOf(data));
        times.push(atMs);
      };
      let polled = await readAll(receiver, 100, each);
      for (let n = 150; n < 300; n++) await sender.send(numbered(n), conn.addr);
      polled += await readAll(receiver, 200, each);
      const endedAt = performance.timeOrigin + performance.now();
      assert.deepEqual(seen, Array.from({ length: 300 }, (_, n) => n));
      // Each receive() is followed by a batch of at most BATCH_DATAGRAMS: at least 300 less
      // one receive() per batch came by poll().
      assert.ok(polled >= 300 - Math.ceil(300 / (BATCH_DATAGRAMS + 1)) - 2, `${polled} polled`);
      assertArrivalTimes(times, startedAt, endedAt);
    } finally {
      conn.close();
      sender.close();
    }
  },
});

Deno.test({
  name:
    "batchReceiver() hands out each datagram whole, of any length up to 65,507 bytes, from each of its sources",
  ignore: !batchable,
  fn: async () => {
    const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const a = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const b = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.2", port: 0 });
    try {
      const receiver = open(conn);
      const lengths = [4, 79, 79, 1000, 65_507, 79, 4, 79];
      const senders = [a, b, b, a, a, b, a, a];
      for (const [n, length] of lengths.entries()) {
        const datagram = numbered(n, length);
        datagram.fill(n + 1, 4);
        await senders[n]!.send(datagram, conn.addr);
      }
      let n = 0;
      await readAll(receiver, lengths.length, (data, addr) => {
        assert.equal(data.length, lengths[n], `length of datagram ${n}`);
        assert.equal(numberOf(data), n);
        assert.ok(data.subarray(4).every((byte) => byte === n + 1), `payload of datagram ${n}`);
        assert.deepEqual({ ...addr }, { ...senders[n]!.addr }, `source of datagram ${n}`);
        n++;
      });
    } finally {
      conn.close();
      a.close();
      b.close();
    }
  },
});

Deno.test({
  name: "batchReceiver() on :: shows an IPv4 sender as plain IPv4, and an IPv6 one canonically",
  ignore: !batchable,
  fn: async () => {
    const conn = Deno.listenDatagram({ transport: "udp", hostname: "::", port: 0 });
    const v4 = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const v6 = Deno.listenDatagram({ transport: "udp", hostname: "::1", port: 0 });
    try {
      const receiver = open(conn);
      const port = (conn.addr as Deno.NetAddr).port;
      // Three each, so that some are read by recvmmsg, behind the receive() of the first.
      for (let n = 0; n < 6; n++) {
        const [from, hostname] = n % 2 === 0 ? [v4, "127.0.0.1"] : [v6, "::1"];
        await from.send(numbered(n), { transport: "udp", hostname, port });
      }
      const seen: string[] = [];
      await readAll(receiver, 6, (data, addr) => seen.push(`${numberOf(data)} ${addr.hostname}`));
      assert.deepEqual(seen, [
        "0 127.0.0.1",
        "1 ::1",
        "2 127.0.0.1",
        "3 ::1",
        "4 127.0.0.1",
        "5 ::1",
      ]);
    } finally {
      conn.close();
      v4.close();
      v6.close();
    }
  },
});

Deno.test({
  name: "batchReceiver() ends with undefined once the caller stops and the socket closes",
  ignore: !batchable,
  fn: async () => {
    const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    let closed = false;
    const receiver = open(conn, () => closed);
    const waiting = receiver.next();
    closed = true;
    conn.close();
    assert.equal(await waiting, undefined);
    assert.equal(receiver.poll(), undefined);
    assert.equal(await receiver.next(), undefined);
  },
});

Deno.test("sockaddrHost() reads a sockaddr_in and a sockaddr_in6, an IPv4-mapped one as IPv4", () => {
  const bytes = new Uint8Array(28 * 3);
  bytes.set([2, 0, 0x13, 0x8d, 192, 0, 2, 10], 0);
  bytes.set([10, 0, 0x13, 0x8d, 0, 0, 0, 0, 0x20, 0x01, 0x0d, 0xb8], 28);
  bytes[28 + 23] = 1;
  bytes.set([10, 0, 0, 0, 0, 0, 0, 0], 56);
  bytes.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1], 64);
  assert.equal(sockaddrHost(bytes, 0), "192.0.2.10");
  assert.equal(sockaddrHost(bytes, 28), "2001:db8::1");
  assert.equal(sockaddrHost(bytes, 56), "10.0.0.1");
  bytes[0] = 1;
  assert.equal(sockaddrHost(bytes, 0), undefined, "AF_UNIX is no source");
});
