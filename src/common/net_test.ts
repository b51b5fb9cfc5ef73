import assert from "node:assert/strict";
import { StartupError } from "./errors.ts";
import { ipv6Unavailable } from "../../tests/_helpers/ipv6.ts";
import { assertArrivalTimes, numbered, numberOf } from "../../tests/_helpers/datagrams.ts";
import {
  anyAddress,
  datagramReceiver,
  isHarmlessDatagramErrno,
  isHarmlessDatagramError,
  isHarmlessSocketError,
  listenError,
  RECEIVE_BUFFER_BYTES,
  resolveAddress,
  resolveTo,
} from "./net.ts";

Deno.test("datagramReceiver() with one receive returns a datagram and its source, then undefined once closed", async () => {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  let closed = false;
  const receiver = datagramReceiver(conn, {
    depth: 1,
    isClosed: () => closed,
    onError: () => assert.fail("no error"),
  });
  await conn.send(new TextEncoder().encode("hi"), conn.addr);
  const received = await receiver.next();
  assert.ok(received);
  assert.equal(new TextDecoder().decode(received[0]), "hi");
  assert.equal(received[1].port, (conn.addr as Deno.NetAddr).port);
  assert.equal(
    received[0].buffer.byteLength,
    RECEIVE_BUFFER_BYTES,
    "the datagram is a view into a buffer that holds the largest one",
  );
  const pending = receiver.next();
  closed = true;
  conn.close();
  assert.equal(await pending, undefined);
});

Deno.test("listenError() names the problem and the fix for each kind of failure", () => {
  const cases: [Error, RegExp][] = [
    [
      new Deno.errors.AddrInUse("x"),
      /UDP 0\.0\.0\.0:5005: the port is in use; choose another --port/,
    ],
    [
      new Deno.errors.AddrNotAvailable("x"),
      /0\.0\.0\.0 is not an address of this machine; check --bind/,
    ],
    [new Deno.errors.PermissionDenied("x"), /permission denied .*choose a --port above 1023/],
    [new Deno.errors.NotCapable("x"), /run with --allow-net$/],
    [Object.assign(new Error("odd"), { code: "EODD" }), /UDP 0\.0\.0\.0:5005: odd \(EODD\)$/],
  ];
  for (const [error, expected] of cases) {
    const result = listenError("UDP", "0.0.0.0", 5005, error);
    assert.ok(result instanceof StartupError);
    assert.match(result.message, expected);
  }
});

Deno.test("datagramReceiver() yields every datagram in the order it was sent, 8 receives in flight", async () => {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const sender = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    // 150 wait in the socket before the receiver starts, so that its first receives all
    // complete at once; 150 more arrive after it has read 100. (The socket's buffer holds
    // ~256 small datagrams, and a sender in this process would outrun the reader.)
    for (let n = 0; n < 150; n++) await sender.send(numbered(n), conn.addr);
    const receiver = datagramReceiver(conn, {
      depth: 8,
      isClosed: () => false,
      onError: (error) => assert.fail(`no error expected: ${error}`),
    });
    const seen: number[] = [];
    const receive = async (count: number) => {
      for (let i = 0; i < count; i++) {
        const received = await receiver.next();
        assert.ok(received, `datagram ${seen.length} arrived`);
        const [data, addr] = received;
        assert.equal(addr.port, (sender.addr as Deno.NetAddr).port);
        seen.push(numberOf(data));
      }
    };
    await receive(100);
    for (let n = 150; n < 300; n++) await sender.send(numbered(n), conn.addr);
    await receive(200);
    assert.deepEqual(seen, Array.from({ length: 300 }, (_, n) => n));
  } finally {
    conn.close();
    sender.close();
  }
});

Deno.test("datagramReceiver() poll() takes what has arrived without waiting, in order, each with its arrival time", async () => {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const sender = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const receiver = datagramReceiver(conn, {
      depth: 4,
      isClosed: () => false,
      onError: (error) => assert.fail(`no error expected: ${error}`),
    });
    assert.equal(receiver.poll(), undefined, "nothing has arrived yet");
    const startedAt = performance.timeOrigin + performance.now();
    for (let n = 0; n < 100; n++) await sender.send(numbered(n), conn.addr);
    const seen: number[] = [];
    const times: number[] = [];
    let polled = 0;
    while (seen.length < 100) {
      let received = receiver.poll();
      if (received !== undefined) polled++;
      else received = await receiver.next();
      assert.ok(received);
      const [data] = received;
      seen.push(numberOf(data));
      times.push(receiver.receivedAtMs);
    }
    const endedAt = performance.timeOrigin + performance.now();
    assert.deepEqual(seen, Array.from({ length: 100 }, (_, n) => n));
    assert.ok(polled > 0, "some datagrams were already there when asked");
    assertArrivalTimes(times, startedAt, endedAt);
  } finally {
    conn.close();
    sender.close();
  }
});

Deno.test("datagramReceiver() keeps a datagram intact until the next call, in a buffer of its own", async () => {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    const receiver = datagramReceiver(conn, { depth: 2, isClosed: () => false, onError: () => {} });
    await conn.send(numbered(1), conn.addr);
    const first = await receiver.next();
    // More datagrams arrive while the caller still holds the first.
    await conn.send(numbered(2), conn.addr);
    await conn.send(numbered(3), conn.addr);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(first?.[0], numbered(1));
    const second = await receiver.next();
    assert.deepEqual(second?.[0], numbered(2));
    assert.notEqual(second?.[0].buffer, first?.[0].buffer);
    assert.deepEqual((await receiver.next())?.[0], numbered(3));
  } finally {
    conn.close();
  }
});

Deno.test("datagramReceiver() ends with undefined when the socket closes under receives in flight", async () => {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  let closed = false;
  const errors: unknown[] = [];
  const receiver = datagramReceiver(conn, {
    depth: 4,
    isClosed: () => closed,
    onError: (error) => errors.push(error),
  });
  const pending = receiver.next();
  closed = true;
  conn.close();
  assert.equal(await pending, undefined);
  assert.equal(await receiver.next(), undefined, "and at every call after that");
  assert.deepEqual(errors, []);
});

Deno.test("datagramReceiver() rejects a depth below 1 with a message naming the fix", () => {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  try {
    for (const depth of [0, -1, 1.5]) {
      assert.throws(
        () => datagramReceiver(conn, { depth, isClosed: () => false, onError: () => {} }),
        /Cannot use a receive depth of .*: give a whole number of 1 or more/,
      );
    }
  } finally {
    conn.close();
  }
});

const noIpv6 = await ipv6Unavailable();
const ipv6Tests = [
  "datagramReceiver() on :: shows an IPv4 sender as plain IPv4, an IPv6 one as it is",
];
if (noIpv6 !== undefined) {
  for (const name of ipv6Tests) console.log(`skipped: net_test.ts: ${name}: ${noIpv6}`);
}

Deno.test({ name: ipv6Tests[0]!, ignore: noIpv6 !== undefined }, async () => {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "::", port: 0 });
  const v4 = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const v6 = Deno.listenDatagram({ transport: "udp", hostname: "::1", port: 0 });
  const port = (conn.addr as Deno.NetAddr).port;
  try {
    const receiver = datagramReceiver(conn, { isClosed: () => false, onError: () => {} });
    await v4.send(new Uint8Array([4]), { transport: "udp", hostname: "127.0.0.1", port });
    const [, from4] = (await receiver.next())!;
    assert.equal(from4.hostname, "127.0.0.1", "not ::ffff:127.0.0.1");
    assert.equal(from4.port, (v4.addr as Deno.NetAddr).port);
    // A reply to the plain address leaves the :: socket and reaches the IPv4 sender.
    await conn.send(new Uint8Array([44]), from4);
    assert.deepEqual((await v4.receive())[0], new Uint8Array([44]));
    await v6.send(new Uint8Array([6]), { transport: "udp", hostname: "::1", port });
    const [, from6] = (await receiver.next())!;
    assert.equal(from6.hostname, "::1");
  } finally {
    conn.close();
    v4.close();
    v6.close();
  }
});

Deno.test("resolveAddress() and resolveTo(): literals as they are, a name by the preferred family first", async () => {
  assert.equal(await resolveAddress("127.0.0.1"), "127.0.0.1");
  assert.equal(await resolveAddress("0:0:0:0:0:0:0:1", "ipv4"), "::1");
  assert.equal(await resolveAddress("::ffff:127.0.0.1"), "127.0.0.1");
  // localhost has an IPv4 address in every hosts file: the default takes it; -6 takes an
  // IPv6 one if the system has one, else falls back to the IPv4 one.
  assert.equal(await resolveAddress("localhost"), "127.0.0.1");
  assert.match(await resolveAddress("localhost", "ipv6"), /^(::1|127\.0\.0\.1)$/);
  assert.equal(await resolveTo("::1", "ipv6"), "::1");
  await assert.rejects(() => resolveTo("::"), {
    message:
      'Cannot resolve --to "::": it resolves to ::, which is no destination; check the name or give an IPv4 address',
  });
  assert.equal(anyAddress("ipv6"), "::");
  assert.match(
    listenError("UDP", "::1", 5005, new Deno.errors.AddrInUse("x")).message,
    /^Cannot listen on UDP \[::1\]:5005: the port is in use/,
  );
});

Deno.test("a datagram receive skips the same errors by class, name and number: a peer gone, an ICMP error for an earlier datagram", () => {
  // Linux's numbers, from errno.h: an oracle apart from the table in net.ts.
  const peerGone: [string, number][] = [
    ["ECONNRESET", 104],
    ["ECONNABORTED", 103],
    ["ECONNREFUSED", 111],
    ["EPIPE", 32],
    ["EINTR", 4],
  ];
  const icmp: [string, number][] = [
    ["ENETUNREACH", 101],
    ["EHOSTUNREACH", 113],
    ["EHOSTDOWN", 112],
    ["EMSGSIZE", 90],
    ["EPROTO", 71],
    ["ENOPROTOOPT", 92],
    ["ENONET", 64],
  ];
  const withCode = (code: string) => Object.assign(new Error(code), { code });
  for (const [code, errno] of [...peerGone, ...icmp]) {
    assert.ok(isHarmlessDatagramError(withCode(code)), code);
    assert.ok(isHarmlessDatagramErrno(errno), `${code} = ${errno}`);
  }
  // On a connection only a peer gone is harmless: "No route to host" is worth a line.
  for (const [code] of peerGone) assert.ok(isHarmlessSocketError(withCode(code)), code);
  for (const [code] of icmp) assert.ok(!isHarmlessSocketError(withCode(code)), code);
  // The runtime's own classes, as it throws them, with or without a code.
  for (const harmless of [isHarmlessSocketError, isHarmlessDatagramError]) {
    assert.ok(harmless(new Deno.errors.ConnectionRefused("refused")));
    assert.ok(harmless(new Deno.errors.BadResource("closed")));
    assert.ok(!harmless(new Deno.errors.PermissionDenied("no")));
    assert.ok(!harmless("ECONNRESET"));
  }
  assert.ok(isHarmlessDatagramError(new Deno.errors.NetworkUnreachable("unreachable")));
  assert.ok(!isHarmlessSocketError(new Deno.errors.NetworkUnreachable("unreachable")));
  // Errors that say something is wrong here: reported, never skipped.
  for (
    const [code, errno] of [["EBADF", 9], ["EFAULT", 14], ["EACCES", 13], ["ENOBUFS", 105]] as const
  ) {
    assert.ok(!isHarmlessDatagramError(withCode(code)), code);
    assert.ok(!isHarmlessDatagramErrno(errno), code);
  }
  // EAGAIN only says nothing is queued: the batched reader handles it apart.
  assert.ok(!isHarmlessDatagramErrno(11));
});
