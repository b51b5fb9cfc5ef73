import assert from "node:assert/strict";
import { chooseAdvertisedAddress, isLoopback, needsInterfaces } from "./advertise.ts";

const interfaces = [
  { family: "IPv4" as const, address: "127.0.0.1", netmask: "255.0.0.0" },
  { family: "IPv6" as const, address: "fe80::1", netmask: "ffff:ffff:ffff:ffff::" },
  { family: "IPv4" as const, address: "10.0.0.5", netmask: "255.255.255.0" },
  { family: "IPv4" as const, address: "192.168.7.2", netmask: "255.255.255.0" },
];

Deno.test("chooseAdvertisedAddress() lets --advertise win over everything", () => {
  assert.equal(
    chooseAdvertisedAddress({ advertise: "203.0.113.9", bind: "10.0.0.5", target: "127.0.0.1" }),
    "203.0.113.9",
  );
});

Deno.test("chooseAdvertisedAddress() advertises a specific bound address", () => {
  assert.equal(
    chooseAdvertisedAddress({ bind: "127.0.0.2", target: "192.168.7.40", interfaces }),
    "127.0.0.2",
  );
});

Deno.test("chooseAdvertisedAddress() advertises 127.0.0.1 to a loopback target", () => {
  assert.equal(
    chooseAdvertisedAddress({ bind: "0.0.0.0", target: "127.0.0.9", interfaces }),
    "127.0.0.1",
  );
});

Deno.test("chooseAdvertisedAddress() picks the interface on the target's subnet", () => {
  assert.equal(
    chooseAdvertisedAddress({ bind: "0.0.0.0", target: "10.0.0.77", interfaces }),
    "10.0.0.5",
  );
  assert.equal(
    chooseAdvertisedAddress({ bind: "0.0.0.0", target: "192.168.7.1", interfaces }),
    "192.168.7.2",
  );
});

Deno.test("chooseAdvertisedAddress() falls back to the first non-loopback IPv4, then loopback", () => {
  assert.equal(
    chooseAdvertisedAddress({ bind: "0.0.0.0", target: "198.51.100.1", interfaces }),
    "10.0.0.5",
  );
  assert.equal(chooseAdvertisedAddress({ bind: "0.0.0.0", interfaces }), "10.0.0.5");
  assert.equal(chooseAdvertisedAddress({ bind: "0.0.0.0", target: "198.51.100.1" }), "127.0.0.1");
  assert.equal(
    chooseAdvertisedAddress({
      bind: "0.0.0.0",
      target: "198.51.100.1",
      interfaces: interfaces.slice(0, 2),
    }),
    "127.0.0.1",
  );
});

Deno.test("needsInterfaces() reads the interface list only when it matters", () => {
  assert.equal(needsInterfaces({ bind: "0.0.0.0", target: "127.0.0.1" }), false);
  assert.equal(needsInterfaces({ bind: "10.0.0.5", target: "192.0.2.1" }), false);
  assert.equal(
    needsInterfaces({ advertise: "10.0.0.5", bind: "0.0.0.0", target: "192.0.2.1" }),
    false,
  );
  assert.equal(needsInterfaces({ bind: "0.0.0.0", target: "192.0.2.1" }), true);
  assert.equal(needsInterfaces({ bind: "0.0.0.0" }), true);
});

Deno.test("isLoopback() covers all of 127.0.0.0/8 and nothing else", () => {
  assert.ok(isLoopback("127.0.0.1"));
  assert.ok(isLoopback("127.255.255.254"));
  assert.ok(!isLoopback("128.0.0.1"));
  assert.ok(!isLoopback("10.127.0.1"));
  assert.ok(!isLoopback("not an address"));
});

Deno.test("chooseAdvertisedAddress() writes 0.0.0.0 for a heartbeat sent over IPv6, and reads no interfaces for it", () => {
  const cases: [Parameters<typeof chooseAdvertisedAddress>[0], string][] = [
    // An IPv6 target: the header cannot hold the sender's address.
    [{ bind: "::", target: "::1", interfaces }, "0.0.0.0"],
    [{ bind: "::", target: "fd00:75:64::2", interfaces }, "0.0.0.0"],
    [{ bind: "fd00:75:64::1", target: "fd00:75:64::2", interfaces }, "0.0.0.0"],
    // A socket bound to one IPv6 address sends nothing over IPv4.
    [{ bind: "::1", interfaces }, "0.0.0.0"],
    // A dual-stack socket (::) sends to an IPv4 target over IPv4: chosen as from 0.0.0.0.
    [{ bind: "::", target: "127.0.0.1", interfaces }, "127.0.0.1"],
    [{ bind: "::", target: "192.168.7.1", interfaces }, "192.168.7.2"],
    [{ bind: "::", interfaces }, "10.0.0.5"],
    // --advertise is what the user asked to write: it wins, over IPv6 too.
    [{ advertise: "203.0.113.9", bind: "::", target: "::1" }, "203.0.113.9"],
  ];
  for (const [input, expected] of cases) {
    assert.equal(chooseAdvertisedAddress(input), expected, JSON.stringify(input));
  }
  assert.equal(needsInterfaces({ bind: "::", target: "::1" }), false);
  assert.equal(needsInterfaces({ bind: "::", target: "2001:db8::1" }), false);
  assert.equal(needsInterfaces({ bind: "::", target: "192.0.2.1" }), true);
  assert.equal(needsInterfaces({ bind: "::1", target: "::1" }), false);
});
