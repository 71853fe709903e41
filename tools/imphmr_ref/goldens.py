"""Golden outputs of the reference for the engine's parity tests.

Written by `export_bundle.py --goldens` from the same in-memory PyTorch model that was
exported (the ONNX graphs have batch norms folded, so weights cannot be mapped back).
One JSON file per (image, box, view) case under BUNDLE/goldens/; CI never needs PyTorch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import bundle, geometry
from .model import ImpHMR

# (image under models/samples, box x,y,w,h or None for the centre square, views in degrees)
CASES = [
    ("astronaut.png", None, [0.0, 90.0]),
    ("basketball1.png", (0.0, 70.0, 200.0, 400.0), [0.0, 90.0]),
]
PROBE_STRIDE = 997  # every 997th element of the normalised input tensor


def flat(t) -> list[float]:
    return [float(v) for v in np.asarray(t, dtype=np.float64).reshape(-1)]


def write_goldens(model: ImpHMR, samples: Path, out_dir: Path) -> None:
    cfg = model.cfg
    out_dir.mkdir(parents=True, exist_ok=True)
    for image, box, views in CASES:
        rgb = bundle.load_rgb(samples / image)
        used_box = box or geometry.centre_box(rgb.shape[1], rgb.shape[0])
        x = bundle.preprocess(cfg, rgb, used_box)
        for view in views:
            r = model(x, view)
            golden = {
                "image": f"models/samples/{image}",
                "box": list(used_box),
                "box_given": box is not None,
                "view_deg": view,
                "input_probe_stride": PROBE_STRIDE,
                "input_probe": flat(x.reshape(-1)[::PROBE_STRIDE]),
                **{k: flat(v) for k, v in r.items()},
            }
            name = f"{Path(image).stem}_view{int(view)}.json"
            (out_dir / name).write_text(json.dumps(golden) + "\n")
            op, fm = r["opacity"], r["feature_map"]
            print(f"[goldens] {name}: z std {r['z'].std():.2f}, F in [{fm.min():.2f}, "
                  f"{fm.max():.2f}], A in [{op.min():.2f}, {op.max():.2f}], "
                  f"cam {np.round(flat(r['cam']), 3).tolist()}, "
                  f"root axis-angle {np.round(flat(r['axis_angle'][0]), 3).tolist()}")
