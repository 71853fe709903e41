#!/usr/bin/env python3
"""Convert an SMPL model file into the plain body-model file the engine reads.

    python tools/smpl_convert.py --in basicModel_neutral_lbs_10_207_0_v1.0.0.pkl --out smpl.body
    python tools/smpl_convert.py --in SMPL_NEUTRAL.npz --out smpl.body
    imphmr infer --body-model smpl.body ...            (issue 6; the file is yours: never commit it)

SMPL files are licensed (https://smpl.is.tue.mpg.de): users supply their own; nothing of
them is in this repository. `.pkl` is the official release (chumpy objects and a scipy
sparse regressor, read here without chumpy; needs scipy), `.npz` the smplx package's.

`--synthetic` writes instead a made-up model with SMPL's structure (24 joints, SMPL's
kinematic tree, 10 shape and 207 pose blend shapes) and few vertices, plus goldens from
the `smplx` package's `lbs`: what tests/body.rs checks the Rust forward pass against.

    python tools/smpl_convert.py --synthetic --vertices 96 --seed 0 \\
        --out models/body/synthetic.body --goldens models/body/synthetic_goldens.json

Format (docs/BODY.md), little-endian: b"IMPHMRB1"; u32 vertices V, joints J, betas B,
pose features P = 9(J-1) or 0 (no pose blend shapes); i32 parents[J] (root -1); f32
v_template[V,3], shapedirs[V*3,B], posedirs[P,V*3] (smplx's layout), J_regressor[J,V],
weights[V,J]; optionally u32 F and u32 faces[F,3]. `write_body` writes it (a model
dict with "faces" gets the faces block; posedirs of shape (V,3,0) give P = 0) and
`read_body` reads it back with numpy alone (tools/eval_check.py uses it).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from pathlib import Path

import numpy as np

MAGIC = b"IMPHMRB1"
SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]


class _Chumpy:
    """Stands in for chumpy's classes when unpickling: keeps the state, whose `x` is the
    array (so chumpy itself, unmaintained, is not needed)."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.__dict__.update(state if isinstance(state, dict) else {"x": state})


class _SmplUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module.startswith("chumpy"):
            return _Chumpy
        return super().find_class(module, name)


def dense(x) -> np.ndarray:
    if isinstance(x, _Chumpy):
        x = x.x
    if hasattr(x, "toarray"):  # scipy sparse (the official J_regressor)
        x = x.toarray()
    return np.asarray(x, dtype=np.float64)


def read_smpl(path: Path) -> dict[str, np.ndarray]:
    if path.suffix == ".npz":
        raw = dict(np.load(path, allow_pickle=True))
    else:
        with open(path, "rb") as f:
            raw = _SmplUnpickler(f, encoding="latin1").load()
    need = ["v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table"]
    missing = [k for k in need if k not in raw]
    if missing:
        raise SystemExit(f"{path}: not an SMPL model file: no {', '.join(missing)}")
    parents = np.asarray(raw["kintree_table"], dtype=np.int64)[0].copy()
    parents[0] = -1
    return {
        "v_template": dense(raw["v_template"]),
        "shapedirs": dense(raw["shapedirs"]),
        "posedirs": dense(raw["posedirs"]),
        "J_regressor": dense(raw["J_regressor"]),
        "weights": dense(raw["weights"]),
        "parents": parents,
    }


def body_bytes(m: dict[str, np.ndarray]) -> bytes:
    """The body-model file's bytes for model `m` (arrays as `read_smpl` returns them;
    posedirs (V,3,0) or absent: no pose blend shapes; "faces" (F,3): the faces block)."""
    v = m["v_template"].shape[0]
    j = m["J_regressor"].shape[0]
    b = m["shapedirs"].shape[2]
    posedirs = m.get("posedirs")
    if posedirs is None:
        posedirs = np.zeros((v, 3, 0))
    p = posedirs.shape[2]
    if p not in (0, 9 * (j - 1)) or m["weights"].shape != (v, j) \
            or m["J_regressor"].shape != (j, v):
        raise SystemExit(f"inconsistent body-model arrays: V={v} J={j} P={p}, weights "
                         f"{m['weights'].shape}, J_regressor {m['J_regressor'].shape}")
    f32 = lambda a: np.ascontiguousarray(a, dtype="<f4").tobytes()  # noqa: E731
    parts = [MAGIC, np.array([v, j, b, p], dtype="<u4").tobytes(),
             np.asarray(m["parents"], dtype="<i4").tobytes(),
             f32(m["v_template"]), f32(m["shapedirs"].reshape(v * 3, b)),
             f32(posedirs.reshape(v * 3, p).T), f32(m["J_regressor"]), f32(m["weights"])]
    faces = m.get("faces")
    if faces is not None and len(faces):
        faces = np.asarray(faces)
        if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= v:
            raise SystemExit(f"faces: shape {faces.shape}, indices must lie in 0..{v - 1}")
        parts += [np.array([len(faces)], dtype="<u4").tobytes(),
                  np.ascontiguousarray(faces, dtype="<u4").tobytes()]
    return b"".join(parts)


def write_body(m: dict[str, np.ndarray], out: Path) -> None:
    data = body_bytes(m)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    v, j, b, p = np.frombuffer(data[8:24], dtype="<u4")
    faces = m.get("faces")
    nf = 0 if faces is None else len(faces)
    print(f"wrote {out}: {v} vertices, {j} joints, {b} betas, {p} pose features, "
          f"{nf} faces ({len(data) / 1e6:.1f} MB)")


def read_body(path: Path) -> dict[str, np.ndarray]:
    """Read a body-model file (numpy only), checked as strictly as the engine does:
    arrays as `read_smpl` returns them (float64), plus "faces" (F,3) (empty if none)."""
    data = Path(path).read_bytes()
    at = 0

    def take(n: int, what: str) -> bytes:
        nonlocal at
        if at + n > len(data):
            raise ValueError(f"{path}: truncated in {what} (needs {n} bytes at offset {at})")
        at += n
        return data[at - n:at]

    if take(8, "the header") != MAGIC:
        raise ValueError(f"{path}: wrong magic (expected IMPHMRB1)")
    v, j, b, p = (int(x) for x in np.frombuffer(take(16, "the sizes"), dtype="<u4"))
    if v == 0 or j == 0 or p not in (0, 9 * (j - 1)):
        raise ValueError(f"{path}: sizes V={v} J={j} B={b} P={p}")
    arr = lambda n, what, dt="<f4": np.frombuffer(take(4 * n, what), dtype=dt)  # noqa: E731
    parents = arr(j, "parents", "<i4").astype(np.int64)
    m = {"parents": parents,
         "v_template": arr(v * 3, "v_template").reshape(v, 3).astype(np.float64),
         "shapedirs": arr(v * 3 * b, "shapedirs").reshape(v, 3, b).astype(np.float64),
         "posedirs": arr(p * v * 3, "posedirs").reshape(p, v * 3).T.reshape(v, 3, p)
         .astype(np.float64),
         "J_regressor": arr(j * v, "J_regressor").reshape(j, v).astype(np.float64),
         "weights": arr(v * j, "weights").reshape(v, j).astype(np.float64),
         "faces": np.zeros((0, 3), dtype=np.int64)}
    if at < len(data):
        (f,) = arr(1, "the face count", "<u4")
        faces = arr(int(f) * 3, "faces", "<u4").reshape(-1, 3).astype(np.int64)
        if f == 0 or faces.max() >= v:
            raise ValueError(f"{path}: faces: {f} faces, largest index {faces.max()}, V={v}")
        m["faces"] = faces
    if at != len(data):
        raise ValueError(f"{path}: {len(data) - at} bytes after the last array")
    return m


def synthetic(vertices: int, seed: int) -> dict[str, np.ndarray]:
    """A body-like random model: joints down SMPL's tree, each vertex near one joint,
    skinned to it and its parent."""
    rng = np.random.default_rng(seed)
    j = len(SMPL_PARENTS)
    joints = np.zeros((j, 3))
    for i in range(1, j):
        joints[i] = joints[SMPL_PARENTS[i]] + rng.normal(0.0, 0.12, 3)
    owner = np.arange(vertices) % j
    v_template = joints[owner] + rng.normal(0.0, 0.03, (vertices, 3))
    j_regressor = np.zeros((j, vertices))
    weights = np.zeros((vertices, j))
    for i in range(j):
        mine = owner == i
        j_regressor[i, mine] = 1.0 / mine.sum()
    for k, i in enumerate(owner):
        parent = SMPL_PARENTS[i]
        weights[k, i] = 1.0 if parent < 0 else 0.7
        if parent >= 0:
            weights[k, parent] = 0.3
    return {
        "v_template": v_template,
        "shapedirs": rng.normal(0.0, 0.01, (vertices, 3, 10)),
        "posedirs": rng.normal(0.0, 0.002, (vertices, 3, 9 * (j - 1))),
        "J_regressor": j_regressor,
        "weights": weights,
        "parents": np.array(SMPL_PARENTS),
    }


def rodrigues(aa: np.ndarray) -> np.ndarray:
    angle = np.linalg.norm(aa)
    if angle < 1e-12:
        return np.eye(3)
    k = aa / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def goldens(m: dict[str, np.ndarray], seed: int) -> list[dict]:
    """smplx's lbs on a few shapes and poses (rotation matrices, float32 as SPIN runs it)."""
    import torch
    from smplx.lbs import lbs

    rng = np.random.default_rng(seed + 1)
    j, v = m["J_regressor"].shape
    t = lambda a: torch.tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
    cases = [("rest", np.zeros(10), np.zeros((j, 3))),
             ("shape only", rng.normal(0, 1.5, 10), np.zeros((j, 3))),
             ("posed", rng.normal(0, 1.0, 10), rng.normal(0, 0.5, (j, 3))),
             ("posed large", rng.normal(0, 2.0, 10), rng.normal(0, 1.2, (j, 3)))]
    out = []
    for name, betas, aa in cases:
        rot = np.stack([rodrigues(a) for a in aa])
        verts, joints = lbs(t(betas)[None], t(rot)[None], t(m["v_template"]),
                            t(m["shapedirs"]), t(m["posedirs"].reshape(v * 3, -1).T),
                            t(m["J_regressor"]), torch.tensor(m["parents"]),
                            t(m["weights"]), pose2rot=False)
        out.append({"name": name, "betas": betas.astype(np.float32).tolist(),
                    "rotmats": rot.astype(np.float32).reshape(-1).tolist(),
                    "joints": joints[0].numpy().reshape(-1).tolist(),
                    "vertices": verts[0].numpy().reshape(-1).tolist()})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--in", dest="src", type=Path, help="SMPL model file (.pkl or .npz)")
    src.add_argument("--synthetic", action="store_true",
                     help="a made-up model with SMPL's structure, for tests")
    ap.add_argument("--out", type=Path, required=True, help="body-model file to write")
    ap.add_argument("--vertices", type=int, default=96, help="--synthetic: vertex count")
    ap.add_argument("--seed", type=int, default=0, help="--synthetic: seed")
    ap.add_argument("--goldens", type=Path, help="--synthetic: also write smplx lbs goldens")
    args = ap.parse_args()
    if args.synthetic:
        model = synthetic(args.vertices, args.seed)
    else:
        if not args.src.is_file():
            print(f"{args.src}: no such file", file=sys.stderr)
            return 2
        model = read_smpl(args.src)
    write_body(model, args.out)
    if args.goldens:
        args.goldens.write_text(json.dumps(goldens(model, args.seed)) + "\n")
        print(f"wrote {args.goldens}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
