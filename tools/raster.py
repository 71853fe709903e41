"""A small perspective triangle rasterizer with a z-buffer, in numpy (tests: tools/test_raster.py).

Why our own: the maintained rasterizers (pyrender, moderngl, nvdiffrast, pytorch3d) need
OpenGL/EGL, a GPU or a source build; the synthetic people need only a pinhole camera, a
depth test, barycentrics for smooth shading and the silhouette, at a few hundred pixels.

Conventions: camera frame OpenCV (x right, y down, z forward, metres); pixel (u, v) has its
centre at (u + 0.5, v + 0.5); a pixel is covered when its centre lies inside the triangle
(edges shared by two triangles cover each pixel once: top-left rule approximated by ≥ 0 on
one side and the nearest depth winning).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Raster:
    face: np.ndarray    # [H, W] int, −1 where empty
    depth: np.ndarray   # [H, W] float, inf where empty
    bary: np.ndarray    # [H, W, 3] perspective-correct barycentrics of `face`

    @property
    def mask(self) -> np.ndarray:
        return self.face >= 0


def project(points: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Camera-frame points [N, 3] → pixel coordinates [N, 2] (continuous, centre convention)."""
    z = points[:, 2:3]
    return (points[:, :2] / z) * np.array([k[0, 0], k[1, 1]]) + np.array([k[0, 2], k[1, 2]])


def rasterize(verts: np.ndarray, faces: np.ndarray, k: np.ndarray, width: int, height: int,
              near: float = 0.05) -> Raster:
    """Nearest triangle per pixel. verts [V, 3] camera frame, faces [F, 3], k the 3×3
    intrinsics. Triangles with a vertex nearer than `near` are dropped (no clipping)."""
    face_ids = np.full(height * width, -1, dtype=np.int64)
    depth = np.full(height * width, np.inf)
    bary = np.zeros((height * width, 3))
    z = verts[:, 2]
    ok = (z[faces] > near).all(1)
    fidx = np.nonzero(ok)[0]
    if len(fidx) == 0:
        return Raster(face_ids.reshape(height, width), depth.reshape(height, width),
                      bary.reshape(height, width, 3))
    uv = project(verts, k)
    tri = uv[faces[fidx]]                       # [F, 3, 2]
    lo = np.floor(tri.min(1) - 0.5).astype(np.int64)
    hi = np.ceil(tri.max(1) - 0.5).astype(np.int64)
    lo = np.clip(lo, 0, [width - 1, height - 1])
    hi = np.clip(hi, 0, [width - 1, height - 1])
    size = hi - lo + 1
    visible = (tri.max(1) >= 0).all(1) & (tri.min(1) <= [width, height]).all(1)
    # Bucket the triangles by box size so small ones do not pay for the largest.
    order = np.nonzero(visible)[0]
    span = size[order].max(1)
    prev = 0
    for cap in (4, 8, 16, 32, 64, 128, 256, 512, 1 << 30):
        sel = order[(span > prev) & (span <= cap)]
        prev = cap
        if len(sel) == 0:
            continue
        n = int(min(cap, max(width, height)))
        off = np.arange(n)
        px = lo[sel, 0:1, None] + off[None, None, :]     # [F, 1, n]
        py = lo[sel, 1:2, None] + off[None, :, None]     # [F, n, 1]
        px, py = np.broadcast_arrays(px, py)
        inside_box = (px <= hi[sel, 0, None, None]) & (py <= hi[sel, 1, None, None])
        cx, cy = px + 0.5, py + 0.5
        a, b, c = tri[sel, 0], tri[sel, 1], tri[sel, 2]

        def edge(p, q):
            return ((q[:, 0] - p[:, 0])[:, None, None] * (cy - p[:, 1, None, None])
                    - (q[:, 1] - p[:, 1])[:, None, None] * (cx - p[:, 0, None, None]))

        w0, w1, w2 = edge(b, c), edge(c, a), edge(a, b)
        area = w0 + w1 + w2
        inside = inside_box & (np.abs(area) > 1e-12) & (
            ((w0 >= 0) & (w1 >= 0) & (w2 >= 0)) | ((w0 <= 0) & (w1 <= 0) & (w2 <= 0)))
        f_i, y_i, x_i = np.nonzero(inside)
        if len(f_i) == 0:
            continue
        l0 = w0[f_i, y_i, x_i] / area[f_i, y_i, x_i]
        l1 = w1[f_i, y_i, x_i] / area[f_i, y_i, x_i]
        l2 = 1.0 - l0 - l1
        fz = z[faces[fidx[sel[f_i]]]]                       # [n, 3]
        inv = l0 / fz[:, 0] + l1 / fz[:, 1] + l2 / fz[:, 2]  # 1/z is linear on screen
        d = 1.0 / inv
        pix = py[f_i, y_i, x_i] * width + px[f_i, y_i, x_i]
        # Keep the nearest fragment per pixel, then merge with the buffer so far.
        o = np.lexsort((d, pix))
        pix, d = pix[o], d[o]
        first = np.ones(len(pix), bool)
        first[1:] = pix[1:] != pix[:-1]
        take = o[first]
        pix, d = pix[first], d[first]
        better = d < depth[pix]
        pix, d, take = pix[better], d[better], take[better]
        depth[pix] = d
        face_ids[pix] = fidx[sel[f_i[take]]]
        pc = np.stack([l0[take] / fz[take, 0], l1[take] / fz[take, 1], l2[take] / fz[take, 2]], 1)
        bary[pix] = pc / inv[take, None]
    return Raster(face_ids.reshape(height, width), depth.reshape(height, width),
                  bary.reshape(height, width, 3))


def vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (unit), outward for counter-clockwise faces."""
    fn = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    n = np.zeros_like(verts)
    for i in range(3):
        np.add.at(n, faces[:, i], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
