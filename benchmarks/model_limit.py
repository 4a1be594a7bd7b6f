"""The model's FLOPs, this machine's attainable FLOP rate at the model's own shapes, and the
fraction of it the locked ORT FP32 engine reaches, per part, in one run (issue 20 item 4).

1. FLOP count from the verified package's ONNX graph after shape inference: 2 x MACs for
   MatMul, Gemm, Conv (groups and kernel size counted) and ConvTranspose ("mac" FLOPs); bias
   adds, elementwise ops, Softmax, LayerNormalization and Resize counted apart ("other" FLOPs,
   per-element costs in OTHER_PER_ELEMENT); data movement counts 0. Split into backbone and
   head by the graph's structure (see ``assign_parts``), and by op type; cross-checked
   against torch's FlopCounterMode on the package's twin for the same input.
2. The limit: each distinct MatMul/Conv node of the model rebuilt as a single-op ONNX model
   (onnx.helper) and run with the engine's SessionOptions and threads; its kernel time (ORT
   profiler) gives the attainable GFLOP/s at that shape; torch matmul/conv2d at the same
   shapes beside it, and a 1024^3 sgemm in both as the machine's large-GEMM reference.
3. Achieved: ORT profiling of the real model (same options) over N slices: kernel time per
   part and op type, GFLOP/s and fraction of the limit per part; time_at_limit = sum over
   parts of flops_part / attainable_part.
4. ORT FP32 vs PyTorch eager per slice, in quiet blocks as benchmarks/latency.py does (ANOM-017).

A benchmark, not a test: nothing here asserts a time.

    python benchmarks/model_limit.py [--model PATH] [--threads 2] [--rounds 60] [--slices 60]
                                     [--reps 60] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

PARTS = ("backbone", "head")
HEAD_PREFIX = "/head/"  # torch.onnx scope of DinoSegmenter.head (src/device_ai/model/segmenter.py:84)
MAC_OPS = ("MatMul", "Gemm", "Conv", "ConvTranspose")
# "other" FLOPs per output element (per input element for reductions); the conventions are ours
# (no standard exists) and are recorded in the result. LayerNormalization: sum, subtract, square,
# sum, scale by 1/std, gamma, beta. Softmax: max, subtract, exp, sum, divide. Resize (linear):
# 2^r multiplies + (2^r - 1) adds for r resized axes (bilinear: 7).
ELEMENTWISE = ("Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Relu", "Erf", "Exp", "Log", "Neg", "Abs", "Reciprocal",
               "Max", "Min", "Clip", "Tanh", "Sigmoid", "LeakyRelu", "Sum", "Mean")
OTHER_PER_ELEMENT = {"Softmax": 5, "LogSoftmax": 5, "LayerNormalization": 7, "BatchNormalization": 2,
                     "InstanceNormalization": 7}
REDUCTIONS = ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "GlobalAveragePool", "GlobalMaxPool")
ZERO_FLOP = ("Constant", "Shape", "Gather", "Reshape", "Transpose", "Concat", "Slice", "Expand", "ConstantOfShape",
             "Squeeze", "Unsqueeze", "Identity", "Cast", "Split", "Flatten", "Equal", "Where", "Range", "Pad",
             "Tile", "Less", "Greater", "Not", "And", "Or", "Dropout")
COMPUTE_KERNELS = ("Conv", "MatMul", "Gemm", "FusedMatMul", "FusedConv", "FusedGemm", "ConvTranspose")


# ----------------------------------------------------------------------------------------------
# 1. FLOP count
# ----------------------------------------------------------------------------------------------

@dataclass
class NodeFlops:
    name: str
    op_type: str
    mac_flops: int  # 2 x multiply-accumulates (MatMul, Gemm, Conv, ConvTranspose)
    other_flops: int  # bias adds, elementwise, normalisation, softmax, resize
    part: str = ""
    detail: dict = field(default_factory=dict)


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def tensor_shapes(model: onnx.ModelProto) -> tuple[onnx.ModelProto, dict[str, tuple]]:
    """Shape-inferred model and every tensor's shape (None for a dimension left symbolic)."""
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    graph = inferred.graph
    shapes: dict[str, tuple] = {init.name: tuple(init.dims) for init in graph.initializer}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
            shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else None
                                    for d in vi.type.tensor_type.shape.dim)
    return inferred, shapes


def _static(shapes: dict[str, tuple], name: str, node: onnx.NodeProto) -> tuple[int, ...]:
    shape = shapes.get(name)
    if shape is None or any(d is None for d in shape):
        raise ValueError(f"{node.op_type} node {node.name!r}: shape of {name!r} not static after inference: {shape}")
    return shape


def node_flops(node: onnx.NodeProto, shapes: dict[str, tuple]) -> NodeFlops:
    """FLOPs of one node (shapes from :func:`tensor_shapes`). Raises on an op it has no rule for,
    so that a new op is never silently counted as free."""
    op = node.op_type
    attrs = _attrs(node)
    if op in ZERO_FLOP:
        return NodeFlops(node.name, op, 0, 0)
    out = _static(shapes, node.output[0], node)
    out_elems = math.prod(out)
    if op == "MatMul":
        a = _static(shapes, node.input[0], node)
        k = a[-1]
        macs = out_elems * k
        return NodeFlops(node.name, op, 2 * macs, 0, detail={"a": list(a), "b": list(_static(shapes, node.input[1], node)),
                                                             "out": list(out), "k": k})
    if op == "Gemm":
        a = _static(shapes, node.input[0], node)
        k = a[0] if attrs.get("transA", 0) else a[1]
        bias = out_elems if len(node.input) > 2 and node.input[2] else 0
        return NodeFlops(node.name, op, 2 * out_elems * k, bias, detail={"a": list(a), "out": list(out), "k": k})
    if op == "Conv":
        x = _static(shapes, node.input[0], node)
        w = _static(shapes, node.input[1], node)
        group = int(attrs.get("group", 1))
        kernel = tuple(attrs.get("kernel_shape", w[2:]))
        cin_per_group = x[1] // group
        if x[1] % group or w[1] != cin_per_group:
            raise ValueError(f"Conv {node.name!r}: input channels {x[1]}, group {group} and weight {w} disagree")
        macs = out_elems * cin_per_group * math.prod(kernel)
        bias = out_elems if len(node.input) > 2 and node.input[2] else 0
        return NodeFlops(node.name, op, 2 * macs, bias,
                         detail={"x": list(x), "w": list(w), "out": list(out), "group": group, "kernel": list(kernel),
                                 "strides": list(attrs.get("strides", [1] * len(kernel))),
                                 "pads": list(attrs.get("pads", [0] * 2 * len(kernel))),
                                 "dilations": list(attrs.get("dilations", [1] * len(kernel)))})
    if op == "ConvTranspose":
        x = _static(shapes, node.input[0], node)
        w = _static(shapes, node.input[1], node)
        group = int(attrs.get("group", 1))
        kernel = tuple(attrs.get("kernel_shape", w[2:]))
        cout_per_group = out[1] // group
        if out[1] % group or w[1] != cout_per_group or w[0] != x[1]:
            raise ValueError(f"ConvTranspose {node.name!r}: channels, group {group} and weight {w} disagree")
        macs = math.prod(x) * cout_per_group * math.prod(kernel)
        bias = out_elems if len(node.input) > 2 and node.input[2] else 0
        return NodeFlops(node.name, op, 2 * macs, bias, detail={"x": list(x), "w": list(w), "out": list(out),
                                                                "group": group, "kernel": list(kernel)})
    if op in ELEMENTWISE:
        return NodeFlops(node.name, op, 0, out_elems)
    if op in OTHER_PER_ELEMENT:
        return NodeFlops(node.name, op, 0, OTHER_PER_ELEMENT[op] * out_elems)
    if op in REDUCTIONS:
        return NodeFlops(node.name, op, 0, math.prod(_static(shapes, node.input[0], node)))
    if op == "Resize":
        x = _static(shapes, node.input[0], node)
        mode = attrs.get("mode", b"nearest")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        resized = sum(1 for a, b in zip(x, out) if a != b)
        taps = {"nearest": 0, "linear": 2 ** resized, "cubic": 4 ** resized}[mode]
        return NodeFlops(node.name, op, 0, max(0, 2 * taps - 1) * out_elems if taps else 0,
                         detail={"mode": mode, "resized_axes": resized})
    raise ValueError(f"no FLOP rule for op {op!r} (node {node.name!r})")


def count_flops(model: onnx.ModelProto) -> list[NodeFlops]:
    """Per-node FLOPs of ``model`` (shape inference first); parts assigned by :func:`assign_parts`
    when the graph has a head scope, else left empty."""
    inferred, shapes = tensor_shapes(model)
    counts = [node_flops(node, shapes) for node in inferred.graph.node]
    if any(n.name.startswith(HEAD_PREFIX) for n in inferred.graph.node):
        parts = assign_parts(inferred.graph, head_boundary(inferred.graph))
        for c in counts:
            c.part = parts[c.name]
    return counts


def head_boundary(graph: onnx.GraphProto) -> set[str]:
    """The tensors the head takes from the backbone: inputs of nodes in the head's export scope
    (``/head/``) produced by a node outside it, other than constants. (The exporter scopes the
    head's nodes by its module, DinoSegmenter.head (segmenter.py:84, called at :103); the
    backbone's nodes are unscoped because get_intermediate_layers is a method call (:102).)"""
    producer = {out: node for node in graph.node for out in node.output}
    boundary = set()
    for node in graph.node:
        if node.name.startswith(HEAD_PREFIX):
            for name in node.input:
                src = producer.get(name)
                if src is not None and not src.name.startswith(HEAD_PREFIX) and src.op_type != "Constant":
                    boundary.add(name)
    return boundary


def assign_parts(graph: onnx.GraphProto, boundary: set[str]) -> dict[str, str]:
    """Structural split: the backbone is every node an ancestor of (or producing) a boundary
    tensor, the head every other node. Works on the optimized graph too (fused/inserted nodes
    lose the scope in their names), as long as the boundary tensors survive."""
    producer = {out: node for node in graph.node for out in node.output}
    missing = [b for b in boundary if b not in producer]
    if not boundary or missing:
        raise ValueError(f"head boundary tensors not produced in the graph: {missing or 'none found'}")
    backbone: set[int] = set()
    stack = [producer[b] for b in boundary]
    while stack:
        node = stack.pop()
        if id(node) in backbone:
            continue
        backbone.add(id(node))
        stack.extend(producer[name] for name in node.input if name in producer)
    return {node.name: "backbone" if id(node) in backbone else "head" for node in graph.node}


def check_parts_against_scope(graph: onnx.GraphProto, parts: dict[str, str]) -> list[str]:
    """Nodes whose structural part disagrees with their export scope (Constants excluded)."""
    return [n.name for n in graph.node if n.op_type != "Constant"
            and (parts[n.name] == "head") != n.name.startswith(HEAD_PREFIX)]


def summarize(counts: list[NodeFlops]) -> dict:
    parts: dict = {p: {"mac_flops": 0, "other_flops": 0} for p in PARTS}
    by_op: dict = defaultdict(lambda: {"count": 0, "mac_flops": 0, "other_flops": 0})
    for c in counts:
        parts[c.part]["mac_flops"] += c.mac_flops
        parts[c.part]["other_flops"] += c.other_flops
        entry = by_op[(c.part, c.op_type)]
        entry["count"] += 1
        entry["mac_flops"] += c.mac_flops
        entry["other_flops"] += c.other_flops
    for p in parts.values():
        p["flops"] = p["mac_flops"] + p["other_flops"]
    total = {k: sum(parts[p][k] for p in PARTS) for k in ("mac_flops", "other_flops", "flops")}
    op_rows = [{"part": part, "op_type": op, **v} for (part, op), v in by_op.items() if v["mac_flops"] or v["other_flops"]]
    op_rows.sort(key=lambda r: -(r["mac_flops"] + r["other_flops"]))
    return {"total": total, "parts": parts, "by_op_type": op_rows}


def torch_flops(twin, size: int) -> dict:  # noqa: ANN001
    """torch.utils.flop_counter.FlopCounterMode on the twin (counts only matmul/conv-type ops)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.inference_mode(), FlopCounterMode(display=False, depth=None) as counter:
        twin(torch.zeros(1, 3, size, size))
    counts = counter.get_flop_counts()
    total = counter.get_total_flops()
    head_key = next(k for k in counts if k.endswith(".head") and k.count(".") == 1)
    head = sum(counts[head_key].values())
    by_op = {str(op).split("'")[1] if "'" in str(op) else str(op): int(v) for op, v in counts["Global"].items()}
    return {"total": int(total), "parts": {"backbone": int(total - head), "head": int(head)}, "by_op": by_op,
            "module_key_for_head": head_key}


# ----------------------------------------------------------------------------------------------
# 2. The limit: single-op models at the model's shapes
# ----------------------------------------------------------------------------------------------

def _shape_key(node: onnx.NodeProto, shapes: dict[str, tuple], initializers: set[str]) -> tuple:
    ins = tuple((shapes[name], name in initializers) for name in node.input if name)
    attrs = tuple(sorted((k, str(v)) for k, v in _attrs(node).items()))
    return (node.op_type, ins, attrs)


def single_op_model(node: onnx.NodeProto, shapes: dict[str, tuple], initializers: set[str], ir_version: int,
                    opset: int, seed: int = 0) -> bytes:
    """``node`` alone: activations as graph inputs, weights as random initializers of the same
    shapes (so ORT prepacks them as it does the model's)."""
    rng = np.random.default_rng(seed)
    inputs, inits = [], []
    names = []
    for i, name in enumerate(node.input):
        if not name:
            names.append("")
            continue
        local = f"in{i}"
        names.append(local)
        if name in initializers:
            inits.append(numpy_helper.from_array((rng.standard_normal(shapes[name]) * 0.05).astype(np.float32), local))
        else:
            inputs.append(helper.make_tensor_value_info(local, TensorProto.FLOAT, list(shapes[name])))
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, list(shapes[node.output[0]]))
    single = helper.make_node(node.op_type, names, ["out"], name=f"single_{node.op_type}", **_attrs(node))
    graph = helper.make_graph([single], "single_op", inputs, [out], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def _profile_events(path: str) -> list[dict]:
    events = json.loads(Path(path).read_text(encoding="utf-8"))
    Path(path).unlink()
    return events


def ort_single_op_time(model_bytes: bytes, options, reps: int, warmup: int, workdir: str,  # noqa: ANN001
                       feeds: dict | None = None, kernels_of: tuple = COMPUTE_KERNELS,
                       config: dict | None = None) -> dict:
    """Median kernel time (ORT profiler, the op's kernel only) and median wall time of one run;
    random normal inputs unless ``feeds`` are given."""
    import onnxruntime as ort

    from device_ai.inference.engine import session_options

    so = session_options(options)
    for key, value in (config or {}).items():
        so.add_session_config_entry(key, value)
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(workdir, "single")
    session = ort.InferenceSession(model_bytes, sess_options=so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    if feeds is None:
        feeds = {i.name: rng.standard_normal(i.shape).astype(np.float32) for i in session.get_inputs()}
    walls = []
    for index in range(warmup + reps):
        start = time.perf_counter()
        session.run(None, feeds)
        if index >= warmup:
            walls.append(time.perf_counter() - start)
    events = _profile_events(session.end_profiling())
    kernels = sorted((e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")
                      and e["args"].get("op_name") in kernels_of), key=lambda e: e["ts"])
    per_run = len(kernels) // (warmup + reps)
    if per_run != 1 or len(kernels) != warmup + reps:
        raise RuntimeError(f"expected one compute kernel per run, got {len(kernels)} over {warmup + reps} runs")
    kernel_us = [e["dur"] for e in kernels[warmup:]]
    return {"kernel_ms": statistics.median(kernel_us) / 1000, "wall_ms": statistics.median(walls) * 1000,
            "kernel_op": kernels[0]["args"]["op_name"]}


def torch_single_op_time(node: NodeFlops, reps: int, warmup: int) -> float:
    """Median wall ms of torch matmul / conv2d at the node's shapes (same thread count)."""
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(0)
    d = node.detail
    if node.op_type == "MatMul":
        a = torch.randn(d["a"], generator=gen)
        b = torch.randn(d["b"], generator=gen)

        def run() -> None:
            torch.matmul(a, b)
    elif node.op_type == "Conv":
        x = torch.randn(d["x"], generator=gen)
        w = torch.randn(d["w"], generator=gen) * 0.05
        bias = torch.randn(d["w"][0], generator=gen)
        pads = d["pads"]
        if pads[: len(pads) // 2] != pads[len(pads) // 2:]:
            raise ValueError(f"asymmetric pads {pads} not supported by conv2d")

        def run() -> None:
            F.conv2d(x, w, bias, stride=d["strides"], padding=pads[: len(pads) // 2], dilation=d["dilations"],
                     groups=d["group"])
    else:
        raise ValueError(node.op_type)
    times = []
    with torch.inference_mode():
        for index in range(warmup + reps):
            start = time.perf_counter()
            run()
            if index >= warmup:
                times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def measure_limits(model: onnx.ModelProto, counts: list[NodeFlops], options, reps: int, workdir: str) -> dict:  # noqa: ANN001
    """Attainable GFLOP/s at every distinct MatMul/Conv shape of the model, ORT and torch."""
    inferred, shapes = tensor_shapes(model)
    initializers = {i.name for i in inferred.graph.initializer}
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    by_name = {c.name: c for c in counts}
    shapes_rows: dict[tuple, dict] = {}
    node_key: dict[str, tuple] = {}
    for node in inferred.graph.node:
        if node.op_type not in ("MatMul", "Conv"):
            if node.op_type in MAC_OPS:
                raise ValueError(f"no single-op limit for {node.op_type} {node.name!r}")
            continue
        key = _shape_key(node, shapes, initializers)
        node_key[node.name] = key
        if key in shapes_rows:
            shapes_rows[key]["nodes"].append(node.name)
            continue
        count = by_name[node.name]
        ort_t = ort_single_op_time(single_op_model(node, shapes, initializers, model.ir_version, opset), options,
                                   reps, 5, workdir)
        torch_ms = torch_single_op_time(count, reps, 5)
        gflop = count.mac_flops / 1e9
        shapes_rows[key] = {
            "op_type": node.op_type, "part": count.part, "nodes": [node.name],
            "shape": {k: v for k, v in count.detail.items() if k in ("a", "b", "x", "w", "out", "group", "kernel",
                                                                      "strides")},
            "weights_constant": [s[1] for s in key[1]],
            "gflop": gflop, "ort_kernel_ms": ort_t["kernel_ms"], "ort_wall_ms": ort_t["wall_ms"],
            "ort_kernel_op": ort_t["kernel_op"], "torch_ms": torch_ms,
            "ort_kernel_gflops": gflop / (ort_t["kernel_ms"] / 1000),
            "ort_wall_gflops": gflop / (ort_t["wall_ms"] / 1000),
            "torch_gflops": gflop / (torch_ms / 1000),
        }
    return {"shapes": list(shapes_rows.values()), "node_key": node_key, "rows_by_key": shapes_rows}


def large_sgemm_reference(options, reps: int, workdir: str, n: int = 1024) -> dict:  # noqa: ANN001
    """A square n^3 sgemm in ORT (constant B) and torch: the machine's large-GEMM rate."""
    import torch

    node = helper.make_node("MatMul", ["a", "b"], ["c"], name="big")
    shapes = {"a": (n, n), "b": (n, n), "c": (n, n)}
    model = single_op_model(node, shapes, {"b"}, 8, 17)
    ort_t = ort_single_op_time(model, options, reps, 3, workdir)
    a, b = torch.randn(n, n), torch.randn(n, n)
    times = []
    with torch.inference_mode():
        for index in range(reps + 3):
            start = time.perf_counter()
            torch.matmul(a, b)
            if index >= 3:
                times.append(time.perf_counter() - start)
    gflop = 2 * n ** 3 / 1e9
    return {"n": n, "gflop": gflop, "ort_kernel_gflops": gflop / (ort_t["kernel_ms"] / 1000),
            "ort_wall_gflops": gflop / (ort_t["wall_ms"] / 1000),
            "torch_gflops": gflop / statistics.median(times)}


def denormal_probe(model: onnx.ModelProto, options, image: np.ndarray, reps: int, workdir: str) -> list[dict]:  # noqa: ANN001
    """Attention probabilities on a real slice: the fraction of subnormal values each Softmax
    emits, and the single-op kernel time of that Softmax and of the probabilities x V MatMul
    on the real tensors, on the same shapes without subnormals, and on the real tensors with
    ORT's denormals-as-zero (session.set_denormal_as_zero; not the engine's setting)."""
    import onnxruntime as ort

    from device_ai.inference.engine import session_options

    inferred, shapes = tensor_shapes(model)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    consumers = defaultdict(list)
    for node in inferred.graph.node:
        for name in node.input:
            consumers[name].append(node)
    pairs = []
    for node in inferred.graph.node:
        if node.op_type == "Softmax":
            matmul = next((c for c in consumers[node.output[0]] if c.op_type == "MatMul" and c.input[0] == node.output[0]),
                          None)
            if matmul is not None:
                pairs.append((node, matmul))
    wanted = sorted({name for sm, mm in pairs for name in (sm.input[0], sm.output[0], mm.input[1])})
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name in wanted:
        probe.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    session = ort.InferenceSession(probe.SerializeToString(), sess_options=session_options(options),
                                   providers=["CPUExecutionProvider"])
    values = dict(zip(wanted, session.run(wanted, {session.get_inputs()[0].name: image})))
    tiny = np.finfo(np.float32).tiny
    rng = np.random.default_rng(2)
    daz = {"session.set_denormal_as_zero": "1"}
    rows = []
    for softmax, matmul in pairs:
        probs = values[softmax.output[0]]
        row = {"softmax": softmax.name, "matmul": matmul.name,
               "subnormal_fraction": float(((probs != 0) & (np.abs(probs) < tiny)).mean()),
               "zero_fraction": float((probs == 0).mean())}
        for label, node in (("softmax", softmax), ("matmul", matmul)):
            op_bytes = single_op_model(node, shapes, set(), model.ir_version, opset)
            real = {f"in{i}": values[name] for i, name in enumerate(node.input)}
            clean = dict(real)
            clean["in0"] = (rng.random(real["in0"].shape, dtype=np.float32) if label == "matmul"
                            else rng.standard_normal(real["in0"].shape).astype(np.float32))
            kernels = (node.op_type,)
            row[f"{label}_real_kernel_ms"] = ort_single_op_time(op_bytes, options, reps, 5, workdir, real,
                                                                kernels)["kernel_ms"]
            row[f"{label}_no_subnormal_inputs_kernel_ms"] = ort_single_op_time(op_bytes, options, reps, 5, workdir,
                                                                               clean, kernels)["kernel_ms"]
            row[f"{label}_real_denormal_as_zero_kernel_ms"] = ort_single_op_time(op_bytes, options, reps, 5, workdir,
                                                                                 real, kernels, daz)["kernel_ms"]
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------------------------
# 3. Achieved: ORT profile of the real model
# ----------------------------------------------------------------------------------------------

def _original_candidates(graph: onnx.GraphProto) -> dict[str, list[str]]:
    """For each MatMul/Conv node of the exported graph, the names ORT gives its (fused) kernel:
    the node's name (MatMulAddFusion, MatMulScaleFusion append '/...'), its output or that of the
    Relu fused into it (NCHWc convolutions are named '<output>_nchwc')."""
    consumers = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
    cands = {}
    for node in graph.node:
        if node.op_type in MAC_OPS:
            names = [node.name, *node.output]
            for consumer in consumers[node.output[0]]:
                if consumer.op_type == "Relu":
                    names.extend(consumer.output)
            cands[node.name] = names
    return cands


def _match_original(opt_name: str, cands: dict[str, list[str]]) -> str | None:
    for original, names in cands.items():
        for c in names:
            if opt_name == c or opt_name.startswith(c + "/") or opt_name == c + "_nchwc":
                return original
    return None


def profile_model(model_bytes: bytes, original: onnx.ModelProto, options, images: list, slices: int,  # noqa: ANN001
                  warmup: int, workdir: str) -> dict:
    """ORT profile of the real model over ``slices`` runs (after ``warmup``): per-run kernel time
    per part, op type and MatMul/Conv node (medians over runs)."""
    import onnxruntime as ort

    from device_ai.inference.engine import session_options

    so = session_options(options)
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(workdir, "model")
    optimized_path = os.path.join(workdir, "optimized.onnx")
    so.optimized_model_filepath = optimized_path
    session = ort.InferenceSession(model_bytes, sess_options=so, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    for index in range(warmup + slices):
        session.run(None, {input_name: images[index % len(images)]})
    events = _profile_events(session.end_profiling())

    optimized = onnx.load(optimized_path)
    boundary = head_boundary(original.graph)
    parts = assign_parts(optimized.graph, boundary)
    cands = _original_candidates(original.graph)
    runs = sorted((e for e in events if e.get("cat") == "Session" and e["name"] == "model_run"), key=lambda e: e["ts"])
    if len(runs) != warmup + slices:
        raise RuntimeError(f"{len(runs)} model_run events for {warmup + slices} runs")
    runs = runs[warmup:]
    starts = [r["ts"] for r in runs]
    part_t = [defaultdict(float) for _ in runs]
    op_t = [defaultdict(float) for _ in runs]
    node_t = [defaultdict(float) for _ in runs]
    kernel_sum = [0.0 for _ in runs]
    unassigned = set()
    import bisect
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        index = bisect.bisect_right(starts, e["ts"]) - 1
        if index < 0 or e["ts"] > runs[index]["ts"] + runs[index]["dur"]:
            continue  # a warm-up run
        name = e["name"][: -len("_kernel_time")]
        part = parts.get(name)
        if part is None:
            unassigned.add(name)
            part = "unassigned"
        dur = e["dur"] / 1000  # ms
        part_t[index][part] += dur
        op_t[index][(part, e["args"].get("op_name", "?"))] += dur
        kernel_sum[index] += dur
        if e["args"].get("op_name") in COMPUTE_KERNELS:
            original_name = _match_original(name, cands)
            node_t[index][original_name or f"?{name}"] += dur

    # Means over the middle half of the runs (by model_run time): robust to the shared machine's
    # outliers like a median, and additive, so parts, op types and nodes sum to the whole.
    model_run_ms = [r["dur"] / 1000 for r in runs]
    order = sorted(range(len(runs)), key=lambda i: model_run_ms[i])
    middle = order[len(order) // 4: len(order) - len(order) // 4] or order

    def mean(rows: list, key) -> float:  # noqa: ANN001
        return statistics.fmean(rows[i].get(key, 0.0) for i in middle)

    part_keys = sorted({k for r in part_t for k in r})
    op_keys = sorted({k for r in op_t for k in r})
    node_keys = sorted({k for r in node_t for k in r})
    return {
        "slices": slices, "warmup_runs": warmup, "runs_averaged": len(middle),
        "statistic": "mean over the runs between the 25th and 75th percentile of model_run time",
        "model_run_ms_median": statistics.median(model_run_ms),
        "model_run_ms_mid_mean": statistics.fmean(model_run_ms[i] for i in middle),
        "kernel_sum_ms_mid_mean": statistics.fmean(kernel_sum[i] for i in middle),
        "outside_kernels_ms_mid_mean": statistics.fmean(model_run_ms[i] - kernel_sum[i] for i in middle),
        "part_ms": {k: mean(part_t, k) for k in part_keys},
        "op_ms": [{"part": p, "op_name": o, "ms": mean(op_t, (p, o))} for p, o in op_keys],
        "node_ms": {k: mean(node_t, k) for k in node_keys},
        "unassigned_nodes": sorted(unassigned),
        "optimized_nodes": len(optimized.graph.node),
        "boundary_tensors": sorted(boundary),
    }


# ----------------------------------------------------------------------------------------------
# 4. ORT vs eager (as benchmarks/latency.py) and the run
# ----------------------------------------------------------------------------------------------

def interleaved_latency(engine, twin, images: list, rounds: int) -> dict:  # noqa: ANN001
    """ORT and eager timed as benchmarks/latency.py does: quiet blocks, the order alternating (ANOM-017:
    back to back, ORT's spinning threads slowed the eager run after it). ``rounds`` slices per runtime."""
    import torch
    from quiet_blocks import quiet_blocks

    def eager(image: np.ndarray) -> None:
        with torch.inference_mode():
            twin(torch.from_numpy(image))

    for image in images[:3]:
        engine.run(image)
        eager(image)
    times = quiet_blocks({"ort": engine.run, "eager": eager}, images, max(1, math.ceil(rounds / len(images))))
    ort_ms = statistics.median(times["ort"]) * 1000
    torch_ms = statistics.median(times["eager"]) * 1000
    return {"rounds": len(times["ort"]), "method": "quiet_blocks", "ort_fp32_ms_median": ort_ms,
            "torch_eager_ms_median": torch_ms, "speedup_ort_over_torch": torch_ms / ort_ms}


class _NoSpinEngine:
    """The engine's session from the same verified bytes, but with ORT's intra-op thread pool not
    spinning after a run (so it does not take the cores from the eager run that follows)."""

    def __init__(self, model_bytes: bytes, options) -> None:  # noqa: ANN001
        import onnxruntime as ort

        from device_ai.inference.engine import session_options

        so = session_options(options)
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(model_bytes, sess_options=so, providers=["CPUExecutionProvider"])
        self._name = self._session.get_inputs()[0].name

    def run(self, image: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._name: image})[0]


def alone_latency(engine, twin, images: list, rounds: int) -> dict:  # noqa: ANN001
    """ORT alone, then eager alone: without the other runtime's thread pool between runs."""
    import torch

    def timed(fn) -> float:  # noqa: ANN001
        times = []
        for round_index in range(rounds):
            image = images[round_index % len(images)]
            start = time.perf_counter()
            fn(image)
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1000

    def eager(image: np.ndarray) -> None:
        with torch.inference_mode():
            twin(torch.from_numpy(image))

    for image in images[:3]:
        engine.run(image)
    ort_ms = timed(engine.run)
    for image in images[:3]:
        eager(image)
    torch_ms = timed(eager)
    return {"rounds": rounds, "ort_fp32_ms_median": ort_ms, "torch_eager_ms_median": torch_ms,
            "speedup_ort_over_torch": torch_ms / ort_ms}


def machine() -> dict:
    lines = Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines()
    model = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), platform.processor())
    flags = next((ln.split(":", 1)[1].split() for ln in lines if ln.startswith("flags")), [])
    simd = sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "sse", "f16c")))
    return {"cpu_model": model, "cpus": os.cpu_count(), "simd_flags": simd, "arch": platform.machine(),
            "python": platform.python_version()}


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _r(x: float, n: int = 3) -> float:
    return round(float(x), n)


def main() -> None:  # noqa: PLR0915
    import onnxruntime
    import torch

    from device_ai.config import default_model_path
    from device_ai.inference.engine import EngineOptions, LockedEngine
    from device_ai.inference.preprocess import preprocess_slice
    from device_ai.model.package import signing
    from device_ai.model.package.manifest import ONNX_NAME
    from device_ai.model.twin import load_twin
    from device_ai.training.phantoms import generate_case, split_seeds

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(default_model_path()))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=60, help="slices per runtime in the ORT/eager comparison (quiet blocks, latency.py)")
    parser.add_argument("--slices", type=int, default=60, help="profiled slices of the real model")
    parser.add_argument("--reps", type=int, default=60, help="runs per single-op shape")
    parser.add_argument("--trusted-key", action="append", default=[], help="base64 public key of a site-trusted signer")
    parser.add_argument("--out", default="benchmarks/results/model_limit.json")
    args = parser.parse_args()

    uptime_before = _uptime()
    started = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    keys = {signing.key_id(k): k for k in (signing.public_key_from_b64(t) for t in args.trusted_key)}
    options = EngineOptions(threads=args.threads)
    engine = LockedEngine.load(Path(args.model), trusted_keys=keys, options=options)
    torch.set_num_threads(args.threads)
    twin = load_twin(engine.package)
    size = engine.manifest.input.shape[-1]
    model_bytes = engine.package.files[ONNX_NAME]  # the verified bytes, as the engine loads them
    model = onnx.load_from_string(model_bytes)
    case = generate_case(split_seeds("verification", 1)[0], split="verification", n_slices=8)
    images = [preprocess_slice(case.hu[i].astype(np.float32), size, engine.manifest.preprocessing) for i in range(8)]

    # 1. FLOPs
    counts = count_flops(model)
    inferred, _ = tensor_shapes(model)
    scope_mismatch = check_parts_against_scope(inferred.graph,
                                               assign_parts(inferred.graph, head_boundary(inferred.graph)))
    flops = summarize(counts)
    tflops = torch_flops(twin, size)
    cross = {}
    for part in (*PARTS, "total"):
        onnx_mac = flops["total"]["mac_flops"] if part == "total" else flops["parts"][part]["mac_flops"]
        torch_mac = tflops["total"] if part == "total" else tflops["parts"][part]
        cross[part] = {"onnx_mac_flops": onnx_mac, "torch_flop_counter": torch_mac,
                       "relative_difference": abs(onnx_mac - torch_mac) / torch_mac,
                       "within_2_percent": abs(onnx_mac - torch_mac) <= 0.02 * torch_mac}

    with tempfile.TemporaryDirectory(prefix="model_limit-") as workdir:
        # 4 first (the Done-when ratio), then 2 and 3 back to back
        latency = interleaved_latency(engine, twin, images, args.rounds)
        limits = measure_limits(model, counts, options, args.reps, workdir)
        big = large_sgemm_reference(options, max(10, args.reps // 4), workdir)
        profile = profile_model(model_bytes, model, options, images, args.slices, 5, workdir)
        denormals = denormal_probe(model, options, images[3], args.reps, workdir)
        latency_after = interleaved_latency(engine, twin, images, max(10, args.rounds // 3))
        alone = alone_latency(engine, twin, images, args.rounds)
        no_spin = interleaved_latency(_NoSpinEngine(model_bytes, options), twin, images, args.rounds)
    uptime_after = _uptime()

    # limit per part: the model's own MatMul/Conv nodes at their single-op kernel times
    rows_by_key = limits.pop("rows_by_key")
    node_key = limits.pop("node_key")
    by_name = {c.name: c for c in counts}
    per_part: dict = {}
    for part in PARTS:
        names = [n for n in node_key if by_name[n].part == part]
        mac = sum(by_name[n].mac_flops for n in names)
        ort_ms = sum(rows_by_key[node_key[n]]["ort_kernel_ms"] for n in names)
        torch_ms = sum(rows_by_key[node_key[n]]["torch_ms"] for n in names)
        best_ms = sum(min(rows_by_key[node_key[n]]["ort_kernel_ms"], rows_by_key[node_key[n]]["torch_ms"])
                      for n in names)
        part_flops = flops["parts"][part]["flops"]
        attainable = mac / 1e9 / (ort_ms / 1000)
        achieved_ms = profile["part_ms"].get(part, 0.0)
        per_part[part] = {
            "gflop": part_flops / 1e9, "mac_gflop": mac / 1e9,
            "attainable_gflops_ort": attainable,
            "attainable_gflops_torch": mac / 1e9 / (torch_ms / 1000),
            "attainable_gflops_best_of_ort_torch": mac / 1e9 / (best_ms / 1000),
            "time_at_limit_ms": part_flops / 1e9 / attainable * 1000,
            "profiled_kernel_ms": achieved_ms,
            "achieved_gflops": part_flops / 1e9 / (achieved_ms / 1000) if achieved_ms else None,
            "fraction_of_limit": (part_flops / 1e9 / attainable * 1000) / achieved_ms if achieved_ms else None,
        }
        compute_ms = sum(r["ms"] for r in profile["op_ms"] if r["part"] == part and r["op_name"] in COMPUTE_KERNELS)
        per_part[part]["profiled_matmul_conv_kernel_ms"] = compute_ms
        per_part[part]["profiled_other_kernel_ms"] = achieved_ms - compute_ms
        per_part[part]["matmul_conv_fraction_of_limit"] = (mac / 1e9 / attainable * 1000) / compute_ms
        per_part[part]["time_at_best_of_ort_torch_ms"] = part_flops / 1e9 / per_part[part][
            "attainable_gflops_best_of_ort_torch"] * 1000
        # where the part's time beyond its limit goes: its MatMul/Conv kernels above their single-op
        # times, and kernels that carry (almost) no FLOPs
        others = sorted((r for r in profile["op_ms"] if r["part"] == part and r["op_name"] not in COMPUTE_KERNELS),
                        key=lambda r: -r["ms"])
        per_part[part]["gap_ms"] = {
            "total_over_limit": achieved_ms - per_part[part]["time_at_limit_ms"],
            "matmul_conv_kernels_over_single_op": compute_ms - ort_ms,
            "other_kernels": achieved_ms - compute_ms,
            "top_other_kernels": [{"op_name": r["op_name"], "ms": r["ms"]} for r in others[:5]],
        }
    time_at_limit = sum(p["time_at_limit_ms"] for p in per_part.values())
    total_gflop = flops["total"]["flops"] / 1e9
    ort_ms = latency["ort_fp32_ms_median"]
    farthest = min(PARTS, key=lambda p: per_part[p]["fraction_of_limit"])
    nodes = []
    for name, key in node_key.items():
        row = rows_by_key[key]
        profiled = profile["node_ms"].get(name)
        nodes.append({"node": name, "part": by_name[name].part, "op_type": by_name[name].op_type,
                      "gflop": by_name[name].mac_flops / 1e9, "profiled_ms": profiled,
                      "single_op_ort_kernel_ms": row["ort_kernel_ms"], "single_op_torch_ms": row["torch_ms"],
                      "profiled_over_single_op": profiled / row["ort_kernel_ms"] if profiled else None})

    result = {
        "model": engine.manifest.identity,
        "manifest_sha256": engine.package.manifest_sha256,
        "input_shape": list(engine.manifest.input.shape),
        "threads": args.threads,
        "started_utc": started,
        "load": {"uptime_before": uptime_before, "uptime_after": uptime_after},
        "machine": machine(),
        "versions": {"onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__, "torch": torch.__version__,
                     "numpy": np.__version__},
        "session_options": "device_ai.inference.engine.session_options(EngineOptions(threads)): intra_op threads, "
                           "inter_op 1, sequential, ORT_ENABLE_ALL, deterministic compute; CPU provider",
        "flops": {
            "per_slice_gflop": total_gflop,
            "conventions": {"mac_ops": "2 x MACs: MatMul, Gemm, Conv (out elements x Cin/group x kernel), "
                                       "ConvTranspose", "other_per_element": OTHER_PER_ELEMENT,
                            "elementwise_per_element": 1, "resize_linear_per_element": "2^(r+1) - 1",
                            "zero": list(ZERO_FLOP)},
            "split_rule": "head = nodes not upstream of the head's boundary tensors (benchmarks/model_limit.py "
                          "assign_parts); boundary = inputs of /head/-scoped nodes produced outside that scope",
            "scope_mismatches": scope_mismatch,
            **flops,
            "torch_flop_counter": tflops,
            "cross_check_conv_matmul": cross,
        },
        "limit": {**limits, "large_sgemm_reference": big, "per_part": per_part,
                  "note": "attainable = the part's MatMul/Conv FLOPs / the sum of its nodes' single-op ORT kernel "
                          "times; time_at_limit = all the part's FLOPs / attainable"},
        "profile": profile,
        "nodes": nodes,
        "attention_subnormals": denormals,
        "latency": {**latency, "repeat_after_profile": latency_after, "each_alone": alone,
                    "quiet_blocks_ort_spinning_off": {**no_spin, "note": "a session like the engine's plus "
                                                      "session.intra_op.allow_spinning=0 (not the engine's setting)"}},
        "summary": {
            "ort_fp32_ms_median": ort_ms,
            "torch_eager_ms_median": latency["torch_eager_ms_median"],
            "speedup_ort_over_torch": latency["speedup_ort_over_torch"],
            "time_at_limit_ms": time_at_limit,
            "ort_over_limit": ort_ms / time_at_limit,
            "time_at_best_of_ort_torch_limit_ms": sum(p["time_at_best_of_ort_torch_ms"] for p in per_part.values()),
            "ort_over_best_of_ort_torch_limit": ort_ms / sum(p["time_at_best_of_ort_torch_ms"]
                                                             for p in per_part.values()),
            "outside_kernels_ms": profile["outside_kernels_ms_mid_mean"],
            "profiled_model_run_over_limit": profile["model_run_ms_mid_mean"] / time_at_limit,
            "achieved_gflops_whole_model": total_gflop / (ort_ms / 1000),
            "farthest_part_from_limit": farthest,
            "done_when": {"ort_at_least_3x_eager": latency["speedup_ort_over_torch"] >= 3.0,
                          "ort_within_1_3x_of_limit": ort_ms / time_at_limit <= 1.3},
        },
    }

    def rounded(obj):  # noqa: ANN001, ANN202
        if isinstance(obj, float):
            return _r(obj, 4)
        if isinstance(obj, dict):
            return {k: rounded(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [rounded(v) for v in obj]
        return obj

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rounded(result), indent=2) + "\n", encoding="utf-8")

    print(f"model {result['model']}, {args.threads} threads, {machine()['cpu_model']}")
    print(f"load before: {uptime_before}\nload after : {uptime_after}")
    print(f"\nFLOPs per slice: {total_gflop:.3f} GFLOP "
          f"(mac {flops['total']['mac_flops'] / 1e9:.3f}, other {flops['total']['other_flops'] / 1e9:.3f})")
    for part in PARTS:
        p = flops["parts"][part]
        c = cross[part]
        print(f"  {part:8s}: {p['flops'] / 1e9:.3f} GFLOP (mac {p['mac_flops'] / 1e9:.3f}, other "
              f"{p['other_flops'] / 1e9:.4f}); torch FlopCounterMode {c['torch_flop_counter'] / 1e9:.3f}, "
              f"diff {100 * c['relative_difference']:.2f}%")
    print("  by op type:")
    for row in flops["by_op_type"]:
        print(f"    {row['part']:8s} {row['op_type']:20s} x{row['count']:<3d} mac {row['mac_flops'] / 1e9:7.3f}  "
              f"other {row['other_flops'] / 1e9:7.4f} GFLOP")
    print("\nlimit per shape (GFLOP/s: ORT kernel / ORT wall / torch):")
    for row in limits["shapes"]:
        print(f"  {row['part']:8s} {row['op_type']:6s} {str(row['shape']):80.80s} x{len(row['nodes'])} "
              f"{row['gflop']:.4f} GFLOP  {row['ort_kernel_gflops']:6.1f} / {row['ort_wall_gflops']:6.1f} / "
              f"{row['torch_gflops']:6.1f}")
    print(f"  1024^3 sgemm: ORT kernel {big['ort_kernel_gflops']:.1f}, torch {big['torch_gflops']:.1f} GFLOP/s")
    print(f"\nprofile over {args.slices} slices: model_run {profile['model_run_ms_mid_mean']:.2f} ms, kernels "
          f"{profile['kernel_sum_ms_mid_mean']:.2f} ms; per op type (ms per slice):")
    for row in sorted(profile["op_ms"], key=lambda r: -r["ms"]):
        if row["ms"] >= 0.05:
            print(f"    {row['part']:10s} {row['op_name']:22s} {row['ms']:7.3f}")
    print(f"\n{'part':10s} {'GFLOP':>7s} {'ms':>8s} {'GFLOP/s':>8s} {'limit':>8s} {'fraction':>8s}")
    for part in PARTS:
        p = per_part[part]
        print(f"{part:10s} {p['gflop']:7.3f} {p['profiled_kernel_ms']:8.2f} {p['achieved_gflops']:8.1f} "
              f"{p['attainable_gflops_ort']:8.1f} {p['fraction_of_limit']:8.2f}")
    print(f"{'model':10s} {total_gflop:7.3f} {ort_ms:8.2f} {total_gflop / (ort_ms / 1000):8.1f} "
          f"{total_gflop / (time_at_limit / 1000):8.1f} {time_at_limit / ort_ms:8.2f}   (ORT wall, unprofiled)")
    print(f"farthest from its limit: {farthest}")
    for part in PARTS:
        gap = per_part[part]["gap_ms"]
        top = ", ".join(f"{r['op_name']} {r['ms']:.2f}" for r in gap["top_other_kernels"][:4])
        print(f"  {part:8s} over its limit by {gap['total_over_limit']:.2f} ms: MatMul/Conv kernels "
              f"{gap['matmul_conv_kernels_over_single_op']:+.2f} ms vs single-op, other kernels "
              f"{gap['other_kernels']:.2f} ms ({top})")
    print(f"  outside kernels (session, copies): {profile['outside_kernels_ms_mid_mean']:.2f} ms per slice")
    print(f"  limit with the faster of ORT/torch per shape: {result['summary']['time_at_best_of_ort_torch_limit_ms']:.2f}"
          f" ms (ORT is {result['summary']['ort_over_best_of_ort_torch_limit']:.2f}x of it)")
    print("\nattention probabilities (one real slice): subnormal fraction; kernel ms real / no subnormals / "
          "real with denormal-as-zero")
    for row in denormals:
        print(f"  {row['softmax']:28s} {100 * row['subnormal_fraction']:5.2f}%  softmax "
              f"{row['softmax_real_kernel_ms']:.3f} / {row['softmax_no_subnormal_inputs_kernel_ms']:.3f} / "
              f"{row['softmax_real_denormal_as_zero_kernel_ms']:.3f}   x V "
              f"{row['matmul_real_kernel_ms']:.3f} / {row['matmul_no_subnormal_inputs_kernel_ms']:.3f} / "
              f"{row['matmul_real_denormal_as_zero_kernel_ms']:.3f}")
    print(f"\nalone (not interleaved): ORT {alone['ort_fp32_ms_median']:.2f} ms, eager "
          f"{alone['torch_eager_ms_median']:.2f} ms, {alone['speedup_ort_over_torch']:.2f}x")
    print(f"quiet blocks, ORT spinning off: ORT {no_spin['ort_fp32_ms_median']:.2f} ms, eager "
          f"{no_spin['torch_eager_ms_median']:.2f} ms, {no_spin['speedup_ort_over_torch']:.2f}x")
    print(f"\nORT FP32     : {ort_ms:8.2f} ms/slice (median of {args.rounds})")
    print(f"PyTorch eager: {latency['torch_eager_ms_median']:8.2f} ms/slice")
    print(f"ORT / eager  : {latency['speedup_ort_over_torch']:.2f}x  (>= 3x: "
          f"{result['summary']['done_when']['ort_at_least_3x_eager']})")
    print(f"ORT / limit  : {ort_ms / time_at_limit:.2f}x of time_at_limit {time_at_limit:.2f} ms  (<= 1.3x: "
          f"{result['summary']['done_when']['ort_within_1_3x_of_limit']})")


if __name__ == "__main__":
    main()
