import assert from "node:assert/strict";
import { StartupError } from "./errors.ts";
import { listenError, receiveDatagram } from "./net.ts";

Deno.test("receiveDatagram() returns a datagram and its source, then undefined once closed", async () => {
  const conn = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  const buffer = new Uint8Array(65_508);
  await conn.send(new TextEncoder().encode("hi"), conn.addr);
  const received = await receiveDatagram(conn, buffer, () => false, () => assert.fail("no error"));
  assert.ok(received);
  assert.equal(new TextDecoder().decode(received[0]), "hi");
  assert.equal(received[1].port, (conn.addr as Deno.NetAddr).port);
  assert.equal(received[0].buffer, buffer.buffer, "the datagram is a view into the buffer");
  const pending = receiveDatagram(conn, buffer, () => true, () => assert.fail("no error"));
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
