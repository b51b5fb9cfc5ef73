/**
 * `--metrics` against the real thing (see docs/many-hosts.md): Prometheus's `promtool check metrics` reads
 * a scrape of a running peer, and a real Prometheus server, started here on loopback with a
 * generated config and a temporary storage folder, scrapes three peers that heartbeat each
 * other. The test then asks Prometheus's HTTP query API for the figures and compares them
 * with what the peers' own `--json` summaries say. Without Debian's `prometheus` package the
 * tests are skipped with a message saying `skipped:` and why (`.ci/run` installs it).
 *
 * @example Run these tests alone
 * ```sh
 * deno test --allow-net --allow-sys=networkInterfaces --allow-run --allow-read --allow-write --allow-env prometheus_test.ts
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import { encodeHeartbeat } from "../protocol.ts";
import { promtoolCheck, querySamples } from "./_helpers/promtool.ts";
import { freePort, type JsonEvent, startUdpeer, type UdpeerProcess } from "./_helpers/testing.ts";

async function works(command: string, args: string[]): Promise<string | undefined> {
  try {
    const { success, stderr } = await new Deno.Command(command, {
      args,
      stdout: "null",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    return success
      ? undefined
      : `${command} ${args.join(" ")} failed: ${new TextDecoder().decode(stderr)}`;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return `${command} is not installed (apt-get install prometheus; .ci/run installs it)`;
    }
    throw error;
  }
}

const noPromtool = await works("promtool", ["--version"]);
const noPrometheus = await works("prometheus", ["--version"]);
if (noPromtool) console.log(`skipped: prometheus_test.ts promtool check: ${noPromtool}`);
if (noPrometheus) console.log(`skipped: prometheus_test.ts real server: ${noPrometheus}`);

/** Polls `probe` until it returns a value, at most `timeoutMs`; fails with `what`. */
async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
}

/** The `--metrics` port a peer listens on, from its `listening` event. */
async function metricsUrl(peer: UdpeerProcess): Promise<string> {
  const listening = await peer.waitForEvent((e) => e.event === "listening");
  return `http://${listening.metrics}/metrics`;
}

Deno.test({
  name: "promtool check metrics accepts a scrape of a running peer",
  ignore: noPromtool !== undefined,
  fn: async () => {
    const portA = freePort();
    const portB = freePort();
    const common = ["--interval", "0.05", "--json", "--quiet", "--metrics", "0"];
    await using a = startUdpeer(["--port", `${portA}`, "--to", `127.0.0.1:${portB}`, ...common]);
    await using b = startUdpeer(["--port", `${portB}`, "--to", `127.0.0.1:${portA}`, ...common]);
    const url = await metricsUrl(a);
    await metricsUrl(b);
    // A few heartbeats each way, and an invalid datagram, so every family has samples.
    const junk = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
    await junk.send(new Uint8Array([1, 2, 3]), {
      transport: "udp",
      hostname: "127.0.0.1",
      port: portA,
    });
    junk.close();
    const text = await eventually("received heartbeats in the scrape", async () => {
      const body = await (await fetch(url)).text();
      return /^udpeer_heartbeats_received_total\{[^}]*\} [1-9]/m.test(body) ? body : undefined;
    });
    assert.match(text, /^udpeer_invalid_datagrams_total\{reason="short"\} 1$/m);
    const { success, output } = await promtoolCheck(text);
    assert.ok(success, `${output}\n${text}`);
    assert.equal(output.trim(), "");
  },
});

Deno.test("a scrape shows at most --metrics-max-sources streams besides the targets, the rest as other", async () => {
  const portA = freePort();
  const target = freePort();
  await using a = startUdpeer([
    "--port",
    `${portA}`,
    "--to",
    `127.0.0.1:${target}`,
    "--interval",
    "5",
    "--json",
    "--quiet",
    "--metrics",
    "0",
    "--metrics-max-sources",
    "20",
  ]);
  const url = await metricsUrl(a);
  // 200 forged sources, 127.2.0.1 … 127.2.0.200, one heartbeat each.
  for (let i = 1; i <= 200; i++) {
    const hostname = `127.2.0.${i}`;
    const conn = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
    const port = (conn.addr as Deno.NetAddr).port;
    const datagram = encodeHeartbeat({ timestamp: Date.now(), ipv4: hostname, port, text: "" });
    await conn.send(datagram, { transport: "udp", hostname: "127.0.0.1", port: portA });
    conn.close();
  }
  const text = await eventually("200 heartbeats in the scrape", async () => {
    const body = await (await fetch(url)).text();
    const received = body.match(/^udpeer_heartbeats_received_total\{source="other"\} (\d+)$/m);
    return received?.[1] === "180" ? body : undefined;
  });
  const sources = new Set(
    [...text.matchAll(/^udpeer_heartbeats_received_total\{source="([^"]+)"/gm)].map((m) => m[1]),
  );
  // The target (never heard), the 20 most recent (127.2.0.181 … 200), and other.
  assert.equal(sources.size, 1 + 20 + 1, [...sources].join(" "));
  assert.ok(sources.has(`127.0.0.1:${target}`) && sources.has("other"));
  for (let i = 181; i <= 200; i++) {
    assert.ok([...sources].some((s) => s?.startsWith(`127.2.0.${i}:`)), `127.2.0.${i}`);
  }
  assert.match(text, /^udpeer_one_way_delay_seconds_count\{source="other"\} 180$/m);
});

/** A Prometheus server of the test's own. */
interface Prometheus extends AsyncDisposable {
  /** Base URL of its HTTP API. */
  url: string;
  /** Runs an instant query; returns each series' labels and value. */
  query(promql: string): Promise<{ metric: Record<string, string>; value: number }[]>;
  /** Everything it wrote to stderr, for failure messages. */
  log(): string;
}

async function startPrometheus(targets: string[]): Promise<Prometheus> {
  const dir = await Deno.makeTempDir({ prefix: "udpeer-prometheus-" });
  const port = freePort("tcp");
  await Deno.writeTextFile(
    `${dir}/prometheus.yml`,
    [
      "global:",
      "  scrape_interval: 1s",
      "  scrape_timeout: 1s",
      "  evaluation_interval: 1s",
      "scrape_configs:",
      "  - job_name: udpeer",
      "    static_configs:",
      `      - targets: [${targets.map((t) => `"${t}"`).join(", ")}]`,
      "",
    ].join("\n"),
  );
  const child = new Deno.Command("prometheus", {
    args: [
      `--config.file=${dir}/prometheus.yml`,
      `--storage.tsdb.path=${dir}/data`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  const reading = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (stderr += chunk) }),
  );
  const url = `http://127.0.0.1:${port}`;
  const prometheus: Prometheus = {
    url,
    log: () => stderr,
    async query(promql) {
      const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
      return querySamples(promql, await response.json());
    },
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 10_000);
      await child.status;
      clearTimeout(timer);
      await reading.catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  try {
    await eventually("Prometheus to be ready", async () => {
      const response = await fetch(`${url}/-/ready`);
      await response.body?.cancel();
      return response.ok ? true : undefined;
    }, 30_000);
  } catch (error) {
    await prometheus[Symbol.asyncDispose]();
    throw new Error(`${error}\n${stderr}`);
  }
  return prometheus;
}

/** The value of the one series `promql` selects, once it equals `expected`. */
async function expectValue(
  prometheus: Prometheus,
  promql: string,
  expected: number,
): Promise<void> {
  let seen: unknown = "no series";
  try {
    await eventually(`${promql} == ${expected}`, async () => {
      const result = await prometheus.query(promql);
      seen = result.map((r) => r.value);
      return result.length === 1 && Math.abs(result[0]!.value - expected) < 1e-9 ? true : undefined;
    });
  } catch {
    throw new Error(`${promql}: expected ${expected}, Prometheus has ${JSON.stringify(seen)}`);
  }
}

/**
 * Waits until `promql` gives one series of at least `low`: a counter that goes on counting
 * after the summary it is compared with (an outage still going on counts as missed).
 */
async function expectAtLeast(prometheus: Prometheus, promql: string, low: number): Promise<number> {
  let seen: unknown = "no series";
  try {
    return await eventually(`${promql} >= ${low}`, async () => {
      const result = await prometheus.query(promql);
      seen = result.map((r) => r.value);
      return result.length === 1 && result[0]!.value >= low ? result[0]!.value : undefined;
    });
  } catch {
    throw new Error(`${promql}: expected at least ${low}, Prometheus has ${JSON.stringify(seen)}`);
  }
}

function lastSummary(peer: UdpeerProcess): JsonEvent {
  return peer.events.findLast((e) => e.event === "summary")!;
}

Deno.test({
  name: "a real Prometheus scrapes three peers and reports what their own summaries say",
  ignore: noPrometheus !== undefined,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "udpeer-peers-" });
    try {
      const [portA, portB, portC] = [freePort(), freePort(), freePort()];
      const [metricsA, metricsB, metricsC] = [freePort("tcp"), freePort("tcp"), freePort("tcp")];
      const [a, b, c] = [`127.0.0.1:${portA}`, `127.0.0.1:${portB}`, `127.0.0.1:${portC}`];
      const peersFile = `${dir}/hosts.txt`;
      await Deno.writeTextFile(peersFile, `${b} b\n${c} c\n`);
      const common = ["--interval", "0.2", "--json", "--quiet"];

      await using prometheus = await startPrometheus(
        [metricsA, metricsB, metricsC].map((port) => `127.0.0.1:${port}`),
      );
      // A sends to b and c from its peers file; b and c send to A. b stops after 30.
      await using peerA = startUdpeer([
        "--port",
        `${portA}`,
        "--peers",
        peersFile,
        "--metrics",
        `${metricsA}`,
        ...common,
      ]);
      // b's first heartbeat must find A listening: A counts every one b sends.
      await metricsUrl(peerA);
      await using peerB = startUdpeer(
        ["--port", `${portB}`, "--to", a, "--count", "30", "--metrics", `${metricsB}`, ...common],
      );
      await using peerC = startUdpeer(
        ["--port", `${portC}`, "--to", a, "--metrics", `${metricsC}`, ...common],
      );
      for (const peer of [peerA, peerB, peerC]) await metricsUrl(peer);
      // Each is scraped (b, which ends after 6 s, at least once).
      for (const port of [metricsA, metricsB, metricsC]) {
        await expectValue(prometheus, `max_over_time(up{instance="127.0.0.1:${port}"}[1m])`, 1);
      }

      // A stream of the test's own with known loss: 10 heartbeats 200 ms apart, the 4th and
      // 7th left out. A sees 8, 2 missed; then the stream stops, an outage that goes on
      // counting one missed heartbeat per 200 ms from half an interval after --down-after.
      const sender = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
      const senderPort = (sender.addr as Deno.NetAddr).port;
      const base = Date.now() - 60_000;
      for (const k of [0, 1, 2, 4, 5, 7, 8, 9]) {
        const datagram = encodeHeartbeat({
          timestamp: base + k * 200,
          ipv4: "127.0.0.1",
          port: senderPort,
          text: "test stream",
        });
        await sender.send(datagram, { transport: "udp", hostname: "127.0.0.1", port: portA });
      }
      const testStreamLastSent = Date.now();
      sender.close();

      // b sends 30 and exits: A's figures for b stop moving, and b goes silent.
      assert.equal((await peerB.exited(20_000)).code, 0, peerB.stderr);
      await peerA.waitForEvent((e) => e.event === "silent" && e.peer === "b");

      // A stops sending to c (a reload drops it from the file): c's figures for A stop.
      await Deno.writeTextFile(peersFile, `${b} b\n`);
      peerA.kill("SIGHUP");
      await peerA.waitForEvent((e) => e.event === "reload");
      await peerC.waitForEvent((e) => e.event === "silent" && e.fromPort === portA);

      // Each peer's own account so far (SIGQUIT: the summary, and it keeps running).
      peerA.kill("SIGQUIT");
      peerC.kill("SIGQUIT");
      await peerA.waitForEvent((e) => e.event === "summary");
      await peerC.waitForEvent((e) => e.event === "summary");
      const summaryA = lastSummary(peerA);
      const summaryB = lastSummary(peerB);
      const summaryC = lastSummary(peerC);
      const targetB = (summaryA.targets as JsonEvent[]).find((t) => t.peer === "b")!;
      // Loopback loses nothing: A counted every heartbeat b says it sent.
      assert.equal(targetB.received, summaryB.sent, JSON.stringify(summaryA));
      assert.equal(summaryB.sent, 30);
      const streams = (summaryA.sources as JsonEvent[]).flatMap((s) => s.streams as JsonEvent[]);
      const testStream = streams.find((s) => s.fromPort === senderPort)!;
      assert.equal(testStream.messages, 8);
      // 2 in the span, and the outage going on since the last one arrived (about when it
      // was sent): one per interval from half an interval on, give or take one at each end.
      const quietMs = Date.parse(summaryA.time as string) - testStreamLastSent;
      const ongoing = Math.max(0, Math.floor(quietMs / 200 - 0.5));
      const missed = testStream.missed as number;
      assert.ok(
        missed >= 2 + ongoing - 1 && missed <= 2 + ongoing + 1,
        `missed ${missed}, expected 2 + ${ongoing} (quiet ${quietMs} ms)`,
      );
      assert.equal(testStream.lossPercent, Math.round((missed / (missed + 8)) * 10000) / 100);
      const targetA = (summaryC.targets as JsonEvent[]).find((t) => t.to === a)!;

      const onA = `instance="127.0.0.1:${metricsA}"`;
      const onC = `instance="127.0.0.1:${metricsC}"`;
      await expectValue(
        prometheus,
        `udpeer_heartbeats_received_total{${onA},peer="b"}`,
        targetB.received as number,
      );
      // b is gone: its outage goes on counting past the summary, never below it.
      await expectAtLeast(
        prometheus,
        `udpeer_heartbeats_missed_total{${onA},peer="b"}`,
        targetB.missed as number,
      );
      await expectValue(prometheus, `udpeer_peer_up{${onA},peer="b"}`, 0);
      // A goes on sending to b, which is gone: the counter has moved on from the summary's.
      await eventually("A's heartbeats to b past its summary", async () => {
        const [sent] = await prometheus.query(`udpeer_heartbeats_sent_total{${onA},peer="b"}`);
        return sent !== undefined && sent.value > (targetB.sent as number) ? true : undefined;
      });
      // b's own metrics, scraped while it ran: part of what it sent (its last scrape can
      // come before its last heartbeat), under its target's name.
      const sentByB = await prometheus.query(
        `max_over_time(udpeer_heartbeats_sent_total{instance="127.0.0.1:${metricsB}",target="${a}"}[1m])`,
      );
      assert.equal(sentByB.length, 1);
      assert.ok(sentByB[0]!.value > 0 && sentByB[0]!.value <= (summaryB.sent as number));
      await expectValue(
        prometheus,
        `udpeer_heartbeats_received_total{${onA},source="127.0.0.1:${senderPort}"}`,
        testStream.messages as number,
      );
      await expectAtLeast(
        prometheus,
        `udpeer_heartbeats_missed_total{${onA},source="127.0.0.1:${senderPort}"}`,
        testStream.missed as number,
      );
      // One computation: in every scrape the ratio is missed / (missed + received).
      for (const source of [`source="127.0.0.1:${senderPort}"`, 'peer="b"']) {
        const series = (name: string) => `${name}{${onA},${source}}`;
        const missedSeries = series("udpeer_heartbeats_missed_total");
        await expectValue(
          prometheus,
          `abs(${series("udpeer_loss_ratio")} - ${missedSeries} / (${missedSeries} + ${
            series("udpeer_heartbeats_received_total")
          }))`,
          0,
        );
      }
      // c is still sending to A, which no longer names it: a stream like any other.
      await expectValue(prometheus, `udpeer_peer_up{${onA},source="${c}"}`, 1);
      await expectValue(
        prometheus,
        `udpeer_heartbeats_received_total{${onC},target="${a}"}`,
        targetA.received as number,
      );
      await expectValue(prometheus, `udpeer_peer_up{${onC},target="${a}"}`, 0);
      await expectValue(
        prometheus,
        `udpeer_build_info{${onA}}`,
        1,
      );

      for (const peer of [peerA, peerC]) {
        peer.kill("SIGTERM");
        assert.equal((await peer.exited()).code, 0, peer.stderr);
      }
      // Stopped peers are down for Prometheus too (the UdpeerScrapeFailed alert's input).
      await expectValue(prometheus, 'count(up{job="udpeer"} == 0)', 3);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
