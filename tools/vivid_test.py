#!/usr/bin/env python3
"""Real V4L2 end to end: boot a Debian kernel in qemu with the `vivid` virtual camera and
run `imphmr run` inside it on vivid's frames, sending packets out of the guest's second
serial port (a real 16550 UART, emulated) into a file that is then decoded here.

Midway the camera is unplugged (the vivid platform device is unbound, so /dev/video0
disappears and the open stream fails) and plugged back in (bound again): imphmr must
log the loss, retry with backoff, and resume capturing without crashing.

    python3 tools/vivid_test.py --binary target/debug/imphmr [--frames 12]

Needs (x86_64 Linux): qemu-system-x86_64, a static busybox, and `apt-get download` for
the Debian kernel (cached in target/vivid/). When one is missing it prints
"SKIP: <why>" and exits 0; any failure of the test itself exits 1.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import receive  # noqa: E402

KERNEL_PKG = "linux-image-amd64"


def skip(why: str) -> None:
    print(f"SKIP: vivid V4L2 test not run: {why}")
    sys.exit(0)


def fail(why: str, log: str = "") -> None:
    print(f"FAIL: {why}")
    if log:
        print("---- guest console ----\n" + log + "\n-----------------------")
    sys.exit(1)


# ----------------------------------------------------------------- kernel and modules


def fetch_kernel(cache: Path) -> tuple[Path, Path]:
    """Download and unpack the Debian kernel package; returns (vmlinuz, modules dir)."""
    unpacked = cache / "kernel"
    found = sorted(unpacked.glob("boot/vmlinuz-*"))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        try:
            deps = subprocess.run(["apt-cache", "depends", KERNEL_PKG], capture_output=True,
                                  text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError) as e:
            skip(f"cannot ask apt for {KERNEL_PKG} ({e})")
        versioned = [l.split(":", 1)[1].strip() for l in deps.splitlines()
                     if l.strip().startswith("Depends:") and "linux-image-" in l]
        if not versioned:
            skip(f"apt knows no kernel behind {KERNEL_PKG}")
        r = subprocess.run(["apt-get", "download", versioned[0]], cwd=cache,
                           capture_output=True, text=True)
        debs = sorted(cache.glob("linux-image-*.deb"))
        if r.returncode != 0 or not debs:
            skip(f"cannot download {versioned[0]}: {r.stderr.strip()[-200:]}")
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(unpacked)], check=True)
        for d in debs:
            d.unlink()
        found = sorted(unpacked.glob("boot/vmlinuz-*"))
    vmlinuz = found[-1]
    version = vmlinuz.name[len("vmlinuz-"):]
    return vmlinuz, unpacked / "lib" / "modules" / version


def module_info(ko: Path) -> list[str]:
    """The `depends=` list from a module's .modinfo strings."""
    data = ko.read_bytes()
    at = data.find(b"depends=")
    if at < 0:
        return []
    end = data.index(b"\0", at)
    deps = data[at + len("depends="):end].decode()
    return [d for d in deps.split(",") if d]


def vivid_modules(moddir: Path) -> list[Path]:
    """vivid.ko and everything it needs, in load order (dependencies first)."""
    by_name = {}
    for ko in moddir.rglob("*.ko"):
        by_name[ko.stem.replace("-", "_")] = ko
    if "vivid" not in by_name:
        skip("this kernel has no vivid module")
    order: list[Path] = []

    def visit(name: str) -> None:
        ko = by_name.get(name.replace("-", "_"))
        if ko is None or ko in order:
            return
        for dep in module_info(ko):
            visit(dep)
        order.append(ko)

    visit("vivid")
    return order


# ------------------------------------------------------------------------- initramfs


class Cpio:
    """A gzip'd newc cpio archive, enough for an initramfs."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.ino = 1
        self.dirs: set[str] = set()

    def _entry(self, name: str, mode: int, data: bytes = b"") -> None:
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
        self.ino += 1
        hdr = "070701" + "".join(f"{f:08x}" for f in fields)
        self.buf += hdr.encode() + name.encode() + b"\0"
        self.buf += b"\0" * (-len(self.buf) % 4)
        self.buf += data
        self.buf += b"\0" * (-len(self.buf) % 4)

    def mkdir(self, name: str) -> None:
        parts = name.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d and d not in self.dirs:
                self.dirs.add(d)
                self._entry(d, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        name = name.strip("/")
        if "/" in name:
            self.mkdir(name.rsplit("/", 1)[0])
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str) -> None:
        name = name.strip("/")
        if "/" in name:
            self.mkdir(name.rsplit("/", 1)[0])
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return gzip.compress(bytes(self.buf), compresslevel=1)


def is_static_elf(path: Path) -> bool:
    """True for an ELF64 executable with no program interpreter (PT_INTERP)."""
    import struct

    head = path.resolve().read_bytes()[:65536]
    if head[:4] != b"\x7fELF" or head[4] != 2:
        return False
    phoff, = struct.unpack_from("<Q", head, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
    types = [struct.unpack_from("<I", head, phoff + i * phentsize)[0] for i in range(phnum)]
    return 3 not in types


def shared_libs(binary: Path) -> list[Path]:
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        for p in parts:
            if p.startswith("/") and Path(p).exists():
                libs.append(Path(p))
    return libs


GUEST_INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.load); do insmod /modules/$m >/dev/null 2>&1 || echo "GUEST: insmod $m failed"; done
i=0; while [ ! -e /dev/video0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
echo "GUEST: video nodes: $(ls /dev/video* 2>/dev/null | tr '\n' ' ')"
/imphmr devices
IMPHMR_LOG=imphmr=info /imphmr --threads 1 run --model /bundle --source /dev/video0 --frames @FRAMES@ \
  --width 320 --height 240 --serial /dev/ttyS1 --baud 921600 --jsonl /out.jsonl --stats-every 0 \
  >/dev/null 2>/run.log &
pid=$!
i=0; while [ "$(cat /out.jsonl 2>/dev/null | wc -l)" -lt @BEFORE@ ] && [ $i -lt 1200 ]; do sleep 0.2; i=$((i+1)); done
echo "GUEST: $(cat /out.jsonl | wc -l) frames processed, unplugging the camera"
dev=$(ls /sys/bus/platform/drivers/vivid/ | grep vivid | head -n 1)
echo "$dev" > /sys/bus/platform/drivers/vivid/unbind
sleep 2
echo "GUEST: /dev/video0 present while unplugged: $([ -e /dev/video0 ] && echo yes || echo no)"
echo "$dev" > /sys/bus/platform/drivers/vivid/bind
echo "GUEST: camera plugged back in"
wait $pid
echo "GUEST: imphmr exit status $?"
cat /run.log
echo "GUEST: done"
poweroff -f
"""


def build_initramfs(binary: Path, bundle: Path, modules: list[Path], frames: int, before: int) -> bytes:
    c = Cpio()
    for d in ("bin", "proc", "sys", "dev", "tmp", "modules", "bundle"):
        c.mkdir(d)
    c.file("bin/busybox", Path(shutil.which("busybox")).read_bytes(), 0o755)
    # Debug builds carry hundreds of MB of debug info: the guest needs none of it.
    stripped = binary.parent / "imphmr.stripped"
    subprocess.run(["strip", "-o", str(stripped), str(binary)], check=True)
    c.file("imphmr", stripped.read_bytes(), 0o755)
    stripped.unlink()
    for lib in shared_libs(binary):
        c.file(str(lib), lib.read_bytes(), 0o755)
        real = lib.resolve()
        if real != lib:
            c.file(str(real), real.read_bytes(), 0o755)
    for f in bundle.iterdir():
        if f.is_file():
            c.file(f"bundle/{f.name}", f.read_bytes())
    for ko in modules:
        c.file(f"modules/{ko.name}", ko.read_bytes())
    c.file("modules.load", ("\n".join(ko.name for ko in modules) + "\n").encode())
    init = GUEST_INIT.replace("@FRAMES@", str(frames)).replace("@BEFORE@", str(before))
    c.file("init", init.encode(), 0o755)
    return c.finish()


# ------------------------------------------------------------------------------ main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", type=Path, default=ROOT / "target" / "debug" / "imphmr")
    ap.add_argument("--bundle", type=Path, default=ROOT / "models" / "small")
    ap.add_argument("--frames", type=int, default=240,
                    help="frames to capture in the guest (vivid runs at 30 fps; inference under "
                         "emulation is far slower, so most are dropped, oldest first)")
    ap.add_argument("--cache", type=Path, default=ROOT / "target" / "vivid")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds for the whole boot")
    ap.add_argument("--kvm", action="store_true",
                    help="use KVM (off by default: nested KVM in CI sandboxes is unreliable)")
    args = ap.parse_args()

    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        skip(f"needs x86_64 Linux, this is {platform.system()} {platform.machine()}")
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        skip("qemu-system-x86_64 is not installed (Debian: qemu-system-x86)")
    busybox = shutil.which("busybox")
    if not busybox or not is_static_elf(Path(busybox)):
        skip("no static busybox (Debian: busybox-static)")
    if not args.binary.exists():
        fail(f"{args.binary} does not exist: build imphmr first (cargo build)")

    t0 = time.time()
    vmlinuz, moddir = fetch_kernel(args.cache)
    modules = vivid_modules(moddir)
    before = 3  # packets before the camera is unplugged
    work = args.cache / "run"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work / "initrd.gz").write_bytes(build_initramfs(args.binary, args.bundle, modules, args.frames, before))
    console, packets = work / "console.log", work / "packets.bin"
    kvm = args.kvm and os.access("/dev/kvm", os.R_OK | os.W_OK)
    cmd = [qemu, "-nodefaults", "-display", "none", "-no-reboot", "-m", "1024", "-smp", "2",
           "-kernel", str(vmlinuz), "-initrd", str(work / "initrd.gz"),
           "-append", "console=ttyS0 panic=-1 quiet loglevel=3",
           "-serial", f"file:{console}", "-serial", f"file:{packets}"]
    cmd += ["-enable-kvm", "-cpu", "host"] if kvm else ["-accel", "tcg"]
    print(f"[vivid] {vmlinuz.name}, {len(modules)} modules, {'KVM' if kvm else 'TCG (no KVM)'}; "
          f"booting for {args.frames} frames, unplugging the camera after {before}")
    try:
        subprocess.run(cmd, timeout=args.timeout, check=False)
    except subprocess.TimeoutExpired:
        fail(f"the guest did not finish within {args.timeout:.0f} s",
             console.read_text(errors="replace") if console.exists() else "")
    log = console.read_text(errors="replace") if console.exists() else ""
    if "GUEST: done" not in log:
        fail("the guest did not reach the end of its script", log)

    rx = receive.Receiver(open(os.devnull, "w"), brief=True)
    seqs = []
    orig = rx.packet

    def keep(b: bytes) -> None:
        try:
            seqs.append(receive.decode(b)["sequence"])
        except receive.Rejected:
            pass
        orig(b)

    rx.packet = keep
    rx.serial_bytes(packets.read_bytes() if packets.exists() else b"")
    c = rx.counts
    rejects = sum(v for k, v in c.items() if k.startswith("bad_"))
    status = [l for l in log.splitlines() if l.startswith("GUEST: imphmr exit status")]
    problems = []
    if not status or not status[-1].endswith(" 0"):
        problems.append(f"imphmr did not exit cleanly ({status[-1] if status else 'no status'})")
    if "captured" not in log or "V4L2 /dev/video0" not in log:
        problems.append("imphmr did not report capturing from /dev/video0")
    if "reconnected" not in log:
        problems.append("no reconnect after the camera came back")
    if "present while unplugged: no" not in log:
        problems.append("/dev/video0 did not disappear when unplugged")
    if c["packets"] < before + 2:
        problems.append(f"only {c['packets']} packets came out of the serial port")
    if rejects:
        problems.append(f"{rejects} corrupted frames on the serial line")
    if seqs != sorted(set(seqs)):
        problems.append(f"sequence numbers not increasing: {seqs}")
    if problems:
        fail("; ".join(problems), log)
    summary = [l for l in log.splitlines() if l.startswith("frames:")]
    print(f"[vivid] OK in {time.time() - t0:.0f} s: {c['packets']} packets over the guest's UART, "
          f"sequences {seqs[0]}..{seqs[-1]} ({c['dropped_frames']} dropped, camera unplugged and "
          f"back); {summary[-1] if summary else ''}")


if __name__ == "__main__":
    main()
