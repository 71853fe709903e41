#!/usr/bin/env python3
"""Tests of tools/raster.py (numpy only; CI runs them): coverage, depth test, barycentrics.

    python3 tools/test_raster.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from raster import project, rasterize, vertex_normals  # noqa: E402

K = np.array([[100.0, 0, 32], [0, 100.0, 32], [0, 0, 1]])


def quad(z: float, half: float, shift=(0.0, 0.0)):
    x0, y0 = shift
    v = np.array([[x0 - half, y0 - half, z], [x0 + half, y0 - half, z],
                  [x0 + half, y0 + half, z], [x0 - half, y0 + half, z]])
    return v, np.array([[0, 1, 2], [0, 2, 3]])


def test_square_covers_its_pixels_once():
    # A 0.2 m square at 2 m spans 10 pixels: pixel centres 27.5 … 36.5 lie inside.
    v, f = quad(2.0, 0.1)
    r = rasterize(v, f, K, 64, 64)
    assert r.mask.sum() == 100, r.mask.sum()
    ys, xs = np.nonzero(r.mask)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (27, 36, 27, 36)
    assert np.allclose(r.depth[r.mask], 2.0)


def test_nearer_triangle_wins_whatever_the_order():
    far, f = quad(3.0, 0.3)
    near, _ = quad(2.0, 0.05)
    for verts, faces, near_faces in (
        (np.vstack([far, near]), np.vstack([f, f + 4]), {2, 3}),
        (np.vstack([near, far]), np.vstack([f, f + 4]), {0, 1}),
    ):
        r = rasterize(verts, faces, K, 64, 64)
        assert set(np.unique(r.face[32, 30:34])) <= near_faces
        assert np.allclose(r.depth[32, 31], 2.0)
        assert set(np.unique(r.face[32, 5:10])) - {-1} <= set(range(4)) - near_faces


def test_perspective_correct_depth_and_barycentrics():
    # A slanted plane: depth at each covered pixel equals the ray's hit on the plane.
    v = np.array([[-0.5, -0.5, 1.5], [0.5, -0.5, 2.5], [0.0, 0.6, 2.0]])
    f = np.array([[0, 1, 2]])
    r = rasterize(v, f, K, 64, 64)
    n = np.cross(v[1] - v[0], v[2] - v[0])
    ys, xs = np.nonzero(r.mask)
    assert len(xs) > 200
    rays = np.stack([(xs + 0.5 - 32) / 100, (ys + 0.5 - 32) / 100, np.ones_like(xs, float)], 1)
    t = (n @ v[0]) / (rays @ n)
    assert np.allclose(r.depth[ys, xs], t, atol=1e-9)
    b = r.bary[ys, xs]
    assert np.allclose(b.sum(1), 1) and (b > -1e-9).all()
    p = b @ v  # the 3D point the barycentrics name projects back to the pixel centre
    assert np.allclose(project(p, K), np.stack([xs + 0.5, ys + 0.5], 1), atol=1e-6)


def test_behind_the_camera_and_off_screen_draw_nothing():
    v, f = quad(-2.0, 0.5)
    assert rasterize(v, f, K, 64, 64).mask.sum() == 0
    v, f = quad(2.0, 0.1, shift=(5.0, 0.0))
    assert rasterize(v, f, K, 64, 64).mask.sum() == 0


def test_normals_point_outward():
    v, f = quad(2.0, 0.1)
    n = vertex_normals(v, f)
    assert np.allclose(np.abs(n[:, 2]), 1)


def main() -> int:
    tests = [(k, fn) for k, fn in globals().items() if k.startswith("test_")]
    for name, fn in tests:
        fn()
        print(f"ok {name}")
    print(f"{len(tests)} raster tests passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
