/**
 * Tests of the pcap writer: file and record headers, IPv4 and UDP headers with checksums
 * that verify, and refusal of values that cannot be written.
 *
 * @example
 * ```sh
 * deno test pcap_test.ts
 * ```
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  internetChecksum,
  ipv4UdpPacket,
  ipv6UdpPacket,
  LINKTYPE_RAW,
  PCAP_MAGIC,
  pcapFile,
  type UdpDatagram,
  udpPcap,
} from "./pcap.ts";

const sample: UdpDatagram = {
  timeMs: 1763700000123.456,
  src: "192.0.2.1",
  srcPort: 5006,
  dst: "198.51.100.2",
  dstPort: 5005,
  payload: new TextEncoder().encode("hello"),
};

Deno.test("internetChecksum() matches RFC 1071's worked example", () => {
  // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2, whose complement is 220d.
  const bytes = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
  assert.equal(internetChecksum(bytes), 0x220d);
  assert.equal(internetChecksum(bytes.subarray(0, 4), bytes.subarray(4)), 0x220d);
});

Deno.test("internetChecksum() pads an odd last byte with zero", () => {
  assert.equal(internetChecksum(new Uint8Array([0x12])), ~0x1200 & 0xffff);
  assert.equal(internetChecksum(new Uint8Array([0x12, 0x00])), ~0x1200 & 0xffff);
});

Deno.test("ipv4UdpPacket() writes an IPv4 header whose checksum verifies", () => {
  const packet = ipv4UdpPacket(sample);
  const view = new DataView(packet.buffer);
  assert.equal(packet.length, 20 + 8 + 5);
  assert.equal(packet[0], 0x45);
  assert.equal(view.getUint16(2), packet.length);
  assert.equal(packet[8], 64);
  assert.equal(packet[9], 17);
  assert.deepEqual([...packet.subarray(12, 16)], [192, 0, 2, 1]);
  assert.deepEqual([...packet.subarray(16, 20)], [198, 51, 100, 2]);
  // A header with its checksum in place sums to 0xffff, whose complement is 0.
  assert.equal(internetChecksum(packet.subarray(0, 20)), 0);
});

Deno.test("ipv4UdpPacket() writes a UDP header whose checksum verifies", () => {
  const packet = ipv4UdpPacket(sample);
  const view = new DataView(packet.buffer);
  assert.equal(view.getUint16(20), 5006);
  assert.equal(view.getUint16(22), 5005);
  assert.equal(view.getUint16(24), 8 + 5);
  assert.notEqual(view.getUint16(26), 0);
  const pseudo = new Uint8Array([...packet.subarray(12, 20), 0, 17, 0, 8 + 5]);
  assert.equal(internetChecksum(pseudo, packet.subarray(20)), 0);
  assert.equal(new TextDecoder().decode(packet.subarray(28)), "hello");
});

Deno.test("ipv4UdpPacket() carries the largest UDP payload and refuses a larger one", () => {
  const largest = ipv4UdpPacket({ ...sample, payload: new Uint8Array(65_507) });
  assert.equal(largest.length, 65_535);
  assert.throws(
    () => ipv4UdpPacket({ ...sample, payload: new Uint8Array(65_508) }),
    /payload is 65508 bytes, at most 65507 fit/,
  );
});

Deno.test("ipv4UdpPacket() refuses addresses and ports it cannot write", () => {
  assert.throws(() => ipv4UdpPacket({ ...sample, src: "localhost" }), /source "localhost"/);
  assert.throws(() => ipv4UdpPacket({ ...sample, dst: "1.2.3" }), /destination "1.2.3"/);
  assert.throws(() => ipv4UdpPacket({ ...sample, srcPort: 65536 }), /source port 65536/);
  assert.throws(() => ipv4UdpPacket({ ...sample, dstPort: -1 }), /destination port -1/);
});

Deno.test("pcapFile() writes a little-endian header with microsecond records", () => {
  const file = pcapFile([{ timeMs: 1763700000123.456, data: new Uint8Array([1, 2, 3]) }]);
  const view = new DataView(file.buffer);
  assert.equal(file.length, 24 + 16 + 3);
  assert.equal(view.getUint32(0, true), PCAP_MAGIC);
  assert.equal(view.getUint16(4, true), 2);
  assert.equal(view.getUint16(6, true), 4);
  assert.equal(view.getUint32(16, true), 65535);
  assert.equal(view.getUint32(20, true), LINKTYPE_RAW);
  assert.equal(view.getUint32(24, true), 1763700000);
  assert.equal(view.getUint32(28, true), 123456);
  assert.equal(view.getUint32(32, true), 3);
  assert.equal(view.getUint32(36, true), 3);
  assert.deepEqual([...file.subarray(40)], [1, 2, 3]);
});

Deno.test("udpPcap() is byte-for-byte repeatable", () => {
  const first = udpPcap([sample, { ...sample, timeMs: sample.timeMs + 1 }]);
  const second = udpPcap([sample, { ...sample, timeMs: sample.timeMs + 1 }]);
  assert.deepEqual(first, second);
  assert.equal(first.length, 24 + 2 * (16 + 28 + 5));
});

Deno.test("ipv6UdpPacket() writes an IPv6 header and a UDP checksum over its pseudo-header that verifies", () => {
  const datagram = { ...sample, src: "fd00:75:64::1", dst: "fd00:75:64::2" };
  const packet = ipv6UdpPacket(datagram);
  const view = new DataView(packet.buffer);
  assert.equal(packet.length, 40 + 8 + 5);
  assert.equal(packet[0]! >> 4, 6);
  assert.equal(view.getUint16(4), 8 + 5, "payload length");
  assert.equal(packet[6], 17);
  assert.deepEqual([...packet.subarray(8, 10)], [0xfd, 0x00]);
  assert.equal(packet[23], 1);
  assert.equal(packet[39], 2);
  // Summing the pseudo-header and the UDP segment with its checksum gives 0 (RFC 1071).
  const pseudo = new Uint8Array(40);
  pseudo.set(packet.subarray(8, 40), 0);
  new DataView(pseudo.buffer).setUint32(32, 8 + 5);
  pseudo[39] = 17;
  assert.equal(internetChecksum(pseudo, packet.subarray(40)), 0);
  assert.throws(() => ipv6UdpPacket({ ...datagram, dst: "10.0.0.1" }), /is not an IPv6 address/);
  // udpPcap() takes IPv6 by the source's family.
  assert.deepEqual(udpPcap([datagram]).subarray(24 + 16), packet);
});
