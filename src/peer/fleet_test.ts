import assert from "node:assert/strict";
import { UsageError } from "../common/errors.ts";
import { findSelf, isSelf, parseNameFlag, peerIdentity, splitFleet } from "./fleet.ts";
import { parsePeersFile } from "./peers_file.ts";

// The one file of the fleet, copied to every host.
const FLEET = `# the fleet
10.0.0.1:5005 a
10.0.0.2:5005 b
10.0.0.3:5005 c
10.0.0.4:5005 d
`;
const entries = parsePeersFile(FLEET, "fleet.txt");
const names = (list: readonly { name?: string | undefined }[]) => list.map((e) => e.name);

Deno.test("findSelf: on every host of the fleet the same file gives its own name and the others as targets", () => {
  for (const [index, name] of ["a", "b", "c", "d"].entries()) {
    const { self, targets } = findSelf(entries, {
      port: 5005,
      bind: "0.0.0.0",
      interfaceAddresses: ["127.0.0.1", `10.0.0.${index + 1}`, "192.168.1.7"],
    });
    assert.equal(self?.name, name);
    assert.equal(self?.line, index + 2);
    assert.deepEqual(names(targets), ["a", "b", "c", "d"].filter((n) => n !== name));
  }
});

Deno.test("findSelf: the port must be the listening port", () => {
  const own = { port: 5006, bind: "0.0.0.0", interfaceAddresses: ["10.0.0.2"] };
  const { self, targets } = findSelf(entries, own);
  assert.equal(self, undefined);
  assert.equal(targets.length, 4);
  // --port 0 is no line's port.
  assert.equal(isSelf({ host: "10.0.0.2", port: 0 }, { ...own, port: 0 }), false);
});

Deno.test("findSelf: bound to one address, only that address is its own", () => {
  const bound = { port: 5005, bind: "10.0.0.3", interfaceAddresses: ["10.0.0.2", "10.0.0.3"] };
  assert.equal(findSelf(entries, bound).self?.name, "c");
  // Another address of the same host is another peer (one bound there, say).
  assert.equal(isSelf({ host: "10.0.0.2", port: 5005 }, bound), false);
  // A loopback address is its own only if it is the bound one.
  assert.equal(isSelf({ host: "127.0.0.1", port: 5005 }, bound), false);
  assert.equal(isSelf({ host: "127.0.0.1", port: 5005 }, { ...bound, bind: "127.0.0.1" }), true);
});

Deno.test("findSelf: bound to all, any loopback address is its own, and no address not listed", () => {
  const all = { port: 5005, bind: "0.0.0.0", interfaceAddresses: ["10.0.0.2"] };
  assert.equal(isSelf({ host: "127.0.1.1", port: 5005 }, all), true);
  assert.equal(isSelf({ host: "10.0.0.9", port: 5005 }, all), false);
  // Without the interface list (no permission) only loopback lines can be found.
  assert.equal(findSelf(entries, { ...all, interfaceAddresses: [] }).self, undefined);
});

Deno.test("findSelf: a line with a name for HOST is its own by the address the name resolves to", () => {
  const own = { port: 5005, bind: "0.0.0.0", interfaceAddresses: ["10.0.0.2"] };
  assert.equal(isSelf({ host: "b.example.net", port: 5005, address: "10.0.0.2" }, own), true);
  assert.equal(isSelf({ host: "b.example.net", port: 5005 }, own), false);
});

Deno.test("findSelf: only the first of two own lines is this peer; a file without one is all targets", () => {
  const twice = parsePeersFile("127.0.0.1:5005 one\n127.0.0.2:5005 two\n", "f");
  const { self, targets } = findSelf(twice, {
    port: 5005,
    bind: "0.0.0.0",
    interfaceAddresses: [],
  });
  assert.equal(self?.name, "one");
  assert.deepEqual(names(targets), ["two"]);
  assert.deepEqual(findSelf([], { port: 5005, bind: "0.0.0.0", interfaceAddresses: [] }), {
    targets: [],
  });
});

Deno.test("splitFleet resolves names and lists the interfaces only for lines on its own port", async () => {
  let listed = 0;
  const interfaces = () => {
    listed++;
    return ["10.0.0.1"];
  };
  const other = await splitFleet(entries, { port: 6000, bind: "0.0.0.0" }, interfaces);
  assert.equal(other.self, undefined);
  assert.equal(listed, 0);
  const split = await splitFleet(entries, { port: 5005, bind: "0.0.0.0" }, interfaces);
  assert.equal(split.self?.name, "a");
  assert.equal(listed, 1);
  // localhost resolves through /etc/hosts to a loopback address.
  const named = parsePeersFile("localhost:5005 me\n10.0.0.2:5005 b\n", "f");
  const local = await splitFleet(named, { port: 5005, bind: "0.0.0.0" }, () => []);
  assert.equal(local.self?.name, "me");
  assert.match(local.self?.address ?? "", /^127\./);
  assert.deepEqual(names(local.targets), ["b"]);
});

Deno.test("peerIdentity: the name is --name, else its own line's, else the host name, else the address", () => {
  const self = { host: "10.0.0.2", port: 5005, name: "b" };
  const base = { advertise: "192.168.1.7", port: 5005 };
  assert.deepEqual(peerIdentity({ ...base, self, name: "web-2", hostname: "h" }), {
    name: "web-2",
    address: "10.0.0.2:5005",
  });
  assert.deepEqual(peerIdentity({ ...base, self, hostname: "h" }), {
    name: "b",
    address: "10.0.0.2:5005",
  });
  assert.deepEqual(
    peerIdentity({ ...base, self: { host: "10.0.0.2", port: 5005 }, hostname: "h" }),
    {
      name: "h",
      address: "10.0.0.2:5005",
    },
  );
  // No own line: what the others see as its source, the advertised address and its port.
  assert.deepEqual(peerIdentity(base), { name: "192.168.1.7:5005", address: "192.168.1.7:5005" });
  // A name for HOST: the address it resolved to.
  assert.deepEqual(
    peerIdentity({ ...base, self: { host: "b.example.net", port: 5005, address: "10.0.0.2" } }),
    { name: "10.0.0.2:5005", address: "10.0.0.2:5005" },
  );
});

Deno.test("parseNameFlag takes what a peers file NAME may be", () => {
  assert.equal(parseNameFlag("web-1.rack3@par/2+x_y"), "web-1.rack3@par/2+x_y");
  assert.equal(parseNameFlag("x".repeat(64)), "x".repeat(64));
  assert.throws(() => parseNameFlag(""), UsageError);
  assert.throws(() => parseNameFlag("two words"), /Cannot use --name "two words": use letters/);
  assert.throws(() => parseNameFlag("x".repeat(65)), /longer than 64 characters/);
  assert.throws(() => parseNameFlag("bad\x1b[2J"), /"bad\\x1b\[2J"/);
});

Deno.test("findSelf and peerIdentity know IPv6 lines: ::1, an interface's address, a :: bind", () => {
  const file = parsePeersFile(
    "[::1]:5005 loop\n[fd00:75:64::1]:5005 ula\n[fd00:75:64::2]:5005 b\n",
    "f",
  );
  // Bound to every address (:: or 0.0.0.0): ::1 is this host.
  for (const bind of ["::", "0.0.0.0"]) {
    const { self } = findSelf(file, { port: 5005, bind, interfaceAddresses: [] });
    assert.equal(self?.name, "loop", bind);
  }
  // An interface's IPv6 address is this host too.
  const ula = findSelf(file.slice(1), {
    port: 5005,
    bind: "::",
    interfaceAddresses: ["fd00:75:64::1"],
  });
  assert.equal(ula.self?.name, "ula");
  assert.deepEqual(names(ula.targets), ["b"]);
  // Bound to one address: only a line with that address.
  const bound = findSelf(file, { port: 5005, bind: "fd00:75:64::2", interfaceAddresses: [] });
  assert.equal(bound.self?.name, "b");
  assert.deepEqual(
    peerIdentity({ self: { host: "fd00:75:64::2", port: 5005 }, advertise: "0.0.0.0", port: 5005 }),
    { name: "[fd00:75:64::2]:5005", address: "[fd00:75:64::2]:5005" },
  );
});
