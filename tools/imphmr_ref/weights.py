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
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
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

    z = enc(calib_images)[:, :enc.fc.out_features]  # the keypoints' positions are already O(1)
    mu, sd = z.mean(dim=0), z.std(dim=0).clamp_min(1e-3)
    enc.fc.weight.div_(sd[:, None])
    enc.fc.bias.sub_(mu).div_(sd)


# ------------------------------------------------------------------ from a bundle


def _constants(graph) -> dict[str, np.ndarray]:
    """Every tensor of `graph` computed from initializers alone: the initializers and
    the Cast · Mul nodes in front of a packed Conv (imphmr_ref/packing.py)."""
    import onnx
    from onnx import helper, numpy_helper

    # onnx < 1.13 (Debian's, which CI trains with) has only the older table.
    np_dtype = getattr(helper, "tensor_dtype_to_np_dtype", None) or onnx.mapping.TENSOR_TYPE_TO_NP_TYPE.get
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if not node.input or not all(name in values for name in node.input):
            continue
        args = [values[name] for name in node.input]
        if node.op_type == "Cast":
            to = helper.get_attribute_value(node.attribute[0])
            values[node.output[0]] = args[0].astype(np_dtype(to))
        elif node.op_type == "Mul":
            values[node.output[0]] = args[0] * args[1]
    return values


def _convs_in_call_order(encoder: nn.Module, size: int, kind=nn.Conv2d) -> list[nn.Module]:
    """The encoder's convolutions (or transposed ones: `kind`) in the order its forward
    calls them, which is the order of the Conv (ConvTranspose) nodes in its exported graph
    (a residual block's shortcut comes first)."""
    order: list[nn.Module] = []
    hooks = [m.register_forward_hook(lambda m, _i, _o: order.append(m))
             for m in encoder.modules() if isinstance(m, kind)]
    with torch.no_grad():
        encoder.eval()(torch.zeros(1, 3, size, size))
    for h in hooks:
        h.remove()
    return order


def _batch_norm_after(conv_name: str) -> str | None:
    """The reference's name for the batch norm after a convolution (None for the spatial
    read-out's, which have none)."""
    if conv_name.endswith("downsample.0"):
        return conv_name[:-1] + "1"
    parent, last = conv_name.rsplit(".", 1)
    return f"{parent}.bn{last[len('conv'):]}" if last.startswith("conv") else None


def _encoder_convs(model: ImpHMR) -> list[tuple[str, nn.Conv2d, nn.BatchNorm2d | None]]:
    """(name, convolution, the batch norm after it or None) in the encoder's call order."""
    names = {m: n for n, m in model.named_modules()}
    modules = dict(model.named_modules())
    return [(names[conv], conv, modules[bn] if (bn := _batch_norm_after(names[conv])) else None)
            for conv in _convs_in_call_order(model.encoder, model.cfg.input.size)]


def _onnx_graph(file):
    import onnx

    try:
        return onnx.load(str(file)).graph
    except Exception as e:  # protobuf's DecodeError, OSError: one line naming the file
        raise SystemExit(f"{file}: not a readable ONNX graph ({type(e).__name__}: {e})") from None


@torch.no_grad()
def load_bundle(bundle_dir) -> tuple[ImpHMR, dict]:
    """The reference network holding a bundle's weights, so a committed bundle can be
    trained on where its checkpoint is gone (checkpoints are git-ignored; bundles are not).

    The field's and head's weights are found by name. The encoder's graph has each batch
    norm folded into the Conv before it (and, packed, its weight stored as int8 · scale),
    so its Conv nodes are matched to the reference's convolutions in call order, and each
    batch norm is unfolded as the identity (μ 0, σ² 1 − ε, γ 1, β the folded bias): exact
    in eval mode. Before training on, remeasure_batch_norms gives them real statistics.
    The optimiser's moments are not in a bundle: they start afresh."""
    import json
    from pathlib import Path

    from . import bundle as bundle_io

    bundle_dir = Path(bundle_dir)
    try:
        cfg = bundle_io.read_manifest(bundle_dir)
        mean = json.loads((bundle_dir / cfg.head.mean_params).read_text())
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"{bundle_dir}: not a readable bundle ({type(e).__name__}: {e})") from None
    model = ImpHMR(cfg, mean).eval()
    state = model.state_dict()
    filled: set[str] = set()

    def put(key: str, value: np.ndarray, where: str) -> None:
        if key not in state:
            raise SystemExit(f"{where}: {key} is not a weight of the manifest's network")
        if tuple(state[key].shape) != value.shape:
            raise SystemExit(f"{where}: {key} is {value.shape}, the manifest's network has {tuple(state[key].shape)}")
        state[key].copy_(torch.from_numpy(np.array(value, dtype=np.float32)))
        filled.add(key)

    for part in ("field", "head"):
        file = bundle_dir / getattr(cfg, part).file
        for name, value in _constants(_onnx_graph(file)).items():
            if f"{part}.{name}" in state:
                put(f"{part}.{name}", value, str(file))

    file = bundle_dir / cfg.encoder.file
    graph = _onnx_graph(file)
    values = _constants(graph)
    for name in ("fc.weight", "fc.bias"):
        if name in values:
            put(f"encoder.{name}", values[name], str(file))
    conv_nodes = [n for n in graph.node if n.op_type == "Conv"]
    convs = _encoder_convs(model)
    if len(conv_nodes) != len(convs):
        raise SystemExit(f"{file}: {len(conv_nodes)} Conv nodes, the manifest's encoder has {len(convs)}")
    for (name, conv, bn), node in zip(convs, conv_nodes):
        put(f"{name}.weight", values[node.input[1]], str(file))
        bias = values[node.input[2]] if len(node.input) > 2 else np.zeros(conv.out_channels, np.float32)
        if bn is None:
            put(f"{name}.bias", bias, str(file))
        else:
            bn_name = _batch_norm_after(name)
            put(f"{bn_name}.running_mean", np.zeros_like(bias), str(file))
            put(f"{bn_name}.running_var", np.full_like(bias, 1.0 - bn.eps), str(file))
            put(f"{bn_name}.weight", np.ones_like(bias), str(file))
            put(f"{bn_name}.bias", bias, str(file))
    # The keypoint branch's transposed convolutions have no batch norm: weights as they are.
    names = {m: n for n, m in model.named_modules()}
    deconvs = _convs_in_call_order(model.encoder, cfg.input.size, nn.ConvTranspose2d)
    deconv_nodes = [n for n in graph.node if n.op_type == "ConvTranspose"]
    if len(deconv_nodes) != len(deconvs):
        raise SystemExit(f"{file}: {len(deconv_nodes)} ConvTranspose nodes, the manifest's encoder has {len(deconvs)}")
    for deconv, node in zip(deconvs, deconv_nodes):
        put(f"{names[deconv]}.weight", values[node.input[1]], str(file))
        put(f"{names[deconv]}.bias", values[node.input[2]], str(file))
    missing = sorted(k for k in state if k not in filled and not SKIP_KEYS.search(k))
    if missing:
        raise SystemExit(f"{bundle_dir}: no weights in the bundle for {', '.join(missing[:8])}")
    model.load_state_dict(state)
    return model, mean


def batch_norm_affine(gamma, beta, mean, var, eps: float = 1e-5):
    """A batch norm in eval mode as y = a·x + c: a = γ/√(σ² + ε), c = β − a·μ (one per channel)."""
    a = gamma / (var + eps).sqrt()
    return a, beta - a * mean


@torch.no_grad()
def remeasure_batch_norms(model: ImpHMR, images: torch.Tensor) -> None:
    """Give each of the encoder's batch norms the statistics (μ, σ²) of its convolution's
    output on `images` and rescale its γ, β so that it answers in eval mode exactly as
    before: y = a·x + c stays, with a = γ/√(σ² + ε). Training mode, which normalises by
    the batch's own statistics, then answers nearly as eval mode on images like these:
    what a bundle's unfolded batch norms (load_bundle) need before training goes on."""
    pairs = [(conv, bn) for _, conv, bn in _encoder_convs(model) if bn is not None]
    stats = {}
    hooks = [conv.register_forward_hook(lambda m, _i, out: stats.__setitem__(
        m, (out.mean(dim=(0, 2, 3)), out.var(dim=(0, 2, 3), unbiased=False)))) for conv, _ in pairs]
    model.encoder.eval()(images)
    for h in hooks:
        h.remove()
    for conv, bn in pairs:
        mu, var = stats[conv]
        a, c = batch_norm_affine(bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.eps)
        bn.running_mean.copy_(mu)
        bn.running_var.copy_(var)
        bn.weight.copy_(a * (var + bn.eps).sqrt())
        bn.bias.copy_(a * mu + c)
