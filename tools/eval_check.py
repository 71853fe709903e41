#!/usr/bin/env python3
"""Recompute `imphmr eval`'s numbers from its own predictions, independently (numpy only).

    imphmr eval --model DIR --body-model FILE --data DIR --predictions pred.jsonl --json report.json
    python tools/eval_check.py --body-model FILE --data DIR --predictions pred.jsonl --json report.json

For every line of --predictions: the label's θ (axis-angle → Rodrigues) and β, and the
predicted rotation matrices ("rotmat", the f32 values the engine used) and β go through
the body model (numpy's own forward, float64); MPJPE (root joint aligned), PA-MPJPE
(SPIN's compute_similarity_transform: rotation, scale, translation, SVD with the
reflection fix) and PVE (vertices, root joint aligned) in millimetres must equal the
line's. Then every subset's means, mean ambiguity and Spearman correlation (ranks with
ties averaged) must equal --json's. Tolerance: |a - b| <= 1e-6 * max(|a|, |b|, 1), i.e.
relative 1e-6 for values above 1 (mm, or for Spearman and ambiguity, which lie below 1
in practice: absolute 1e-6).

Exit status: 0 all agree, 1 a difference (each printed), 2 bad input, 3 numpy missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

try:
    import numpy as np
except ImportError:  # CI has no numpy: the Rust test skips this check and says so
    print("eval_check: skipped: numpy is not installed", file=sys.stderr)
    sys.exit(3)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from smpl_convert import read_body  # noqa: E402

TOL = 1e-6


def rodrigues(aa: np.ndarray) -> np.ndarray:
    angle = np.linalg.norm(aa)
    if angle < 1e-300:
        return np.eye(3)
    k = aa / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def forward(m: dict, betas: np.ndarray, rot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SMPL's linear blend skinning (smplx.lbs), float64: joints (J,3), vertices (V,3)."""
    nb = min(len(betas), m["shapedirs"].shape[2])
    v_shaped = m["v_template"] + m["shapedirs"][:, :, :nb] @ betas[:nb]
    rest = m["J_regressor"] @ v_shaped
    v_posed = v_shaped
    if m["posedirs"].shape[2]:
        feat = (rot[1:] - np.eye(3)).reshape(-1)
        v_posed = v_shaped + m["posedirs"] @ feat
    parents = m["parents"]
    g_rot = np.zeros_like(rot)
    g_pos = np.zeros_like(rest)
    for j, par in enumerate(parents):
        if par < 0:
            g_rot[j], g_pos[j] = rot[j], rest[j]
        else:
            g_rot[j] = g_rot[par] @ rot[j]
            g_pos[j] = g_rot[par] @ (rest[j] - rest[par]) + g_pos[par]
    skin_t = g_pos - np.einsum("jab,jb->ja", g_rot, rest)
    w = m["weights"]
    r = np.einsum("vj,jab->vab", w, g_rot)
    t = w @ skin_t
    verts = np.einsum("vab,vb->va", r, v_posed) + t
    return g_pos, verts


def similarity_transform(s1: np.ndarray, s2: np.ndarray) -> np.ndarray:
    """SPIN's compute_similarity_transform: s1 (N,3) aligned onto s2 (N,3)."""
    x1, x2 = s1.T, s2.T
    mu1, mu2 = x1.mean(axis=1, keepdims=True), x2.mean(axis=1, keepdims=True)
    x1c, x2c = x1 - mu1, x2 - mu2
    var1 = np.sum(x1c ** 2)
    k = x1c @ x2c.T
    u, _, vh = np.linalg.svd(k)
    v = vh.T
    z = np.eye(3)
    z[-1, -1] *= np.sign(np.linalg.det(u @ v.T))
    r = v @ z @ u.T
    scale = np.trace(r @ k) / var1
    t = mu2 - scale * (r @ mu1)
    return (scale * r @ x1 + t).T


def metrics(pred: tuple, truth: tuple) -> dict:
    (pj, pv), (tj, tv) = pred, truth
    mpjpe = np.linalg.norm((pj - pj[0]) - (tj - tj[0]), axis=1).mean()
    pa = np.linalg.norm(similarity_transform(pj, tj) - tj, axis=1).mean()
    pve = np.linalg.norm((pv - pj[0]) - (tv - tj[0]), axis=1).mean()
    return {"mpjpe": 1e3 * mpjpe, "pa_mpjpe": 1e3 * pa, "pve": 1e3 * pve}


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties averaged (scipy.stats.rankdata's 'average')."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    ranks = np.empty(len(x))
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and xs[j + 1] == xs[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: np.ndarray, y: np.ndarray):
    if len(x) < 2 or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return None
    rx, ry = rankdata(x), rankdata(y)
    dx, dy = rx - rx.mean(), ry - ry.mean()
    sxx, syy = np.sum(dx * dx), np.sum(dy * dy)
    if sxx <= 0 or syy <= 0:
        return None
    return float(np.sum(dx * dy) / np.sqrt(sxx * syy))


class Checker:
    def __init__(self):
        self.compared = 0
        self.failures: list[str] = []

    def same(self, what: str, ours, theirs) -> None:
        self.compared += 1
        if ours is None or theirs is None:
            if ours is not None or theirs is not None:
                self.failures.append(f"{what}: recomputed {ours}, eval says {theirs}")
            return
        if not abs(ours - theirs) <= TOL * max(abs(ours), abs(theirs), 1.0):
            self.failures.append(f"{what}: recomputed {ours!r}, eval says {theirs!r} "
                                 f"(difference {ours - theirs:.3g})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--body-model", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True, help="the labels' folder")
    ap.add_argument("--predictions", type=Path, required=True, help="eval's --predictions")
    ap.add_argument("--json", type=Path, help="eval's --json report: check its subsets too")
    args = ap.parse_args()
    try:
        model = read_body(args.body_model)
        lines = [json.loads(s) for s in args.predictions.read_text().splitlines() if s.strip()]
        report = json.loads(args.json.read_text()) if args.json else None
    except (OSError, ValueError) as e:
        print(f"eval_check: {e}", file=sys.stderr)
        return 2
    check = Checker()
    per_image = []
    for line in lines:
        label = json.loads((args.data / line["label"]).read_text())
        t_rot = np.stack([rodrigues(np.asarray(a, dtype=np.float64)) for a in label["theta"]])
        truth = forward(model, np.asarray(label["betas"], dtype=np.float64), t_rot)
        p_rot = np.asarray(line["rotmat"], dtype=np.float32).astype(np.float64).reshape(-1, 3, 3)
        p_betas = np.asarray(line["betas"], dtype=np.float32).astype(np.float64)
        ours = metrics(forward(model, p_betas, p_rot), truth)
        for k, v in ours.items():
            check.same(f"{line['label']} {k}", float(v), line[k])
        amb = line.get("ambiguity")
        per_image.append((line["subsets"], ours, None if amb is None else float(amb)))
    subsets_checked = 0
    if report is not None:
        for s in report["subsets"]:
            rows = [r for r in per_image if s["name"] == "all" or s["name"] in r[0]]
            check.same(f"subset {s['name']} count", float(len(rows)), float(s["count"]))
            for k in ("mpjpe", "pa_mpjpe", "pve"):
                check.same(f"subset {s['name']} {k}", float(np.mean([r[1][k] for r in rows])), s[k])
            ambs = [r[2] for r in rows]
            if all(a is not None for a in ambs) and ambs:
                a = np.asarray(ambs)
                pa = np.asarray([r[1]["pa_mpjpe"] for r in rows])
                check.same(f"subset {s['name']} ambiguity_mean", float(a.mean()), s["ambiguity_mean"])
                check.same(f"subset {s['name']} spearman", spearman(a, pa),
                           s["spearman_ambiguity_pa_mpjpe"])
            else:
                check.same(f"subset {s['name']} ambiguity_mean", None, s.get("ambiguity_mean"))
            subsets_checked += 1
    for f in check.failures:
        print(f"MISMATCH {f}")
    if check.failures:
        print(f"eval_check: {len(check.failures)} of {check.compared} numbers differ")
        return 1
    print(f"eval_check: {len(lines)} images and {subsets_checked} subsets: all {check.compared} "
          f"numbers agree with eval's to {TOL:g} (relative; absolute below 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
