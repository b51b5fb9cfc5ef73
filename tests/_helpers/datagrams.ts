/**
 * Numbered datagrams for the tests of the socket readers (`datagramReceiver()` in
 * src/common/net_test.ts, `batchReceiver()` in src/common/batch_receive_test.ts): each
 * carries its number, so that a test sees which arrived, in which order.
 *
 * @module
 */

import assert from "node:assert/strict";

/**
 * A datagram carrying `n` as 4 bytes, big-endian, zero-padded to `length`.
 *
 * @param n The number.
 * @param length Bytes of the datagram, at least 4.
 * @returns The datagram.
 */
export function numbered(n: number, length = 4): Uint8Array {
  const bytes = new Uint8Array(length);
  new DataView(bytes.buffer).setUint32(0, n);
  return bytes;
}

/**
 * The number a {@linkcode numbered} datagram carries.
 *
 * @param data The datagram, or a view of it.
 * @returns Its number.
 */
export function numberOf(data: Uint8Array): number {
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
}

/**
 * Checks a reader's arrival times: each within the run, none before the one read before it.
 *
 * @param times `receivedAtMs` of each datagram, in the order read.
 * @param startedAt Unix ms before the first was sent.
 * @param endedAt Unix ms after the last was read.
 */
export function assertArrivalTimes(times: number[], startedAt: number, endedAt: number): void {
  for (let i = 0; i < times.length; i++) {
    assert.ok(times[i]! >= startedAt && times[i]! <= endedAt, `time ${i} within the run`);
    if (i > 0) assert.ok(times[i]! >= times[i - 1]!, `times in arrival order at ${i}`);
  }
}
