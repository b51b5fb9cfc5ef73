/**
 * What udpeer does with each received heartbeat, without the socket: read the clock, decode,
 * count the source, build the event and queue its line, flushed every 100 datagrams to a
 * sink that discards. The socket's own cost is what `bench/throughput.ts` compares against
 * the bare `Deno.listenDatagram` loop; this shows what each output mode adds on top of it,
 * steadily enough to see a change of 0.1 µs that the flood cannot resolve.
 *
 * ```sh
 * deno bench bench/pipeline_bench.ts
 * ```
 *
 * Each iteration handles 100 datagrams, so µs per iteration read as 10 ns per datagram.
 *
 * @module
 */

import { jsonLine } from "../src/common/escape.ts";
import { LineWriter } from "../src/common/output.ts";
import { wallClockMs } from "../src/peer/run.ts";
import { decodeHeartbeat, DEFAULT_MESSAGE, encodeHeartbeat } from "../protocol.ts";
import {
  formatMessage,
  type MessageEvent,
  messageEvent,
  messageJsonLine,
} from "../src/peer/events.ts";
import { SourceTable } from "../src/peer/sources.ts";

/** Datagrams per benchmark iteration. */
const BATCH = 100;

const remote = { hostname: "127.0.0.1", port: 5006 };
const table = new SourceTable();
const out = new LineWriter({ write: (bytes) => Promise.resolve(bytes.length) });
// Fresh timestamps, one per millisecond as a flood carries them.
const datagrams = Array.from(
  { length: BATCH },
  (_, i) =>
    encodeHeartbeat({
      timestamp: Date.now() + (i >> 4),
      ipv4: "127.0.0.1",
      port: 5006,
      text: DEFAULT_MESSAGE,
    }),
);

/** The receive loop's work for one datagram, as peer.ts does it. */
function handle(datagram: Uint8Array, format: ((event: MessageEvent) => string) | undefined) {
  const receivedAtMs = wallClockMs();
  const result = decodeHeartbeat(datagram);
  if (!result.ok) throw new Error(result.reason);
  const stats = table.recordMessage(remote.hostname);
  if (format) {
    out.line(format(messageEvent(result.heartbeat, remote, stats.messages, receivedAtMs)));
  }
}

const modes: [name: string, format: ((event: MessageEvent) => string) | undefined][] = [
  ["--quiet", undefined],
  ["human", formatMessage],
  ["--json", (event) => messageJsonLine(event, "2026-12-02T01:02:03.456Z")],
  ["--json through the generic jsonLine()", jsonLine],
];
for (const [name, format] of modes) {
  Deno.bench({
    name: `${name}: 100 datagrams`,
    group: "per datagram",
    baseline: format === undefined,
    async fn() {
      for (const datagram of datagrams) handle(datagram, format);
      await out.flush();
    },
  });
}
