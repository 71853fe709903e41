#!/usr/bin/env python3
"""Receive imphmr packets (docs/PROTOCOL.md) over UDP or a serial line, print or record.

Standard library only: copy it to the robot's computer as is.

    python3 tools/receive.py --udp 0.0.0.0:9870                 # one JSON line per packet
    python3 tools/receive.py --serial /dev/ttyUSB0 --baud 921600 --brief
    python3 tools/receive.py --udp :9870 --record session.bin   # keep the raw stream too
    python3 tools/receive.py --file session.bin --framing udp   # replay a recording

Rejected packets (bad length, magic, version, CRC, COBS) are counted, never printed as
data; sequence gaps (frames dropped by the sender) are counted too. Counts go to stderr
at the end (Ctrl-C, --count or --timeout).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import sys
import time
import zlib

SIZE = 676
MAGIC = b"IHMR"
VERSION = 1
FLAGS = {0: "joints", 1: "ambiguity", 2: "cam_full_frame", 3: "random_weights", 4: "default_box"}


class Rejected(Exception):
    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


def decode(b: bytes) -> dict:
    """One packet → dict; raises Rejected('length'|'magic'|'version'|'crc')."""
    if len(b) != SIZE:
        raise Rejected("length")
    if b[:4] != MAGIC:
        raise Rejected("magic")
    version, flags, seq, capture_us, latency_us = struct.unpack_from("<HHIQI", b, 4)
    if version != VERSION:
        raise Rejected("version")
    if struct.unpack_from("<I", b, 672)[0] != zlib.crc32(b[:672]):
        raise Rejected("crc")
    theta = struct.unpack_from("<72f", b, 40)
    joints = struct.unpack_from("<72f", b, 380)
    return {
        "version": version,
        "flags": [name for bit, name in FLAGS.items() if flags >> bit & 1],
        "sequence": seq,
        "capture_us": capture_us,
        "latency_us": latency_us,
        "box": list(struct.unpack_from("<4f", b, 24)),
        "theta": [list(theta[i : i + 3]) for i in range(0, 72, 3)],
        "betas": list(struct.unpack_from("<10f", b, 328)),
        "cam": list(struct.unpack_from("<3f", b, 368)),
        "joints": [list(joints[i : i + 3]) for i in range(0, 72, 3)] if flags & 1 else None,
        "ambiguity": struct.unpack_from("<f", b, 668)[0] if flags & 2 else None,
    }


def cobs_decode(data: bytes) -> bytes:
    """Decode one COBS frame (without its 0x00 delimiter); raises Rejected('cobs')."""
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0 or i + code > len(data):
            raise Rejected("cobs")
        out += data[i + 1 : i + code]
        i += code
        if code < 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


class Receiver:
    def __init__(self, out, brief: bool):
        self.out = out
        self.brief = brief
        self.counts = {"packets": 0, "gaps": 0, "dropped_frames": 0}
        self.last_seq = None
        self.pending = bytearray()

    def reject(self, kind: str) -> None:
        key = f"bad_{kind}"
        self.counts[key] = self.counts.get(key, 0) + 1

    def packet(self, b: bytes) -> None:
        try:
            p = decode(b)
        except Rejected as r:
            self.reject(r.kind)
            return
        self.counts["packets"] += 1
        seq = p["sequence"]
        if self.last_seq is not None and seq > self.last_seq + 1:
            self.counts["gaps"] += 1
            self.counts["dropped_frames"] += seq - self.last_seq - 1
        self.last_seq = seq
        if self.brief:
            s, tx, ty = p["cam"]
            print(f"#{seq} latency {p['latency_us'] / 1e3:.1f} ms cam ({s:.3f}, {tx:.3f}, {ty:.3f}) "
                  f"root {[round(v, 3) for v in p['theta'][0]]} {','.join(p['flags'])}", file=self.out)
        else:
            print(json.dumps(p), file=self.out)
        self.out.flush()

    def serial_bytes(self, data: bytes) -> None:
        for byte in data:
            if byte != 0:
                if len(self.pending) <= SIZE + SIZE // 254 + 2:
                    self.pending.append(byte)
                continue
            frame, self.pending = bytes(self.pending), bytearray()
            if not frame:
                continue
            try:
                self.packet(cobs_decode(frame))
            except Rejected as r:
                self.reject(r.kind)


def open_serial(dev: str, baud: int) -> int:
    import termios
    import tty

    fd = os.open(dev, os.O_RDONLY | os.O_NOCTTY)
    tty.setraw(fd)
    speed = getattr(termios, f"B{baud}", None)
    if speed is None:
        raise SystemExit(f"{dev}: baud {baud} is not supported by termios here")
    attrs = termios.tcgetattr(fd)
    attrs[4] = attrs[5] = speed
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    return fd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--udp", metavar="HOST:PORT", help="listen for datagrams (HOST may be empty)")
    src.add_argument("--serial", metavar="DEV", help="read COBS frames from a serial device")
    src.add_argument("--file", metavar="PATH", help="decode a recording (see --record)")
    ap.add_argument("--baud", type=int, default=115200)
    ap.add_argument("--framing", choices=["udp", "serial"], help="framing of --file")
    ap.add_argument("--record", metavar="PATH",
                    help="also save the raw input (UDP: u32 length + datagram; serial: bytes)")
    ap.add_argument("--brief", action="store_true", help="one short human line per packet")
    ap.add_argument("--count", type=int, help="stop after N good packets")
    ap.add_argument("--timeout", type=float, help="stop after S seconds without data")
    args = ap.parse_args()

    rx = Receiver(sys.stdout, args.brief)
    record = open(args.record, "wb") if args.record else None
    done = lambda: args.count is not None and rx.counts["packets"] >= args.count  # noqa: E731
    try:
        if args.file:
            data = open(args.file, "rb").read()
            if (args.framing or "udp") == "udp":
                i = 0
                while i + 4 <= len(data) and not done():
                    (n,) = struct.unpack_from("<I", data, i)
                    rx.packet(data[i + 4 : i + 4 + n])
                    i += 4 + n
            else:
                rx.serial_bytes(data)
        elif args.udp:
            host, _, port = args.udp.rpartition(":")
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((host or "0.0.0.0", int(port)))
            sock.settimeout(args.timeout)
            while not done():
                d = sock.recv(65536)
                if record:
                    record.write(struct.pack("<I", len(d)) + d)
                rx.packet(d)
        else:
            import select

            fd = open_serial(args.serial, args.baud)
            while not done():
                ready, _, _ = select.select([fd], [], [], args.timeout)
                if not ready:
                    break
                d = os.read(fd, 4096)
                if not d:
                    break
                if record:
                    record.write(d)
                rx.serial_bytes(d)
    except (KeyboardInterrupt, socket.timeout):
        pass
    finally:
        if record:
            record.close()
        print(json.dumps({"counts": rx.counts}), file=sys.stderr)


if __name__ == "__main__":
    main()
