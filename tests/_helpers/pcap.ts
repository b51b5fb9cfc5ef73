/**
 * A small writer for classic pcap files holding UDP datagrams over IPv4 or IPv6, so tests
 * can hand real packets to `tshark` without capturing (no root, no network, byte-for-byte
 * repeatable).
 *
 * Each record is a raw IP packet (link type `LINKTYPE_RAW`, 101): a 20-byte IPv4 header or a
 * 40-byte IPv6 header, and an 8-byte UDP header with a correct checksum, then the payload.
 *
 * @example Write two datagrams to a pcap file
 * ```ts
 * import assert from "node:assert/strict";
 * import { udpPcap } from "./pcap.ts";
 *
 * const there = { src: "127.0.0.1", srcPort: 5006, dst: "127.0.0.1", dstPort: 5005 };
 * const back = { src: "127.0.0.1", srcPort: 5005, dst: "127.0.0.1", dstPort: 5006 };
 * const file = udpPcap([
 *   { ...there, timeMs: 1763700000000, payload: new Uint8Array([1, 2]) },
 *   { ...back, timeMs: 1763700000500, payload: new Uint8Array(0) },
 * ]);
 * assert.ok(file.length === 24 + 2 * 16 + 28 + 2 + 28);
 * ```
 *
 * @module
 */

import { parseIpv4 } from "../../protocol.ts";
import { parseIpv6 } from "../../src/common/endpoint.ts";

/** Link type of a record that starts with the IP header (no link-layer header). */
export const LINKTYPE_RAW = 101;

/** pcap's magic number for microsecond timestamps. */
export const PCAP_MAGIC = 0xa1b2c3d4;

/** Length of the pcap file header in bytes. */
export const PCAP_HEADER_BYTES = 24;

/** Length of a pcap record header in bytes. */
export const RECORD_HEADER_BYTES = 16;

/** Length of the IPv4 header (no options) plus the UDP header in bytes. */
export const IPV4_UDP_HEADER_BYTES = 28;

/** Length of the IPv6 header (no extension headers) plus the UDP header in bytes. */
export const IPV6_UDP_HEADER_BYTES = 48;

/** One UDP datagram as it was seen on the wire. */
export interface UdpDatagram {
  /** Capture time in Unix milliseconds; microseconds are kept, anything finer is dropped. */
  timeMs: number;
  /** Source address: dotted-quad IPv4, or IPv6 (then `dst` is IPv6 too). */
  src: string;
  /** Source UDP port. */
  srcPort: number;
  /** Destination address, of the family of `src`. */
  dst: string;
  /** Destination UDP port. */
  dstPort: number;
  /** The UDP payload. */
  payload: Uint8Array;
}

/** One record of a pcap file: a capture time and the bytes captured. */
export interface PcapRecord {
  /** Capture time in Unix milliseconds; microseconds are kept, anything finer is dropped. */
  timeMs: number;
  /** The packet, starting with the link-layer header of the file's link type. */
  data: Uint8Array;
}

/**
 * The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of
 * 16-bit big-endian words, an odd last byte padded with zero.
 *
 * @param parts Byte arrays summed as if they were one (each but the last of even length).
 * @returns The checksum, 0..0xffff.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { internetChecksum } from "./pcap.ts";
 * assert.ok(internetChecksum(new Uint8Array([0x00, 0x01, 0xf2, 0x03])) === 0x0dfb);
 * ```
 */
export function internetChecksum(...parts: Uint8Array[]): number {
  let sum = 0;
  for (const part of parts) {
    for (let i = 0; i + 1 < part.length; i += 2) sum += (part[i]! << 8) | part[i + 1]!;
    if (part.length % 2 === 1) sum += part[part.length - 1]! << 8;
    // Fold now and then so the sum stays a small integer.
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function address(value: string, what: string): number {
  const parsed = parseIpv4(value);
  if (parsed === undefined) {
    throw new RangeError(`Cannot build packet: ${what} "${value}" is not an IPv4 address`);
  }
  return parsed;
}

function checkPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`Cannot build packet: ${what} ${port} is not in 0..65535`);
  }
}

/**
 * Builds an IPv4 packet carrying one UDP datagram: IPv4 header (TTL 64, don't fragment,
 * identification 0) and UDP header, both with correct checksums.
 *
 * @param datagram Addresses, ports and payload (`timeMs` is not used here).
 * @returns The packet, 28 bytes longer than the payload.
 * @throws {RangeError} If an address is not a dotted quad, a port is not in 0..65535, or the
 * payload is longer than 65,507 bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ipv4UdpPacket } from "./pcap.ts";
 * const packet = ipv4UdpPacket({
 *   timeMs: 0,
 *   src: "10.0.0.1",
 *   srcPort: 1,
 *   dst: "10.0.0.2",
 *   dstPort: 2,
 *   payload: new Uint8Array(3),
 * });
 * assert.ok(packet.length === 31 && packet[9] === 17);
 * ```
 */
export function ipv4UdpPacket(datagram: UdpDatagram): Uint8Array {
  const src = address(datagram.src, "source");
  const dst = address(datagram.dst, "destination");
  checkPort(datagram.srcPort, "source port");
  checkPort(datagram.dstPort, "destination port");
  const { payload } = datagram;
  const udpLength = 8 + payload.length;
  const totalLength = 20 + udpLength;
  if (totalLength > 65535) {
    throw new RangeError(
      `Cannot build packet: payload is ${payload.length} bytes, at most 65507 fit`,
    );
  }
  const packet = new Uint8Array(totalLength);
  const view = new DataView(packet.buffer);
  view.setUint8(0, 0x45); // version 4, header length 5 words
  view.setUint16(2, totalLength);
  view.setUint16(6, 0x4000); // don't fragment
  view.setUint8(8, 64); // TTL
  view.setUint8(9, 17); // UDP
  view.setUint32(12, src);
  view.setUint32(16, dst);
  view.setUint16(10, internetChecksum(packet.subarray(0, 20)));

  view.setUint16(20, datagram.srcPort);
  view.setUint16(22, datagram.dstPort);
  view.setUint16(24, udpLength);
  packet.set(payload, 28);
  const pseudo = new Uint8Array(12);
  const pseudoView = new DataView(pseudo.buffer);
  pseudoView.setUint32(0, src);
  pseudoView.setUint32(4, dst);
  pseudoView.setUint16(8, 17);
  pseudoView.setUint16(10, udpLength);
  // 0 means "no checksum" in UDP over IPv4, so a computed 0 is sent as 0xffff.
  view.setUint16(26, internetChecksum(pseudo, packet.subarray(20)) || 0xffff);
  return packet;
}

function address6(value: string, what: string): Uint8Array {
  const groups = parseIpv6(value);
  if (groups === undefined) {
    throw new RangeError(`Cannot build packet: ${what} "${value}" is not an IPv6 address`);
  }
  const bytes = new Uint8Array(16);
  const view = new DataView(bytes.buffer);
  groups.forEach((group, i) => view.setUint16(2 * i, group));
  return bytes;
}

/**
 * Builds an IPv6 packet carrying one UDP datagram: IPv6 header (hop limit 64, no flow label,
 * no extension headers) and UDP header with its checksum, which IPv6 makes mandatory.
 *
 * @param datagram Addresses, ports and payload (`timeMs` is not used here).
 * @returns The packet, 48 bytes longer than the payload.
 * @throws {RangeError} If an address is not IPv6, a port is not in 0..65535, or the payload
 * is longer than 65,527 bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ipv6UdpPacket } from "./pcap.ts";
 * const packet = ipv6UdpPacket({
 *   timeMs: 0,
 *   src: "fd00:75:64::1",
 *   srcPort: 1,
 *   dst: "fd00:75:64::2",
 *   dstPort: 2,
 *   payload: new Uint8Array(3),
 * });
 * assert.ok(packet.length === 51 && packet[0] === 0x60 && packet[6] === 17);
 * ```
 */
export function ipv6UdpPacket(datagram: UdpDatagram): Uint8Array {
  const src = address6(datagram.src, "source");
  const dst = address6(datagram.dst, "destination");
  checkPort(datagram.srcPort, "source port");
  checkPort(datagram.dstPort, "destination port");
  const { payload } = datagram;
  const udpLength = 8 + payload.length;
  if (udpLength > 65535) {
    throw new RangeError(
      `Cannot build packet: payload is ${payload.length} bytes, at most 65527 fit`,
    );
  }
  const packet = new Uint8Array(40 + udpLength);
  const view = new DataView(packet.buffer);
  view.setUint32(0, 0x60000000); // version 6, traffic class 0, flow label 0
  view.setUint16(4, udpLength); // payload length
  view.setUint8(6, 17); // next header: UDP
  view.setUint8(7, 64); // hop limit
  packet.set(src, 8);
  packet.set(dst, 24);
  view.setUint16(40, datagram.srcPort);
  view.setUint16(42, datagram.dstPort);
  view.setUint16(44, udpLength);
  packet.set(payload, 48);
  // RFC 8200 8.1: source, destination, upper-layer length (32 bits), 3 zero bytes, 17.
  const pseudo = new Uint8Array(40);
  pseudo.set(src, 0);
  pseudo.set(dst, 16);
  const pseudoView = new DataView(pseudo.buffer);
  pseudoView.setUint32(32, udpLength);
  pseudoView.setUint8(39, 17);
  view.setUint16(46, internetChecksum(pseudo, packet.subarray(40)) || 0xffff);
  return packet;
}

/**
 * Builds a classic pcap file (little-endian, microsecond timestamps, snap length 65535).
 *
 * @param records The packets in capture order.
 * @param linkType The link type of every record, {@linkcode LINKTYPE_RAW} by default.
 * @returns The whole file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pcapFile } from "./pcap.ts";
 * const file = pcapFile([]);
 * assert.ok(file.length === 24);
 * ```
 */
export function pcapFile(
  records: readonly PcapRecord[],
  linkType: number = LINKTYPE_RAW,
): Uint8Array {
  const size = records.reduce(
    (total, record) => total + RECORD_HEADER_BYTES + record.data.length,
    PCAP_HEADER_BYTES,
  );
  const file = new Uint8Array(size);
  const view = new DataView(file.buffer);
  view.setUint32(0, PCAP_MAGIC, true);
  view.setUint16(4, 2, true); // version 2.4
  view.setUint16(6, 4, true);
  // 8: time zone offset and 12: timestamp accuracy, both 0.
  view.setUint32(16, 65535, true); // snap length
  view.setUint32(20, linkType, true);
  let offset = PCAP_HEADER_BYTES;
  for (const record of records) {
    const micros = Math.floor(record.timeMs * 1000);
    view.setUint32(offset, Math.floor(micros / 1e6), true);
    view.setUint32(offset + 4, micros % 1e6, true);
    view.setUint32(offset + 8, record.data.length, true); // bytes captured
    view.setUint32(offset + 12, record.data.length, true); // length on the wire
    file.set(record.data, offset + RECORD_HEADER_BYTES);
    offset += RECORD_HEADER_BYTES + record.data.length;
  }
  return file;
}

/**
 * Builds a pcap file of UDP datagrams (link type {@linkcode LINKTYPE_RAW}), each over IPv6
 * when its source address is IPv6, else over IPv4.
 *
 * @param datagrams The datagrams in capture order.
 * @returns The whole file, ready for `Deno.writeFile` and `tshark -r`.
 * @throws {RangeError} As {@linkcode ipv4UdpPacket} and {@linkcode ipv6UdpPacket} do.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { udpPcap } from "./pcap.ts";
 * const file = udpPcap([
 *   { timeMs: 0, src: "127.0.0.1", srcPort: 1, dst: "127.0.0.1", dstPort: 2, payload: new Uint8Array(0) },
 * ]);
 * assert.ok(file.length === 24 + 16 + 28);
 * ```
 */
export function udpPcap(datagrams: readonly UdpDatagram[]): Uint8Array {
  return pcapFile(
    datagrams.map((datagram) => ({
      timeMs: datagram.timeMs,
      data: datagram.src.includes(":") ? ipv6UdpPacket(datagram) : ipv4UdpPacket(datagram),
    })),
  );
}
