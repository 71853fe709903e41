#!/usr/bin/env python3
"""ImpHMR's view trick against the truth (the paper's Fig. 7, as numbers).

    python3 tools/view_trick.py --model models/trained --view 90     # numpy; runs imphmr infer

For every held-out image: `imphmr infer --view-deg φ` with the label's box, against the
truth of the body turned by −φ (the label's `views`). Reported per subset, in degrees and
mm: the root's geodesic error at φ; the same for the canonical answer turned by hand,
R_y(φ)·R̂_0 (what a network without the field's imagination would give); the MPJPE
(root-aligned, orientation included) of the joints at φ against the turned truth; and
the same for the canonical answer; and their differences, paired per image (rendered −
turned, ± the standard error). Numbers measured through the Rust engine.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from body_model import read_body, rodrigues  # noqa: E402


def rot_y(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(a.T @ b) - 1) / 2, -1, 1))))


def infer(binary: str, model: str, image: Path, box, view: float) -> np.ndarray:
    out = subprocess.run([binary, "--threads", "2", "infer", "--model", model, "--box", ",".join(map(str, box)),
                          "--view-deg", str(view), str(image)], capture_output=True, text=True, check=True)
    return rodrigues(np.asarray(json.loads(out.stdout)["theta"]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models/trained")
    ap.add_argument("--data", type=Path, default=HERE.parent / "models/heldout")
    ap.add_argument("--body-model", type=Path, default=HERE.parent / "models/body/anny.body")
    ap.add_argument("--view", type=float, default=90.0, help="φ, degrees (one of the labels' views)")
    ap.add_argument("--binary", default=str(HERE.parent / "target/release/imphmr"))
    ap.add_argument("--json", type=Path, help="write the table as JSON")
    args = ap.parse_args()
    if not Path(args.binary).exists():
        args.binary = str(HERE.parent / "target/debug/imphmr")
    body = read_body(args.body_model)
    rows: dict[str, list] = {}
    for lab_path in sorted(args.data.glob("*.json")):
        lab = json.loads(lab_path.read_text())
        view = next((v for v in lab.get("views", []) if abs(v["phi_deg"] - args.view) < 1e-6), None)
        if view is None:
            continue
        img = args.data / lab["image"]
        r0 = infer(args.binary, args.model, img, lab["box"], 0.0)
        rphi = infer(args.binary, args.model, img, lab["box"], args.view)
        truth = rodrigues(np.asarray(view["theta"]))
        turned = r0.copy()
        turned[0] = rot_y(args.view) @ r0[0]
        betas = np.asarray(lab["betas"])

        def joints(r):
            j = body.forward(betas, r)["joints"]
            return j - j[0]

        tj = joints(truth)
        rec = (angle(rphi[0], truth[0]), angle(turned[0], truth[0]),
               np.linalg.norm(joints(rphi) - tj, axis=1).mean() * 1e3,
               np.linalg.norm(joints(turned) - tj, axis=1).mean() * 1e3)
        for s in lab["subsets"] + ["all"]:
            rows.setdefault(s, []).append(rec)
    print(f"view φ = {args.view:g}°, model {args.model}: rendered at φ vs the canonical answer turned by R_y(φ)")
    print(f"{'subset':<11} {'n':>4}  {'root err at φ':>13}  {'turned by hand':>14}  {'difference':>13}"
          f"  {'MPJPE at φ':>10}  {'turned by hand':>14}  {'difference':>12}")
    table = {}
    for s, v in sorted(rows.items()):
        v = np.asarray(v)
        m = v.mean(0)
        # rendered − turned, paired per image, with its standard error
        d = v[:, [0, 2]] - v[:, [1, 3]]
        se = d.std(0, ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.zeros(2)
        table[s] = {"count": len(v), "root_deg_rendered": m[0], "root_deg_turned": m[1],
                    "root_deg_difference": d[:, 0].mean(), "root_deg_difference_se": se[0],
                    "mpjpe_mm_rendered": m[2], "mpjpe_mm_turned": m[3],
                    "mpjpe_mm_difference": d[:, 1].mean(), "mpjpe_mm_difference_se": se[1]}
        print(f"{s:<11} {len(v):>4}  {m[0]:12.1f}°  {m[1]:13.1f}°  {d[:, 0].mean():+6.1f} ± {se[0]:3.1f}°"
              f"  {m[2]:10.1f}  {m[3]:14.1f}  {d[:, 1].mean():+6.1f} ± {se[1]:3.1f}")
    if args.json:
        args.json.write_text(json.dumps(table, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
