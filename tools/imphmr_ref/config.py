"""Every hyper-parameter of the network, as the manifest `imphmr.toml` records it.

Defaults ("full") follow GIRAFFE for the feature field and SPIN for the regressor, as
DESIGN section 2 states; "small" is the same architecture at reduced width and field
resolution, for the bundle committed in models/ and for tests; "medium" is small with a
wider, deeper encoder (a capacity test, docs/ACCURACY.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from dataclasses import field as dc_field

FORMAT_VERSION = 1
ENCODER_ARCHS = ("resnet-bottleneck", "resnet-bottleneck-spatial")


@dataclass
class InputConfig:
    size: int = 224
    mean: list[float] = dc_field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = dc_field(default_factory=lambda: [0.229, 0.224, 0.225])


@dataclass
class EncoderConfig:
    file: str = "encoder.onnx"
    # resnet-bottleneck: global average pool → fc → z (torchvision's). resnet-bottleneck-
    # spatial: 1×1 conv to Z channels, then one conv over the whole last map (a fully
    # connected layer that knows where each feature is) → z; see model.Encoder.
    arch: str = "resnet-bottleneck"
    blocks: list[int] = dc_field(default_factory=lambda: [3, 4, 6, 3])  # ResNet-50
    width: int = 64  # channels of the stem; bottleneck outputs are 4x
    latent_dim: int = 256  # Z
    # > 0: a keypoint branch (model.KeypointBranch) locates this many joints, and their
    # positions (x, y each, named as if facing the camera) are z's last 2·keypoints numbers:
    # the regressor and the field read where the joints are, not only what the pool kept.
    keypoints: int = 0


@dataclass
class FieldConfig:
    file: str = "field.onnx"
    height: int = 16  # H_f
    width: int = 16  # W_f
    samples: int = 64  # N_s per ray
    near: float = 0.5
    far: float = 6.0
    radius: float = 2.732  # camera distance from the origin
    fov_deg: float = 49.13
    bound: float = 1.0  # half-size of the field's box; density is 0 outside it
    last_delta: float = 1.0e3  # finite stand-in for GIRAFFE's 1e10 (inf in f16)
    point_freqs: int = 10
    dir_freqs: int = 4
    hidden: int = 128
    layers: int = 8
    skip_layer: int = 4
    feature_dim: int = 128  # C


@dataclass
class HeadConfig:
    file: str = "head.onnx"
    conv_channels: int = 128
    hidden: int = 1024
    iterations: int = 3
    # > 0: the regressor answers the pose as seen facing the camera, and the head mirrors
    # it (left ↔ right) as far as its own root says the body is turned away, with weight
    # sigmoid(facing_gate · cos(front, camera)); 0: no gate (the seed's network).
    facing_gate: float = 0.0
    rotation: str = "6d"
    joints: int = 24
    betas: int = 10
    mean_params: str = "mean_params.json"


@dataclass
class Config:
    name: str = "imphmr"
    precision: str = "f32"
    weights: str = "checkpoint"
    input: InputConfig = dc_field(default_factory=InputConfig)
    encoder: EncoderConfig = dc_field(default_factory=EncoderConfig)
    field: FieldConfig = dc_field(default_factory=FieldConfig)
    head: HeadConfig = dc_field(default_factory=HeadConfig)

    @property
    def point_enc_dim(self) -> int:
        return 3 * 2 * self.field.point_freqs

    @property
    def dir_enc_dim(self) -> int:
        return 3 * 2 * self.field.dir_freqs

    @property
    def encoder_out_channels(self) -> int:
        return self.encoder.width * 8 * 4  # last stage: 8x the stem width, 4x expansion

    @property
    def num_samples(self) -> int:
        f = self.field
        return f.height * f.width * f.samples

    @property
    def pose_dim(self) -> int:
        return self.head.joints * 6

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d = {"format_version": FORMAT_VERSION, **d}
        return d

    @staticmethod
    def from_dict(d: dict) -> "Config":
        d = dict(d)
        d.pop("format_version", None)
        d.pop("files", None)
        return Config(
            name=d["name"],
            precision=d["precision"],
            weights=d.get("weights", "checkpoint"),
            input=InputConfig(**d["input"]),
            encoder=EncoderConfig(**d["encoder"]),
            field=FieldConfig(**d["field"]),
            head=HeadConfig(**d["head"]),
        )


def small() -> Config:
    return Config(
        name="imphmr-small",
        encoder=EncoderConfig(blocks=[1, 1, 1, 1], width=16, latent_dim=64),
        field=FieldConfig(
            height=8, width=8, samples=16, hidden=64, layers=4, skip_layer=2, feature_dim=32
        ),
        head=HeadConfig(conv_channels=32, hidden=128),
    )


def medium() -> Config:
    """small's field and head behind a wider, deeper encoder (width 32, two blocks per
    stage: 3.7 M parameters in all against 0.67 M): the capacity test of docs/ACCURACY.md."""
    c = small()
    c.name = "imphmr-medium"
    c.encoder = EncoderConfig(blocks=[2, 2, 2, 2], width=32, latent_dim=64)
    return c


def full() -> Config:
    return Config(name="imphmr-full")


PRESETS = {"small": small, "medium": medium, "full": full}
