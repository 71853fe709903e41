#!/usr/bin/env python3
"""Check that an imphmr binary will start on a stock JetPack 5 root (Ubuntu 20.04, glibc
2.31): no versioned glibc symbol newer than 2.31, and no shared library outside what a
fresh L4T root file system has. Also checks that it is an aarch64 ELF.

    python3 tools/check_aarch64_binary.py target/aarch64-unknown-linux-gnu/release/imphmr

Uses binutils' readelf (it reads any architecture). Exit 1 with the offending symbols or
libraries named.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

MAX_GLIBC = (2, 31)
# Libraries present on a stock JetPack 5 (L4T R35, Ubuntu 20.04) root.
JETPACK5_LIBS = {
    "libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1",
    "libgcc_s.so.1", "libstdc++.so.6", "ld-linux-aarch64.so.1", "libz.so.1",
}


def readelf(*args: str) -> str:
    return subprocess.run(["readelf", *args], capture_output=True, text=True, check=True).stdout


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    binary = Path(sys.argv[1])
    if not binary.is_file():
        raise SystemExit(f"{binary}: no such file (build it first)")
    header = readelf("-h", str(binary))
    machine = re.search(r"Machine:\s+(.*)", header)
    problems = []
    if not machine or "AArch64" not in machine.group(1):
        problems.append(f"not an AArch64 ELF ({machine.group(1) if machine else 'unknown'})")

    versions = set(re.findall(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)?", readelf("-V", "--wide", str(binary))))
    glibc = sorted((int(a), int(b)) for a, b in versions)
    too_new = [f"GLIBC_{a}.{b}" for a, b in glibc if (a, b) > MAX_GLIBC]
    if too_new:
        problems.append(f"needs glibc symbols newer than 2.31: {', '.join(too_new)}")

    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", readelf("-d", str(binary)))
    foreign = [lib for lib in needed if lib not in JETPACK5_LIBS]
    if foreign:
        problems.append(f"needs libraries a stock JetPack 5 root lacks: {', '.join(foreign)}")

    newest = f"GLIBC_{glibc[-1][0]}.{glibc[-1][1]}" if glibc else "none"
    size = binary.stat().st_size
    if problems:
        print(f"FAIL {binary}: " + "; ".join(problems))
        sys.exit(1)
    print(f"OK {binary}: AArch64, newest glibc symbol {newest} (≤ 2.31), "
          f"libraries {', '.join(needed)}; {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
