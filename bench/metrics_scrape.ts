/**
 * Does a Prometheus scrape stall the receive loop? The same flood of valid heartbeats
 * (`bench/flood.ts`) goes, in turn and in the same run, to three `udpeer --quiet --metrics`
 * peers on loopback:
 *
 * - (a) `idle`: nobody scrapes;
 * - (b) `scraped`: this script fetches `/metrics` every 100 ms during the flood;
 * - (c) `scraped, 10k streams`: the same, after 10,000 forged sources (127.1.x.y) each sent
 *   one heartbeat, so every scrape renders 1,000 streams plus the sum of the rest under
 *   `source="other"`: the largest scrape `--metrics-max-sources 1000` allows.
 *
 * It reports each peer's processed datagrams per second (the summary's messages, duplicates
 * and invalid from 127.0.0.1: the flood repeats a heartbeat within a millisecond, and a
 * repeat is a duplicate), its ratio to (a) in the same round (median over the rounds), and the scrapes'
 * latency (request to full body) and size. A scrape runs on the peer's one thread, so any
 * time it takes shows up as datagrams not read (kernel drops) in (b) and (c).
 *
 * Then, in this process, the pause a scrape of the largest kind causes: a monitor holding
 * 10,000 streams is served by `serveMetrics`, `curl` scrapes it ten times, and a 1 ms timer
 * records the longest gap of the event loop during each scrape (the time a datagram would
 * wait), with the body rendered whole and in chunks.
 *
 * ```sh
 * deno run -A bench/metrics_scrape.ts --rounds 3 --seconds 3
 * ```
 *
 * (`-A`: it reads /proc and starts deno subprocesses, as `throughput.ts` does.)
 *
 * @module
 */

import { encodeHeartbeat } from "../protocol.ts";
import { renderMetrics, renderMetricsChunks } from "../src/peer/metrics.ts";
import { createMetricsRecorder } from "../src/peer/metrics_recorder.ts";
import { serveMetrics } from "../src/peer/metrics_server.ts";
import { PeerMonitor } from "../src/peer/monitor.ts";
import { freePort } from "../tests/_helpers/testing.ts";
import {
  formatNumber,
  median,
  numberFlag,
  runFlood,
  sleep,
  spawnToFile,
  stopChild,
  udpCounters,
  udpeerCommand,
  waitForFirstLine,
} from "./lib.ts";

/** The three set-ups. */
export type ScrapeMode = "idle" | "scraped" | "scraped-10k";

const labels: Record<ScrapeMode, string> = {
  idle: "(a) --metrics, not scraped",
  scraped: "(b) scraped every 100 ms",
  "scraped-10k": "(c) scraped every 100 ms, 10,000 streams",
};

/** One flood into one peer. */
export interface ScrapeRun {
  /** Datagrams the flood sent per second. */
  sentPerSecond: number;
  /** Datagrams the peer processed per second. */
  perSecond: number;
  /** RcvbufErrors during the flood. */
  kernelDrops: number;
  /** Latency of each scrape, ms. */
  scrapeMs: number[];
  /** Bytes of the last scrape. */
  scrapeBytes: number;
}

/** Sends one heartbeat from each of `count` forged loopback sources 127.1.x.y. */
async function forgeSources(port: number, count: number): Promise<void> {
  const text = new TextEncoder().encode("forged");
  for (let i = 0; i < count; i++) {
    const hostname = `127.1.${Math.floor(i / 254)}.${(i % 254) + 1}`;
    const conn = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
    try {
      const own = (conn.addr as Deno.NetAddr).port;
      const datagram = encodeHeartbeat({ timestamp: Date.now(), ipv4: hostname, port: own, text });
      await conn.send(datagram, { transport: "udp", hostname: "127.0.0.1", port });
    } finally {
      conn.close();
    }
  }
}

async function runOnce(mode: ScrapeMode, seconds: number, path: string): Promise<ScrapeRun> {
  const metricsPort = freePort("tcp");
  const { child } = spawnToFile(
    udpeerCommand([
      "peer",
      "--bind",
      "127.0.0.1",
      "--port",
      "0",
      "--quiet",
      "--json",
      "--metrics",
      `${metricsPort}`,
    ]),
    path,
  );
  const url = `http://127.0.0.1:${metricsPort}/metrics`;
  try {
    const port = Number((await waitForFirstLine(path, /"port":(\d+)/))[1]);
    if (mode === "scraped-10k") await forgeSources(port, 10_000);
    await sleep(200);
    const scrapeMs: number[] = [];
    let scrapeBytes = 0;
    let scraping = mode !== "idle";
    const scraper = (async () => {
      while (scraping) {
        const started = performance.now();
        const body = await (await fetch(url)).text();
        scrapeMs.push(performance.now() - started);
        scrapeBytes = body.length;
        await sleep(Math.max(0, 100 - (performance.now() - started)));
      }
    })();
    const before = udpCounters();
    const flood = await runFlood(port, ["--seconds", String(seconds)]).finally(() => {
      scraping = false;
    });
    await scraper;
    await sleep(300);
    const after = udpCounters();
    const status = await stopChild(child);
    const lines = (await Deno.readTextFile(path)).trimEnd().split("\n");
    const summary = JSON.parse(lines.at(-1)!);
    const source = summary.sources.find((s: { from: string }) => s.from === "127.0.0.1");
    const processed = source === undefined
      ? undefined
      : source.messages + source.duplicates + source.invalid;
    if (!status.success || typeof processed !== "number") {
      throw new Error(`${labels[mode]} exited with ${status.code}: ${lines.at(-1)}`);
    }
    return {
      sentPerSecond: flood.rate,
      perSecond: processed / flood.seconds,
      kernelDrops: after.RcvbufErrors - before.RcvbufErrors,
      scrapeMs,
      scrapeBytes,
    };
  } finally {
    await stopChild(child, "SIGKILL").catch(() => {});
    await Deno.remove(path).catch(() => {});
    await Deno.remove(`${path}.err`).catch(() => {});
  }
}

/** The result of one set-up over every round. */
export interface ScrapeResult {
  /** Which. */
  mode: ScrapeMode;
  /** One run per round. */
  runs: ScrapeRun[];
  /** Median over the rounds of processed/s ÷ (a)'s in the same round. */
  ratioToIdle: number;
}

/**
 * Floods each set-up once per round.
 *
 * @param rounds Rounds; each floods every set-up once, in a rotated order.
 * @param seconds Length of each flood.
 * @param dir Scratch folder.
 * @param log Called with a line of progress.
 * @returns One result per set-up.
 */
export async function measureScrapes(
  rounds: number,
  seconds: number,
  dir: string,
  log: (line: string) => void,
): Promise<ScrapeResult[]> {
  const modes: ScrapeMode[] = ["idle", "scraped", "scraped-10k"];
  const runs = new Map<ScrapeMode, ScrapeRun[]>(modes.map((mode) => [mode, []]));
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < modes.length; i++) {
      const mode = modes[(i + round) % modes.length]!;
      const run = await runOnce(mode, seconds, `${dir}/${mode}-${round}.out`);
      runs.get(mode)!.push(run);
      log(
        `round ${round + 1} ${mode}: ${formatNumber(run.perSecond)}/s of ${
          formatNumber(run.sentPerSecond)
        }/s, ${run.scrapeMs.length} scrapes, median ${
          formatNumber(median(run.scrapeMs), 1)
        } ms, max ${formatNumber(Math.max(...run.scrapeMs, 0), 1)} ms`,
      );
    }
  }
  const idle = runs.get("idle")!;
  return modes.map((mode) => {
    const own = runs.get(mode)!;
    return {
      mode,
      runs: own,
      ratioToIdle: median(own.map((run, round) => run.perSecond / idle[round]!.perSecond)),
    };
  });
}

/**
 * The results as a Markdown table.
 *
 * @param results From {@linkcode measureScrapes}.
 * @returns Lines of the table.
 */
export function scrapeTable(results: ScrapeResult[]): string[] {
  const lines = [
    "| peer | processed/s (median) | vs (a) | kernel drops/run | scrapes | scrape median / max | scrape size |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const result of results) {
    const all = result.runs.flatMap((run) => run.scrapeMs);
    lines.push(
      `| ${labels[result.mode]} | ${
        formatNumber(median(result.runs.map((run) => run.perSecond)))
      } | ${formatNumber(result.ratioToIdle * 100)}% | ${
        formatNumber(median(result.runs.map((run) => run.kernelDrops)))
      } | ${all.length} | ${
        all.length === 0
          ? "–"
          : `${formatNumber(median(all), 1)} / ${formatNumber(Math.max(...all), 1)} ms`
      } | ${
        all.length === 0
          ? "–"
          : `${formatNumber(Math.max(...result.runs.map((run) => run.scrapeBytes)) / 1024)} KiB`
      } |`,
    );
  }
  return lines;
}

/** The pauses of the event loop during the scrapes of one way of serving. */
export interface StallResult {
  /** `whole` or `chunks`. */
  body: "whole" | "chunks";
  /** The longest gap during each scrape, ms. */
  gapsMs: number[];
  /** How long each scrape took, ms. */
  scrapeMs: number[];
}

/**
 * Serves a monitor of `streams` streams in this process and measures, per scrape, the
 * longest gap between two runs of a 1 ms timer.
 *
 * @param streams Streams in the table (1,000 shown, the rest summed).
 * @param scrapes Scrapes per way of serving.
 * @returns One result for the whole body, one for the chunked one.
 */
export async function measureStall(streams: number, scrapes: number): Promise<StallResult[]> {
  const recorder = createMetricsRecorder();
  const monitor = new PeerMonitor({
    targets: [],
    ownIntervalMs: 1000,
    downAfter: 3,
    emit: () => {},
    verbose: false,
    onHeartbeat: recorder.observe,
  });
  const t0 = Date.now();
  for (let i = 0; i < streams; i++) {
    const hostname = `127.1.${Math.floor(i / 254)}.${(i % 254) + 1}`;
    for (let k = 0; k < 3; k++) {
      const datagram = encodeHeartbeat({
        timestamp: t0 + k * 1000,
        ipv4: hostname,
        port: 5005,
        text: "",
      });
      monitor.receive(datagram, { hostname, port: 5005 }, t0 + k * 1000 + 0.5);
    }
  }
  const results: StallResult[] = [];
  for (const body of ["whole", "chunks"] as const) {
    const snapshot = () => recorder.snapshot(monitor, "bench", 1000);
    const server = serveMetrics(
      { hostname: "127.0.0.1", port: 0 },
      () => body === "whole" ? renderMetrics(snapshot()) : renderMetricsChunks(snapshot()),
    );
    const result: StallResult = { body, gapsMs: [], scrapeMs: [] };
    try {
      for (let i = 0; i < scrapes; i++) {
        const started = performance.now();
        const curl = new Deno.Command("curl", {
          args: ["-s", "-o", "/dev/null", `http://127.0.0.1:${server.port}/metrics`],
        }).spawn();
        let last = performance.now();
        let longest = 0;
        const timer = setInterval(() => {
          const now = performance.now();
          longest = Math.max(longest, now - last);
          last = now;
        }, 1);
        await curl.status;
        clearInterval(timer);
        result.gapsMs.push(longest);
        result.scrapeMs.push(performance.now() - started);
      }
    } finally {
      await server.shutdown();
    }
    results.push(result);
  }
  return results;
}

if (import.meta.main) {
  const dir = await Deno.makeTempDir({ prefix: "udpeer-bench-scrape-" });
  try {
    const results = await measureScrapes(
      numberFlag(Deno.args, "--rounds", 3),
      numberFlag(Deno.args, "--seconds", 3),
      dir,
      (line) => console.error(line),
    );
    console.log(scrapeTable(results).join("\n"));
    const stalls = await measureStall(10_000, 10);
    console.log(
      [
        "",
        "| 10,000 streams, body | longest event-loop pause per scrape: median / max | scrape median |",
        "| --- | ---: | ---: |",
        ...stalls.map((stall) =>
          `| ${stall.body} | ${formatNumber(median(stall.gapsMs), 1)} / ${
            formatNumber(Math.max(...stall.gapsMs), 1)
          } ms | ${formatNumber(median(stall.scrapeMs), 1)} ms |`
        ),
      ].join("\n"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
