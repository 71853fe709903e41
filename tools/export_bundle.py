#!/usr/bin/env python3
"""Write an ImpHMR model bundle (imphmr.toml, encoder/field/head .onnx, mean_params.json).

From a trained checkpoint:
    python tools/export_bundle.py --preset full --checkpoint imphmr.pt \
        --mean-params smpl_mean_params.npz --out my_bundle
From seeded random weights (the bundled test model; NOT a human pose estimator):
    python tools/export_bundle.py --preset small --seed 0 --out models/small --goldens
The full-size random bundle for benchmarks (ResNet-50, 16x16 rays x 64 samples, ~100 MB):
    python tools/export_bundle.py --preset full --seed 0 --out models/generated/full

After export, each graph is run with onnxruntime and compared with PyTorch.
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from imphmr_ref import PRESETS, Config, ImpHMR  # noqa: E402
from imphmr_ref import bundle, geometry, goldens, packing, weights  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "models" / "samples"


def calibration_batch(cfg: Config, seed: int) -> torch.Tensor:
    """Centre crops of the sample images, mirrored, plus smooth random images."""
    crops = []
    for path in sorted(SAMPLES.glob("*.png")):
        x = bundle.preprocess(cfg, bundle.load_rgb(path))
        crops += [x, torch.flip(x, dims=[3])]
    gen = torch.Generator().manual_seed(seed + 1)
    s = cfg.input.size
    for _ in range(max(0, 8 - len(crops))):
        noise = torch.randn(1, 3, s // 16, s // 16, generator=gen)
        crops.append(torch.nn.functional.interpolate(noise, size=(s, s), mode="bilinear"))
    return torch.cat(crops)


def check_onnx(model: ImpHMR, out: Path) -> float:
    """Largest |onnxruntime − PyTorch| over the three graphs on a sample image."""
    import onnxruntime as ort

    cfg = model.cfg
    img = calibration_batch(cfg, 0)[:1]
    ref = model(img, 0.0)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    run = lambda f, feeds: ort.InferenceSession(str(out / f), opts).run(None, feeds)  # noqa: E731
    (z,) = run(cfg.encoder.file, {"image": img.numpy()})
    inp = geometry.field_inputs(cfg.field, 0.0)
    sigma, feat = run(cfg.field.file, {"points_enc": inp["points_enc"].numpy(),
                                       "dirs_enc": inp["dirs_enc"].numpy(), "z": z})
    with torch.no_grad():
        sigma_t, feat_t = model.field(inp["points_enc"], inp["dirs_enc"], torch.from_numpy(z))
    pose, betas, cam = run(cfg.head.file, {
        "feature_map": ref["feature_map"].numpy(), "opacity": ref["opacity"].numpy(),
        "z": ref["z"].numpy(), "init_pose6d": model.mean_pose6d.numpy(),
        "init_betas": model.mean_betas.numpy(), "init_cam": model.mean_cam.numpy()})
    errs = [
        np.abs(z - ref["z"].numpy()).max(),
        np.abs(sigma - sigma_t.numpy()).max(),
        np.abs(feat - feat_t.numpy()).max(),
        np.abs(pose - ref["pose6d"].numpy()).max(),
        np.abs(betas - ref["betas"].numpy()).max(),
        np.abs(cam - ref["cam"].numpy()).max(),
    ]
    return float(max(errs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="small",
                    help="architecture defaults (small: test bundle; full: ResNet-50, 16x16x64)")
    ap.add_argument("--config", type=Path,
                    help="an imphmr.toml whose architecture fields replace the preset's")
    ap.add_argument("--checkpoint", type=Path, help="PyTorch state dict (see tools/KEYS.md)")
    ap.add_argument("--mean-params", type=Path, help="SPIN-style smpl_mean_params.npz")
    ap.add_argument("--seed", type=int, default=0, help="seed for random weights")
    ap.add_argument("--name", help="bundle name written to the manifest")
    ap.add_argument("--out", type=Path, required=True, help="bundle directory to write")
    ap.add_argument("--pack-weights", action="store_true",
                    help="store the encoder's conv weights as int8 with a scale per output channel "
                         "(a quarter of the size, f32 arithmetic); the reference's weights are rounded "
                         "to the same grid first, so goldens and parity hold as for f32")
    ap.add_argument("--goldens", action="store_true",
                    help="also write the reference's outputs on the sample images to OUT/goldens")
    args = ap.parse_args()

    t0 = time.perf_counter()
    torch.manual_seed(args.seed)
    cfg = PRESETS[args.preset]()
    if args.config:
        cfg = Config.from_dict(tomllib.loads(args.config.read_text()))
    if args.name:
        cfg.name = args.name
    # tools/train.py's checkpoints carry their mean parameters and what they were trained on.
    trained = (torch.load(args.checkpoint, map_location="cpu", weights_only=False)
               if args.checkpoint else None)
    trained = trained if isinstance(trained, dict) and "trained_on" in trained else None
    if trained and trained.get("config") and not args.config:
        cfg = Config.from_dict(trained["config"])  # the architecture it was trained with
        if args.name:
            cfg.name = args.name
    if args.mean_params:
        mean = weights.mean_params_from_npz(str(args.mean_params), cfg)
    elif trained:
        mean = trained["mean_params"]
    else:
        mean = weights.default_mean_params(cfg)
    model = ImpHMR(cfg, mean)
    if args.checkpoint:
        weights.load_checkpoint(model, str(args.checkpoint), trained)
        cfg.weights = (f"{trained['trained_on']} ({trained['step']} steps)" if trained
                       else f"checkpoint {args.checkpoint.name}")
    else:
        weights.init_random(model, args.seed, calibration_batch(cfg, args.seed))
        cfg.weights = f"random (seed {args.seed}): not a human pose estimator"
        if not args.name:
            cfg.name = f"{cfg.name}-random"
    model.eval()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"[export] {cfg.name}: {n_params / 1e6:.2f} M parameters", flush=True)
    if args.pack_weights:
        n = packing.round_conv_weights_(model.encoder)
        cfg.weights += "; encoder conv weights stored as int8 per output channel (f32 arithmetic)"
        print(f"[export] {n} encoder conv weights rounded to int8 per output channel", flush=True)
    worst = bundle.export(model, mean, args.out, pack_encoder=args.pack_weights)
    if args.pack_weights:
        print(f"[export] packed: largest error {worst:.1e} of a channel's largest weight", flush=True)
        if worst > 1e-5:
            raise SystemExit(f"packing lost {worst:.1e} of a channel's range: were the weights rounded?")
    err = check_onnx(model, args.out)
    size = sum(p.stat().st_size for p in args.out.iterdir() if p.is_file())
    print(f"[export] wrote {args.out} ({size / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s; "
          f"onnxruntime vs PyTorch max |err| = {err:.2e}")
    if err > 1e-3:
        raise SystemExit(f"exported graphs disagree with PyTorch by {err:.2e}")
    if args.goldens:
        goldens.write_goldens(model, SAMPLES, args.out / "goldens")


if __name__ == "__main__":
    main()
