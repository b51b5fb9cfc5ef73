import assert from "node:assert/strict";
import { connect, Netns, netnsUnavailable } from "./_helpers/netns.ts";
import { type JsonEvent, startUdpeer, type UdpeerProcess } from "./_helpers/testing.ts";

const noNetns = await netnsUnavailable();
const name = "three hosts joined by veth links count each other's heartbeats under " +
  "their own addresses, and advertise each link's address";
if (noNetns !== undefined) console.log(`skipped: netns_test.ts: ${name}: ${noNetns}`);

/** A host of the test: its namespace, its peer, and its address on each link. */
interface Host {
  label: string;
  netns: Netns;
  /** Its address on the link to each other host, by that host's label. */
  addressTo: Record<string, string>;
  peer?: UdpeerProcess;
}

Deno.test({ name, ignore: noNetns !== undefined }, async () => {
  // A full mesh, one /24 per link, so A and C each sit on two networks:
  //   A 10.200.1.1 — 10.200.1.2 B 10.200.2.2 — 10.200.2.3 C 10.200.3.3 — 10.200.3.1 A
  // These addresses exist only inside the namespaces the test makes; nothing is routed.
  await using a = await Netns.create("a");
  await using b = await Netns.create("b");
  await using c = await Netns.create("c");
  await connect(a, "10.200.1.1/24", b, "10.200.1.2/24");
  await connect(b, "10.200.2.2/24", c, "10.200.2.3/24");
  await connect(c, "10.200.3.3/24", a, "10.200.3.1/24");
  const hosts: Host[] = [
    { label: "a", netns: a, addressTo: { b: "10.200.1.1", c: "10.200.3.1" } },
    { label: "b", netns: b, addressTo: { a: "10.200.1.2", c: "10.200.2.2" } },
    { label: "c", netns: c, addressTo: { a: "10.200.3.3", b: "10.200.2.3" } },
  ];
  const port = 5005;
  const others = (host: Host) => hosts.filter((other) => other !== host);

  try {
    for (const host of hosts) {
      const targets = others(host).flatMap((other) => [
        "--to",
        `${other.addressTo[host.label]}:${port}`,
      ]);
      host.peer = startUdpeer(
        ["--port", `${port}`, "--bind", "0.0.0.0", "--interval", "0.1", "--json", ...targets],
        { prefix: host.netns.exec },
      );
    }
    const messages = (host: Host, from: string): JsonEvent[] =>
      host.peer!.events.filter((e) => e.event === "message" && e.from === from);
    // Every peer hears five heartbeats from each of the others.
    for (const host of hosts) {
      await host.peer!.waitUntil(
        () =>
          others(host).every((other) => messages(host, other.addressTo[host.label]!).length >= 5),
        20_000,
        `${host.label} to hear the others`,
      );
    }
    for (const host of hosts) host.peer!.kill("SIGTERM");

    for (const host of hosts) {
      const peer = host.peer!;
      assert.equal((await peer.exited()).code, 0, peer.stderr);
      assert.equal(peer.stderr, "");

      // The peer chose, per target, its own address on that target's link.
      const listening = peer.events.find((e) => e.event === "listening")!;
      const advertised = Object.fromEntries(
        (listening.targets as { to: string; advertise: string }[]).map((t) => [t.to, t.advertise]),
      );
      for (const other of others(host)) {
        assert.equal(
          advertised[`${other.addressTo[host.label]}:${port}`],
          host.addressTo[other.label],
          `${host.label} advertises to ${other.label}`,
        );
      }

      for (const other of others(host)) {
        const from = other.addressTo[host.label]!;
        const received = messages(host, from);
        received.forEach((event, i) => {
          // Counted under the sender's own address on the shared link, with the running
          // count, and the header carries that same address, not 127.0.0.1.
          assert.equal(event.count, i + 1);
          assert.equal(event.fromPort, port);
          assert.equal(event.advertised, `${from}:${port}`);
        });
        const summary = peer.events.at(-1)!;
        assert.equal(summary.event, "summary");
        const source = (summary.sources as { from: string; messages: number; invalid: number }[])
          .find((s) => s.from === from);
        assert.deepEqual(source && { messages: source.messages, invalid: source.invalid }, {
          messages: received.length,
          invalid: 0,
        });
        const target = (summary.targets as { to: string; received: number; sendErrors: number }[])
          .find((t) => t.to === `${from}:${port}`);
        assert.equal(target?.received, received.length);
      }
      // Nothing else was heard: no loopback, no stray source.
      const sources = (peer.events.at(-1)!.sources as { from: string }[]).map((s) => s.from);
      assert.deepEqual(
        sources.toSorted(),
        others(host).map((other) => other.addressTo[host.label]).toSorted(),
      );
    }
    console.log(
      hosts.map((host) =>
        `${host.label} heard ${
          others(host).map((o) =>
            `${messages(host, o.addressTo[host.label]!).length} from ${o.addressTo[host.label]}`
          ).join(", ")
        }`
      ).join("; "),
    );
  } finally {
    for (const host of hosts) await host.peer?.[Symbol.asyncDispose]();
  }
});
