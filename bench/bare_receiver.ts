/**
 * The ceiling of the API udpeer is built on: a `Deno.listenDatagram` loop that only counts.
 * It prints `{"event":"listening","port":…}` once bound, and `{"count":…}` on SIGTERM.
 *
 * ```sh
 * deno run --config=deno.json --allow-net bench/bare_receiver.ts --port 0
 * deno run --config=deno.json --allow-net bench/bare_receiver.ts --port 0 --depth 4
 * deno run --config=deno.json --allow-net --allow-ffi bench/bare_receiver.ts --port 0 --batch
 * ```
 *
 * It reads into one reused buffer as udpeer does, one `receive()` at a time. `--depth N`
 * counts through `datagramReceiver()` of src/common/net.ts instead, N receives in flight;
 * `--batch` through `batchReceiver()` of src/common/batch_receive.ts (recvmmsg batches, with
 * `--allow-ffi` on Linux; else it says so and exits 1); `--default-buffer` lets `receive()`
 * allocate its own 65,507 bytes for each datagram.
 *
 * @module
 */

import { MAX_DATAGRAM_BYTES } from "../protocol.ts";
import { batchReceiver } from "../src/common/batch_receive.ts";
import { datagramReceiver } from "../src/common/net.ts";
import { numberFlag } from "./lib.ts";

const conn = Deno.listenDatagram({
  transport: "udp",
  hostname: "127.0.0.1",
  port: numberFlag(Deno.args, "--port", 0),
});
const depth = numberFlag(Deno.args, "--depth", 0);
let count = 0;

Deno.addSignalListener("SIGTERM", () => {
  console.log(JSON.stringify({ count }));
  Deno.exit(0);
});
console.log(JSON.stringify({ event: "listening", port: (conn.addr as Deno.NetAddr).port }));

if (Deno.args.includes("--batch")) {
  const receiver = batchReceiver(conn, { isClosed: () => false, onError: () => {} });
  if (receiver === undefined) {
    console.error("bare_receiver.ts: --batch needs --allow-ffi on 64-bit Linux");
    Deno.exit(1);
  }
  while (receiver.poll() !== undefined || await receiver.next() !== undefined) count++;
} else if (depth > 0) {
  const receiver = datagramReceiver(conn, { depth, isClosed: () => false, onError: () => {} });
  while (await receiver.next() !== undefined) count++;
} else {
  const buffer = Deno.args.includes("--default-buffer")
    ? undefined
    : new Uint8Array(MAX_DATAGRAM_BYTES + 1);
  while (true) {
    try {
      await conn.receive(buffer);
      count++;
    } catch (error) {
      if (error instanceof Deno.errors.BadResource) break;
    }
  }
}
