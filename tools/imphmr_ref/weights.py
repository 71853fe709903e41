"""Where the weights come from: a PyTorch checkpoint (with key mapping) or seeded random
weights scaled so every activation stays O(1), which f16/int8 parity needs to mean
anything. Also the SMPL mean parameters the regressor starts from.
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch
import torch.nn as nn

from .config import Config
from .model import ImpHMR

# Checkpoint key prefixes we accept, mapped onto ours (applied in order, first match wins).
# Documented in tools/KEYS.md.
KEY_RULES = [
    (r"^(module\.|model\.)", ""),  # DataParallel / Lightning wrappers
    (r"^(backbone|encoder)\.", "encoder."),
    (r"^(conv1|bn1|layer[1-4])\.", r"encoder.\1."),  # SPIN hmr.py backbone
    (r"^fc\.", "encoder.fc."),
    (r"^(fc1|fc2|decpose|decshape|deccam)\.", r"head.\1."),  # SPIN hmr.py regressor
    (r"^(regressor|head)\.", "head."),
    (r"^(decoder|field)\.fc_z_skips\.0\.", "field.fc_z_skip."),  # GIRAFFE decoder
    (r"^(decoder|field)\.fc_p_skips\.0\.", "field.fc_p_skip."),
    (r"^(decoder|field)\.", "field."),
]
SKIP_KEYS = re.compile(r"(num_batches_tracked|^mean_(pose6d|betas|cam)$|^(init_pose|init_shape|init_cam)$)")


def map_key(key: str) -> str:
    key = re.sub(KEY_RULES[0][0], KEY_RULES[0][1], key)
    for pattern, repl in KEY_RULES[1:]:
        if re.match(pattern, key):
            return re.sub(pattern, repl, key, count=1)
    return key


def load_checkpoint(model: ImpHMR, path: str, obj: dict | None = None) -> None:
    """Load a state dict (optionally under 'state_dict' or 'model') into the reference,
    strictly: every parameter must be found and have the right shape. `obj`: the file
    already loaded (tools/train.py's checkpoints hold floats and the config, which the
    weights-only unpickler of torch < 2 refuses)."""
    if obj is None:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model"):
        if isinstance(obj, dict) and wrapper in obj and isinstance(obj[wrapper], dict):
            obj = obj[wrapper]
    mapped = {map_key(k): v for k, v in obj.items() if not SKIP_KEYS.search(k)}
    own = {k: v for k, v in model.state_dict().items() if not SKIP_KEYS.search(k)}
    missing = sorted(set(own) - set(mapped))
    unexpected = sorted(set(mapped) - set(own))
    wrong = [
        f"{k}: checkpoint {tuple(mapped[k].shape)} vs config {tuple(own[k].shape)}"
        for k in own
        if k in mapped and mapped[k].shape != own[k].shape
    ]
    if missing or unexpected or wrong:
        lines = [f"{path}: checkpoint does not fit the config"]
        lines += [f"  missing: {k}" for k in missing[:20]]
        lines += [f"  unexpected: {k}" for k in unexpected[:20]]
        lines += [f"  shape: {w}" for w in wrong[:20]]
        raise SystemExit("\n".join(lines))
    model.load_state_dict(mapped, strict=False)


# ----------------------------------------------------------------- mean parameters


def default_mean_params(cfg: Config) -> dict[str, list[float]]:
    """Synthetic stand-in for SPIN's smpl_mean_params.npz (which users supply): every
    joint at rest, the root turned π about x (a y-up body in a y-down image camera),
    mean shape, camera scale 0.9 centred."""
    pose = np.tile(np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]), (cfg.head.joints, 1))
    pose[0] = [1.0, 0.0, 0.0, -1.0, 0.0, 0.0]
    return {
        "pose6d": pose.reshape(-1).tolist(),
        "betas": [0.0] * cfg.head.betas,
        "cam": [0.9, 0.0, 0.0],
    }


def mean_params_from_npz(path: str, cfg: Config) -> dict[str, list[float]]:
    """SPIN's smpl_mean_params.npz: 'pose' (144, 6D), 'shape' (10), 'cam' (3)."""
    data = np.load(path)
    out = {
        "pose6d": data["pose"].astype(np.float64).reshape(-1).tolist(),
        "betas": data["shape"].astype(np.float64).reshape(-1).tolist(),
        "cam": data["cam"].astype(np.float64).reshape(-1).tolist(),
    }
    if len(out["pose6d"]) != cfg.pose_dim or len(out["betas"]) != cfg.head.betas:
        raise SystemExit(f"{path}: mean parameters do not fit the config")
    return out


# -------------------------------------------------------------------- random weights


@torch.no_grad()
def init_random(model: ImpHMR, seed: int, calib_images: torch.Tensor) -> None:
    """Seeded random weights whose activations stay O(1):
    He-normal convolutions and linear layers; batch-norm statistics measured on
    `calib_images` so each normalised layer really is normalised; the last batch norm of
    each residual block at gain 0.5 so the residual sum does not grow with depth; the
    encoder's fc rescaled so z has zero mean and unit variance on the calibration set;
    the regressor's decoders at gain 0.01 (as SPIN) so the pose stays near the mean."""
    gen = torch.Generator().manual_seed(seed)

    def he(w: torch.Tensor, gain: float = math.sqrt(2.0)):
        fan_in = w[0].numel()
        w.copy_(torch.randn(w.shape, generator=gen) * gain / math.sqrt(fan_in))

    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            he(m.weight)
            if m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.fill_(0.5 if name.endswith("bn3") else 1.0)
            m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)

    field = model.field
    # Sums of two or three branches: scale each so the sum keeps unit gain.
    for lin in (field.fc_in, field.fc_z, field.feat_view, field.fc_z_view, field.fc_view):
        lin.weight.mul_(1 / math.sqrt(2.0))
    for lin in (field.fc_z_skip, field.fc_p_skip):
        lin.weight.mul_(0.5)
    field.sigma_out.weight.mul_(1 / math.sqrt(2.0))
    field.sigma_out.bias.fill_(0.0)
    field.feat_out.weight.mul_(1 / math.sqrt(2.0))

    head = model.head
    for lin in (head.fc1, head.fc2):
        lin.weight.mul_(1 / math.sqrt(2.0))  # no activation between them (SPIN)
    for lin in (head.decpose, head.decshape, head.deccam):
        he(lin.weight, gain=0.01)
        lin.bias.zero_()

    # Batch-norm statistics from the calibration batch (cumulative average, one pass).
    enc = model.encoder
    for m in enc.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    enc.train()
    enc(calib_images)
    enc.eval()
    for m in enc.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.1

    z = enc(calib_images)
    mu, sd = z.mean(dim=0), z.std(dim=0).clamp_min(1e-3)
    enc.fc.weight.div_(sd[:, None])
    enc.fc.bias.sub_(mu).div_(sd)
