#!/usr/bin/env python3
"""Train ImpHMR (tools/imphmr_ref) with the paper's three losses.

    .venv/bin/python tools/train.py --data data/synth --out runs/small --steps 20000
    .venv/bin/python tools/train.py ... --resume          # continue from runs/small/last.pt
    .venv/bin/python tools/train.py ... --init-from models/trained   # on from a bundle's weights
    .venv/bin/python tools/export_bundle.py --preset small --checkpoint runs/small/last.pt --out my_bundle

With φ a yaw drawn from p_cam (`--views`, uniform), hats the ground truth:

  L_reg  = λ2d‖K − K̂‖² + λ3d‖J − Ĵ‖² + λpose‖R(θ) − R(θ̂)‖² + λshape‖β − β̂‖²      (φ0 = 0)
  L_imag = E_φ[λ3d‖J_φ − Ĵ_−φ‖² + λsilh‖A_φ − Ŝ_−φ‖² + λpose‖R(θ_φ) − R(θ̂_−φ)‖² + λshape‖β_φ − β̂‖²]
  L_cons = E_φ1,φ2[λpose‖R(θ'_φ1) − R(θ_φ2)‖² + λshape‖β_φ1 − β_φ2‖²]

K: 2D keypoints projected with SPIN's crop camera (focal 5000 on the 224 crop, the
engine's default camera), in the crop's [−1, 1] coordinates; J: 3D joints of the body
model (models/body/anny.body by default), root-joint aligned; θ as rotation matrices; A_φ
the opacity map the field renders at yaw φ; Ŝ_−φ, θ̂_−φ, Ĵ_−φ the truth of the body
turned by −φ (tools/synth.py `--views`); θ'_φ1 is θ_φ1 brought to φ2's frame: its root
R_y(φ2)·R_y(φ1)ᵀ·R (the rotation `imphmr --views` uses). Each step renders φ0 and
`--imag-views` yaws from p_cam; L_cons pairs each of them with φ0 and with each other.
`--no-imag` / `--no-cons` train the ablations of docs/ACCURACY.md.

Beyond the paper, off by default, for telling a pose from its mirror image (docs/ACCURACY.md,
"Which side is which"): `--facing-gate` (the head mirrors its answer by its own facing),
`--flip` (samples seen in a mirror), `--spatial-readout` (the encoder's read-out knows
where features fire), `--l2d-maps` (an auxiliary loss on per-joint 2D maps, never exported;
`--maps-facing-camera` names their joints in the gate's convention), and `--keypoints 24`
(a keypoint branch in the encoder, exported: 32×32 joint maps trained by `--l2d-maps`, named
as facing the camera, whose positions are z's last 48 numbers, so the regressor reads where
the joints are; from a checkpoint or bundle without one, the network answers as before).

Data: folders written by tools/synth.py (NAME.jpg + NAME.json [+ NAME_views.png]) and
SPIN-style .npz files (imgname, center, scale, pose, shape, S, part; `--npz-images` is the
folder imgname is relative to). npz samples have no unseen-view labels, so only L_reg and
L_cons apply to them; their 3D joints (S) are taken as given (24 joints, SMPL order).
Checkpoints: OUT/last.pt every --checkpoint-every steps and at the end (model, optimiser,
step, the mean parameters, the config); `--resume` continues. Checkpoints are git-ignored and
do not outlive a machine: `--init-from` a bundle folder goes on from its committed weights
(batch norms unfolded, a fresh optimiser). A held-out evaluation
(MPJPE / PA-MPJPE in mm on --eval-data) runs every --eval-every steps, beside the same
measure on as many unaugmented training images (under- or over-fitting at a glance).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from body_model import axis_angle, read_body, rodrigues  # noqa: E402
from imphmr_ref import ImpHMR, PRESETS, geometry  # noqa: E402
from imphmr_ref.config import Config  # noqa: E402
from imphmr_ref.model import last_map_side, spatial_from_pooled  # noqa: E402
from imphmr_ref.weights import batch_norm_affine, load_bundle, remeasure_batch_norms  # noqa: E402

SPIN_FOCAL = 5000.0


# --------------------------------------------------------------------------- data


def rot_y(deg: float) -> np.ndarray:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


class Sample(dict):
    """image (3,S,S) float32, rotmats (24,3,3), betas (10), kp2d (24,3: x, y, conf) in the
    crop's [−1, 1], joints3d (24,4: x, y, z, conf) root-aligned; views: {φ: (rotmats,
    silhouette (T,T))} when the data has them."""


class SynthData(torch.utils.data.Dataset):
    def __init__(self, folder: Path, cfg: Config, augment: bool, jitter: float = 0.15, view0: bool = False,
                 flip: float = 0.0):
        self.folder, self.cfg, self.augment, self.jitter = Path(folder), cfg, augment, jitter
        self.flip = flip  # chance of a sample seen in a mirror (mirror_sample)
        self.view0 = view0  # also the image's own silhouette as view φ = 0 (`--views 0,…`)
        self.rescan()
        if not self.files:
            raise SystemExit(f"{folder}: no labels (NAME.json) found; make some with tools/synth.py")

    def rescan(self):
        # A label is complete once its image is there (synth.py writes the label last).
        self.files = sorted(p for p in self.folder.glob("*.json"))

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        lab = json.loads(self.files[i].read_text())
        rgb = np.asarray(Image.open(self.files[i].with_name(lab["image"])).convert("RGB"))
        x, y, w, h = lab["box"]
        if self.augment:  # box jitter, as a detector or `--track` gives: the camera learns the offsets
            j = self.jitter
            s = w * np.random.uniform(-j, j)
            x, y = x + w * np.random.uniform(-j, j) - s / 2, y + h * np.random.uniform(-j, j) - s / 2
            w, h = w + s, h + s
        size = self.cfg.input.size
        img = geometry.crop_normalise(rgb, (x, y, w, h), size, self.cfg.input.mean, self.cfg.input.std)
        if self.augment:
            img = img * np.float32(np.random.uniform(0.8, 1.2)) + np.float32(np.random.uniform(-0.2, 0.2))
        kp = np.asarray(lab["joints2d"], dtype=np.float32)
        kp = np.concatenate([(kp - [x, y]) / [w, h] * 2 - 1, np.ones((24, 1))], 1)
        j3 = np.asarray(lab["joints3d"], dtype=np.float64)
        j3 = np.concatenate([j3 - j3[:1], np.ones((24, 1))], 1)
        out = {"image": torch.from_numpy(img), "rotmats": torch.from_numpy(rodrigues(np.asarray(lab["theta"]))).float(),
               "betas": torch.tensor(lab["betas"], dtype=torch.float32),
               "kp2d": torch.from_numpy(kp).float(), "joints3d": torch.from_numpy(j3).float(),
               "has_views": torch.tensor(0.0)}
        views = lab.get("views") or []
        if views and lab.get("views_silhouette"):
            tiles = np.asarray(Image.open(self.files[i].with_name(lab["views_silhouette"]))) > 127
            t = tiles.shape[0]
            degs = [v["phi_deg"] for v in views]
            thetas = [v["theta"] for v in views]
            silh = [tiles[:, k * t:(k + 1) * t] for k in range(len(views))]
            if self.view0 and 0 not in degs and lab.get("silhouette"):
                degs, thetas = [0.0] + degs, [lab["theta"]] + thetas
                silh = [box_silhouette(self.files[i].with_name(lab["silhouette"]), lab["box"], t)] + silh
            out["view_deg"] = torch.tensor(degs, dtype=torch.float32)
            out["view_rotmats"] = torch.from_numpy(rodrigues(np.asarray(thetas))).float()
            out["view_silh"] = torch.from_numpy(np.stack(silh).astype(np.float32))
            out["has_views"] = torch.tensor(1.0)
        if self.augment and np.random.random() < self.flip:
            out = mirror_sample(out)
        return out


MIRROR_SIGNS = torch.tensor([[1.0, -1, -1], [-1, 1, 1], [-1, 1, 1]])  # S·R·S, S = diag(−1, 1, 1)


def mirror_sample(s: dict) -> dict:
    """The sample seen in a mirror: the crop flipped left ↔ right and every label with it
    (left and right joints trade places, rotations R → S·R·S, x → −x, the view at φ is the
    one at −φ). The open body model is mirror-symmetric (to 1e-4), so β stays. A sample
    whose views are not closed under φ → −φ is left as it is."""
    j = geometry.MIRROR_JOINTS
    out = dict(s, image=s["image"].flip(-1), rotmats=s["rotmats"][j] * MIRROR_SIGNS,
               kp2d=s["kp2d"][j] * torch.tensor([-1.0, 1, 1]), joints3d=s["joints3d"][j] * torch.tensor([-1.0, 1, 1, 1]))
    if "view_deg" in s:
        degs = [round(float(d)) % 360 for d in s["view_deg"]]
        if any((360 - d) % 360 not in degs for d in degs):
            return s
        k = [degs.index((360 - d) % 360) for d in degs]
        out["view_rotmats"] = s["view_rotmats"][k][:, j] * MIRROR_SIGNS
        out["view_silh"] = s["view_silh"][k].flip(-1)
    return out


def box_silhouette(mask: Path, box, tile: int) -> np.ndarray:
    """The silhouette (mask image) inside the person box, on a tile×tile grid, each cell
    the covered fraction: the box onto the tile as tools/synth.py maps it for its views."""
    x, y, side = box[:3]
    small = Image.open(mask).convert("L").resize((tile, tile), Image.BOX, box=(x, y, x + side, y + side))
    return np.asarray(small, dtype=np.float32) / 255


class SpinNpzData(torch.utils.data.Dataset):
    """SPIN's dataset files: imgname, center (2), scale (box side / 200), pose (72),
    shape (10), S (24, 4: 3D joints + confidence), part (24, 3: 2D keypoints + conf)."""

    def __init__(self, npz: Path, images: Path, cfg: Config, augment: bool):
        d = np.load(npz)
        need = ["imgname", "center", "scale", "pose", "shape", "S", "part"]
        missing = [k for k in need if k not in d]
        if missing:
            raise SystemExit(f"{npz}: missing arrays {missing} (SPIN's layout: {need})")
        self.d = {k: d[k] for k in need}
        n = len(self.d["imgname"])
        bad = [k for k in need if len(self.d[k]) != n]
        if bad or self.d["pose"].shape[1:] != (72,) or self.d["S"].shape[1:] != (24, 4) \
                or self.d["part"].shape[1:] != (24, 3):
            raise SystemExit(f"{npz}: array shapes do not match SPIN's layout (pose 72, S 24×4, part 24×3)")
        self.images, self.cfg, self.augment = Path(images), cfg, augment

    def __len__(self):
        return len(self.d["imgname"])

    def __getitem__(self, i):
        path = self.images / str(self.d["imgname"][i])
        rgb = np.asarray(Image.open(path).convert("RGB"))
        side = float(self.d["scale"][i]) * 200
        cx, cy = self.d["center"][i]
        box = (cx - side / 2, cy - side / 2, side, side)
        img = geometry.crop_normalise(rgb, box, self.cfg.input.size, self.cfg.input.mean, self.cfg.input.std)
        part = self.d["part"][i].astype(np.float32)
        kp = np.concatenate([(part[:, :2] - box[:2]) / side * 2 - 1, part[:, 2:]], 1)
        s3 = self.d["S"][i].astype(np.float64)
        j3 = np.concatenate([s3[:, :3] - s3[:1, :3], s3[:, 3:]], 1)
        return {"image": torch.from_numpy(img),
                "rotmats": torch.from_numpy(rodrigues(self.d["pose"][i].reshape(24, 3))).float(),
                "betas": torch.from_numpy(self.d["shape"][i].astype(np.float32)),
                "kp2d": torch.from_numpy(kp).float(), "joints3d": torch.from_numpy(j3).float(),
                "has_views": torch.tensor(0.0)}


def to_device(batch: dict, device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def collate(items):
    out = {}
    for k in items[0]:
        if all(k in it for it in items):
            out[k] = torch.stack([it[k] for it in items])
    # View labels only where every sample has them (a mixed batch trains L_imag on none).
    if not all("view_deg" in it for it in items):
        for k in ("view_deg", "view_rotmats", "view_silh"):
            out.pop(k, None)
    return out


# --------------------------------------------------------------------- body model


class TorchJoints(torch.nn.Module):
    """The body model's joints (no vertices needed for the losses): rest joints linear in
    β, then the kinematic chain; model frame, then root-aligned."""

    def __init__(self, path: Path):
        super().__init__()
        b = read_body(path)
        reg = b.j_regressor.astype(np.float64)
        self.register_buffer("j_template", torch.tensor(reg @ b.v_template, dtype=torch.float32))
        self.register_buffer("j_dirs", torch.tensor(np.einsum("jv,vcb->jcb", reg, b.shapedirs), dtype=torch.float32))
        self.parents = [int(p) for p in b.parents]

    def forward(self, rotmats, betas):
        j = self.j_template + torch.einsum("jcb,nb->njc", self.j_dirs, betas)
        g_rot, g_pos = [rotmats[:, 0]], [j[:, 0]]
        for i in range(1, len(self.parents)):
            p = self.parents[i]
            g_pos.append(g_pos[p] + torch.einsum("nab,nb->na", g_rot[p], j[:, i] - j[:, p]))
            g_rot.append(g_rot[p] @ rotmats[:, i])
        pos = torch.stack(g_pos, 1)
        return pos - pos[:, :1]


# ------------------------------------------------------------------------- model


class JointMaps(torch.nn.Module):
    """Training only, never exported (`--l2d-maps`): a deconvolution head on the encoder's
    third stage (1×1 conv, two 4×4 stride-2 transposed convolutions, batch norms: 32×32
    maps at 128 pixels, as simple-baseline pose networks; until the sixth session a 1×1
    conv at 8×8) gives one map per joint; each is a softmax over the cells, pulled towards
    a Gaussian (one cell wide) around that joint's 2D position. Every cell is told where the
    left knee is and where the right one is, where L2d tells the whole image one number per
    joint: dense supervision of which side is which (docs/ACCURACY.md). `--keypoints`
    turns a trained head into the encoder's exported keypoint branch (branch_from_maps).

    `facing_camera` (`--maps-facing-camera`): the maps name left and right as for a body
    that faces the camera, the gate's convention: for a body turned away (by the truth's
    root) the left knee's map is pulled to the right knee. The image side then names every
    joint in every view, where the true names need the facing too."""

    def __init__(self, model: ImpHMR, joints: int = 24, facing_camera: bool = False, width: int = 64):
        super().__init__()
        nn = torch.nn
        self.conv = nn.Sequential(
            nn.Conv2d(model.encoder.layer3[-1].conv3.out_channels, 2 * width, 1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, joints, 1))
        self.facing_camera = facing_camera
        self.stage3 = None
        model.encoder.layer3.register_forward_hook(lambda _m, _i, out: setattr(self, "stage3", out))

    def loss(self, kp, rotmats):
        if self.facing_camera:
            kp = named_as_facing_camera(kp, rotmats)
        return joint_maps_kl(self.conv(self.stage3), kp)


def branch_from_maps(maps: dict) -> dict:
    """A JointMaps head's weights (its state dict) as the encoder's keypoint branch
    (imphmr_ref/model.py KeypointBranch, no batch norms): each batch norm's eval-mode
    affine map folded into the convolution before it, so the branch answers as the head
    did in eval mode."""
    out = {}
    for name, conv, bn in (("reduce", 0, 1), ("up1", 3, 4), ("up2", 6, 7)):
        a, c = batch_norm_affine(*(maps[f"conv.{bn}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")))
        w = maps[f"conv.{conv}.weight"]  # a transposed convolution's output channels are its dim 1
        w = w * (a[:, None, None, None] if name == "reduce" else a[None, :, None, None])
        out[f"encoder.keypoints.{name}.weight"] = w
        out[f"encoder.keypoints.{name}.bias"] = a * maps[f"conv.{conv}.bias"] + c
    out["encoder.keypoints.maps.weight"], out["encoder.keypoints.maps.bias"] = maps["conv.9.weight"], maps["conv.9.bias"]
    return out


def named_as_facing_camera(kp, rotmats):
    """kp (B, J, 3) with left and right traded for the bodies turned away from the camera
    (rotmats' root: geometry.facing_camera's cosine, −R[2, 2], below 0)."""
    away = rotmats[:, 0, 2, 2] > 0
    return torch.where(away[:, None, None], kp[:, geometry.MIRROR_JOINTS], kp)


def joint_map_targets(kp, h: int, w: int):
    """kp (B, J, 3) in the crop's [−1, 1] → (B, J, h·w): a Gaussian one cell wide around
    each joint over the cell centres, summing to 1."""
    ys = (torch.arange(h, device=kp.device) + 0.5) / h * 2 - 1
    xs = (torch.arange(w, device=kp.device) + 0.5) / w * 2 - 1
    d2 = (xs[None, None, None, :] - kp[..., 0, None, None]) ** 2 + (ys[None, None, :, None] - kp[..., 1, None, None]) ** 2
    return F.softmax(-d2.flatten(2) / (2 * (2 / h) ** 2), -1)


def joint_maps_kl(logits, kp):
    """logits (B, J, h, w), kp (B, J, 3: x, y, confidence) → KL divergence of the maps'
    softmax from the targets (0 when right), mean over joints weighted by confidence."""
    target = joint_map_targets(kp, *logits.shape[-2:])
    kl = (target * (torch.log(target + 1e-12) - F.log_softmax(logits.flatten(2), -1))).sum(-1)
    return (kl * kp[..., 2]).mean()


class Trainer(torch.nn.Module):
    """The reference network run on a batch, for any yaw."""

    def __init__(self, model: ImpHMR, joint_maps: bool = False, maps_facing_camera: bool = False):
        super().__init__()
        self.model = model
        aux = joint_maps and model.encoder.keypoints is None  # a keypoint branch is supervised directly
        self.joint_maps = JointMaps(model, facing_camera=maps_facing_camera) if aux else None
        self.cache = {}

    @property
    def device(self):
        return self.model.mean_cam.device

    def view_inputs(self, deg: float):
        key = round(float(deg), 4)
        if key not in self.cache:
            inputs = geometry.field_inputs(self.model.cfg.field, float(deg))
            self.cache[key] = {k: v.to(self.device) for k, v in inputs.items()}
        return self.cache[key]

    def render(self, z, deg: float):
        f = self.model.cfg.field
        inp = self.view_inputs(deg)
        sigma, feat = self.model.field(inp["points_enc"], inp["dirs_enc"], z[:, None, :])
        sigma = sigma[..., 0] * inp["inside"]                      # (B, H*W*S)
        s = f.samples
        sigma = sigma.reshape(z.shape[0], -1, s)
        feat = feat.reshape(z.shape[0], sigma.shape[1], s, -1)
        alpha = 1 - torch.exp(-sigma * inp["deltas"])
        trans = torch.cumprod(torch.cat([torch.ones_like(alpha[..., :1]), 1 - alpha[..., :-1]], -1), -1)
        w = alpha * trans
        fmap = (w[..., None] * feat).sum(2).transpose(1, 2).reshape(z.shape[0], -1, f.height, f.width)
        opacity = w.sum(2).reshape(z.shape[0], 1, f.height, f.width)
        return fmap, opacity

    def head(self, z, fmap, opacity):
        m = self.model
        n = z.shape[0]
        pose6d, betas, cam = m.head(fmap, opacity, z, m.mean_pose6d.expand(n, -1),
                                    m.mean_betas.expand(n, -1), m.mean_cam.expand(n, -1))
        return geometry.rot6d_to_rotmat(pose6d).reshape(n, -1, 3, 3), betas, cam


def project_crop(joints, cam, size: int):
    """SPIN's crop camera: t = (tx, ty, 2f/(S·s)), perspective with focal f, into [−1, 1]."""
    s = cam[:, 0].clamp(min=1e-3)
    t = torch.stack([cam[:, 1], cam[:, 2], 2 * SPIN_FOCAL / (size * s)], -1)
    p = joints + t[:, None]
    return p[..., :2] / p[..., 2:].clamp(min=1e-3) * SPIN_FOCAL / (size / 2)


def bring_root(rotmats, from_deg, to_deg):
    """θ regressed for a camera at yaw `from_deg`, expressed for `to_deg`."""
    r = torch.tensor(rot_y(to_deg) @ rot_y(from_deg).T, dtype=rotmats.dtype, device=rotmats.device)
    out = rotmats.clone()
    out[:, 0] = r @ rotmats[:, 0]
    return out


def with_root(rotmats, truth):
    """The predicted joint rotations under the truth's root orientation."""
    return torch.cat([truth[:, :1], rotmats[:, 1:]], 1)


def losses(tr: Trainer, joints_of, batch, args, imag: bool, cons: bool, views: list[float]):
    size = tr.model.cfg.input.size
    z = tr.model.encoder(batch["image"])
    out = {}
    fmap, opac = tr.render(z, 0.0)
    rot0, beta0, cam0 = tr.head(z, fmap, opac)
    j0 = joints_of(rot0, beta0)
    kp = batch["kp2d"]
    out["2d"] = args.l2d * ((project_crop(j0, cam0, size) - kp[..., :2]) ** 2 * kp[..., 2:]).mean()
    gj = batch["joints3d"]
    # The 3D joints are compared with the truth's global orientation (`--joints3d-frame
    # body`, the default): while the network cannot yet tell front from back, a squared
    # error over orientation-dependent positions is least for a body curled up towards its
    # centre, and that hedge is what it learned (PA-MPJPE worse than the mean pose after
    # 600 steps). The orientation is still learned, from θ's root and the 2D keypoints.
    j3 = joints_of(with_root(rot0, batch["rotmats"]), beta0) if args.joints3d_frame == "body" else j0
    out["3d"] = args.l3d * ((j3 - gj[..., :3]) ** 2 * gj[..., 3:]).mean()
    out["pose"] = args.lpose * ((rot0 - batch["rotmats"]) ** 2).mean()
    out["shape"] = args.lshape * ((beta0 - batch["betas"]) ** 2).mean()
    if tr.model.encoder.keypoints is not None:  # the encoder's own branch: its positions are in z
        named = named_as_facing_camera(kp, batch["rotmats"])
        out["2d_maps"] = args.l2d_maps * joint_maps_kl(tr.model.encoder.keypoint_logits, named)
    elif tr.joint_maps is not None:
        out["2d_maps"] = args.l2d_maps * tr.joint_maps.loss(kp, batch["rotmats"])
    preds = [(0.0, rot0, beta0)]
    if (imag or cons) and views:
        chosen = random.sample(views, min(args.imag_views, len(views)))
        for deg in chosen:
            if deg == 0:  # the canonical view: only its silhouette is new, the rest is L_reg
                f, a = fmap, opac
            else:
                f, a = tr.render(z, deg)
                r, b, _ = tr.head(z, f, a)
                preds.append((deg, r, b))
            if imag and "view_deg" in batch:
                k = [float(v) for v in batch["view_deg"][0]].index(deg)
                gr = batch["view_rotmats"][:, k]
                silh = F.adaptive_avg_pool2d(batch["view_silh"][:, k:k + 1], a.shape[-2:])
                out["imag_silh"] = out.get("imag_silh", 0) + args.lsilh * ((a - silh) ** 2).mean() / len(chosen)
                if deg == 0:
                    continue
                rj = with_root(r, gr) if args.joints3d_frame == "body" else r
                out["imag_3d"] = out.get("imag_3d", 0) + args.l3d * ((joints_of(rj, b) - joints_of(gr, batch["betas"])) ** 2).mean() / len(chosen)
                out["imag_pose"] = out.get("imag_pose", 0) + args.lpose * ((r - gr) ** 2).mean() / len(chosen)
                out["imag_shape"] = out.get("imag_shape", 0) + args.lshape * ((b - batch["betas"]) ** 2).mean() / len(chosen)
    if cons and len(preds) > 1:
        pairs = [(p, q) for i, p in enumerate(preds) for q in preds[i + 1:]]
        for (d1, r1, b1), (d2, r2, b2) in pairs:
            out["cons_pose"] = out.get("cons_pose", 0) + args.lpose * ((bring_root(r1, d1, d2) - r2) ** 2).mean() / len(pairs)
            out["cons_shape"] = out.get("cons_shape", 0) + args.lshape * ((b1 - b2) ** 2).mean() / len(pairs)
    return out, (rot0, beta0)


# ---------------------------------------------------------------------- evaluation


def procrustes(pred, gt):
    """Similarity Procrustes of pred onto gt, (N, J, 3) each."""
    mp, mg = pred.mean(1, keepdims=True), gt.mean(1, keepdims=True)
    p, g = pred - mp, gt - mg
    u, s, vt = np.linalg.svd(np.einsum("nji,njk->nik", p, g))
    d = np.sign(np.linalg.det(np.einsum("nij,njk->nik", u, vt)))
    e = np.ones_like(s)
    e[:, -1] = d
    r = np.einsum("nij,nj,njk->nik", u, e, vt)
    scale = (s * e).sum(1) / (p**2).sum((1, 2))
    return scale[:, None, None] * np.einsum("nji,nik->njk", p, r) + mg


@torch.no_grad()
def evaluate(tr: Trainer, joints_of, data, batch_size: int) -> dict:
    tr.eval()
    errs, pa, rot_pred, rot_true = [], [], [], []
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, collate_fn=collate)
    for batch in loader:
        batch = to_device(batch, tr.device)
        z = tr.model.encoder(batch["image"])
        rot, beta, _ = tr.head(z, *tr.render(z, 0.0))
        pj = joints_of(rot, beta).cpu().numpy()
        gj = joints_of(batch["rotmats"], batch["betas"]).cpu().numpy()
        errs.append(np.linalg.norm(pj - gj, axis=-1).mean(1))
        pa.append(np.linalg.norm(procrustes(pj, gj) - gj, axis=-1).mean(1))
        rot_pred.append(rot.cpu().numpy())
        rot_true.append(batch["rotmats"].cpu().numpy())
    tr.train()
    return {"mpjpe_mm": float(np.concatenate(errs).mean() * 1e3),
            "pa_mpjpe_mm": float(np.concatenate(pa).mean() * 1e3),
            **mirror_r2(np.concatenate(rot_pred), np.concatenate(rot_true))}


# Left/right pairs whose difference carries most of a pose (hips, knees, shoulders, elbows).
MIRROR_PAIRS = [(1, 2), (4, 5), (16, 17), (18, 19)]


def mirror_r2(rot_pred: np.ndarray, rot_true: np.ndarray) -> dict:
    """R² of the limbs' mirror-symmetric and mirror-antisymmetric parts. Mirroring a pose
    maps the left joint's rotation vector (x, y, z) onto the right's as (x, −y, −z); the
    antisymmetric part (left − mirrored right) is what tells a pose from its mirror image
    (which leg is forward, which arm is raised). `sym_r2` near 1 with `anti_r2` near 0 is a
    network that sees how the limbs bend but not which side is which."""
    pred, true = axis_angle(rot_pred.astype(np.float64)), axis_angle(rot_true.astype(np.float64))
    sign = np.array([1.0, -1.0, -1.0])
    out = {}
    for name, s in (("sym_r2", 1.0), ("anti_r2", -1.0)):
        p = np.stack([pred[:, a] + s * sign * pred[:, b] for a, b in MIRROR_PAIRS], 1)
        t = np.stack([true[:, a] + s * sign * true[:, b] for a, b in MIRROR_PAIRS], 1)
        out[name] = float(1 - ((p - t) ** 2).sum() / ((t - t.mean(0)) ** 2).sum())
    return out


def training_sample(data, n: int):
    """n images spread over the first training folder, unaugmented. Its error beside the
    held-out one tells under- from over-fitting: the bundled run measured 118.6 against
    121.1 mm PA-MPJPE, so it underfits and more of the same images would not help."""
    if not isinstance(data, SynthData):  # npz truth is SMPL's, not the body model's
        return None
    data = copy.copy(data)
    data.augment = False
    return torch.utils.data.Subset(data, range(0, len(data), max(1, len(data) // n))[:n])


# ------------------------------------------------------------------------- main


def mean_params_from_data(data: SynthData, limit: int = 2000) -> dict:
    """The regressor's starting point: per joint the rotation nearest the mean of the
    training θ (root: upright facing the camera), β = 0, the camera at the median scale of
    the training crops, centred."""
    rs, scales = [], []
    for f in data.files[:limit]:
        lab = json.loads(f.read_text())
        rs.append(rodrigues(np.asarray(lab["theta"])))
        scales.append(weak_perspective_scale(lab))
    m = np.mean(rs, 0)
    u, _, vt = np.linalg.svd(m)
    mean = u @ vt
    mean[0] = np.diag([1.0, -1.0, -1.0])
    pose6d = mean[:, :, :2].reshape(-1)  # SPIN's 6D: the first two columns, row-major (3×2)
    return {"pose6d": pose6d.tolist(), "betas": [0.0] * 10, "cam": [float(np.median(scales)), 0.0, 0.0]}


def weak_perspective_scale(lab: dict) -> float:
    """The s of SPIN's camera that best maps the label's root-aligned joints onto its 2D
    keypoints in the crop's [−1, 1] (least squares): the framing the crops teach, which
    `--track` keeps (src/crop/track.rs reads it from the mean parameters)."""
    x, y, w, h = lab["box"]
    kp = (np.asarray(lab["joints2d"]) - [x, y]) / [w, h] * 2 - 1
    j = np.asarray(lab["joints3d"])[:, :2]
    a, b = j - j.mean(0), kp - kp.mean(0)
    return float((a * b).sum() / (a * a).sum())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, nargs="*", default=[], help="tools/synth.py folders")
    ap.add_argument("--npz", type=Path, nargs="*", default=[], help="SPIN-style .npz datasets")
    ap.add_argument("--npz-images", type=Path, default=Path("."), help="folder the npz imgname is relative to")
    ap.add_argument("--eval-data", type=Path, default=HERE.parent / "models/heldout")
    ap.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, log.jsonl)")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="small")
    ap.add_argument("--input-size", type=int, default=0,
                    help="crop side in pixels (0: the preset's, 224); the manifest carries it")
    ap.add_argument("--latent-dim", type=int, default=0,
                    help="width of z before the keypoints' positions (0: the preset's, or --init-from's)")
    ap.add_argument("--keypoints", type=int, default=None,
                    help="joints located by a keypoint branch in the encoder (imphmr_ref/model.py KeypointBranch: "
                         "32×32 maps at 128 px, trained by --l2d-maps, named as if facing the camera), their "
                         "positions appended to z (2 numbers each; the manifest's latent_dim counts them); "
                         "0: none; default: the --init-from checkpoint's, else 0")
    ap.add_argument("--head-hidden", type=int, default=0, help="width of the regressor's layers (0: the preset's)")
    ap.add_argument("--facing-gate", type=float, default=None,
                    help="sharpness of the head's mirror gate (imphmr_ref/model.py Head; 0: none); "
                         "default: the --init-from checkpoint's, else 0")
    ap.add_argument("--spatial-readout", action="store_true",
                    help="the encoder's spatial read-out (arch resnet-bottleneck-spatial, imphmr_ref/model.py "
                         "Encoder) instead of average pool + fc; with --init-from, made to answer as the pooled one did")
    ap.add_argument("--init-from", type=Path,
                    help="start from this checkpoint's weights, or a bundle's (a folder such as models/trained: "
                         "training goes on from what is committed when the run's checkpoints are gone; the "
                         "optimiser starts afresh), widened where --latent-dim / --head-hidden are larger (new "
                         "inputs weighted 0: the network's answers are unchanged at step 0)")
    ap.add_argument("--name", default="", help="bundle name for the manifest (default: the preset's, or --init-from's, + -anny)")
    ap.add_argument("--body-model", type=Path, default=HERE.parent / "models/body/anny.body")
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=0, help="steps over which the step size rises linearly to --lr")
    ap.add_argument("--views", default="90,180,270", help="p_cam: yaws (degrees) drawn uniformly; the data must have them (0: the image's own "
                         "silhouette, from its mask; at 0 only L_imag's silhouette term is added)")
    ap.add_argument("--imag-views", type=int, default=2, help="yaws from p_cam rendered per step")
    ap.add_argument("--l2d", type=float, default=5.0, help="λ2d (SPIN's keypoint weight)")
    ap.add_argument("--l3d", type=float, default=5.0, help="λ3d")
    ap.add_argument("--lpose", type=float, default=1.0, help="λpose")
    ap.add_argument("--lshape", type=float, default=0.001, help="λshape (SPIN's)")
    ap.add_argument("--lsilh", type=float, default=1.0, help="λsilh")
    ap.add_argument("--l2d-maps", type=float, default=None,
                    help="weight of the per-joint 2D maps' loss on the encoder's third stage: the keypoint "
                         "branch's (default 0.2 for a network with one), else an auxiliary head, training only "
                         "(JointMaps; default 0: none, the paper's objective)")
    ap.add_argument("--maps-facing-camera", action="store_true",
                    help="the joint maps name left and right as if the body faced the camera (the --facing-gate "
                         "convention): a body turned away has its left and right targets swapped")
    ap.add_argument("--flip", type=float, default=0.0,
                    help="chance that a synthetic sample is seen in a mirror (image and labels; SPIN flips half)")
    ap.add_argument("--box-jitter", type=float, default=0.15,
                    help="random shift (each axis) and size change of the person box, as a fraction of its side")
    ap.add_argument("--mean-cam-scale", type=float, default=0,
                    help="the regressor's starting camera scale (0: the median of the training crops'; "
                         "on --resume, replaces the checkpoint's)")
    ap.add_argument("--head-dropout", type=float, default=0.5, help="dropout in the regressor (SPIN's 0.5)")
    ap.add_argument("--joints3d-frame", choices=["body", "camera"], default="body",
                    help="3D joint terms under the truth's root orientation (body) or the predicted one (camera, SPIN's)")
    ap.add_argument("--no-imag", action="store_true", help="drop L_imag (ablation)")
    ap.add_argument("--no-cons", action="store_true", help="drop L_cons (ablation)")
    ap.add_argument("--clip-grad", type=float, default=5.0, help="gradient norm limit")
    ap.add_argument("--skip-factor", type=float, default=20.0,
                    help="skip a step whose loss exceeds this many times the median of the last 200")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="auto", help="auto (cuda when there is one, else cpu), cpu, cuda, cuda:N")
    ap.add_argument("--log-every", type=int, default=20)
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--checkpoint-every", type=int, default=250)
    ap.add_argument("--keep-every", type=int, default=0,
                    help="also keep OUT/step-NNNNNN.pt (weights only, no optimiser) every N steps: "
                         "runs compared at the same step (the ablation of docs/ACCURACY.md)")
    ap.add_argument("--max-minutes", type=float, default=0, help="stop (with a checkpoint) after this wall time")
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()
    if args.steps < 1 or args.batch < 1 or not args.lr > 0:
        ap.error("--steps, --batch and --lr must be positive")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else "cpu" if args.device == "auto" else args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error(f"--device {args.device}: this PyTorch sees no CUDA device")
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    views = [float(v) for v in args.views.split(",") if v.strip()]

    ckpt_path = args.out / "last.pt"
    state = torch.load(ckpt_path, map_location="cpu", weights_only=False) if args.resume and ckpt_path.exists() else None
    if args.resume and state is None:
        print(f"note: {ckpt_path} not found, starting afresh", file=sys.stderr)
    cfg = PRESETS[args.preset]()
    if args.input_size:
        if not 64 <= args.input_size <= 1024 or args.input_size % 32:
            ap.error("--input-size must be a multiple of 32 in 64…1024")
        cfg.input.size = args.input_size
    init = None
    # The checkpoint's architecture, less what the flags widen; a run already begun
    # (--resume) goes on from its own last.pt, so the weights are not read for nothing.
    if args.init_from and not state:
        if args.init_from.is_dir():  # a bundle: its weights are in git, a checkpoint is not
            if not (args.init_from / "imphmr.toml").is_file():
                ap.error(f"--init-from {args.init_from}: a folder, but not a bundle (no imphmr.toml)")
            bundled, bundled_mean = load_bundle(args.init_from)
            init = {"config": bundled.cfg.to_dict(), "model": bundled.state_dict(), "mean_params": bundled_mean,
                    "step": None}
        elif not args.init_from.is_file():
            ap.error(f"--init-from {args.init_from}: no such checkpoint or bundle")
        else:
            init = torch.load(args.init_from, map_location="cpu", weights_only=False)
        cfg = Config.from_dict(init["config"])
    for flag, value in (("--latent-dim", args.latent_dim), ("--head-hidden", args.head_hidden)):
        if value and not 8 <= value <= 4096:
            ap.error(f"{flag} {value}: expected 8…4096")
    if args.keypoints is not None and not 0 <= args.keypoints <= 64:
        ap.error(f"--keypoints {args.keypoints}: expected 0…64 joints")
    if args.facing_gate is not None and not 0 <= args.facing_gate <= 50:
        ap.error(f"--facing-gate {args.facing_gate}: expected 0…50")
    if state:  # a run already begun keeps its architecture, crop and name, whatever the flags
        cfg = Config.from_dict(state["config"])
        if with_architecture_flags(copy.deepcopy(cfg), args) != cfg:
            print("note: resuming with the checkpoint's architecture; flags that would change it are ignored",
                  file=sys.stderr)
    else:
        cfg = with_architecture_flags(cfg, args)
    if not 0 <= args.flip <= 1:
        ap.error(f"--flip {args.flip}: expected a chance in 0…1")
    if args.l2d_maps is None:
        args.l2d_maps = 0.2 if cfg.encoder.keypoints else 0.0
    if cfg.encoder.keypoints and not args.l2d_maps > 0:
        ap.error(f"--l2d-maps {args.l2d_maps:g}: the encoder's keypoint branch ({cfg.encoder.keypoints} joints) is "
                 "trained by its maps' loss, which must be positive (0.2 was measured)")
    if args.maps_facing_camera and not args.l2d_maps:
        ap.error("--maps-facing-camera names the joint maps' targets: give --l2d-maps too")
    sets = [SynthData(d, cfg, augment=True, jitter=args.box_jitter, view0=0.0 in views, flip=args.flip)
            for d in args.data]
    sets += [SpinNpzData(n, args.npz_images, cfg, augment=True) for n in args.npz]
    if not sets:
        ap.error("give --data and/or --npz")
    train = torch.utils.data.ConcatDataset(sets)
    args.out.mkdir(parents=True, exist_ok=True)
    mean = state["mean_params"] if state else init["mean_params"] if init else (
        mean_params_from_data(sets[0]) if isinstance(sets[0], SynthData) else
        __import__("imphmr_ref.weights", fromlist=["x"]).default_mean_params(cfg))
    if args.mean_cam_scale:
        mean = dict(mean, cam=[args.mean_cam_scale, 0.0, 0.0])
    model = ImpHMR(cfg, mean)
    # SPIN's start: the regressor's decoders nearly zero, so the first answers are the mean.
    for layer in (model.head.decpose, model.head.decshape, model.head.deccam):
        torch.nn.init.xavier_uniform_(layer.weight, gain=0.01)
    model.head.drop1.p = model.head.drop2.p = args.head_dropout
    if init:
        widen_into(model, init["model"], Config.from_dict(init["config"]))
        if cfg.encoder.keypoints and not init["config"]["encoder"].get("keypoints") and "joint_maps" in init:
            try:  # a run trained with --l2d-maps: its maps' head becomes the branch
                model.load_state_dict(branch_from_maps(init["joint_maps"]["weights"]), strict=False)
                print(f"the keypoint branch starts from {args.init_from}'s joint maps (batch norms folded)",
                      file=sys.stderr)
            except (KeyError, RuntimeError):
                print(f"note: {args.init_from}'s joint maps are of an older head: the keypoint branch starts afresh",
                      file=sys.stderr)
        if init["step"] is None:  # a bundle's batch norms, unfolded as the identity, get real statistics
            remeasure_batch_norms(model, torch.stack([train[i]["image"] for i in range(min(64, len(train)))]))
        print(f"initialised from {args.init_from} ("
              + ("a bundle" if init["step"] is None else f"step {init['step']}")
              + f"), z {init['config']['encoder']['latent_dim']}"
              f"→{cfg.encoder.latent_dim}, regressor {init['config']['head']['hidden']}→{cfg.head.hidden}",
              file=sys.stderr)
    tr = Trainer(model, joint_maps=args.l2d_maps > 0, maps_facing_camera=args.maps_facing_camera)
    # Where the weights began, for the manifest: kept by a resumed run, whose flags may omit it.
    started_from = str(args.init_from) if args.init_from else state.get("started_from") if state else None
    joints_of = TorchJoints(args.body_model)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    step = 0
    if state:
        if args.mean_cam_scale:
            state["model"]["mean_cam"] = torch.tensor([mean["cam"]])
        model.load_state_dict(state["model"])
        step = state["step"]
        print(f"resumed {ckpt_path} at step {step}", file=sys.stderr)
    # The maps' own optimiser, so a checkpoint without them resumes with them and back.
    aux_opt = torch.optim.Adam(tr.joint_maps.parameters(), lr=args.lr) if tr.joint_maps else None
    maps_state = state.get("joint_maps") if aux_opt and state else None
    if maps_state:
        try:
            tr.joint_maps.load_state_dict(maps_state["weights"])
        except RuntimeError:  # the 1×1 head of the earlier sessions
            print(f"note: {ckpt_path}'s joint maps are of an older head: they start afresh", file=sys.stderr)
            maps_state = None
    tr.to(device)
    joints_of.to(device)
    if maps_state:
        aux_opt.load_state_dict(maps_state["optimizer"])
    if state:  # after the move, so the optimiser's moments land on the device too
        opt.load_state_dict(state["optimizer"])
        for group in opt.param_groups:  # --lr applies to a resumed run too
            group["lr"] = args.lr
    print(f"training on {device}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
          + f", {sets[0].cfg.input.size}-pixel crops",  # the data's, which must be the model's
          file=sys.stderr)
    eval_set = SynthData(args.eval_data, cfg, augment=False) if args.eval_data and args.eval_data.exists() else None
    fit_set = training_sample(sets[0], len(eval_set)) if eval_set is not None else None

    def save(path=ckpt_path, weights_only=False):
        tmp = path.with_suffix(".tmp")
        cpu = {k: v.detach().cpu() for k, v in model.state_dict().items()}  # loads anywhere
        torch.save({"model": cpu, **({} if weights_only else {"optimizer": opt.state_dict()}), "step": step,
                    "mean_params": mean, "preset": args.preset, "config": cfg.to_dict(), "args": plain(vars(args)),
                    "trained_on": describe(args, cfg, sum(len(d) for d in sets), started_from),
                    "started_from": started_from,
                    "best_pa_mpjpe_mm": best,
                    **({"joint_maps": {"weights": tr.joint_maps.state_dict(), "optimizer": aux_opt.state_dict()}}
                       if aux_opt and not weights_only else {})}, tmp)
        tmp.replace(path)

    def make_loader():
        # Each epoch sees the synthetic folders as they are now, so training can start while
        # tools/synth.py is still writing them.
        for d in sets:
            if isinstance(d, SynthData):
                d.rescan()
        data = torch.utils.data.ConcatDataset(sets)
        return torch.utils.data.DataLoader(data, batch_size=args.batch, shuffle=True, drop_last=len(data) >= args.batch,
                                           num_workers=args.workers, collate_fn=collate)
    log = open(args.out / "log.jsonl", "a")
    recent, skipped = [], 0
    best = state.get("best_pa_mpjpe_mm", float("inf")) if state else float("inf")
    t0, seen, last = time.time(), 0, time.time()
    model.train()
    done = False
    while not done:
        loader = make_loader()
        for batch in loader:
            batch = to_device(batch, device)
            terms, _ = losses(tr, joints_of, batch, args, imag=not args.no_imag, cons=not args.no_cons, views=views)
            total = sum(terms.values())
            if not torch.isfinite(total):
                raise SystemExit(f"step {step}: loss is not finite ({ {k: float(v) for k, v in terms.items()} })")
            # A step whose loss jumps far above the recent ones is skipped, and gradients
            # are clipped: one diverged at step ~9800 (β grew, the body's depth crossed the
            # camera, the 2D term reached 1e11) and took the run with it.
            value = float(total.detach())
            recent.append(value)
            typical = float(np.median(recent[-200:]))
            if len(recent) > 50 and value > args.skip_factor * typical:
                skipped += 1
                print(f"step {step}: loss {value:.3g} > {args.skip_factor:g}× the recent median "
                      f"{typical:.3g}, skipped ({skipped} so far)", file=sys.stderr, flush=True)
                continue
            if args.warmup and step < args.warmup:
                for group in opt.param_groups:
                    group["lr"] = args.lr * (step + 1) / args.warmup
            opt.zero_grad()
            if aux_opt:
                aux_opt.zero_grad()
            total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad)
            opt.step()
            if aux_opt:
                aux_opt.step()
            step += 1
            seen += batch["image"].shape[0]
            if step % args.log_every == 0:
                rate = seen / (time.time() - t0)
                parts = {k: float(v.detach()) for k, v in terms.items()}
                log.write(json.dumps({"step": step, "loss": value, **parts, "samples_per_s": round(rate, 2)}) + "\n")
                log.flush()
                print(f"step {step} loss {value:.4f} " + " ".join(f"{k} {v:.4f}" for k, v in parts.items())
                      + f" | {rate:.1f} samples/s", file=sys.stderr, flush=True)
            if step % args.checkpoint_every == 0:
                save()
            if args.keep_every and step % args.keep_every == 0:
                save(args.out / f"step-{step:06d}.pt", weights_only=True)
            if eval_set is not None and step % args.eval_every == 0:
                ev = evaluate(tr, joints_of, eval_set, args.batch)
                fit = evaluate(tr, joints_of, fit_set, args.batch) if fit_set is not None else None
                log.write(json.dumps({"step": step, "eval": ev} | ({"train_fit": fit} if fit else {})) + "\n")
                log.flush()
                print(f"step {step} held-out: MPJPE {ev['mpjpe_mm']:.1f} mm, PA-MPJPE {ev['pa_mpjpe_mm']:.1f} mm, "
                      f"limbs' R² symmetric {ev['sym_r2']:.2f} antisymmetric {ev['anti_r2']:.2f}"
                      + (f" | {len(fit_set)} training images: {fit['mpjpe_mm']:.1f}, {fit['pa_mpjpe_mm']:.1f}"
                         if fit else ""), file=sys.stderr, flush=True)
                if ev["pa_mpjpe_mm"] < best:  # OUT/best.pt: the best held-out PA-MPJPE so far
                    best = ev["pa_mpjpe_mm"]
                    save()
                    shutil.copyfile(ckpt_path, args.out / "best.pt")
            over_time = args.max_minutes and (time.time() - last) / 60 > args.max_minutes
            if step >= args.steps or over_time:
                done = True
                break
    save()
    print(f"saved {ckpt_path} at step {step} ({seen / (time.time() - t0):.1f} samples/s)", file=sys.stderr)
    return 0


def plain(args: dict) -> dict:
    """The flags with paths as strings: a checkpoint that torch.load's safe mode opens."""
    def one(v):
        return [one(x) for x in v] if isinstance(v, list) else str(v) if isinstance(v, Path) else v
    return {k: one(v) for k, v in args.items()}


def widen_into(model: ImpHMR, old: dict, old_cfg: Config):
    """Load `old` weights into `model`, whose z and regressor may be wider (net2net-style):
    each old matrix fills the top-left of the new one, the new rows keep their fresh
    initialisation and the new columns are 0, so nothing reads the new units yet and the
    answers are those of `old`; the gradient then puts the new width to use. The head's fc1
    reads [conv features, z, pose, β, cam]: its old columns move with the widened z. Into a
    network with the spatial read-out, a pooled encoder's fc goes as spatial_from_pooled."""
    new = model.state_dict()
    z_old, z_new, conv = old_cfg.encoder.latent_dim, model.cfg.encoder.latent_dim, model.cfg.head.conv_channels
    if old_cfg.encoder.arch == "resnet-bottleneck" and model.cfg.encoder.arch == "resnet-bottleneck-spatial":
        if z_new != z_old:
            raise SystemExit("--init-from: --spatial-readout keeps z as it is (widen first, then read out spatially)")
        pooled = {k: old[k] for k in ("encoder.fc.weight", "encoder.fc.bias")}
        old = {k: v for k, v in old.items() if not k.startswith("encoder.fc.")}
        old.update(spatial_from_pooled(pooled["encoder.fc.weight"], pooled["encoder.fc.bias"], last_map_side(model.cfg)))
        old_cfg = copy.deepcopy(old_cfg)
        old_cfg.encoder.arch = model.cfg.encoder.arch
    if z_new < z_old or model.cfg.head.hidden < old_cfg.head.hidden:
        raise SystemExit(f"--init-from: z {z_old} and regressor {old_cfg.head.hidden} cannot grow into "
                         f"{z_new} and {model.cfg.head.hidden} (widening only)")
    same = copy.deepcopy(old_cfg)
    same.encoder.latent_dim, same.head.hidden, same.name = z_new, model.cfg.head.hidden, model.cfg.name
    same.head.facing_gate = model.cfg.head.facing_gate  # a gate has no weights: any checkpoint takes one
    same.input = model.cfg.input
    branch = {k for k in new if k.startswith("encoder.keypoints.")}
    if model.cfg.encoder.keypoints and not old_cfg.encoder.keypoints:
        # A new keypoint branch starts fresh; its positions enter z after the old z, read with weight 0.
        same.encoder.keypoints = model.cfg.encoder.keypoints
        old = {**old, **{k: new[k] for k in branch}}
    if same != model.cfg or set(old) != set(new):
        raise SystemExit("--init-from: the checkpoint's network differs from this one beyond z and the regressor width")
    for key, w_old in old.items():
        w = new[key]
        if key == "head.fc1.weight":  # columns: conv | z | the rest; z grows in the middle
            cols = torch.zeros(w_old.shape[0], w.shape[1])
            cols[:, :conv + z_old] = w_old[:, :conv + z_old]
            cols[:, conv + z_new:] = w_old[:, conv + z_old:]
            w_old = cols
        if w.shape == w_old.shape:
            new[key] = w_old.clone()
            continue
        if w.dim() != w_old.dim() or any(a < b for a, b in zip(w.shape, w_old.shape)):
            raise SystemExit(f"--init-from: {key} {tuple(w_old.shape)} cannot grow into {tuple(w.shape)}")
        grown = w.clone()
        if w.dim() == 2:
            grown[:, w_old.shape[1]:] = 0
        grown[tuple(slice(0, n) for n in w_old.shape)] = w_old
        new[key] = grown
    model.load_state_dict(new)


def with_architecture_flags(cfg: Config, args) -> Config:
    """`cfg` changed by the flags that shape the network (widths, read-out, gate) and name it."""
    pooled = args.latent_dim or cfg.encoder.latent_dim - 2 * cfg.encoder.keypoints
    if args.keypoints is not None:
        cfg.encoder.keypoints = args.keypoints
    cfg.encoder.latent_dim = pooled + 2 * cfg.encoder.keypoints
    cfg.head.hidden = args.head_hidden or cfg.head.hidden
    if args.spatial_readout:
        cfg.encoder.arch = "resnet-bottleneck-spatial"
    if args.facing_gate is not None:
        cfg.head.facing_gate = args.facing_gate
    cfg.name = args.name or (cfg.name if cfg.name.endswith("-anny") else f"{cfg.name}-anny")
    return cfg


def describe(args, cfg: Config, n: int, started_from) -> str:
    losses_used = "L_reg" + ("" if args.no_imag else " + L_imag") + ("" if args.no_cons else " + L_cons")
    branch = cfg.encoder.keypoints > 0
    losses_used += f" + {'keypoint branch' if branch else 'joint'} maps λ {args.l2d_maps:g}" if args.l2d_maps else ""
    losses_used += " (named as facing the camera)" if args.maps_facing_camera or branch else ""
    losses_used += f", flip {args.flip:g}" if args.flip else ""
    data = ", ".join(str(d) for d in list(args.data) + list(args.npz))
    return (f"trained by tools/train.py ({losses_used}, p_cam {args.views}) on {n} images: {data}; "
            f"body model {Path(args.body_model).name}" + (f"; started from {started_from}" if started_from else ""))


if __name__ == "__main__":
    sys.exit(main())
