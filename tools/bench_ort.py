#!/usr/bin/env python3
"""onnxruntime peer of `imphmr bench`: the same bundle, pipeline and table, another engine.

docs/PERFORMANCE.md compares tract (the Rust engine) with onnxruntime on the same machine,
in the same session, on the same bundle. This script is the onnxruntime side: it runs the
pipeline of `imphmr bench` stage for stage (src/engine/mod.rs) and prints the same table, so
the two outputs can be pasted side by side.

  preprocess  centre square crop, bilinear resize, normalise (numpy, as geometry.py)
  encoder     encoder.onnx: image -> z
  field       field.onnx on every ray sample; the encoded rays of a view are computed
              once and cached, as the engine does, so they are not timed per frame
  render      compositing along the rays in vectorised numpy (alpha, transmittance,
              weights, F and A), density masked outside the field's box
  head        head.onnx: F, A, z and the mean parameters -> pose6d, betas, cam
  inference   the whole frame (the sum of the above)

Where the bundle has goldens/, each golden case is run once first and compared with the
reference's outputs (exit 1 if any differs by more than 1e-4). Each graph input is fed in
the dtype the graph declares (float32 or float16), whatever the bundle's precision.

    python3 tools/bench_ort.py --model models/small
    python3 tools/bench_ort.py --model models/generated/full --iters 10 --threads 2
    python3 tools/bench_ort.py --gemm --threads 2

`--gemm` measures the machine instead of the network: numpy's f32 GEMM (OpenBLAS) with the
same thread count, a ceiling for what any engine's matrix kernels can reach here.

Exit status: 0 done, 1 a golden case differs, 2 a missing or unusable bundle or image.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import tomllib
from pathlib import Path

STAGES = ("preprocess", "encoder", "field", "render", "head", "inference")
GOLDEN_KEYS = ("z", "feature_map", "opacity", "pose6d", "betas", "cam")
GOLDEN_TOL = 1e-4
GEMM_SHAPES = [(n, n, n) for n in (256, 512, 1024, 2048)] + [(16384, 128, 128)]  # (m, k, n)
REPO = Path(__file__).resolve().parents[1]


def at_least(minimum: int):
    """An argparse type: an integer no smaller than `minimum`."""
    def integer(text: str) -> int:
        n = int(text)
        if n < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {n}")
        return n
    return integer


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Time the ImpHMR bundle under onnxruntime, stage for stage as "
        "`imphmr bench` times it under tract, and print the same table.",
        epilog="Table on stdout, everything else on stderr. Exit status: 0 done, "
        "1 a golden case differs, 2 a missing or unusable bundle or image.",
    )
    ap.add_argument("--model", type=Path, metavar="DIR",
                    help="bundle directory (holding imphmr.toml); required unless --gemm")
    ap.add_argument("--image", type=Path, default=Path("models/samples/astronaut.png"),
                    help="image to run on, centre square crop (default: %(default)s)")
    ap.add_argument("--iters", type=at_least(1), default=50, metavar="N",
                    help="timed iterations (default: %(default)s)")
    ap.add_argument("--warmup", type=at_least(0), default=5, metavar="N",
                    help="untimed iterations first (default: %(default)s)")
    ap.add_argument("--threads", type=at_least(1), default=os.cpu_count() or 1, metavar="N",
                    help="onnxruntime intra-op threads, and numpy's BLAS threads "
                    "(default: all cores, %(default)s here)")
    ap.add_argument("--view-deg", type=float, default=0.0, metavar="D",
                    help="render the field from this yaw, degrees (default: 0, the input view)")
    ap.add_argument("--gemm", action="store_true",
                    help="measure numpy's f32 GEMM rate at --threads instead of the network")
    args = ap.parse_args()
    if args.model is None and not args.gemm:
        ap.error("--model DIR is required (or --gemm)")
    return args


if __name__ == "__main__":
    # OpenBLAS (numpy's BLAS, used by compositing and --gemm) reads its thread count from
    # the environment when it loads: --threads must be there before numpy is imported.
    ARGS = parse_args()
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402

sys.path.insert(0, str(REPO / "tools"))
from imphmr_ref import bundle, geometry  # noqa: E402

ORT_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


class BenchError(Exception):
    """A missing or unusable bundle or image: reported as one line, exit status 2."""


def existing(path: Path) -> Path:
    if not path.exists():
        raise BenchError(f"{path}: no such file or directory")
    return path


class Graph:
    """One ONNX graph under onnxruntime; inputs are cast to the dtypes the graph declares,
    outputs come back as float32 arrays by name."""

    def __init__(self, path: Path, threads: int):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(existing(path)), opts, providers=["CPUExecutionProvider"])
        self.dtypes = {}
        for i in self.session.get_inputs():
            if i.type not in ORT_DTYPES:
                raise BenchError(f"{path}: input {i.name} is {i.type}, not float or float16")
            self.dtypes[i.name] = ORT_DTYPES[i.type]
        self.outputs = [o.name for o in self.session.get_outputs()]

    def cast(self, name: str, x) -> np.ndarray:
        return np.ascontiguousarray(x, dtype=self.dtypes[name])

    def run(self, **inputs) -> dict[str, np.ndarray]:
        feed = {name: self.cast(name, inputs[name]) for name in self.dtypes}
        values = self.session.run(self.outputs, feed)
        return {n: np.asarray(v, dtype=np.float32) for n, v in zip(self.outputs, values)}


def composite(sigma, feature, inside, deltas, height: int, width: int):
    """Volume rendering, as geometry.volume_render and src/field/render.rs, in float32:
    σ masked by `inside`, α = 1 − exp(−σδ), T = Π(1 − α) before the sample, w = αT,
    F = Σ w f (1, C, H, W), A = Σ w (1, 1, H, W)."""
    s = deltas.shape[0]
    density = (sigma.reshape(-1) * inside).reshape(-1, s)
    alpha = 1.0 - np.exp(-density * deltas)
    trans = np.cumprod(1.0 - alpha, axis=1)
    trans = np.concatenate([np.ones_like(trans[:, :1]), trans[:, :-1]], axis=1)
    weights = alpha * trans  # (rays, samples)
    feat = (weights[:, None, :] @ feature.reshape(weights.shape[0], s, -1))[:, 0]
    return feat.T.reshape(1, -1, height, width), weights.sum(axis=1).reshape(1, 1, height, width)


def load_image(path: Path) -> np.ndarray:
    try:
        return bundle.load_rgb(existing(path))
    except OSError as e:
        raise BenchError(f"{path}: cannot decode image ({e})") from e


class Peer:
    """The network of a bundle under onnxruntime, run the way src/engine/mod.rs runs it."""

    def __init__(self, model: Path, threads: int):
        if not existing(model).is_dir():
            raise BenchError(f"{model}: not a directory")
        existing(model / "imphmr.toml")
        try:
            self.cfg = bundle.read_manifest(model)
        except (tomllib.TOMLDecodeError, KeyError, TypeError) as e:
            raise BenchError(f"{model / 'imphmr.toml'}: invalid manifest ({e!r})") from e
        cfg = self.cfg
        self.encoder = Graph(model / cfg.encoder.file, threads)
        self.field = Graph(model / cfg.field.file, threads)
        self.head = Graph(model / cfg.head.file, threads)
        mean = json.loads(existing(model / cfg.head.mean_params).read_text())
        self.init = {f"init_{k}": np.asarray(mean[k], dtype=np.float32)[None]
                     for k in ("pose6d", "betas", "cam")}
        self.views: dict[float, dict[str, np.ndarray]] = {}

    def field_inputs(self, view_deg: float) -> dict[str, np.ndarray]:
        """Encoded rays, box mask and deltas of a view: computed once, then cached."""
        if view_deg not in self.views:
            inp = {k: v.numpy() for k, v in geometry.field_inputs(self.cfg.field, view_deg).items()}
            for name in ("points_enc", "dirs_enc"):
                inp[name] = self.field.cast(name, inp[name])
            self.views[view_deg] = inp
        return self.views[view_deg]

    def infer(self, rgb: np.ndarray, box, view_deg: float) -> tuple[dict, list[float]]:
        """One frame: the outputs by name, and milliseconds per stage (STAGES order)."""
        i, f = self.cfg.input, self.cfg.field
        t0 = time.perf_counter()
        image = geometry.crop_normalise(rgb, box, i.size, i.mean, i.std)[None]
        t1 = time.perf_counter()
        z = self.encoder.run(image=image)["z"]
        t2 = time.perf_counter()
        inp = self.field_inputs(view_deg)
        out = self.field.run(points_enc=inp["points_enc"], dirs_enc=inp["dirs_enc"], z=z)
        t3 = time.perf_counter()
        feature_map, opacity = composite(out["sigma"], out["feature"], inp["inside"],
                                         inp["deltas"], f.height, f.width)
        t4 = time.perf_counter()
        head = self.head.run(feature_map=feature_map, opacity=opacity, z=z, **self.init)
        t5 = time.perf_counter()
        marks = (t0, t1, t2, t3, t4, t5)
        times = [1e3 * (b - a) for a, b in zip(marks, marks[1:])] + [1e3 * (t5 - t0)]
        return {"z": z, "feature_map": feature_map, "opacity": opacity, **head}, times


def check_goldens(peer: Peer, model: Path) -> bool:
    """Run each golden case of the bundle once; False if any output is off by > GOLDEN_TOL."""
    cases = sorted((model / "goldens").glob("*.json"))
    if not cases:
        print(f"goldens: none in {model / 'goldens'}, outputs not checked", file=sys.stderr)
        return True
    ok = True
    for case in cases:
        g = json.loads(case.read_text())
        out, _ = peer.infer(load_image(REPO / g["image"]), g["box"], g["view_deg"])
        diffs = {k: float(np.abs(out[k].reshape(-1) - np.asarray(g[k])).max())
                 for k in GOLDEN_KEYS}
        bad = [k for k, d in diffs.items() if d > GOLDEN_TOL]
        ok = ok and not bad
        print(f"golden {case.name}: max |diff| "
              + ", ".join(f"{k} {d:.1e}" for k, d in diffs.items())
              + (f"  FAIL ({', '.join(bad)} > {GOLDEN_TOL:g})" if bad else "  ok"),
              file=sys.stderr)
    return ok


def nearest_rank(sorted_ms: list[float], q: float) -> float:
    """As src/pipeline/stats.rs: index round(q·(n−1)), halves rounded up like Rust's."""
    return sorted_ms[math.floor(q * (len(sorted_ms) - 1) + 0.5)]


def table(samples: dict[str, list[float]]) -> str:
    """The table of `imphmr bench` (LatencyStats::table), character for character."""
    lines = [f"{'stage':<12} {'n':>7} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9}"]
    for stage, ms in samples.items():
        v = sorted(ms)
        p50, p90, p99 = (nearest_rank(v, q) for q in (0.5, 0.9, 0.99))
        lines.append(f"{stage:<12} {len(v):>7} {p50:>9.2f} {p90:>9.2f} {p99:>9.2f}")
    return "\n".join(lines) + "\n"


def bench_network(args: argparse.Namespace) -> int:
    peer = Peer(args.model, args.threads)
    rgb = load_image(args.image)
    h, w = rgb.shape[:2]
    print(f"bench_ort: {peer.cfg.name} on {args.image} ({w}x{h}), {args.threads} threads, "
          f"onnxruntime {ort.__version__}, {args.warmup} warm-up + {args.iters} timed "
          "iterations", file=sys.stderr)
    if not check_goldens(peer, args.model):
        return 1
    box = geometry.centre_box(w, h)
    for _ in range(args.warmup):
        peer.infer(rgb, box, args.view_deg)
    samples: dict[str, list[float]] = {stage: [] for stage in STAGES}
    started = time.perf_counter()
    for i in range(args.iters):
        _, times = peer.infer(rgb, box, args.view_deg)
        for stage, ms in zip(STAGES, times):
            samples[stage].append(ms)
        if (i + 1) % 10 == 0:
            print(f"  {i + 1} / {args.iters}", file=sys.stderr)
    secs = time.perf_counter() - started
    sys.stdout.write(table(samples))
    print(f"frames per second (sequential, single-frame latency): {args.iters / secs:.1f}")
    return 0


def gemm_seconds(m: int, k: int, n: int) -> float:
    """Median time of (m×k) @ (k×n) in f32: one untimed call, then at least 5 timed calls
    and at least half a second of them."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = np.empty((m, n), dtype=np.float32)
    np.matmul(a, b, out=c)
    times: list[float] = []
    while len(times) < 5 or sum(times) < 0.5:
        t0 = time.perf_counter()
        np.matmul(a, b, out=c)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def bench_gemm(threads: int) -> int:
    blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
    print(f"bench_ort --gemm: f32 numpy.matmul, numpy {np.__version__} "
          f"({blas.get('name', 'unknown BLAS')} {blas.get('version', '')}), {threads} threads",
          file=sys.stderr)
    print(f"{'gemm m x k @ k x n':<22} {'p50 ms':>9} {'GFLOP/s':>9} {'GMAC/s':>9}")
    best = (0.0, "")
    for m, k, n in GEMM_SHAPES:
        secs = gemm_seconds(m, k, n)
        gmacs = m * k * n / secs / 1e9
        shape = f"{m}x{k} @ {k}x{n}"
        print(f"{shape:<22} {1e3 * secs:>9.2f} {2 * gmacs:>9.1f} {gmacs:>9.1f}", flush=True)
        best = max(best, (gmacs, shape))
    gmacs, shape = best
    print(f"ceiling: {2 * gmacs:.1f} GFLOP/s = {gmacs:.1f} GMAC/s ({shape}), {threads} threads")
    return 0


def main(args: argparse.Namespace) -> int:
    if args.gemm:
        return bench_gemm(args.threads)
    try:
        return bench_network(args)
    except BenchError as e:
        print(f"bench_ort: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(ARGS))
