/**
 * What udpeer does with each received heartbeat, without the socket: the same monitor,
 * reporter and line writer as `udpeer peer` (decode, count the source, account the stream,
 * build the event, format its line, encode it), flushed every 1,024 datagrams to a sink
 * that discards. The socket's own cost is what `bench/throughput.ts` compares against the
 * bare `Deno.listenDatagram` loop; this shows what each output mode adds on top of it,
 * steadily enough to see a change of 0.05 µs that a flood cannot resolve.
 *
 * ```sh
 * deno run -A bench/pipeline_bench.ts                 # every mode, 2,000,000 datagrams each
 * deno run -A bench/pipeline_bench.ts --count 500000 --mode json
 * ```
 *
 * The datagrams are a flood's: one source, microsecond stamps 3 µs apart, the default text.
 * Their stamps and checksums are rewritten between batches (outside the timing), so every
 * datagram is a new heartbeat, as in a flood. The figure is µs per datagram, with the CPU.
 *
 * @module
 */

import { PeerMonitor } from "../src/peer/monitor.ts";
import { createReporter } from "../src/peer/reporter.ts";
import { LineWriter } from "../src/common/output.ts";
import { adler32, DEFAULT_MESSAGE, encodeHeartbeat } from "../protocol.ts";
import { cpuModel, numberFlag } from "./lib.ts";

/** Datagrams handled between two flushes. */
const BATCH = 1024;
/** Gap between two stamps, µs: a flood's rate. */
const STAMP_STEP_US = 3;

/** The output modes of `udpeer peer`. */
export type PipelineMode = "quiet" | "human" | "json";

/**
 * Runs `count` datagrams through the receive path of one output mode.
 *
 * @param mode The output mode.
 * @param count Datagrams (rounded up to a whole batch).
 * @returns µs of wall time per datagram, and the bytes of output.
 */
export async function runPipeline(
  mode: PipelineMode,
  count: number,
): Promise<{ usPerDatagram: number; bytes: number }> {
  const text = new TextEncoder().encode(DEFAULT_MESSAGE);
  let stamp = Date.now() * 1000;
  const datagrams = Array.from(
    { length: BATCH },
    () => encodeHeartbeat({ timestamp: stamp, ipv4: "127.0.0.1", port: 5006, text }),
  );
  const views = datagrams.map((d) => new DataView(d.buffer, d.byteOffset, d.byteLength));
  let bytes = 0;
  const out = new LineWriter({
    write: (chunk) => Promise.resolve(chunk.length),
    writeSync: (chunk) => (bytes += chunk.length, chunk.length),
  });
  const reporter = createReporter(
    { json: mode === "json", watch: false },
    out,
    () => {},
  );
  const monitor = new PeerMonitor({
    targets: [],
    ownIntervalMs: 2000,
    downAfter: 3,
    emit: reporter.emit,
    verbose: mode !== "quiet",
  });
  const remote = { transport: "udp" as const, hostname: "127.0.0.1", port: 5006 };
  let spentMs = 0;
  for (let done = 0; done < count; done += BATCH) {
    for (let i = 0; i < BATCH; i++) {
      stamp += STAMP_STEP_US;
      views[i]!.setBigUint64(4, BigInt(stamp));
      views[i]!.setUint32(0, adler32(datagrams[i]!.subarray(4)));
    }
    const start = performance.now();
    const arrivedAtMs = performance.timeOrigin + start;
    for (let i = 0; i < BATCH; i++) monitor.receive(datagrams[i]!, remote, arrivedAtMs + i * 0.003);
    await out.flush();
    spentMs += performance.now() - start;
  }
  const batches = Math.ceil(count / BATCH);
  return { usPerDatagram: (spentMs * 1000) / (batches * BATCH), bytes };
}

if (import.meta.main) {
  const count = numberFlag(Deno.args, "--count", 2_000_000);
  const modeIndex = Deno.args.indexOf("--mode");
  const modes: PipelineMode[] = modeIndex >= 0
    ? [Deno.args[modeIndex + 1] as PipelineMode]
    : ["quiet", "human", "json"];
  console.log(`| mode | µs per datagram | output bytes per datagram | CPU |`);
  console.log(`| --- | ---: | ---: | --- |`);
  for (const mode of modes) {
    const { usPerDatagram, bytes } = await runPipeline(mode, count);
    console.log(
      `| ${mode} | ${usPerDatagram.toFixed(3)} | ${(bytes / count).toFixed(0)} | ${cpuModel()} |`,
    );
  }
}
