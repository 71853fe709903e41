#!/usr/bin/env python3
"""Make an f16 or int8 bundle from an f32 one: same manifest, same graph inputs and
outputs (float32), lower precision inside; or, with `f32`, the plain f32 bundle of one
whose conv weights are packed (export_bundle.py --pack-weights).

    python tools/quantize_bundle.py --in models/small --precision f16  --out models/small-f16
    python tools/quantize_bundle.py --in models/small --precision int8 --out models/small-int8
    python tools/quantize_bundle.py --in models/trained --precision f32 --out models/trained-f32

Packed weights are unpacked first (imphmr_ref/packing.py): the converters see plain f32;
an f16 graph whose source was packed is packed again (int8 with f16 scales).

f16: every graph converted with onnxconverter-common, keeping in float32 what overflows
or loses too much in half precision (DESIGN §6): average pooling (ReduceMean), Exp and
Softplus. The engine keeps the positional encoding and the rendering in f32 anyway.

int8: static quantisation in QOperator form (QLinearConv, QLinearMatMul: integer kernels
in tract, unlike QDQ pairs, which tract runs in float) with onnxruntime's quantiser.
Calibration runs the f32 bundle (onnxruntime) on crops of the sample images: the
encoder sees those crops, the field the z they give at views 0/90/180/270, the head the
rendered F, A and z. Only Conv and MatMul are quantised (Gemm is rewritten as MatMul +
Add first): ORT's other QOperator ops are Microsoft extensions that tract does not run.
Weights: int8 per output channel; activations: uint8 per tensor.

Each graph's error against the f32 bundle is printed (max |diff| on the calibration
inputs); tests/precision.rs holds the engine to per-stage tolerances on the goldens.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from imphmr_ref import bundle, geometry, packing  # noqa: E402
import bench_ort  # noqa: E402  (the f32 pipeline under onnxruntime)

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "models" / "samples"
F16_KEEP_F32 = ["ReduceMean", "GlobalAveragePool", "Softplus", "Exp"]
CALIB_VIEWS = (0.0, 90.0, 180.0, 270.0)


def to_f16(src: Path, dst: Path) -> None:
    from onnxconverter_common import float16

    model = float16.convert_float_to_float16(
        gemm_as_matmul(onnx.load(str(src))),  # tract's Gemm mixes f16 with its f32 alpha
        keep_io_types=True,
        op_block_list=float16.DEFAULT_OP_BLOCK_LIST + F16_KEEP_F32,
    )
    onnx.save(outputs_as_f32(model), str(dst))


def outputs_as_f32(model: onnx.ModelProto) -> onnx.ModelProto:
    """keep_io_types misses an output made by a kept-f32 op (σ, after Softplus): it casts
    it back to f16. The engine reads float32 outputs, so make every output float32."""
    producers = {o: n for n in model.graph.node for o in n.output}
    for out in model.graph.output:
        tensor_type = out.type.tensor_type
        if tensor_type.elem_type != TensorProto.FLOAT16:
            continue
        node = producers[out.name]
        if node.op_type == "Cast":
            for a in node.attribute:
                if a.name == "to":
                    a.i = TensorProto.FLOAT
        else:
            node.output[list(node.output).index(out.name)] = out.name + "_f16"
            model.graph.node.append(helper.make_node(
                "Cast", [out.name + "_f16"], [out.name], out.name + "_to_f32", to=TensorProto.FLOAT))
        tensor_type.elem_type = TensorProto.FLOAT
    return model


def gemm_as_matmul(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite Gemm (y = x·Wᵀ + b, as torch exports Linear) as MatMul + Add, so that the
    quantiser emits QLinearMatMul (standard ONNX) instead of QGemm (a Microsoft op), and
    an f16 graph has no Gemm (tract computes Gemm's alpha in f32)."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    nodes = []
    for node in g.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        plain = attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0
        if node.op_type != "Gemm" or not plain or attrs.get("transA", 0) or node.input[1] not in inits:
            nodes.append(node)
            continue
        w_name = node.input[1] + ("_kn" if attrs.get("transB", 0) else "")
        if w_name not in inits:  # a weight may serve several Gemms (the unrolled head)
            w = numpy_helper.to_array(inits[node.input[1]]).T
            inits[w_name] = numpy_helper.from_array(np.ascontiguousarray(w), w_name)
            g.initializer.append(inits[w_name])
        mm_out = node.output[0] + "_mm" if len(node.input) > 2 else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], w_name], [mm_out], node.name + "_mm"))
        if len(node.input) > 2:
            nodes.append(helper.make_node("Add", [mm_out, node.input[2]], [node.output[0]],
                                          node.name + "_bias"))
    del g.node[:]
    g.node.extend(nodes)
    used = {i for n in g.node for i in n.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    return model


class Feed:
    """An onnxruntime CalibrationDataReader over a list of input dicts."""

    def __init__(self, rows: list[dict[str, np.ndarray]]):
        self.rows = iter(rows)

    def get_next(self):
        return next(self.rows, None)


def calibration_crops(calib: Path | None, count: int):
    """(image, boxes) to calibrate on: labelled images of a tools/synth.py folder with
    their person boxes (the first `count`), else three crops of each sample image."""
    if calib is not None:
        labels = sorted(calib.glob("*.json"))[:count]
        if not labels:
            raise SystemExit(f"{calib}: no labelled images (NAME.json) to calibrate on")
        for lab_path in labels:
            lab = json.loads(lab_path.read_text())
            yield bundle.load_rgb(lab_path.with_name(lab["image"])), [tuple(lab["box"])]
        return
    for path in sorted(SAMPLES.glob("*.png")):
        rgb = bundle.load_rgb(path)
        h, w = rgb.shape[:2]
        side = min(w, h)
        yield rgb, [geometry.centre_box(w, h), (0.0, 0.0, float(side), float(side)),
                    (float(w - side * 0.7), float(h - side * 0.7), side * 0.7, side * 0.7)]


def calibration_inputs(src: Path, calib: Path | None = None, count: int = 32) -> dict[str, list[dict[str, np.ndarray]]]:
    """Inputs of each graph on the calibration crops, from the f32 bundle."""
    peer = bench_ort.Peer(src, threads=2)
    cfg, i, f = peer.cfg, peer.cfg.input, peer.cfg.field
    feeds: dict[str, list] = {"encoder": [], "field": [], "head": []}
    for rgb, boxes in calibration_crops(calib, count):
        for box in boxes:
            image = geometry.crop_normalise(rgb, box, i.size, i.mean, i.std)[None]
            feeds["encoder"].append({"image": image.astype(np.float32)})
            z = peer.encoder.run(image=image)["z"]
            for view in CALIB_VIEWS:
                inp = peer.field_inputs(view)
                kept = inp["inside"] > 0  # the engine only ever feeds samples in the box
                feeds["field"].append({"points_enc": inp["points_enc"][kept],
                                       "dirs_enc": inp["dirs_enc"][kept], "z": z})
                out = peer.field.run(points_enc=inp["points_enc"], dirs_enc=inp["dirs_enc"], z=z)
                fm, op = bench_ort.composite(out["sigma"], out["feature"], inp["inside"],
                                             inp["deltas"], f.height, f.width)
                feeds["head"].append({"feature_map": fm, "opacity": op, "z": z, **peer.init})
    return feeds


def to_int8(src: Path, dst: Path, rows: list[dict[str, np.ndarray]]) -> None:
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "plain.onnx"
        onnx.save(gemm_as_matmul(onnx.load(str(src))), str(plain))
        quantize_static(
            str(plain), str(dst), Feed(rows),
            quant_format=QuantFormat.QOperator,
            op_types_to_quantize=["Conv", "MatMul", "Relu"],
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )


def unpacked(graph: Path, folder: Path) -> Path:
    """The graph itself, or its plain f32 copy in `folder` when its weights are packed."""
    model = onnx.load(str(graph))
    if not packing.is_packed(model):
        return graph
    model, n = packing.unpack(model)
    print(f"{graph}: {n} packed conv weights unpacked to f32")
    onnx.save(model, str(folder / graph.name))
    return folder / graph.name


def max_error(f32: Path, low: Path, rows: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """Max |difference| per output of the two graphs on the given inputs."""
    a, b = bench_ort.Graph(f32, 2), bench_ort.Graph(low, 2)
    err: dict[str, float] = {}
    for row in rows:
        ra, rb = a.run(**row), b.run(**row)
        for k in ra:
            err[k] = max(err.get(k, 0.0), float(np.abs(ra[k] - rb[k]).max()))
    return err


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--in", dest="src", type=Path, required=True, metavar="DIR",
                    help="f32 bundle directory")
    ap.add_argument("--precision", choices=["f32", "f16", "int8"], required=True,
                    help="f32: unpack packed conv weights only")
    ap.add_argument("--calib", type=Path, metavar="DIR",
                    help="calibrate on the labelled images of a tools/synth.py folder (their boxes); "
                         "default: crops of the sample images")
    ap.add_argument("--calib-count", type=int, default=32, metavar="N", help="images of --calib to use")
    ap.add_argument("--out", type=Path, required=True, metavar="DIR",
                    help="bundle directory to write")
    args = ap.parse_args()
    cfg = bundle.read_manifest(args.src)
    if cfg.precision != "f32":
        print(f"{args.src / 'imphmr.toml'}: precision is {cfg.precision}; start from an f32 "
              "bundle", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    feeds = calibration_inputs(args.src, args.calib, args.calib_count)
    graphs = {"encoder": cfg.encoder.file, "field": cfg.field.file, "head": cfg.head.file}
    plain_dir = tempfile.TemporaryDirectory(prefix="unpacked-")  # gone at exit, error or not
    plain = Path(plain_dir.name)
    for stage, name in graphs.items():
        src, dst = unpacked(args.src / name, plain), args.out / name
        if args.precision == "f32":
            shutil.copy(src, dst)
        elif args.precision == "f16":
            to_f16(src, dst)
            if src != args.src / name:  # packed in, packed out: f16 scales, a quarter of the bytes
                onnx.save(packing.pack(onnx.load(str(dst)))[0], str(dst))
        else:
            to_int8(src, dst, feeds[stage])
        err = max_error(args.src / name, dst, feeds[stage])  # against the bundle as given
        shown = ", ".join(f"{k} {v:.2e}" for k, v in err.items())
        print(f"{stage:<8} {dst} ({dst.stat().st_size / 1e6:.2f} MB): max |diff| vs f32 {shown}")
    plain_dir.cleanup()
    shutil.copy(args.src / cfg.head.mean_params, args.out / cfg.head.mean_params)
    if args.precision != "f32":
        cfg.precision = args.precision
        cfg.name = f"{cfg.name}-{args.precision}"
    bundle.write_manifest(cfg, args.out, [*graphs.values(), cfg.head.mean_params])
    print(f"wrote {args.out} ({args.precision})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
