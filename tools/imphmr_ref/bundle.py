"""Writing and reading model bundles (DESIGN section 3): imphmr.toml + three ONNX graphs +
mean_params.json, every file's sha256 in the manifest's [files] table."""

from __future__ import annotations

import hashlib
import inspect
import json
import tomllib
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import geometry
from .config import Config
from .model import ImpHMR

OPSET = 17


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(v)


def write_manifest(cfg: Config, out: Path, files: list[str]) -> None:
    d = cfg.to_dict()
    lines = [
        "# ImpHMR model bundle manifest (imphmr-edge). Every field is read by the engine;",
        "# see docs/BUNDLE.md. Checksums at the end cover every file of the bundle.",
    ]
    tables = {k: v for k, v in d.items() if isinstance(v, dict)}
    for k, v in d.items():
        if k not in tables:
            lines.append(f"{k} = {_toml_value(v)}")
    for name, table in tables.items():
        lines.append(f"\n[{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    lines.append("\n[files]")
    lines += [f'"{f}" = "{sha256(out / f)}"' for f in files]
    (out / "imphmr.toml").write_text("\n".join(lines) + "\n")


def read_manifest(bundle: Path) -> Config:
    return Config.from_dict(tomllib.loads((bundle / "imphmr.toml").read_text()))


def export(model: ImpHMR, mean_params: dict, out: Path, pack_encoder: bool = False) -> float:
    """Export the three graphs and the mean parameters, then the manifest. With
    `pack_encoder`, the encoder's conv weights are stored as int8 + scales (packing.py:
    round the model's weights with `packing.round_conv_weights_` first). Returns the
    packing's largest relative error (0 unpacked)."""
    cfg = model.cfg
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    s = cfg.input.size
    n = cfg.num_samples
    z = torch.zeros(1, cfg.encoder.latent_dim)
    common = dict(opset_version=OPSET, do_constant_folding=True)
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        common["dynamo"] = False  # torch ≥ 2.5: the TorchScript exporter, as before
    torch.onnx.export(
        model.encoder,
        (torch.zeros(1, 3, s, s),),
        str(out / cfg.encoder.file),
        input_names=["image"],
        output_names=["z"],
        **common,
    )
    torch.onnx.export(
        model.field,
        (torch.zeros(n, cfg.point_enc_dim), torch.zeros(n, cfg.dir_enc_dim), z),
        str(out / cfg.field.file),
        input_names=["points_enc", "dirs_enc", "z"],
        output_names=["sigma", "feature"],
        # The sample count is free so the engine may skip samples (outside the box,
        # behind opaque ones) without a new graph.
        dynamic_axes={"points_enc": {0: "samples"}, "dirs_enc": {0: "samples"},
                      "sigma": {0: "samples"}, "feature": {0: "samples"}},
        **common,
    )
    f = cfg.field
    torch.onnx.export(
        model.head,
        (
            torch.zeros(1, f.feature_dim, f.height, f.width),
            torch.zeros(1, 1, f.height, f.width),
            z,
            model.mean_pose6d,
            model.mean_betas,
            model.mean_cam,
        ),
        str(out / cfg.head.file),
        input_names=["feature_map", "opacity", "z", "init_pose6d", "init_betas", "init_cam"],
        output_names=["pose6d", "betas", "cam"],
        **common,
    )
    worst = 0.0
    if pack_encoder:  # needs the onnx package, which a plain export does not
        import onnx

        from . import packing

        packed, worst = packing.pack(onnx.load(str(out / cfg.encoder.file)))
        onnx.save(packed, str(out / cfg.encoder.file))
    (out / cfg.head.mean_params).write_text(json.dumps(mean_params, indent=1) + "\n")
    files = [cfg.encoder.file, cfg.field.file, cfg.head.file, cfg.head.mean_params]
    write_manifest(cfg, out, files)
    return worst


def load_rgb(path: Path) -> np.ndarray:
    """Decode any PNG/JPEG to H×W×3 uint8 RGB (grey images are replicated)."""
    return np.asarray(Image.open(path).convert("RGB"))


def preprocess(cfg: Config, rgb: np.ndarray, box=None) -> torch.Tensor:
    if box is None:
        box = geometry.centre_box(rgb.shape[1], rgb.shape[0])
    x = geometry.crop_normalise(rgb, box, cfg.input.size, cfg.input.mean, cfg.input.std)
    return torch.from_numpy(x)[None]
