#!/usr/bin/env python3
"""The PyTorch reference on the held-out set, against `imphmr eval`'s per-image numbers.

    imphmr eval --model models/trained --body-model models/body/anny.body \\
        --data models/heldout --predictions /tmp/pred.jsonl
    .venv/bin/python tools/eval_reference.py --checkpoint runs/all/last.pt \\
        --data models/heldout --predictions /tmp/pred.jsonl       # + --pack-weights for a packed bundle

Runs tools/imphmr_ref on every labelled image (the label's box, the reference's own crop),
turns θ, β into joints and vertices with tools/body_model.py, computes MPJPE, PA-MPJPE and
PVE (mm, SPIN's protocol, as docs/DATASET.md defines them) and prints, per subset, the
reference's means beside the engine's and the largest per-image difference. Exit 1 when
any image differs by more than --tol mm (default 0.1).

JPEG decoders differ by a level or two per pixel (Pillow's libjpeg-turbo here, the `image`
crate's in the engine), which moves answers by a few tenths of a millimetre and can flip a
near-tied one (docs/ACCURACY.md): to compare
the networks on identical pixels, `--to-png DIR` first writes the set as PNG (decoded by
Pillow) with its labels, for `imphmr eval --data DIR` and this script to read alike.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from body_model import read_body, rodrigues  # noqa: E402
from imphmr_ref import ImpHMR, geometry, packing, weights  # noqa: E402
from imphmr_ref.config import Config  # noqa: E402
from train import procrustes  # noqa: E402


def scores(body, rot_pred, beta_pred, rot_true, beta_true):
    p = body.forward(beta_pred, rot_pred)
    t = body.forward(beta_true, rot_true)
    pj, tj = p["joints"] - p["joints"][0], t["joints"] - t["joints"][0]
    pv, tv = p["vertices"] - p["joints"][0], t["vertices"] - t["joints"][0]
    mpjpe = np.linalg.norm(pj - tj, axis=1).mean() * 1e3
    pa = np.linalg.norm(procrustes(pj[None], tj[None])[0] - tj, axis=1).mean() * 1e3
    pve = np.linalg.norm(pv - tv, axis=1).mean() * 1e3
    return mpjpe, pa, pve


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, help="tools/train.py checkpoint")
    ap.add_argument("--data", type=Path, default=HERE.parent / "models/heldout")
    ap.add_argument("--body-model", type=Path, default=HERE.parent / "models/body/anny.body")
    ap.add_argument("--predictions", type=Path, help="imphmr eval --predictions output")
    ap.add_argument("--tol", type=float, default=0.1, help="mm")
    ap.add_argument("--pack-weights", action="store_true",
                    help="round the encoder's conv weights as export_bundle.py --pack-weights did "
                         "(the reference of a packed bundle)")
    ap.add_argument("--to-png", type=Path, metavar="DIR", help="only write the set as PNG into DIR, then stop")
    args = ap.parse_args()
    if args.to_png:
        args.to_png.mkdir(parents=True, exist_ok=True)
        for lab_path in sorted(args.data.glob("*.json")):
            lab = json.loads(lab_path.read_text())
            name = Path(lab["image"]).with_suffix(".png").name
            Image.open(args.data / lab["image"]).convert("RGB").save(args.to_png / name)
            lab["image"] = name
            lab.pop("silhouette", None)
            lab.pop("views_silhouette", None)
            (args.to_png / lab_path.name).write_text(json.dumps(lab) + "\n")
        print(f"wrote {args.to_png}")
        return 0
    if args.predictions is None or args.checkpoint is None:
        ap.error("--checkpoint and --predictions are required (unless --to-png)")
    ck = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    cfg = Config.from_dict(ck["config"])
    model = ImpHMR(cfg, ck["mean_params"])
    weights.load_checkpoint(model, str(args.checkpoint))
    if args.pack_weights:
        packing.round_conv_weights_(model.encoder)
    model.eval()
    body = read_body(args.body_model)
    engine = {}
    for line in args.predictions.read_text().splitlines():
        rec = json.loads(line)
        engine[Path(rec["image"]).name] = rec
    rows, diffs = {}, {}
    for lab_path in sorted(args.data.glob("*.json")):
        lab = json.loads(lab_path.read_text())
        name = lab["image"]
        if name not in engine:
            print(f"{name}: not in {args.predictions}", file=sys.stderr)
            return 1
        rgb = np.asarray(Image.open(args.data / name).convert("RGB"))
        x = geometry.crop_normalise(rgb, lab["box"], cfg.input.size, cfg.input.mean, cfg.input.std)
        out = model(torch.from_numpy(x)[None])
        rot = out["rotmat"].numpy().reshape(-1, 3, 3).astype(np.float64)
        beta = out["betas"][0].numpy().astype(np.float64)
        ref = scores(body, rot, beta, rodrigues(np.asarray(lab["theta"])), np.asarray(lab["betas"]))
        e = engine[name]
        eng = (e["mpjpe"], e["pa_mpjpe"], e["pve"])
        diffs[name] = max(abs(a - b) for a, b in zip(ref, eng))
        for s in lab["subsets"] + ["all"]:
            rows.setdefault(s, []).append(ref + eng)
    print(f"{'subset':<11} {'n':>4}  {'MPJPE ref/engine':>18}  {'PA-MPJPE ref/engine':>20}  {'PVE ref/engine':>16}")
    for s, v in sorted(rows.items()):
        m = np.mean(v, 0)
        print(f"{s:<11} {len(v):>4}  {m[0]:8.2f} / {m[3]:7.2f}  {m[1]:9.2f} / {m[4]:8.2f}  {m[2]:7.2f} / {m[5]:6.2f}")
    worst = max(diffs.values())
    over = sorted((n for n, d in diffs.items() if d > args.tol), key=lambda n: -diffs[n])
    print(f"largest per-image difference, reference vs engine: {worst:.4f} mm (limit {args.tol}); "
          f"median {np.median(list(diffs.values())):.4f} mm; {len(over)} of {len(diffs)} images over the limit"
          + (": " + ", ".join(f"{n} {diffs[n]:.2f} mm" for n in over[:5]) if over else ""))
    return 0 if not over else 1


if __name__ == "__main__":
    sys.exit(main())
