#!/usr/bin/env python3
"""Checks of the Python side that need PyTorch (so not run by CI):

1. a checkpoint saved with SPIN/GIRAFFE-style key names exports to a bundle whose graphs
   equal those exported from the same weights directly (the key mapping of KEYS.md);
2. a checkpoint that does not fit the config is refused with the keys named;
3. the reference's rendering agrees with a slow per-ray loop (volume rendering formula).

    .venv/bin/python tools/selftest.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from imphmr_ref import ImpHMR, PRESETS, geometry, weights  # noqa: E402


def spin_style(state: dict) -> dict:
    out = {}
    for k, v in state.items():
        if k.startswith("mean_"):
            continue
        if k.startswith("encoder."):
            k = k[len("encoder."):]  # SPIN's backbone keys are bare
        elif k.startswith("head.") and not k.startswith("head.conv"):
            k = k[len("head."):]  # SPIN's regressor keys are bare too
        elif k.startswith("field."):
            k = "decoder." + k[len("field."):]
            k = k.replace("fc_z_skip.", "fc_z_skips.0.").replace("fc_p_skip.", "fc_p_skips.0.")
        out["module." + k] = v
    return {"state_dict": out}


def run_graph(path: Path, feeds: dict) -> list[np.ndarray]:
    return ort.InferenceSession(str(path)).run(None, feeds)


def main() -> None:
    cfg = PRESETS["small"]()
    model = ImpHMR(cfg, weights.default_mean_params(cfg))
    torch.manual_seed(3)
    weights.init_random(model, 3, torch.randn(4, 3, cfg.input.size, cfg.input.size))
    model.eval()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = tmp / "spin_style.pt"
        torch.save(spin_style(model.state_dict()), ckpt)
        out = tmp / "bundle"
        subprocess.run([sys.executable, str(HERE / "export_bundle.py"), "--preset", "small",
                        "--checkpoint", str(ckpt), "--out", str(out)], check=True)
        img = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
        (z,) = run_graph(out / "encoder.onnx", {"image": img})
        with torch.no_grad():
            z_ref = model.encoder(torch.from_numpy(img)).numpy()
        err = np.abs(z - z_ref).max()
        assert err < 1e-4, f"checkpoint export differs from the model: {err}"
        print(f"[selftest] SPIN/GIRAFFE-style checkpoint → bundle: encoder max |err| {err:.1e}")

        bad = tmp / "bad.pt"
        sd = spin_style(model.state_dict())["state_dict"]
        sd.pop("module.fc1.weight")
        sd["module.extra.weight"] = torch.zeros(1)
        torch.save(sd, bad)
        r = subprocess.run([sys.executable, str(HERE / "export_bundle.py"), "--preset", "small",
                            "--checkpoint", str(bad), "--out", str(tmp / "bad")],
                           capture_output=True, text=True)
        assert r.returncode != 0 and "missing: head.fc1.weight" in r.stderr, r.stderr
        assert "unexpected: extra.weight" in r.stderr, r.stderr
        print("[selftest] a checkpoint that does not fit is refused, keys named")

    # Volume rendering against a per-ray loop.
    rng = np.random.default_rng(1)
    f = cfg.field
    n = f.height * f.width * f.samples
    sigma = rng.uniform(0, 3, n).astype(np.float32)
    feat = rng.standard_normal((n, 5)).astype(np.float32)
    _, _, deltas = geometry.rays(f, 0.0)
    fm, op = geometry.volume_render(torch.from_numpy(sigma), torch.from_numpy(feat),
                                    torch.from_numpy(deltas.astype(np.float32)), f.height, f.width)
    r = 7
    t, acc, tot = 1.0, np.zeros(5), 0.0
    for k in range(f.samples):
        a = 1 - np.exp(-sigma[r * f.samples + k] * deltas[k])
        acc += a * t * feat[r * f.samples + k]
        tot += a * t
        t *= 1 - a
    i, j = divmod(r, f.width)
    assert np.allclose(fm[:, i, j].numpy(), acc, atol=1e-5) and abs(op[0, i, j] - tot) < 1e-5
    print("[selftest] volume rendering matches the per-ray formula")


if __name__ == "__main__":
    main()
