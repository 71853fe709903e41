"""Convolution weights stored as int8 with one float scale per output channel.

A packed graph holds each convolution's weight W as an int8 tensor Q and a scale S of
shape (out, 1, 1, 1) (a ConvTranspose, whose weight is (in, out, k, k): (1, out, 1, 1)),
and computes W = Cast(Q) · S in two constant nodes in front of the Conv: a quarter of the
bytes, still f32 arithmetic (tract folds constant nodes into one f32 weight when it loads
the graph, so the engine runs exactly the unpacked graph).

Packing rounds W to the int8 grid. To keep the bundle equal to its PyTorch reference, the
exporter first rounds the reference's own convolution weights to that grid
(`round_conv_weights_`); a batch norm folded into a Conv afterwards scales whole output
channels, which keeps them on a (rescaled) grid, so packing the exported graph recovers
the same integers and loses nothing but float rounding.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

LEVELS = 127  # symmetric int8: −127..127


def _scale(w: np.ndarray, axis: int = 0) -> np.ndarray:
    """One scale per slice along `axis` (the output channels), shaped to broadcast."""
    top = np.abs(np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)).max(1)
    shape = [1] * w.ndim
    shape[axis] = -1
    return (np.where(top > 0, top, 1.0) / LEVELS).astype(np.float32).reshape(shape)


# Where each convolution keeps its output channels: Conv (out, in, k, k), ConvTranspose (in, out, k, k).
OUT_AXIS = {"Conv": 0, "ConvTranspose": 1}


@torch.no_grad()
def round_conv_weights_(module: torch.nn.Module) -> int:
    """Round every Conv2d and ConvTranspose2d weight under `module` to its per-output-channel
    int8 grid, in place. Returns how many weights were rounded."""
    n = 0
    for m in module.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            w = m.weight.detach().cpu().numpy()
            s = _scale(w, OUT_AXIS["ConvTranspose" if isinstance(m, torch.nn.ConvTranspose2d) else "Conv"])
            m.weight.copy_(torch.from_numpy(np.round(w / s) * s))
            n += 1
    return n


def pack(model: onnx.ModelProto) -> tuple[onnx.ModelProto, float]:
    """Store every Conv and ConvTranspose weight initializer (used by that node alone; f32,
    or f16 with an f16 scale) as int8 + scale.
    Returns the graph and the largest |unpacked − original| relative to a channel's
    largest weight (float rounding only, ~1e-7, when the weights were rounded first)."""
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    uses = Counter(name for node in g.node for name in node.input)
    new_nodes, worst = [], 0.0
    for node in g.node:
        if node.op_type not in OUT_AXIS or node.input[1] not in inits or uses[node.input[1]] != 1:
            continue
        name, kind = node.input[1], inits[node.input[1]].data_type
        if kind not in (TensorProto.FLOAT, TensorProto.FLOAT16):
            continue
        stored = numpy_helper.to_array(inits[name])  # f32, or f16 in an f16 bundle
        w = stored.astype(np.float32)
        s = _scale(w, OUT_AXIS[node.op_type])
        q = np.clip(np.round(w / s), -LEVELS, LEVELS).astype(np.int8)
        worst = max(worst, float((np.abs(q * s - w) / (s * LEVELS)).max()))
        g.initializer.remove(inits[name])
        g.initializer.extend([numpy_helper.from_array(q, name + "_q"),
                              numpy_helper.from_array(s.astype(stored.dtype), name + "_scale")])
        new_nodes += [helper.make_node("Cast", [name + "_q"], [name + "_f"], to=kind),
                      helper.make_node("Mul", [name + "_f", name + "_scale"], [name])]
    nodes = new_nodes + list(g.node)  # constants first: the node list stays topologically sorted
    del g.node[:]
    g.node.extend(nodes)
    return model, worst


def unpack(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """The plain graph of a packed one (each Cast · Mul pair folded back into an f32 or f16
    initializer). Returns the graph and how many weights were unpacked."""
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    casts = {n.output[0]: n for n in g.node
             if n.op_type == "Cast" and n.input[0] in inits and inits[n.input[0]].data_type == TensorProto.INT8}
    drop, n = [], 0
    for node in g.node:
        if node.op_type == "Mul" and node.input[0] in casts and node.input[1] in inits:
            cast = casts[node.input[0]]
            q, s = inits[cast.input[0]], inits[node.input[1]]
            scale = numpy_helper.to_array(s)
            w = numpy_helper.to_array(q).astype(scale.dtype) * scale
            g.initializer.extend([numpy_helper.from_array(w, node.output[0])])
            g.initializer.remove(q)
            g.initializer.remove(s)
            drop += [cast, node]
            n += 1
    for node in drop:
        g.node.remove(node)
    return model, n


def is_packed(model: onnx.ModelProto) -> bool:
    """Whether a graph holds packed weights (a Cast of an int8 initializer; an int8
    bundle's QLinearConv weights are int8 too, but are not cast)."""
    int8 = {t.name for t in model.graph.initializer if t.data_type == TensorProto.INT8}
    return any(n.op_type == "Cast" and n.input[0] in int8 for n in model.graph.node)
