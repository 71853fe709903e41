"""The engine's body-model file (docs/BODY.md, `IMPHMRB1`) in numpy: read, write, forward.

The same linear blend skinning as src/body/smpl.rs (and smplx's `lbs`), here without pose
blend shapes (P = 0, the open Anny model) or with them (SMPL files). Numpy only, so the
synthetic-people renderer, the trainer and the metric check share one definition.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"IMPHMRB1"
SMPL_JOINTS = [
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
]
SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]


def rodrigues(aa: np.ndarray) -> np.ndarray:
    """Axis-angle [..., 3] → rotation matrices [..., 3, 3]."""
    aa = np.asarray(aa, dtype=np.float64)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.maximum(angle, 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(aa.shape[:-1] + (3, 3))
    s, c = np.sin(angle)[..., None], np.cos(angle)[..., None]
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def axis_angle(r: np.ndarray) -> np.ndarray:
    """Rotation matrices [..., 3, 3] → axis-angle [..., 3], angle in [0, π]: the engine's
    convention (src/body/rotation.rs, tools/imphmr_ref/geometry.py): a unit quaternion by
    Shepperd's method (stable near π), w ≥ 0, then 2·atan2(|v|, w)·v/|v|."""
    r = np.asarray(r, dtype=np.float64)
    flat = r.reshape(-1, 3, 3)
    out = np.zeros((len(flat), 3))
    for n, m in enumerate(flat):
        tr = np.trace(m)
        k = int(np.argmax([tr, m[0, 0], m[1, 1], m[2, 2]]))
        if k == 0:
            s = np.sqrt(1.0 + tr) * 2
            q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
        elif k == 1:
            s = np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2]) * 2
            q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
        elif k == 2:
            s = np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2]) * 2
            q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
        else:
            s = np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1]) * 2
            q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
        w, v = q[0], np.array(q[1:])
        if w < 0:
            w, v = -w, -v
        nv = np.linalg.norm(v)
        if nv > 1e-12:
            out[n] = 2.0 * np.arctan2(nv, w) * v / nv
    return out.reshape(r.shape[:-1])


@dataclass
class BodyModelData:
    parents: np.ndarray          # [J]
    v_template: np.ndarray       # [V, 3]
    shapedirs: np.ndarray        # [V, 3, B]
    j_regressor: np.ndarray      # [J, V]
    weights: np.ndarray          # [V, J]
    posedirs: np.ndarray | None = None  # [V, 3, P] or None (P = 0)
    faces: np.ndarray | None = None     # [F, 3]

    def as_float32(self) -> "BodyModelData":
        f = lambda a: None if a is None else np.asarray(a, dtype=np.float32)  # noqa: E731
        return BodyModelData(self.parents.astype(np.int32), f(self.v_template), f(self.shapedirs),
                             f(self.j_regressor), f(self.weights), f(self.posedirs),
                             None if self.faces is None else self.faces.astype(np.int64))

    @property
    def betas(self) -> int:
        return self.shapedirs.shape[2]

    def rest(self, betas: np.ndarray):
        v = self.v_template.astype(np.float64) + self.shapedirs.astype(np.float64) @ np.asarray(betas, np.float64)
        return v, self.j_regressor.astype(np.float64) @ v

    def forward(self, betas: np.ndarray, rotmats: np.ndarray) -> dict[str, np.ndarray]:
        """θ as rotation matrices [J, 3, 3] → joints [J, 3], vertices [V, 3] and the
        per-joint skinning transforms [J, 4, 4] (posed = A_j · rest), model frame, metres."""
        rotmats = np.asarray(rotmats, dtype=np.float64)
        v_shaped, j_rest = self.rest(betas)
        if self.posedirs is not None and self.posedirs.shape[2] > 0:
            feat = (rotmats[1:] - np.eye(3)).reshape(-1)
            v_shaped = v_shaped + self.posedirs.astype(np.float64) @ feat
        n = len(self.parents)
        g = np.zeros((n, 4, 4))
        for i in range(n):
            local = np.eye(4)
            local[:3, :3] = rotmats[i]
            p = self.parents[i]
            local[:3, 3] = j_rest[i] - (j_rest[p] if p >= 0 else 0)
            g[i] = local if p < 0 else g[p] @ local
        joints = g[:, :3, 3].copy()
        a = g.copy()
        a[:, :3, 3] -= np.einsum("jab,jb->ja", g[:, :3, :3], j_rest)
        t = np.einsum("vj,jab->vab", self.weights.astype(np.float64), a)
        verts = np.einsum("vab,vb->va", t[:, :3, :3], v_shaped) + t[:, :3, 3]
        return {"joints": joints, "vertices": verts, "transforms": a}


def write_body(m: BodyModelData, out: Path) -> None:
    v, j, b = m.v_template.shape[0], m.j_regressor.shape[0], m.betas
    p = 0 if m.posedirs is None else m.posedirs.shape[2]
    assert p in (0, 9 * (j - 1)) and m.weights.shape == (v, j) and m.j_regressor.shape == (j, v)
    f32 = lambda a: np.ascontiguousarray(a, dtype="<f4").tobytes()  # noqa: E731
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as f:
        f.write(MAGIC + np.array([v, j, b, p], dtype="<u4").tobytes())
        f.write(np.asarray(m.parents, dtype="<i4").tobytes())
        f.write(f32(m.v_template))
        f.write(f32(m.shapedirs.reshape(v * 3, b)))
        if p:
            f.write(f32(m.posedirs.reshape(v * 3, p).T))
        f.write(f32(m.j_regressor))
        f.write(f32(m.weights))
        if m.faces is not None:
            f.write(np.array([len(m.faces)], dtype="<u4").tobytes())
            f.write(np.ascontiguousarray(m.faces, dtype="<u4").tobytes())
    print(f"wrote {out}: {v} vertices, {j} joints, {b} betas, "
          f"{0 if m.faces is None else len(m.faces)} faces ({out.stat().st_size / 1e6:.2f} MB)")


def read_body(path: Path) -> BodyModelData:
    raw = Path(path).read_bytes()
    if raw[:8] != MAGIC:
        raise ValueError(f"{path}: not an imphmr body model")
    v, j, b, p = np.frombuffer(raw, "<u4", 4, 8).astype(int)
    at = 24

    def take(count, dtype):
        nonlocal at
        a = np.frombuffer(raw, dtype, count, at)
        at += a.nbytes
        return a

    parents = take(j, "<i4").astype(np.int64)
    v_template = take(v * 3, "<f4").reshape(v, 3)
    shapedirs = take(v * 3 * b, "<f4").reshape(v, 3, b)
    posedirs = take(p * v * 3, "<f4").reshape(p, v * 3).T.reshape(v, 3, p) if p else None
    j_regressor = take(j * v, "<f4").reshape(j, v)
    weights = take(v * j, "<f4").reshape(v, j)
    faces = None
    if at < len(raw):
        (nf,) = take(1, "<u4")
        faces = take(int(nf) * 3, "<u4").reshape(-1, 3).astype(np.int64)
    if at != len(raw):
        raise ValueError(f"{path}: {len(raw) - at} bytes after the last block")
    return BodyModelData(parents, v_template, shapedirs, j_regressor, weights, posedirs, faces)
