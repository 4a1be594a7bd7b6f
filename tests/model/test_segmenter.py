"""The demo segmenter: config round trip, determinism, fixed size, and a quick ONNX export
sanity check with random weights (SRS-003, SRS-004, SRS-005, SRS-006)."""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from device_ai.errors import ConfigError
from device_ai.model.segmenter import DEMO_SEGMENTER, DinoSegmenter, SegmenterConfig, build_demo_segmenter


@pytest.mark.req("SRS-004")
def test_demo_config_round_trips_through_json() -> None:
    assert DEMO_SEGMENTER == SegmenterConfig("demo_vitt14_reg4", "light_decoder", 3, (1, 3), 224)
    data = json.loads(json.dumps(DEMO_SEGMENTER.config_dict()))
    assert data["kind"] == "dinov2-segmenter"
    assert SegmenterConfig.from_config_dict(data) == DEMO_SEGMENTER
    model = DinoSegmenter.from_config_dict(data)
    assert model.config_dict() == DEMO_SEGMENTER.config_dict()


@pytest.mark.req("SRS-004")
@pytest.mark.parametrize(
    "change",
    [{"backbone": "dinov2_vitx14"}, {"head": "fpn"}, {"num_classes": 0}, {"layers": (5, 3)}, {"layers": (6,)},
     {"layers": ()}, {"input_size": 225}],
)
def test_invalid_segmenter_configs_are_config_errors(change: dict[str, object]) -> None:
    data = DEMO_SEGMENTER.config_dict() | change
    with pytest.raises(ConfigError):
        SegmenterConfig.from_config_dict(data)


@pytest.mark.req("SRS-004")
def test_config_dict_with_unknown_keys_or_kind_is_refused() -> None:
    with pytest.raises(ConfigError):
        SegmenterConfig.from_config_dict(DEMO_SEGMENTER.config_dict() | {"dropout": 0.1})
    with pytest.raises(ConfigError):
        SegmenterConfig.from_config_dict(DEMO_SEGMENTER.config_dict() | {"kind": "unet"})


@pytest.mark.req("SRS-003", "SRS-004")
def test_demo_segmenter_is_seeded_strict_and_fixed_size() -> None:
    a, b, c = build_demo_segmenter(0), build_demo_segmenter(0), build_demo_segmenter(1)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["backbone.blocks.0.attn.qkv.weight"], sc["backbone.blocks.0.attn.qkv.weight"])
    c.load_state_dict(sa, strict=True)  # what the twin loader does with the package weights
    assert a.backbone.input_size == (224, 224) and tuple(a.backbone.pos_embed.shape) == (1, 257, 192)
    with pytest.raises(ValueError, match=r"\(224, 224\)"):
        a(torch.zeros(1, 3, 252, 252))


@pytest.mark.req("SRS-005", "SRS-006")
def test_random_demo_segmenter_exports_to_static_onnx_and_matches_ort() -> None:
    model = build_demo_segmenter(1).eval()
    example = torch.zeros(1, 3, 224, 224)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript-exporter deprecation / tracer warnings
        torch.onnx.export(model, (example,), buffer, input_names=["image"], output_names=["logits"],
                          opset_version=17, do_constant_folding=True, dynamo=False)
    graph = onnx.load_model_from_string(buffer.getvalue())
    onnx.checker.check_model(graph, full_check=True)
    assert {op.domain or "": op.version for op in graph.opset_import}[""] == 17
    for value in (*graph.graph.input, *graph.graph.output):
        assert [d.dim_value for d in value.type.tensor_type.shape.dim] == [1, 3, 224, 224]
    # no run-time position-embedding interpolation: the only resizes are the head's bilinear ones
    modes = {a.s.decode() for n in graph.graph.node if n.op_type == "Resize" for a in n.attribute if a.name == "mode"}
    assert modes == {"linear"}
    assert not any(n.op_type == "Softmax" and n.domain for n in graph.graph.node)

    session = ort.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    image = np.random.default_rng(0).normal(size=(1, 3, 224, 224)).astype(np.float32)
    (ort_logits,) = session.run(None, {"image": image})
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(image)).numpy()
    assert np.max(np.abs(ort_logits - torch_logits)) < 1e-4
