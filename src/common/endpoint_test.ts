import assert from "node:assert/strict";
import {
  canonicalIpv6,
  type Endpoint,
  familyOf,
  formatEndpoint,
  joinHostPort,
  parseEndpoint,
  parseIpv6,
  parseLocalAddress,
  splitHostPort,
  unmapAddress,
} from "./endpoint.ts";
import { UsageError } from "./errors.ts";

Deno.test("parseEndpoint() reads IPv4, bracketed IPv6 and names, and formatEndpoint() writes them back", () => {
  const cases: [string, Endpoint, string][] = [
    ["127.0.0.1:5005", { host: "127.0.0.1", port: 5005, family: "ipv4" }, "127.0.0.1:5005"],
    ["192.0.2.1:1", { host: "192.0.2.1", port: 1, family: "ipv4" }, "192.0.2.1:1"],
    ["a.b:65535", { host: "a.b", port: 65535, family: "name" }, "a.b:65535"],
    ["localhost:5005", { host: "localhost", port: 5005, family: "name" }, "localhost:5005"],
    ["[::1]:5005", { host: "::1", port: 5005, family: "ipv6" }, "[::1]:5005"],
    [
      "[2001:db8::1]:5005",
      { host: "2001:db8::1", port: 5005, family: "ipv6" },
      "[2001:db8::1]:5005",
    ],
    // Canonical form (RFC 5952), as the socket reports the source: upper case, leading zeros
    // and a zero run written out all come back as one text.
    [
      "[2001:0DB8:0000:0000:0000:0000:0000:0001]:80",
      { host: "2001:db8::1", port: 80, family: "ipv6" },
      "[2001:db8::1]:80",
    ],
    [
      "[fd00:75:64::2]:5005",
      { host: "fd00:75:64::2", port: 5005, family: "ipv6" },
      "[fd00:75:64::2]:5005",
    ],
    // IPv4-mapped: the IPv4 address it stands for.
    [
      "[::ffff:127.0.0.1]:5005",
      { host: "127.0.0.1", port: 5005, family: "ipv4" },
      "127.0.0.1:5005",
    ],
    ["[::FFFF:7f00:1]:5005", { host: "127.0.0.1", port: 5005, family: "ipv4" }, "127.0.0.1:5005"],
  ];
  for (const [text, endpoint, formatted] of cases) {
    assert.deepEqual(parseEndpoint(text), endpoint, text);
    assert.equal(formatEndpoint(endpoint), formatted, text);
    assert.deepEqual(parseEndpoint(formatted), endpoint, `${text} round trip`);
  }
});

Deno.test("parseEndpoint() refuses bad input with one line naming the flag and the problem", () => {
  const cases: [string, string][] = [
    // The IPv4 wordings udpeer has always used.
    ["127.0.0.1", 'Cannot parse --to: "127.0.0.1" has no port (write HOST:PORT)'],
    ["127.0.0.1:0", 'Cannot parse --to: "0" is not a port in 1..65535'],
    ["127.0.0.1:70000", 'Cannot parse --to: "70000" is not a port in 1..65535'],
    ["127.0.0.1:", 'Cannot parse --to: "" is not a port in 1..65535'],
    ["127.0.0.1:+5", 'Cannot parse --to: "+5" is not a port in 1..65535'],
    [":5005", 'Cannot parse --to: ":5005" needs an IPv4 address or a name before the port'],
    ["a b:5005", 'Cannot parse --to: "a b:5005" needs an IPv4 address or a name before the port'],
    ["a:b:5005", 'Cannot parse --to: "a:b:5005" needs an IPv4 address or a name before the port'],
    [
      "999.1.1.1:5005",
      'Cannot parse --to: "999.1.1.1" is not an IPv4 address (four numbers 0..255, like 192.0.2.1)',
    ],
    [
      "10.1:5005",
      'Cannot parse --to: "10.1" is not an IPv4 address (four numbers 0..255, like 192.0.2.1)',
    ],
    [
      "0.0.0.0:5005",
      'Cannot parse --to: 0.0.0.0 means "any address" and is no destination; use 127.0.0.1 for this host',
    ],
    // IPv6.
    ["[::1]", 'Cannot parse --to: "[::1]" has no port (write [IPV6]:PORT)'],
    ["[::1]:0", 'Cannot parse --to: "0" is not a port in 1..65535'],
    [
      "::1:5005",
      'Cannot parse --to: "::1:5005" holds an IPv6 address: write an IPv6 address in brackets, as in [2001:db8::1]:5005',
    ],
    [
      "2001:db8::1",
      'Cannot parse --to: "2001:db8::1" holds an IPv6 address: write an IPv6 address in brackets, as in [2001:db8::1]:5005',
    ],
    ["[1::2::3]:5005", 'Cannot parse --to: "1::2::3" is not an IPv6 address (like 2001:db8::1)'],
    [
      "[localhost]:5005",
      'Cannot parse --to: "localhost" is not an IPv6 address (like 2001:db8::1)',
    ],
    [
      "[fe80::1%eth0]:5005",
      'Cannot parse --to: "fe80::1%eth0" is not an IPv6 address (like 2001:db8::1)',
    ],
    [
      "[::1]x:5005",
      'Cannot parse --to: "[::1]x:5005" needs the port right after the "]", as in [2001:db8::1]:5005',
    ],
    [
      "[::]:5005",
      'Cannot parse --to: :: means "any address" and is no destination; use ::1 for this host',
    ],
    [
      "[::ffff:0.0.0.0]:5005",
      'Cannot parse --to: 0.0.0.0 means "any address" and is no destination; use 127.0.0.1 for this host',
    ],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseEndpoint(text), (error: unknown) => {
      assert.ok(error instanceof UsageError, text);
      assert.equal(error.message, message, text);
      return true;
    });
  }
  assert.throws(() => parseEndpoint("10.0.0.2", "target"), {
    message: 'Cannot parse target: "10.0.0.2" has no port (write HOST:PORT)',
  });
});

Deno.test("parseIpv6() and canonicalIpv6() read every form and write RFC 5952's", () => {
  const cases: [string, string | undefined][] = [
    ["::", "::"],
    ["::1", "::1"],
    ["1::", "1::"],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
    ["1:0:0:4:0:0:0:8", "1:0:0:4::8"], // the longest zero run
    ["1:0:0:4:5:0:0:8", "1::4:5:0:0:8"], // the first of two equal runs
    ["1:0:3:4:5:6:7:8", "1:0:3:4:5:6:7:8"], // one zero group stays
    ["2001:DB8::A", "2001:db8::a"],
    ["0001:0002::", "1:2::"],
    ["::ffff:192.0.2.1", "192.0.2.1"],
    ["64:ff9b::192.0.2.1", "64:ff9b::c000:201"],
    ["1:2:3:4:5:6:7", undefined],
    ["1:2:3:4:5:6:7:8:9", undefined],
    ["1::2::3", undefined],
    [":1", undefined],
    ["1:", undefined],
    ["12345::", undefined],
    ["::1.2.3", undefined],
    ["::256.0.0.1", undefined],
    ["1.2.3.4", undefined],
    ["g::1", undefined],
    ["", undefined],
  ];
  for (const [text, canonical] of cases) {
    assert.equal(canonicalIpv6(text), canonical, text);
    assert.equal(parseIpv6(text) !== undefined, canonical !== undefined, text);
  }
});

Deno.test("unmapAddress(), familyOf(), joinHostPort() and parseLocalAddress()", () => {
  const unmapped: [string, string][] = [
    ["::ffff:127.0.0.1", "127.0.0.1"],
    ["127.0.0.1", "127.0.0.1"],
    ["::1", "::1"],
    ["::ffff:7f00:1", "::ffff:7f00:1"], // not the form a socket reports
    ["::ffff:", "::ffff:"],
    ["", ""],
  ];
  for (const [address, shown] of unmapped) assert.equal(unmapAddress(address), shown, address);

  assert.deepEqual(
    ["10.0.0.1", "::1", "fd00::2", "name", "999.0.0.1"].map(familyOf),
    ["ipv4", "ipv6", "ipv6", undefined, undefined],
  );

  const joined: [string, number, string][] = [
    ["127.0.0.1", 5005, "127.0.0.1:5005"],
    ["::1", 5005, "[::1]:5005"],
    ["::ffff:10.0.0.1", 9, "10.0.0.1:9"],
    ["::", 0, "[::]:0"],
    ["peer.example", 1, "peer.example:1"],
  ];
  for (const [host, port, text] of joined) assert.equal(joinHostPort(host, port), text);

  const listen: [string, string][] = [
    ["0.0.0.0", "0.0.0.0"],
    ["127.0.0.2", "127.0.0.2"],
    ["::", "::"],
    ["[::]", "::"],
    ["::1", "::1"],
    ["FD00:75:64:0::1", "fd00:75:64::1"],
    ["::ffff:127.0.0.1", "127.0.0.1"],
  ];
  for (const [text, address] of listen) assert.equal(parseLocalAddress(text), address, text);
  for (const text of ["localhost", "1.2.3", "[::1", "::1]", ""]) {
    assert.throws(() => parseLocalAddress(text, "--bind"), {
      message:
        `Cannot parse --bind: "${text}" is not an IPv4 address like 192.0.2.1 or an IPv6 address like ::1`,
    });
  }
});

Deno.test("splitHostPort() splits as Go's net.SplitHostPort does, judging neither part", () => {
  const cases: [string, { host: string; port: string } | undefined][] = [
    ["127.0.0.1:9100", { host: "127.0.0.1", port: "9100" }],
    ["name:x", { host: "name", port: "x" }],
    [":9", { host: "", port: "9" }],
    ["[::1]:9100", { host: "::1", port: "9100" }],
    ["[::1]:", { host: "::1", port: "" }],
    ["[]:1", { host: "", port: "1" }],
    ["9100", undefined],
    ["::1:9100", undefined],
    ["[::1]", undefined],
    ["[::1]x:1", undefined],
    ["[::1:1", undefined],
  ];
  for (const [text, split] of cases) assert.deepEqual(splitHostPort(text), split, text);
});
