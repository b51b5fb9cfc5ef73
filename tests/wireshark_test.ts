/**
 * Tests of the Wireshark dissector `wireshark/udpeer.lua`, run through Debian's `tshark`.
 *
 * Each test writes a pcap file of heartbeats built with `encodeHeartbeat()` (valid ones,
 * corrupted ones, other datagrams), decodes it with `tshark -X lua_script:…` and compares the
 * dissector's fields with what `protocol.ts` says. One test also captures the real program's
 * heartbeats on `lo`. Without `tshark` the tests are ignored and print why (`.ci/run`
 * installs it); where tshark may not capture, so is the capture test.
 *
 * @example Run these tests alone
 * ```sh
 * deno test --allow-net --allow-sys=networkInterfaces --allow-run --allow-read --allow-env --allow-write wireshark_test.ts
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import { ipv6Unavailable } from "./_helpers/ipv6.ts";
import { type UdpDatagram, udpPcap } from "./_helpers/pcap.ts";
import {
  adler32,
  DEFAULT_MESSAGE,
  encodeHeartbeat,
  HEADER_BYTES,
  inferTimestampUnit,
  MAX_TEXT_BYTES,
} from "../protocol.ts";
import { repoDir, runUdpeer } from "./_helpers/testing.ts";

const dissectorPath = `${repoDir}wireshark/udpeer.lua`;

/** The fields every decode asks tshark for, in this order. */
const fields = [
  "frame.number",
  "udp.srcport",
  "udp.dstport",
  "_ws.col.Protocol",
  "udpeer.length",
  "udpeer.checksum",
  "udpeer.checksum.calculated",
  "udpeer.checksum.status",
  "udpeer.timestamp",
  "udpeer.timestamp.unit",
  "udpeer.sent_at",
  "udpeer.elapsed_ms",
  "udpeer.address",
  "udpeer.port",
  "udpeer.text",
  "_ws.expert.message",
] as const;

type Field = typeof fields[number];
type Row = Record<Field, string>;

/** Why the tests cannot run here, or undefined when tshark is installed. */
const skipReason: string | undefined = await (async () => {
  try {
    const { success } = await new Deno.Command("tshark", {
      args: ["-v"],
      stdout: "null",
      stderr: "null",
      signal: AbortSignal.timeout(30_000),
    }).output();
    return success ? undefined : "tshark -v failed";
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return "tshark is not installed (apt-get install tshark; .ci/run installs it)";
    }
    throw error;
  }
})();
if (skipReason !== undefined) console.log(`skipped: wireshark_test.ts: ${skipReason}`);

/**
 * Runs `fn` with an environment for tshark: a fresh empty HOME (so personal plugins and
 * preferences, such as an installed copy of udpeer.lua, cannot change the output), the C
 * locale and UTC.
 */
async function withTsharkEnv<T>(fn: (env: Record<string, string>) => Promise<T>): Promise<T> {
  const home = await Deno.makeTempDir({ prefix: "udpeer-tshark-home-" });
  try {
    return await fn({ HOME: home, XDG_CONFIG_HOME: `${home}/.config`, LC_ALL: "C", TZ: "UTC" });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

/**
 * Runs tshark over a capture file with the dissector loaded and returns one row per frame,
 * with {@linkcode fields} and any `extraFields` (such as `ipv6.src`).
 */
async function decodeFile(
  path: string,
  extraArgs: string[] = [],
  extraFields: string[] = [],
): Promise<(Row & Record<string, string>)[]> {
  const asked = [...fields, ...extraFields];
  const { code, stdout, stderr } = await withTsharkEnv((env) =>
    new Deno.Command("tshark", {
      args: [
        "-n",
        "-r",
        path,
        "-X",
        `lua_script:${dissectorPath}`,
        ...extraArgs,
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=f",
        ...asked.flatMap((field) => ["-e", field]),
      ],
      env,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(60_000),
    }).output()
  );
  const errors = new TextDecoder().decode(stderr);
  assert.equal(code, 0, `tshark failed:\n${errors}`);
  // A Lua error does not make tshark fail: it only reports it.
  assert.doesNotMatch(errors, /lua|error/i, `tshark reported:\n${errors}`);
  const lines = new TextDecoder().decode(stdout).split("\n").filter((line) => line !== "");
  return lines.map((line) => {
    const values = line.split("\t");
    return Object.fromEntries(asked.map((field, i) => [field, values[i] ?? ""])) as
      & Row
      & Record<string, string>;
  });
}

/**
 * Writes the datagrams to a pcap file and decodes it. Without a display filter (`-Y`) in
 * `extraArgs` there is one row per datagram.
 */
async function decode(
  datagrams: UdpDatagram[],
  extraArgs: string[] = [],
  extraFields: string[] = [],
): Promise<(Row & Record<string, string>)[]> {
  const path = await Deno.makeTempFile({ prefix: "udpeer-", suffix: ".pcap" });
  try {
    await Deno.writeFile(path, udpPcap(datagrams));
    const rows = await decodeFile(path, extraArgs, extraFields);
    if (!extraArgs.includes("-Y")) assert.equal(rows.length, datagrams.length, "rows");
    return rows;
  } finally {
    await Deno.remove(path);
  }
}

const sentAtMs = 1763700000123; // 2025-11-21T04:40:00.123Z
const capturedAtMs = sentAtMs + 1.5;

/** A datagram from 10.0.0.1:5006 to 10.0.0.2:`dstPort`, captured 1.5 ms after sentAtMs. */
function datagram(payload: Uint8Array, dstPort = 5005, srcPort = 5006): UdpDatagram {
  return { timeMs: capturedAtMs, src: "10.0.0.1", srcPort, dst: "10.0.0.2", dstPort, payload };
}

/** A heartbeat whose 8 timestamp bytes are `timestamp`, which may exceed 2^53. */
function heartbeatAt(timestamp: bigint, text = "t"): Uint8Array {
  const bytes = encodeHeartbeat({ timestamp: 0, ipv4: "10.0.0.1", port: 5006, text });
  const view = new DataView(bytes.buffer);
  view.setBigUint64(4, timestamp);
  view.setUint32(0, adler32(bytes.subarray(4)));
  return bytes;
}

/** A copy of `bytes` with one bit flipped. */
function flipBit(bytes: Uint8Array, byte: number, bit = 0): Uint8Array {
  const copy = bytes.slice();
  copy[byte]! ^= 1 << bit;
  return copy;
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, "0")}`;
}

/** Port for the heuristic: not 5005, and no dissector of Wireshark's own claims it. */
const otherPort = 40002;

const defaultHeartbeat = encodeHeartbeat({
  timestamp: sentAtMs,
  ipv4: "192.0.2.7",
  port: 5006,
  text: DEFAULT_MESSAGE,
});

const ignore = skipReason !== undefined;

Deno.test({
  name: "the dissector shows every field of a heartbeat on port 5005",
  ignore,
  async fn() {
    const [row] = await decode([datagram(defaultHeartbeat)]);
    assert.deepEqual(row, {
      "frame.number": "1",
      "udp.srcport": "5006",
      "udp.dstport": "5005",
      "_ws.col.Protocol": "UDPEER",
      "udpeer.length": "79",
      "udpeer.checksum": hex(adler32(defaultHeartbeat.subarray(4))),
      "udpeer.checksum.calculated": hex(adler32(defaultHeartbeat.subarray(4))),
      "udpeer.checksum.status": "1",
      "udpeer.timestamp": String(sentAtMs),
      "udpeer.timestamp.unit": "ms",
      "udpeer.sent_at": "Nov 21, 2025 04:40:00.123000000 UTC",
      "udpeer.elapsed_ms": "1.5",
      "udpeer.address": "192.0.2.7",
      "udpeer.port": "5006",
      "udpeer.text": DEFAULT_MESSAGE,
      "_ws.expert.message": "",
    });
  },
});

Deno.test({
  name: "the dissector marks a flipped bit as a bad checksum",
  ignore,
  async fn() {
    // One bit in each field: checksum, timestamp, address, port, first and last text byte.
    const flips = [0, 3, 4, 11, 12, 16, 17, HEADER_BYTES, defaultHeartbeat.length - 1].map(
      (byte) => flipBit(defaultHeartbeat, byte, byte % 8),
    );
    const rows = await decode(flips.map((bytes) => datagram(bytes)));
    for (const [i, row] of rows.entries()) {
      const bytes = flips[i]!;
      const carried = new DataView(bytes.buffer).getUint32(0);
      assert.equal(row["udpeer.checksum.status"], "0", `flip ${i}`);
      assert.equal(row["udpeer.checksum"], hex(carried));
      assert.equal(row["udpeer.checksum.calculated"], hex(adler32(bytes.subarray(4))));
      assert.equal(row["_ws.expert.message"], "Bad checksum");
    }
  },
});

Deno.test({
  name: "the dissector's display filter finds exactly the bad checksums",
  ignore,
  async fn() {
    const datagrams = [
      datagram(defaultHeartbeat),
      datagram(flipBit(defaultHeartbeat, 40)),
      datagram(defaultHeartbeat),
      datagram(flipBit(defaultHeartbeat, 5)),
    ];
    const rows = await decode(datagrams, ["-Y", 'udpeer.checksum.status == "Bad"']);
    assert.deepEqual(rows.map((row) => row["frame.number"]), ["2", "4"]);
  },
});

Deno.test({
  name: "the dissector infers the timestamp unit as the wire format says and shows the date",
  ignore,
  async fn() {
    const cases: { timestamp: bigint; unit: string; sentAt: string }[] = [
      { timestamp: 1763700000n, unit: "s", sentAt: "Nov 21, 2025 04:40:00.000000000 UTC" },
      { timestamp: 1763700000123n, unit: "ms", sentAt: "Nov 21, 2025 04:40:00.123000000 UTC" },
      {
        timestamp: 1763700000123456n,
        unit: "us",
        sentAt: "Nov 21, 2025 04:40:00.123456000 UTC",
      },
      // Beyond 2^53: the date is still exact to the nanosecond.
      {
        timestamp: 1763700000123456789n,
        unit: "ns",
        sentAt: "Nov 21, 2025 04:40:00.123456789 UTC",
      },
      // The edges of the bands.
      { timestamp: 99_999_999_999n, unit: "s", sentAt: "Nov 16, 5138 09:46:39.000000000 UTC" },
      { timestamp: 100_000_000_000n, unit: "ms", sentAt: "Mar  3, 1973 09:46:40.000000000 UTC" },
      { timestamp: 10n ** 14n - 1n, unit: "ms", sentAt: "Nov 16, 5138 09:46:39.999000000 UTC" },
      { timestamp: 10n ** 14n, unit: "us", sentAt: "Mar  3, 1973 09:46:40.000000000 UTC" },
      { timestamp: 10n ** 17n, unit: "ns", sentAt: "Mar  3, 1973 09:46:40.000000000 UTC" },
      { timestamp: 0n, unit: "s", sentAt: "Jan  1, 1970 00:00:00.000000000 UTC" },
    ];
    const rows = await decode(cases.map(({ timestamp }) => datagram(heartbeatAt(timestamp))));
    for (const [i, row] of rows.entries()) {
      const { timestamp, unit, sentAt } = cases[i]!;
      assert.equal(row["udpeer.checksum.status"], "1");
      assert.equal(row["udpeer.timestamp"], String(timestamp));
      assert.equal(row["udpeer.timestamp.unit"], unit, `unit of ${timestamp}`);
      assert.equal(inferTimestampUnit(Number(timestamp)), unit, "protocol.ts agrees");
      assert.equal(row["udpeer.sent_at"], sentAt, `date of ${timestamp}`);
    }
  },
});

Deno.test({
  name: "the dissector reads UTF-8 text and an empty text",
  ignore,
  async fn() {
    const texts = ["héllo ✓ 日本", "", "x"];
    const rows = await decode(
      texts.map((text) =>
        datagram(encodeHeartbeat({ timestamp: sentAtMs, ipv4: "10.0.0.1", port: 1, text }))
      ),
    );
    assert.deepEqual(rows.map((row) => row["udpeer.text"]), texts);
    assert.deepEqual(rows.map((row) => row["udpeer.checksum.status"]), ["1", "1", "1"]);
    assert.deepEqual(
      rows.map((row) => row["udpeer.length"]),
      texts.map((text) => String(HEADER_BYTES + new TextEncoder().encode(text).length)),
    );
  },
});

Deno.test({
  name: "the dissector reports a datagram shorter than 18 bytes on port 5005",
  ignore,
  async fn() {
    // UDP hands an empty payload to no dissector, so 1 byte is the shortest to show.
    const rows = await decode([
      datagram(new Uint8Array(1)),
      datagram(defaultHeartbeat.slice(0, 17)),
    ]);
    for (const row of rows) {
      assert.equal(row["_ws.col.Protocol"], "UDPEER");
      assert.equal(row["udpeer.checksum.status"], "");
      assert.equal(row["_ws.expert.message"], "Shorter than the 18-byte heartbeat header");
    }
    assert.deepEqual(rows.map((row) => row["udpeer.length"]), ["1", "17"]);
  },
});

Deno.test({
  name: "the heuristic claims a valid heartbeat on another port",
  ignore,
  async fn() {
    const secondsHeartbeat = encodeHeartbeat({
      timestamp: 1763700000,
      ipv4: "10.9.8.7",
      port: 40001,
      text: "from a Python peer",
    });
    const rows = await decode([
      datagram(defaultHeartbeat, otherPort, 40001),
      datagram(secondsHeartbeat, otherPort, 40001),
      datagram(encodeHeartbeat({ timestamp: 0, ipv4: "0.0.0.0", port: 0, text: "" }), otherPort),
    ]);
    assert.deepEqual(rows.map((row) => row["_ws.col.Protocol"]), ["UDPEER", "UDPEER", "UDPEER"]);
    assert.deepEqual(rows.map((row) => row["udpeer.checksum.status"]), ["1", "1", "1"]);
    assert.equal(rows[0]!["udpeer.text"], DEFAULT_MESSAGE);
    assert.equal(rows[1]!["udpeer.timestamp.unit"], "s");
    assert.equal(rows[1]!["udpeer.address"], "10.9.8.7");
    assert.equal(rows[1]!["udpeer.port"], "40001");
  },
});

Deno.test({
  name: "the heuristic leaves corrupted heartbeats and other datagrams alone",
  ignore,
  async fn() {
    const encoder = new TextEncoder();
    const payloads = [
      flipBit(defaultHeartbeat, 30), // a corrupted heartbeat
      flipBit(defaultHeartbeat, 1), // a corrupted checksum
      encoder.encode("just a line of text, long enough"), // the classic UDP client
      new Uint8Array(18), // zeros: Adler-32 of 14 zero bytes is 0x000e0001
      new Uint8Array(64).fill(0xff),
      defaultHeartbeat.slice(0, 17), // too short
    ];
    const rows = await decode(payloads.map((payload) => datagram(payload, otherPort)));
    for (const [i, row] of rows.entries()) {
      assert.notEqual(row["_ws.col.Protocol"], "UDPEER", `payload ${i}`);
      assert.equal(row["udpeer.checksum"], "", `payload ${i}`);
    }
  },
});

Deno.test({
  name: "the dissector's Adler-32 agrees with protocol.ts around NMAX and at the largest text",
  ignore,
  async fn() {
    // Adler-32 covers bytes 4..end, so these texts put 5548..5555 bytes of 0xff (the worst
    // case for overflow) under the checksum, around the 5552-byte chunk of the sums.
    const lengths = [5548, 5549, 5550, 5551, 5552, 5553, 5554, 5555].map((n) => n - 14);
    lengths.push(MAX_TEXT_BYTES);
    const heartbeats = lengths.map((length) =>
      encodeHeartbeat({
        timestamp: sentAtMs,
        ipv4: "255.255.255.255",
        port: 65535,
        text: new Uint8Array(length).fill(0xff),
      })
    );
    const rows = await decode([
      ...heartbeats.map((bytes) => datagram(bytes)),
      ...heartbeats.map((bytes) => datagram(bytes, otherPort)),
    ]);
    for (const [i, row] of rows.entries()) {
      const bytes = heartbeats[i % heartbeats.length]!;
      assert.equal(row["udpeer.checksum.status"], "1", `${bytes.length} bytes`);
      assert.equal(row["udpeer.checksum.calculated"], hex(adler32(bytes.subarray(4))));
      assert.equal(row["udpeer.length"], String(bytes.length));
    }
  },
});

Deno.test({
  name: "the dissector decodes heartbeats over IPv6, and reads 0.0.0.0 as the UDP source",
  ignore,
  async fn() {
    const over6 = (payload: Uint8Array, dstPort = 5005): UdpDatagram => ({
      timeMs: capturedAtMs,
      src: "fd00:75:64::1",
      srcPort: 5006,
      dst: "fd00:75:64::2",
      dstPort,
      payload,
    });
    // What a sender on IPv6 writes: 0.0.0.0 and its port.
    const fromIpv6 = encodeHeartbeat({
      timestamp: sentAtMs,
      ipv4: "0.0.0.0",
      port: 5006,
      text: "six",
    });
    const rows = await decode(
      [
        over6(fromIpv6),
        over6(fromIpv6, otherPort),
        over6(flipBit(fromIpv6, 20)),
        over6(defaultHeartbeat),
      ],
      [],
      ["ipv6.src", "_ws.col.Info"],
    );
    for (const row of rows) {
      assert.equal(row["ipv6.src"], "fd00:75:64::1");
      assert.equal(row["_ws.col.Protocol"], "UDPEER");
    }
    // On port 5005 and by heuristic on another port alike.
    for (const row of rows.slice(0, 2)) {
      assert.equal(row["udpeer.checksum.status"], "1");
      assert.equal(row["udpeer.address"], "0.0.0.0");
      assert.equal(row["udpeer.port"], "5006");
      assert.equal(row["udpeer.text"], "six");
      assert.equal(row["udpeer.elapsed_ms"], "1.5");
      assert.equal(row["_ws.col.Info"], 'udpeer [fd00:75:64::1]:5006 "six"');
    }
    assert.equal(rows[2]!["udpeer.checksum.status"], "0");
    assert.equal(rows[2]!["_ws.expert.message"], "Bad checksum");
    // A header that names an IPv4 address is shown as it is, over IPv6 too.
    assert.equal(rows[3]!["udpeer.address"], "192.0.2.7");
    assert.match(rows[3]!["_ws.col.Info"] ?? "", /^udpeer 192\.0\.2\.7:5006 /);
  },
});

/** A running tshark capture. */
interface Capture {
  /** Waits up to `ms` for tshark to stop by itself (-c), then stops it; returns its stderr. */
  stop(ms: number): Promise<string>;
}

/**
 * Starts capturing `packets` UDP datagrams to `port` on `lo` into `path`. Resolves once
 * tshark is capturing, or with the reason it cannot (no root nor dumpcap capabilities).
 */
async function startCapture(
  port: number,
  path: string,
  packets: number,
  env: Record<string, string>,
): Promise<Capture | string> {
  const process = new Deno.Command("tshark", {
    args: [
      ...["-n", "-i", "lo", "-f", `udp dst port ${port}`, "-w", path],
      ...["-c", String(packets), "-a", "duration:30"],
    ],
    env,
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(40_000),
  }).spawn();
  let stderr = "";
  const draining = (async () => {
    for await (const chunk of process.stderr.pipeThrough(new TextDecoderStream())) {
      stderr += chunk;
    }
  })();
  let exited = false;
  const status = process.status.then((status) => {
    exited = true;
    return status;
  });
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const kill = (signal: Deno.Signal) => {
    try {
      process.kill(signal);
    } catch { /* already exited */ }
  };
  // tshark says "Capturing on" before dumpcap has opened the device, and a capture that is
  // not allowed fails right after; so wait for the line, then a little longer.
  const deadline = Date.now() + 15_000;
  while (!stderr.includes("Capturing on") && !exited && Date.now() < deadline) await sleep(20);
  if (!exited) await sleep(500);
  if (exited || !stderr.includes("Capturing on")) {
    kill("SIGKILL");
    await status;
    await draining;
    const lines = stderr.split("\n").map((line) => line.trim()).filter((line) => line !== "");
    const reason = lines.find((line) => line.startsWith("tshark: ")) ?? lines.at(-1) ?? "";
    return `tshark cannot capture on lo: ${reason.replace(/^tshark: /, "")}`;
  }
  return {
    async stop(ms: number): Promise<string> {
      const stopAt = Date.now() + ms;
      while (!exited && Date.now() < stopAt) await sleep(20);
      if (!exited) kill("SIGINT"); // tshark writes what it has and exits
      await status;
      await draining;
      return stderr;
    },
  };
}

/**
 * Why tshark cannot capture on `lo` here (it needs root or dumpcap's capabilities), or
 * undefined when it can: found out once, by starting a capture, before the tests run.
 */
const noCapture: string | undefined = skipReason ?? await withTsharkEnv(async (env) => {
  const dir = await Deno.makeTempDir({ prefix: "udpeer-probe-" });
  try {
    const capture = await startCapture(9, `${dir}/probe.pcapng`, 1, env);
    if (typeof capture === "string") return capture;
    await capture.stop(0);
    return undefined;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
if (skipReason === undefined && noCapture !== undefined) {
  console.log(`skipped: wireshark_test.ts: capturing the real program's heartbeats: ${noCapture}`);
}

Deno.test({
  name: "the dissector decodes the heartbeats the real program sends over loopback",
  // The pcap tests above cover the dissector without a capture.
  ignore: noCapture !== undefined,
  async fn() {
    const receiver = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    const { port } = receiver.addr as Deno.NetAddr;
    const draining = (async () => {
      try {
        for (;;) await receiver.receive();
      } catch { /* closed */ }
    })();
    // A folder, not a file: tshark removes its output file when it cannot capture.
    const dir = await Deno.makeTempDir({ prefix: "udpeer-live-" });
    const path = `${dir}/heartbeats.pcapng`;
    try {
      await withTsharkEnv(async (env) => {
        const capture = await startCapture(port, path, 3, env);
        // The probe before the tests could capture: failing now is a failure.
        if (typeof capture === "string") assert.fail(capture);
        const run = await runUdpeer([
          "--port",
          "0",
          "--to",
          `127.0.0.1:${port}`,
          "--count",
          "3",
          "--interval",
          "0.05",
          "--json",
        ]);
        const captureStderr = await capture.stop(5_000);
        // Nothing answers on the captured port, so the --count run exits 1 (see docs/link-health.md).
        assert.equal(run.code, 1, run.stderr);
        const listening = run.stdout.split("\n").map((line) => JSON.parse(line)).find((
          event,
        ) => event.event === "listening");
        const rows = await decodeFile(path, ["-d", `udp.port==${port},udpeer`]);
        assert.equal(rows.length, 3, `3 heartbeats captured; tshark said:\n${captureStderr}`);
        for (const row of rows) {
          assert.equal(row["udpeer.checksum.status"], "1");
          // udpeer writes microseconds by default, and the dissector infers them.
          assert.equal(row["udpeer.timestamp.unit"], "us");
          assert.equal(row["udpeer.text"], DEFAULT_MESSAGE);
          assert.equal(row["udpeer.address"], "127.0.0.1");
          assert.equal(row["udpeer.port"], String(listening.port));
          assert.equal(row["udpeer.port"], row["udp.srcport"], "sent from the listening socket");
          const elapsed = Number(row["udpeer.elapsed_ms"]);
          // Floored to whole µs by the sender, captured right after: 0 ≤ elapsed < 1 s.
          assert.ok(elapsed >= 0 && elapsed < 1000, `elapsed ${elapsed} ms`);
        }
      });
    } finally {
      receiver.close();
      await draining;
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const noIpv6 = await ipv6Unavailable();
if (noCapture === undefined && noIpv6 !== undefined) {
  console.log(`skipped: wireshark_test.ts: capturing heartbeats over IPv6: ${noIpv6}`);
}

Deno.test({
  name: "the dissector decodes the heartbeats the real program sends over IPv6 on loopback",
  ignore: noCapture !== undefined || noIpv6 !== undefined,
  async fn() {
    const receiver = Deno.listenDatagram({ transport: "udp", hostname: "::1", port: 0 });
    const { port } = receiver.addr as Deno.NetAddr;
    const draining = (async () => {
      try {
        for (;;) await receiver.receive();
      } catch { /* closed */ }
    })();
    const dir = await Deno.makeTempDir({ prefix: "udpeer-live6-" });
    const path = `${dir}/heartbeats.pcapng`;
    try {
      await withTsharkEnv(async (env) => {
        const capture = await startCapture(port, path, 3, env);
        if (typeof capture === "string") assert.fail(capture);
        const run = await runUdpeer(
          ["--port", "0", "--to", `[::1]:${port}`, "--count", "3", "--interval", "0.05", "--json"],
        );
        const captureStderr = await capture.stop(5_000);
        assert.equal(run.code, 1, run.stderr);
        const listening = run.stdout.split("\n").map((line) => JSON.parse(line)).find((
          event,
        ) => event.event === "listening");
        const rows = await decodeFile(path, ["-d", `udp.port==${port},udpeer`], [
          "ipv6.src",
          "_ws.col.Info",
        ]);
        assert.equal(rows.length, 3, `3 heartbeats captured; tshark said:\n${captureStderr}`);
        for (const row of rows) {
          assert.equal(row["ipv6.src"], "::1");
          assert.equal(row["udpeer.checksum.status"], "1");
          assert.equal(row["udpeer.text"], DEFAULT_MESSAGE);
          // A sender on IPv6 writes 0.0.0.0; the dissector names the UDP source instead.
          assert.equal(row["udpeer.address"], "0.0.0.0");
          assert.equal(row["udpeer.port"], String(listening.port));
          assert.ok(
            row["_ws.col.Info"]!.startsWith(`udpeer [::1]:${listening.port} `),
            row["_ws.col.Info"],
          );
        }
      });
    } finally {
      receiver.close();
      await draining;
      await Deno.remove(dir, { recursive: true });
    }
  },
});
