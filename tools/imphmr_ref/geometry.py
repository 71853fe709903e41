"""The parts of ImpHMR that are not graphs: rays, positional encoding, volume rendering,
rotations, and the image crop. The Rust engine implements exactly these formulas
(src/field, src/body, src/crop); any change here is a change of the bundle contract.

Rays and encodings are computed in float64 and cast to float32 at the end, so that the
reference and the engine agree to the last bit or two even for the high encoding
frequencies (2^9 * pi * p is a large argument for a float32 sine).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .config import FieldConfig


# ---------------------------------------------------------------------------- rays


def rays(cfg: FieldConfig, view_deg: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample points, unit directions and interval lengths for the viewing direction φ.

    World frame: y up, the body at the origin facing +z. The camera sits at
    R_y(φ)·(0, 0, radius) and looks at the origin (OpenGL convention: x right, y up,
    looking down -z). Pixel (i, j) of the H_f×W_f image is sampled at its centre.
    Depths are `samples` evenly spaced distances in [near, far] along the unit ray.

    Returns float64 arrays: points (H*W*S, 3), directions (H*W*S, 3) (one per sample,
    repeated along the ray), deltas (S,), ordered pixel-major (row, col, sample).
    """
    h, w, s = cfg.height, cfg.width, cfg.samples
    tan_half = math.tan(math.radians(cfg.fov_deg) / 2.0)
    jj, ii = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    x = ((jj + 0.5) / w * 2.0 - 1.0) * tan_half
    y = (1.0 - (ii + 0.5) / h * 2.0) * tan_half
    d_cam = np.stack([x, y, -np.ones_like(x)], axis=-1).reshape(-1, 3)
    d_cam /= np.linalg.norm(d_cam, axis=-1, keepdims=True)

    phi = math.radians(view_deg)
    c, sn = math.cos(phi), math.sin(phi)
    rot_y = np.array([[c, 0.0, sn], [0.0, 1.0, 0.0], [-sn, 0.0, c]])
    origin = rot_y @ np.array([0.0, 0.0, cfg.radius])
    d_world = d_cam @ rot_y.T  # (H*W, 3)

    if s > 1:
        depths = cfg.near + (cfg.far - cfg.near) * np.arange(s, dtype=np.float64) / (s - 1)
    else:
        depths = np.array([cfg.near])
    points = origin[None, None, :] + d_world[:, None, :] * depths[None, :, None]
    dirs = np.broadcast_to(d_world[:, None, :], points.shape)
    deltas = np.append(np.diff(depths), cfg.last_delta)
    return points.reshape(-1, 3), np.ascontiguousarray(dirs).reshape(-1, 3), deltas


def positional_encoding(x: np.ndarray, freqs: int) -> np.ndarray:
    """γ(x) = [sin(2^0 π x), cos(2^0 π x), …, sin(2^(L-1) π x), cos(2^(L-1) π x)],
    each block 3 wide; computed in float64, returned as float32."""
    blocks = []
    for k in range(freqs):
        arg = (2.0**k) * math.pi * x
        blocks += [np.sin(arg), np.cos(arg)]
    return np.concatenate(blocks, axis=-1).astype(np.float32)


def inside_box(points: np.ndarray, bound: float) -> np.ndarray:
    """1.0 where the sample lies in the field's box [-bound, bound]^3, else 0.0."""
    return (np.abs(points) <= bound).all(axis=-1).astype(np.float32)


def field_inputs(cfg: FieldConfig, view_deg: float):
    """Everything the field graph and the renderer need for one φ, as float32 tensors."""
    points, dirs, deltas = rays(cfg, view_deg)
    return {
        "points_enc": torch.from_numpy(positional_encoding(points / cfg.bound, cfg.point_freqs)),
        "dirs_enc": torch.from_numpy(positional_encoding(dirs, cfg.dir_freqs)),
        "inside": torch.from_numpy(inside_box(points, cfg.bound)),
        "deltas": torch.from_numpy(deltas.astype(np.float32)),
    }


def volume_render(sigma, feature, deltas, height: int, width: int):
    """Composite per-sample density and features along each ray.

    sigma (H*W*S,), feature (H*W*S, C), deltas (S,) →
    feature map F (C, H, W) and opacity A (1, H, W):
      α_i = 1 − exp(−σ_i δ_i),  T_i = Π_{k<i} (1 − α_k),  w_i = α_i T_i,
      F = Σ_i w_i f_i,  A = Σ_i w_i.
    """
    s = deltas.shape[0]
    sigma = sigma.reshape(-1, s)
    feature = feature.reshape(sigma.shape[0], s, -1)
    alpha = 1.0 - torch.exp(-sigma * deltas[None, :])
    ones = torch.ones_like(alpha[:, :1])
    trans = torch.cumprod(torch.cat([ones, 1.0 - alpha[:, :-1]], dim=1), dim=1)
    weights = alpha * trans
    feat = (weights[..., None] * feature).sum(dim=1)  # (H*W, C)
    opacity = weights.sum(dim=1)  # (H*W,)
    feat_map = feat.T.reshape(-1, height, width)
    return feat_map, opacity.reshape(1, height, width)


# ----------------------------------------------------------------------- rotations


def rot6d_to_rotmat(x: torch.Tensor) -> torch.Tensor:
    """SPIN's 6D representation: (…, 6) read as a 3×2 matrix [a1 a2] (row-major);
    Gram–Schmidt gives columns b1, b2, b3 = b1 × b2. Returns (…, 3, 3)."""
    b1, b2 = _gram_schmidt(x)
    b3 = torch.cross(b1, b2, dim=1)
    return torch.stack([b1, b2, b3], dim=-1)


def _gram_schmidt(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    m = x.reshape(-1, 3, 2)
    a1, a2 = m[:, :, 0], m[:, :, 1]
    b1 = a1 / a1.norm(dim=1, keepdim=True)
    b2 = a2 - (b1 * a2).sum(dim=1, keepdim=True) * b1
    return b1, b2 / b2.norm(dim=1, keepdim=True)


# Mirroring a pose (left ↔ right) is linear in SPIN's 6D rotations: R becomes S·R·S with
# S = diag(−1, 1, 1), and left and right joints trade places (SMPL's 24-joint order).
MIRROR_JOINTS = [0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 11, 10, 12, 14, 13, 15, 17, 16, 19, 18, 21, 20, 23, 22]
MIRROR_SIGNS_6D = [1.0, -1.0, -1.0, 1.0, -1.0, 1.0]  # [a1 a2] row-major: S·[a1 a2]·diag(−1, 1)


def mirror_pose6d(pose6d: torch.Tensor) -> torch.Tensor:
    """(N, 24·6) joint rotations → those of the mirrored pose; the root stays as it is."""
    n = pose6d.shape[0]
    m = pose6d.reshape(n, 24, 6)[:, MIRROR_JOINTS] * pose6d.new_tensor(MIRROR_SIGNS_6D)
    return torch.cat([pose6d[:, :6], m[:, 1:].reshape(n, -1)], dim=1)


def facing_camera(root6d: torch.Tensor) -> torch.Tensor:
    """(N, 6) root rotation → (N, 1) cosine between the body's front (+z) and the way to
    the camera (−z): 1 facing it, −1 turned away, 0 side on."""
    b1, b2 = _gram_schmidt(root6d)
    return -(b1[:, :1] * b2[:, 1:2] - b1[:, 1:2] * b2[:, :1])  # −R[2, 2], R[:, 2] = b1 × b2


def rotmat_to_axis_angle(r: np.ndarray) -> np.ndarray:
    """Rotation matrices (N, 3, 3) → axis-angle (N, 3), angle in [0, π].

    Via a unit quaternion (Shepperd's method: divide by the largest of the four
    candidates, stable near π), sign chosen so w ≥ 0, then 2·atan2(|v|, w)·v/|v|.
    Float64 throughout.
    """
    r = np.asarray(r, dtype=np.float64)
    out = np.zeros((r.shape[0], 3))
    for n, m in enumerate(r):
        tr = m[0, 0] + m[1, 1] + m[2, 2]
        cand = [tr, m[0, 0], m[1, 1], m[2, 2]]
        k = int(np.argmax(cand))
        if k == 0:
            s = math.sqrt(1.0 + tr) * 2.0
            q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
        elif k == 1:
            s = math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2.0
            q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
        elif k == 2:
            s = math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2.0
            q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
        else:
            s = math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2.0
            q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
        w, v = q[0], np.array(q[1:])
        if w < 0:
            w, v = -w, -v
        norm_v = np.linalg.norm(v)
        if norm_v < 1e-12:
            continue  # identity
        out[n] = 2.0 * math.atan2(norm_v, w) * v / norm_v
    return out


# ---------------------------------------------------------------------- image crop


def centre_box(width: int, height: int) -> tuple[float, float, float, float]:
    """The default person box: the largest centred square."""
    side = float(min(width, height))
    return ((width - side) / 2.0, (height - side) / 2.0, side, side)


def crop_normalise(rgb: np.ndarray, box, size: int, mean, std) -> np.ndarray:
    """Crop box (x, y, w, h) of an H×W×3 uint8 image to size×size by bilinear sampling at
    pixel centres (src = x + (j + 0.5)·w/size − 0.5, clamped to the image), scale to
    [0, 1], subtract mean and divide by std. Returns a float32 (3, size, size) array."""
    x0, y0, bw, bh = box
    hgt, wid = rgb.shape[:2]
    img = rgb.astype(np.float32) / np.float32(255.0)
    j = np.arange(size, dtype=np.float64)
    sx = np.clip(x0 + (j + 0.5) * bw / size - 0.5, 0.0, wid - 1)
    sy = np.clip(y0 + (j + 0.5) * bh / size - 0.5, 0.0, hgt - 1)
    x_lo = np.floor(sx).astype(np.int64)
    y_lo = np.floor(sy).astype(np.int64)
    x_hi = np.minimum(x_lo + 1, wid - 1)
    y_hi = np.minimum(y_lo + 1, hgt - 1)
    fx = (sx - x_lo).astype(np.float32)[None, :, None]
    fy = (sy - y_lo).astype(np.float32)[:, None, None]
    top = img[y_lo][:, x_lo] * (1 - fx) + img[y_lo][:, x_hi] * fx
    bot = img[y_hi][:, x_lo] * (1 - fx) + img[y_hi][:, x_hi] * fx
    out = top * (1 - fy) + bot * fy
    out = (out - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(out.transpose(2, 0, 1))
