#!/usr/bin/env python3
"""A heartbeat peer written the way the assignment's other peers are: struct and zlib only.

It is the independent implementation udpeer is tested against (test-only):

  send:    foreign_peer.py send TARGET_PORT LISTEN_PORT COUNT SLEEP_S
           binds LISTEN_PORT (the address and port it advertises) but sends from a second
           socket on another port, COUNT heartbeats with whole-second timestamps
           (int(time.time())), sleeping SLEEP_S between them: a drifting sleep loop, as
           such peers do. Prints the sending port, then "done".
  receive: foreign_peer.py receive LISTEN_PORT SECONDS
           binds LISTEN_PORT, prints "ready", then counts the valid heartbeats (checksum
           checked with zlib) that arrive within SECONDS and prints that number.
"""

import socket
import struct
import sys
import time
import zlib

HOST = "127.0.0.1"


def heartbeat(text: bytes, listen_port: int) -> bytes:
    body = struct.pack(">Q4sH", int(time.time()), socket.inet_aton(HOST), listen_port) + text
    return struct.pack(">I", zlib.adler32(body) & 0xFFFFFFFF) + body


def send(target_port: int, listen_port: int, count: int, sleep_s: float) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind((HOST, listen_port))
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind((HOST, 0))
    print(sender.getsockname()[1], flush=True)
    for i in range(count):
        sender.sendto(heartbeat(b"python peer", listen_port), (HOST, target_port))
        if i + 1 < count:
            time.sleep(sleep_s)
    print("done", flush=True)


def receive(listen_port: int, seconds: float) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind((HOST, listen_port))
    print("ready", flush=True)
    deadline = time.monotonic() + seconds
    valid = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        listener.settimeout(left)
        try:
            data, _ = listener.recvfrom(65535)
        except socket.timeout:
            break
        if len(data) >= 18 and struct.unpack(">I", data[:4])[0] == zlib.adler32(data[4:]) & 0xFFFFFFFF:
            valid += 1
    print(valid, flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "send":
        send(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
    else:
        receive(int(sys.argv[2]), float(sys.argv[3]))
