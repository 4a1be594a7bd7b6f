"""The FLOP counter behind the limit figures of benchmarks/model_limit.py (SRS-024's benchmark
run, issue 20 item 4), on tiny hand-built ONNX graphs whose FLOPs are computed by hand here."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("benchmarks_model_limit", ROOT / "benchmarks" / "model_limit.py")
model_limit = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = model_limit  # dataclasses look their module up there
_spec.loader.exec_module(model_limit)


def conv_matmul_graph(cin: int = 4, cout: int = 6, group: int = 2, kernel: int = 3) -> onnx.ModelProto:
    """X [1, cin, 8, 8] -> Conv (cout, group, kernel x kernel, 'same' padding, bias) -> Y;
    A [1, 5, 7] -> MatMul with a constant [7, 3] -> Z."""
    pad = kernel // 2
    weights = [
        numpy_helper.from_array(np.zeros((cout, cin // group, kernel, kernel), np.float32), "w"),
        numpy_helper.from_array(np.zeros((cout,), np.float32), "b"),
        numpy_helper.from_array(np.zeros((7, 3), np.float32), "m"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv", group=group, kernel_shape=[kernel, kernel],
                         pads=[pad] * 4),
        helper.make_node("MatMul", ["a", "m"], ["z"], name="matmul"),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, 8, 8]),
         helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 5, 7])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, None)],
        initializer=weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def by_name(model: onnx.ModelProto) -> dict:
    return {c.name: c for c in model_limit.count_flops(model)}


@pytest.mark.req("SRS-024")
def test_conv_and_matmul_flops_equal_the_hand_count() -> None:
    counts = by_name(conv_matmul_graph())
    # Conv: output 1 x 6 x 8 x 8 = 384 elements, each 4/2 = 2 input channels x 3 x 3 taps = 18 MACs
    # -> 6,912 MACs = 13,824 FLOPs; the bias adds one FLOP per output element (384), counted apart.
    assert counts["conv"].mac_flops == 13_824
    assert counts["conv"].other_flops == 384
    # MatMul [1, 5, 7] x [7, 3]: 5 x 3 outputs, 7 MACs each = 105 MACs = 210 FLOPs, no bias
    assert counts["matmul"].mac_flops == 210
    assert counts["matmul"].other_flops == 0


@pytest.mark.req("SRS-024")
@pytest.mark.parametrize("doubled", [{"cout": 12}, {"cin": 8}], ids=["output-channels", "input-channels"])
def test_a_doubled_conv_channel_count_doubles_the_conv_flops_only(doubled: dict) -> None:
    base = by_name(conv_matmul_graph())
    wide = by_name(conv_matmul_graph(**doubled))
    assert wide["conv"].mac_flops == 2 * base["conv"].mac_flops == 27_648
    assert wide["matmul"].mac_flops == base["matmul"].mac_flops == 210


@pytest.mark.req("SRS-024")
def test_groups_and_kernel_size_each_scale_the_count() -> None:
    # control inputs: the same channels ungrouped doubles the MACs, a 1x1 kernel divides them by 9
    assert by_name(conv_matmul_graph(group=1))["conv"].mac_flops == 2 * 13_824
    assert by_name(conv_matmul_graph(kernel=1))["conv"].mac_flops == 13_824 // 9


@pytest.mark.req("SRS-024")
def test_an_op_without_a_rule_is_refused_not_counted_as_free() -> None:
    node = helper.make_node("Einsum", ["a", "a"], ["z"], name="einsum", equation="bij,bkj->bik")
    graph = helper.make_graph([node], "unknown", [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, 5, 7])],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)])
    with pytest.raises(ValueError, match="no FLOP rule for op 'Einsum'"):
        model_limit.count_flops(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))


@pytest.mark.req("SRS-024")
def test_parts_split_at_the_tensors_the_head_takes_from_the_backbone() -> None:
    # backbone: x -> /blocks/Relu -> /Transpose (feature map); head: its own stem on x and a fuse
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="/blocks/Relu"),
        helper.make_node("Transpose", ["r"], ["f"], name="/Transpose", perm=[0, 1, 3, 2]),
        helper.make_node("Relu", ["x"], ["s"], name="/head/stem/Relu"),
        helper.make_node("Add", ["f", "s"], ["y"], name="/head/Add"),
        helper.make_node("Relu", ["y"], ["out"], name="classifier"),  # unscoped, downstream: head
    ]
    graph = helper.make_graph(nodes, "parts", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 3])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)])
    boundary = model_limit.head_boundary(graph)
    assert boundary == {"f"}
    parts = model_limit.assign_parts(graph, boundary)
    assert parts == {"/blocks/Relu": "backbone", "/Transpose": "backbone", "/head/stem/Relu": "head",
                     "/head/Add": "head", "classifier": "head"}
    assert model_limit.check_parts_against_scope(graph, parts) == ["classifier"]
