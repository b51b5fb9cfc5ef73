import assert from "node:assert/strict";
import { promtoolCheck, promtoolMissing } from "../../tests/_helpers/promtool.ts";
import {
  boundStreams,
  DELAY_BUCKETS_SECONDS,
  escapeLabelValue,
  type MetricsSnapshot,
  newDelayHistogram,
  observeDelay,
  renderMetrics,
  renderMetricsChunks,
  type StreamMetrics,
} from "./metrics.ts";

function stream(source: string, fields: Partial<StreamMetrics> = {}): StreamMetrics {
  return {
    source,
    received: 0,
    missed: 0,
    duplicates: 0,
    reordered: 0,
    outliers: 0,
    up: true,
    jitterSeconds: 0,
    lossRatio: 0,
    lastHeartbeatSeconds: 0,
    delay: newDelayHistogram(),
    ...fields,
  };
}

function snapshot(fields: Partial<MetricsSnapshot> = {}): MetricsSnapshot {
  return {
    version: "0.1.0",
    targets: [],
    streams: [],
    other: undefined,
    invalid: { short: 0, checksum: 0 },
    sourcesEvicted: 0,
    ...fields,
  };
}

/** The sample lines of a rendering, without HELP and TYPE. */
function samples(text: string): string[] {
  return text.split("\n").filter((line) => line !== "" && !line.startsWith("#"));
}

if (promtoolMissing) console.log(`skipped: promtool checks in metrics_test.ts: ${promtoolMissing}`);

Deno.test("observeDelay() puts each delay in the first bucket whose bound is ≥ it", () => {
  const histogram = newDelayHistogram();
  const cases: [number, number][] = [
    [-0.5, 0], // the clocks disagree: le="0"
    [0, 0],
    [0.00005, 1],
    [0.0001, 1],
    [0.0004, 3],
    [10, DELAY_BUCKETS_SECONDS.length - 1],
    [11, DELAY_BUCKETS_SECONDS.length], // +Inf
  ];
  for (const [seconds, index] of cases) {
    const before = histogram.counts[index]!;
    observeDelay(histogram, seconds);
    assert.equal(histogram.counts[index], before + 1, `${seconds} s goes to bucket ${index}`);
  }
  assert.equal(histogram.count, cases.length);
  assert.ok(Math.abs(histogram.sum - cases.reduce((sum, [s]) => sum + s, 0)) < 1e-12);
});

Deno.test("escapeLabelValue() escapes backslash, double quote and line feed only", () => {
  const cases: [string, string][] = [
    ["plain", "plain"],
    ['a"b', 'a\\"b'],
    ["a\\b", "a\\\\b"],
    ["a\nb", "a\\nb"],
    ["zürich\tx", "zürich\tx"],
    ['\\"\n', '\\\\\\"\\n'],
  ];
  for (const [raw, escaped] of cases) assert.equal(escapeLabelValue(raw), escaped);
});

Deno.test("renderMetrics() writes every series docs/many-hosts.md lists, with its labels", () => {
  const delay = newDelayHistogram();
  observeDelay(delay, 0.0003);
  observeDelay(delay, -0.002);
  const text = renderMetrics(snapshot({
    targets: [
      { target: "10.0.0.2:5005", peer: "web-1", sent: 12, sendErrors: 1, skipped: 4 },
      { target: "db.example:5005", sent: 3, sendErrors: 0, skipped: 0 },
    ],
    streams: [
      stream("10.0.0.2:5005", {
        target: "10.0.0.2:5005",
        peer: "web-1",
        received: 10,
        missed: 2,
        duplicates: 1,
        reordered: 1,
        outliers: 1,
        jitterSeconds: 0.00025,
        lossRatio: 2 / 12,
        lastHeartbeatSeconds: 1763700000.25,
        delay,
      }),
      stream("10.0.0.9:40000", { up: false, received: 5 }),
    ],
    invalid: { short: 1, checksum: 4 },
    sourcesEvicted: 7,
    info: { name: "host-a", address: "10.0.0.1:5005" },
    processStartTimeSeconds: 1763699990.125,
  }));
  assert.ok(text.endsWith("\n"));
  const web = 'source="10.0.0.2:5005",target="10.0.0.2:5005",peer="web-1"';
  const want = [
    'udpeer_build_info{version="0.1.0"} 1',
    'udpeer_info{name="host-a",address="10.0.0.1:5005"} 1',
    "process_start_time_seconds 1763699990.125",
    'udpeer_heartbeats_sent_total{target="10.0.0.2:5005",peer="web-1"} 12',
    'udpeer_heartbeats_sent_total{target="db.example:5005"} 3',
    'udpeer_send_errors_total{target="10.0.0.2:5005",peer="web-1"} 1',
    'udpeer_heartbeats_skipped_total{target="10.0.0.2:5005",peer="web-1"} 4',
    `udpeer_heartbeats_received_total{${web}} 10`,
    'udpeer_heartbeats_received_total{source="10.0.0.9:40000"} 5',
    `udpeer_heartbeats_missed_total{${web}} 2`,
    `udpeer_duplicates_total{${web}} 1`,
    `udpeer_reordered_total{${web}} 1`,
    `udpeer_outliers_total{${web}} 1`,
    `udpeer_peer_up{${web}} 1`,
    'udpeer_peer_up{source="10.0.0.9:40000"} 0',
    `udpeer_loss_ratio{${web}} ${2 / 12}`,
    `udpeer_jitter_seconds{${web}} 0.00025`,
    `udpeer_last_heartbeat_timestamp_seconds{${web}} 1763700000.25`,
    `udpeer_one_way_delay_seconds_bucket{${web},le="0"} 1`,
    `udpeer_one_way_delay_seconds_bucket{${web},le="0.0001"} 1`,
    `udpeer_one_way_delay_seconds_bucket{${web},le="0.0005"} 2`,
    `udpeer_one_way_delay_seconds_bucket{${web},le="+Inf"} 2`,
    `udpeer_one_way_delay_seconds_count{${web}} 2`,
    'udpeer_invalid_datagrams_total{reason="short"} 1',
    'udpeer_invalid_datagrams_total{reason="checksum"} 4',
    "udpeer_sources_evicted_total 7",
  ];
  const lines = samples(text);
  for (const line of want) assert.ok(lines.includes(line), `missing: ${line}\n${text}`);
  assert.ok(lines.some((line) => /^udpeer_one_way_delay_seconds_sum\{.*\} -0\.0017/.test(line)));
  for (const family of ["heartbeats_sent_total", "peer_up", "one_way_delay_seconds"]) {
    assert.ok(text.includes(`# HELP udpeer_${family} `), family);
  }
  assert.ok(text.includes("# TYPE udpeer_one_way_delay_seconds histogram\n"));
  assert.ok(text.includes("# TYPE udpeer_heartbeats_received_total counter\n"));
  assert.ok(text.includes("# TYPE udpeer_peer_up gauge\n"));
  assert.ok(text.includes("# TYPE udpeer_info gauge\n"));
  assert.ok(text.includes("# TYPE process_start_time_seconds gauge\n"));
});

Deno.test("renderMetrics() leaves udpeer_info and process_start_time_seconds out when it has neither", () => {
  const text = renderMetrics(snapshot());
  assert.ok(!text.includes("udpeer_info"));
  assert.ok(!text.includes("process_start_time_seconds"));
});

Deno.test("renderMetrics() escapes label values and spells out infinities", () => {
  const text = renderMetrics(snapshot({
    version: 'v"1\\2\n',
    streams: [stream("10.0.0.1:1", { jitterSeconds: Infinity, lossRatio: NaN })],
  }));
  assert.ok(text.includes('udpeer_build_info{version="v\\"1\\\\2\\n"} 1\n'));
  assert.ok(text.includes('udpeer_jitter_seconds{source="10.0.0.1:1"} +Inf\n'));
  assert.ok(text.includes('udpeer_loss_ratio{source="10.0.0.1:1"} NaN\n'));
});

Deno.test("boundStreams() keeps targets, the most recent others, and sums the rest as other", () => {
  const target = stream("10.0.0.1:5005", { target: "10.0.0.1:5005", received: 1 });
  const others = Array.from({ length: 5 }, (_, i) => {
    const delay = newDelayHistogram();
    observeDelay(delay, 0.001);
    return stream(`10.0.1.${i}:5005`, {
      received: 10 + i,
      missed: i,
      duplicates: 1,
      reordered: 2,
      delay,
    });
  });
  const { streams, other } = boundStreams([target], others, 2);
  assert.deepEqual(streams.map((s) => s.source), [
    "10.0.0.1:5005",
    "10.0.1.0:5005",
    "10.0.1.1:5005",
  ]);
  assert.equal(other?.streams, 3);
  assert.equal(other?.received, 12 + 13 + 14);
  assert.equal(other?.missed, 2 + 3 + 4);
  assert.equal(other?.duplicates, 3);
  assert.equal(other?.reordered, 6);
  assert.equal(other?.delay.count, 3);

  const text = renderMetrics(snapshot({ streams, other }));
  const lines = samples(text);
  assert.ok(lines.includes('udpeer_heartbeats_received_total{source="other"} 39'));
  assert.ok(lines.includes('udpeer_one_way_delay_seconds_bucket{source="other",le="0.001"} 3'));
  // State gauges are not summed.
  assert.ok(!lines.some((line) => line.startsWith('udpeer_peer_up{source="other"}')));

  assert.equal(boundStreams([], others, 5).other, undefined);
  assert.equal(boundStreams([target], others, 0).streams.length, 1);
});

Deno.test("renderMetrics() stays within targets + max sources + 1 streams under a flood", () => {
  const others = Array.from({ length: 20_000 }, (_, i) => stream(`10.${i >> 8}.${i & 255}.1:9`));
  const targets = [stream("10.255.0.1:5005", { target: "t:5005" })];
  const text = renderMetrics(snapshot(boundStreams(targets, others, 1_000)));
  const sources = new Set(
    samples(text).map((line) => line.match(/source="([^"]*)"/)?.[1]).filter((s) => s),
  );
  assert.equal(sources.size, 1 + 1_000 + 1);
  assert.ok(sources.has("other") && sources.has("10.255.0.1:5005"));
});

Deno.test("renderMetricsChunks() gives the same text as renderMetrics() in chunks of whole lines", () => {
  const others = Array.from({ length: 50 }, (_, i) => stream(`10.0.1.${i}:5005`, { received: i }));
  const snap = snapshot(boundStreams([], others, 40));
  const chunks = [...renderMetricsChunks(snap, 100)];
  assert.ok(chunks.length > 10, `${chunks.length} chunks`);
  for (const chunk of chunks) {
    assert.ok(chunk.endsWith("\n"));
    assert.ok(chunk.split("\n").length - 1 <= 100 + 20, "a chunk is at most one histogram over");
  }
  assert.equal(chunks.join(""), renderMetrics(snap));
});

Deno.test({
  name: "renderMetrics() output passes promtool check metrics",
  ignore: promtoolMissing !== undefined,
  fn: async () => {
    const delay = newDelayHistogram();
    for (const seconds of [-0.001, 0.0002, 0.003, 0.2, 20]) observeDelay(delay, seconds);
    const others = Array.from({ length: 4 }, (_, i) => stream(`10.0.1.${i}:5005`, { delay }));
    const text = renderMetrics(snapshot({
      version: "0.1.0",
      targets: [{ target: "10.0.0.2:5005", peer: 'we"b\\1', sent: 3, sendErrors: 0, skipped: 0 }],
      ...boundStreams(
        [stream("10.0.0.2:5005", { target: "10.0.0.2:5005", peer: 'we"b\\1', delay })],
        others,
        2,
      ),
      invalid: { short: 1, checksum: 2 },
      sourcesEvicted: 3,
      info: { name: 'a"\\b', address: "10.0.0.1:5005" },
      processStartTimeSeconds: Date.now() / 1000,
    }));
    const { success, output } = await promtoolCheck(text);
    assert.ok(success, output);
    assert.equal(output.trim(), "", `promtool has remarks:\n${output}`);

    // An empty peer (no target, nothing heard) is valid too.
    const empty = await promtoolCheck(renderMetrics(snapshot()));
    assert.ok(empty.success, empty.output);
  },
});
