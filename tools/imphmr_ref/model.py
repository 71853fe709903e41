"""ImpHMR at inference, readable in one sitting.

    image ─► Encoder (ResNet, bottleneck blocks) ─► z  (+ 2D joints, if it has a keypoint branch)
    z, φ  ─► FeatureField at every ray sample ─► (σ, f) ─► volume rendering ─► F, A
    F, A, z ─► Head (small CNN + SPIN's iterative regressor) ─► 6D pose, β, camera

The three networks are exported as encoder.onnx, field.onnx and head.onnx; the steps
between them (rays, encoding, rendering, rotations) live in geometry.py here and in
Rust in the engine. State-dict keys follow torchvision (encoder), GIRAFFE (field) and
SPIN (regressor): see tools/KEYS.md.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import geometry
from .config import ENCODER_ARCHS, Config


# --------------------------------------------------------------------------- encoder


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_ch: int, width: int, stride: int):
        super().__init__()
        out_ch = width * self.expansion
        self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_ch)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + identity)


class Encoder(nn.Module):
    """ResNet (torchvision layout) → global average pool → fc → latent z; or, for arch
    `resnet-bottleneck-spatial`, → 1×1 conv `reduce` (to Z) → conv `spatial` whose kernel
    covers the whole last map → z. The average pool keeps what is in the image, not where:
    which side of the body a raised arm is on must then be built from features that see
    both (docs/ACCURACY.md); the spatial read-out gets it from where a feature fires."""

    def __init__(self, cfg: Config):
        super().__init__()
        e = cfg.encoder
        self.conv1 = nn.Conv2d(3, e.width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(e.width)
        in_ch = e.width
        for stage, n_blocks in enumerate(e.blocks):
            width = e.width * 2**stage
            blocks = []
            for b in range(n_blocks):
                stride = 2 if (stage > 0 and b == 0) else 1
                blocks.append(Bottleneck(in_ch, width, stride))
                in_ch = width * Bottleneck.expansion
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        if e.arch not in ENCODER_ARCHS:
            raise ValueError(f"encoder.arch {e.arch!r}: expected one of {', '.join(ENCODER_ARCHS)}")
        if not 0 <= 2 * e.keypoints < e.latent_dim or (e.keypoints and e.arch != "resnet-bottleneck"):
            raise ValueError(f"encoder.keypoints {e.keypoints}: 2·keypoints must be under latent_dim "
                             f"{e.latent_dim}, with arch resnet-bottleneck")
        self.spatial_readout = e.arch == "resnet-bottleneck-spatial"
        if self.spatial_readout:
            side = last_map_side(cfg)
            self.reduce = nn.Conv2d(in_ch, e.latent_dim, 1, bias=False)
            self.spatial = nn.Conv2d(e.latent_dim, e.latent_dim, side)
        else:
            self.fc = nn.Linear(in_ch, e.latent_dim - 2 * e.keypoints)
        # The keypoint branch reads the third stage (stride 16), as simple-baseline pose
        # networks read theirs; its positions are z's last 2·keypoints numbers.
        self.keypoints = KeypointBranch(self.layer3[-1].conv3.out_channels, e.keypoints) if e.keypoints else None
        self.keypoint_logits = None  # the branch's last maps, for the training loss

    def forward(self, image):
        x = F.relu(self.bn1(self.conv1(image)))
        x = F.max_pool2d(x, 3, stride=2, padding=1)
        stage3 = self.layer3(self.layer2(self.layer1(x)))
        x = self.layer4(stage3)
        if self.spatial_readout:
            return self.spatial(self.reduce(x)).flatten(1)
        z = self.fc(x.mean(dim=(2, 3)))
        if self.keypoints is None:
            return z
        self.keypoint_logits = self.keypoints(stage3)
        return torch.cat([z, soft_argmax(self.keypoint_logits)], dim=1)


class KeypointBranch(nn.Module):
    """One map per joint at 4× the third stage's resolution (32×32 at 128 pixels): 1×1
    conv, two 4×4 stride-2 transposed convolutions, 1×1 conv (simple baselines' head,
    without batch norms, so the bundle holds plain Conv and ConvTranspose nodes). Names
    are as if the body faced the camera (train.py `named_as_facing_camera`): the image
    side names every joint, which the encoder learns in every view (docs/ACCURACY.md)."""

    def __init__(self, in_ch: int, joints: int, width: int = 64):
        super().__init__()
        self.reduce = nn.Conv2d(in_ch, 2 * width, 1)
        self.up1 = nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1)
        self.up2 = nn.ConvTranspose2d(width, width, 4, stride=2, padding=1)
        self.maps = nn.Conv2d(width, joints, 1)

    def forward(self, stage3):
        x = F.relu(self.up2(F.relu(self.up1(F.relu(self.reduce(stage3))))))
        return self.maps(x)


def soft_argmax(logits):
    """logits (B, J, h, w) → (B, 2J): each map's expected cell centre, (x, y) per joint in
    the crop's [−1, 1] (the 2D keypoints' frame)."""
    b, j, h, w = logits.shape
    prob = F.softmax(logits.flatten(2), -1).reshape(b, j, h, w)
    xs = (torch.arange(w, dtype=logits.dtype, device=logits.device) + 0.5) / w * 2 - 1
    ys = (torch.arange(h, dtype=logits.dtype, device=logits.device) + 0.5) / h * 2 - 1
    x = (prob.sum(2) * xs).sum(-1)
    y = (prob.sum(3) * ys).sum(-1)
    return torch.stack([x, y], -1).flatten(1)


def last_map_side(cfg: Config) -> int:
    """Side of the encoder's last feature map: the stem and its pool halve twice, every
    stage after the first once more (rounding up, as the 3×3 strided convs do)."""
    side = cfg.input.size
    for _ in range(1 + len(cfg.encoder.blocks)):
        side = (side + 1) // 2
    return side


def spatial_from_pooled(fc_weight: torch.Tensor, fc_bias: torch.Tensor, side: int) -> dict:
    """The spatial read-out's weights that answer exactly as average pool + fc:
    reduce = fc, spatial = identity / side² at every position."""
    z = fc_weight.shape[0]
    eye = torch.eye(z, dtype=fc_weight.dtype)[:, :, None, None].expand(z, z, side, side)
    return {"encoder.reduce.weight": fc_weight[:, :, None, None].clone(),
            "encoder.spatial.weight": eye / side**2, "encoder.spatial.bias": fc_bias.clone()}


# ----------------------------------------------------------------------- feature field


class FeatureField(nn.Module):
    """GIRAFFE's feature-field decoder, conditioned on one latent z.

    h = relu(fc_in(γ(p)) + fc_z(z)); then layers-1 blocks of relu(Linear), with
    fc_z_skip(z) + fc_p_skip(γ(p)) added after block `skip_layer`; σ = softplus(sigma_out(h));
    f = feat_out(relu(feat_view(h) + fc_z_view(z) + fc_view(γ(d)))).
    """

    def __init__(self, cfg: Config):
        super().__init__()
        f = cfg.field
        z, hid = cfg.encoder.latent_dim, f.hidden
        self.skip_layer = f.skip_layer
        self.fc_in = nn.Linear(cfg.point_enc_dim, hid)
        self.fc_z = nn.Linear(z, hid)
        self.blocks = nn.ModuleList([nn.Linear(hid, hid) for _ in range(f.layers - 1)])
        self.fc_z_skip = nn.Linear(z, hid)
        self.fc_p_skip = nn.Linear(cfg.point_enc_dim, hid)
        self.sigma_out = nn.Linear(hid, 1)
        self.feat_view = nn.Linear(hid, hid)
        self.fc_z_view = nn.Linear(z, hid)
        self.fc_view = nn.Linear(cfg.dir_enc_dim, hid)
        self.feat_out = nn.Linear(hid, f.feature_dim)

    def forward(self, points_enc, dirs_enc, z):
        """points_enc (N, 6·Lp), dirs_enc (N, 6·Ld), z (1, Z) → σ (N, 1), f (N, C)."""
        h = F.relu(self.fc_in(points_enc) + self.fc_z(z))
        for i, block in enumerate(self.blocks):
            h = F.relu(block(h))
            if i + 2 == self.skip_layer:  # fc_in is layer 1, blocks[i] is layer i + 2
                h = h + self.fc_z_skip(z) + self.fc_p_skip(points_enc)
        sigma = F.softplus(self.sigma_out(h))
        h = F.relu(self.feat_view(h) + self.fc_z_view(z) + self.fc_view(dirs_enc))
        return sigma, self.feat_out(h)


# ------------------------------------------------------------------------------- head


class Head(nn.Module):
    """F and A → two 3×3 convs → average pool, joined with z; then SPIN's regressor:
    `iterations` refinements of [pose6d, β, camera] starting from the mean parameters.

    With `facing_gate` > 0 the refinements run in a camera-facing convention: an image
    shows which side a raised arm is on, not whether it is the left or the right one; that
    depends on the body facing the camera or not, which the root tells. Without the gate
    the network must learn that product itself, and under yaws drawn over 360° it does not
    (it answers the average of a pose and its mirror image: docs/ACCURACY.md)."""

    def __init__(self, cfg: Config):
        super().__init__()
        h = cfg.head
        ch = h.conv_channels
        self.iterations = h.iterations
        self.facing_gate = h.facing_gate
        self.conv1 = nn.Conv2d(cfg.field.feature_dim + 1, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, stride=2, padding=1)
        n_in = ch + cfg.encoder.latent_dim + cfg.pose_dim + h.betas + 3
        self.fc1 = nn.Linear(n_in, h.hidden)
        self.drop1 = nn.Dropout()
        self.fc2 = nn.Linear(h.hidden, h.hidden)
        self.drop2 = nn.Dropout()
        self.decpose = nn.Linear(h.hidden, cfg.pose_dim)
        self.decshape = nn.Linear(h.hidden, h.betas)
        self.deccam = nn.Linear(h.hidden, 3)

    def forward(self, feature_map, opacity, z, init_pose, init_betas, init_cam):
        x = torch.cat([feature_map, opacity], dim=1)
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        x = torch.cat([x.mean(dim=(2, 3)), z], dim=1)
        pose, betas, cam = init_pose, init_betas, init_cam
        for _ in range(self.iterations):
            xc = torch.cat([x, pose, betas, cam], dim=1)
            xc = self.drop2(self.fc2(self.drop1(self.fc1(xc))))
            pose = self.decpose(xc) + pose
            betas = self.decshape(xc) + betas
            cam = self.deccam(xc) + cam
        if self.facing_gate > 0:
            front = torch.sigmoid(self.facing_gate * geometry.facing_camera(pose[:, :6]))
            pose = front * pose + (1 - front) * geometry.mirror_pose6d(pose)
        return pose, betas, cam


# ------------------------------------------------------------------------- the whole


class ImpHMR(nn.Module):
    def __init__(self, cfg: Config, mean_params: dict[str, list[float]]):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.field = FeatureField(cfg)
        self.head = Head(cfg)
        for k in ("pose6d", "betas", "cam"):
            self.register_buffer(f"mean_{k}", torch.tensor(mean_params[k]).reshape(1, -1))

    def render(self, z, view_deg: float):
        """Render the feature map F and opacity A of latent z seen from yaw φ."""
        f = self.cfg.field
        inp = geometry.field_inputs(f, view_deg)
        sigma, feat = self.field(inp["points_enc"], inp["dirs_enc"], z)
        sigma = sigma[:, 0] * inp["inside"]
        feat_map, opacity = geometry.volume_render(sigma, feat, inp["deltas"], f.height, f.width)
        return feat_map[None], opacity[None]

    @torch.no_grad()
    def forward(self, image, view_deg: float = 0.0) -> dict[str, torch.Tensor]:
        """image (1, 3, S, S), already cropped and normalised → every stage's output."""
        z = self.encoder(image)
        feat_map, opacity = self.render(z, view_deg)
        pose6d, betas, cam = self.head(
            feat_map, opacity, z, self.mean_pose6d, self.mean_betas, self.mean_cam
        )
        rotmat = geometry.rot6d_to_rotmat(pose6d)
        return {
            "z": z,
            "feature_map": feat_map,
            "opacity": opacity,
            "pose6d": pose6d,
            "rotmat": rotmat,
            "axis_angle": torch.from_numpy(geometry.rotmat_to_axis_angle(rotmat.numpy())),
            "betas": betas,
            "cam": cam,
        }
