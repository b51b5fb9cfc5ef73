/**
 * One peers file for the whole fleet (see docs/many-hosts.md), end to end on loopback: three
 * peers started with the same file each find their own line (its name, no target), say
 * their name in the `listening` event and in `udpeer_info`, and show when they started.
 *
 * @example Run these tests alone
 * ```sh
 * deno test --allow-net --allow-sys=networkInterfaces --allow-run --allow-read --allow-write fleet_test.ts
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import { freePort, type JsonEvent, startUdpeer, type UdpeerProcess } from "./_helpers/testing.ts";

async function scrape(peer: UdpeerProcess): Promise<string> {
  const listening = await peer.waitForEvent((e) => e.event === "listening");
  const reply = await fetch(`http://${listening.metrics}/metrics`);
  return await reply.text();
}

const samples = (text: string, name: string): string[] =>
  text.split("\n").filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));

Deno.test("the same peers file on three peers: each finds its own line, names itself and sends to the two others", async () => {
  const dir = await Deno.makeTempDir({ prefix: "udpeer-fleet-" });
  try {
    const ports = [freePort(), freePort(), freePort()];
    const names = ["alpha", "bravo", "charlie"];
    const path = `${dir}/fleet.txt`;
    await Deno.writeTextFile(
      path,
      `# one file, copied to every host\n${
        ports.map((port, i) => `127.0.0.1:${port} ${names[i]}`).join("\n")
      }\n`,
    );
    const common = ["--peers", path, "--interval", "0.1", "--json", "--quiet", "--metrics", "0"];
    const startedAt = Date.now() / 1000;
    await using a = startUdpeer(["--port", `${ports[0]}`, ...common]);
    await using b = startUdpeer(["--port", `${ports[1]}`, ...common]);
    // --name wins over the file's line.
    await using c = startUdpeer(["--port", `${ports[2]}`, ...common, "--name", "c-3"]);
    const peers = [a, b, c];
    for (const [i, peer] of peers.entries()) {
      const listening = await peer.waitForEvent((e) => e.event === "listening");
      assert.equal(listening.name, i === 2 ? "c-3" : names[i]);
      assert.deepEqual(
        (listening.targets as JsonEvent[]).map((t) => t.peer),
        names.filter((_, j) => j !== i),
        "its own line is no target",
      );
    }
    for (const [i, peer] of peers.entries()) {
      const text = await scrape(peer);
      assert.deepEqual(samples(text, "udpeer_info"), [
        `udpeer_info{name="${i === 2 ? "c-3" : names[i]}",address="127.0.0.1:${ports[i]}"} 1`,
      ]);
      const [start] = samples(text, "process_start_time_seconds");
      const seconds = Number(start?.split(" ")[1]);
      assert.ok(Math.abs(seconds - startedAt) < 30, `${start} vs ${startedAt}`);
      // Never a series for itself: it sends only to the two others.
      const targets = samples(text, "udpeer_heartbeats_sent_total");
      assert.equal(targets.length, 2, targets.join("\n"));
      assert.ok(!targets.some((line) => line.includes(`:${ports[i]}"`)), targets.join("\n"));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "SIGHUP: a renamed own line renames the peer; without an own line the name is its address",
  ignore: Deno.build.os === "windows",
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "udpeer-fleet-" });
    try {
      const port = freePort();
      const other = freePort();
      const path = `${dir}/fleet.txt`;
      await Deno.writeTextFile(path, `127.0.0.1:${port} old\n127.0.0.1:${other} x\n`);
      await using peer = startUdpeer([
        "--port",
        `${port}`,
        "--peers",
        path,
        "--interval",
        "0.1",
        "--json",
        "--quiet",
        "--metrics",
        "0",
      ]);
      assert.equal((await peer.waitForEvent((e) => e.event === "listening")).name, "old");
      await Deno.writeTextFile(path, `127.0.0.1:${port} new\n127.0.0.1:${other} x\n`);
      peer.child.kill("SIGHUP");
      await peer.waitForEvent((e) => e.event === "reload");
      assert.deepEqual(samples(await scrape(peer), "udpeer_info"), [
        `udpeer_info{name="new",address="127.0.0.1:${port}"} 1`,
      ]);
      // Its own line gone: the name falls back (no --allow-sys=hostname here) to the
      // address the others see, the advertised one and its port.
      await Deno.writeTextFile(path, `127.0.0.1:${other} x\n`);
      peer.child.kill("SIGHUP");
      await peer.waitUntil(() => peer.events.filter((e) => e.event === "reload").length === 2);
      assert.deepEqual(samples(await scrape(peer), "udpeer_info"), [
        `udpeer_info{name="127.0.0.1:${port}",address="127.0.0.1:${port}"} 1`,
      ]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
