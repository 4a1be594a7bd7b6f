"""Segmentation heads (SRS-004) and the segmenter's fixed input (SRS-003)."""

from __future__ import annotations


import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from device_ai.model.heads import LightDecoderHead, LinearBNHead
from device_ai.model.segmenter import DEMO_SEGMENTER, DinoSegmenter, SegmenterConfig, build_demo_segmenter


@pytest.mark.req("SRS-004")
def test_linear_head_is_batchnorm_then_1x1_conv_then_bilinear_upsampling() -> None:
    torch.manual_seed(0)
    head = LinearBNHead(8, 3).eval()
    with torch.no_grad():
        head.bn.running_mean.uniform_(-1, 1)
        head.bn.running_var.uniform_(0.5, 2)
        head.bn.weight.uniform_(0.5, 2)
        head.bn.bias.uniform_(-1, 1)
    features = torch.randn(1, 8, 4, 4)
    image = torch.zeros(1, 3, 4, 4)  # same size: no upsampling, pure BN + conv
    bn = head.bn
    normalized = (features - bn.running_mean[None, :, None, None]) / torch.sqrt(bn.running_var[None, :, None, None] + bn.eps)
    normalized = normalized * bn.weight[None, :, None, None] + bn.bias[None, :, None, None]
    expected = torch.einsum("oc,bchw->bohw", head.conv_seg.weight[:, :, 0, 0], normalized) + head.conv_seg.bias[None, :, None, None]
    assert torch.allclose(head([features], image), expected, atol=1e-5)
    upsampled = head([features], torch.zeros(1, 3, 16, 16))
    assert upsampled.shape == (1, 3, 16, 16)
    assert torch.allclose(upsampled, torch.nn.functional.interpolate(expected, size=(16, 16), mode="bilinear",
                                                                    align_corners=False), atol=1e-5)


@pytest.mark.req("SRS-004")
def test_light_decoder_uses_both_tokens_and_image_skips() -> None:
    torch.manual_seed(0)
    head = LightDecoderHead(16, 3)
    features = [torch.randn(2, 8, 4, 4, requires_grad=True), torch.randn(2, 8, 4, 4, requires_grad=True)]
    image = torch.randn(2, 3, 56, 56, requires_grad=True)
    logits = head(features, image)
    assert logits.shape == (2, 3, 56, 56)
    logits.square().mean().backward()
    assert all(f.grad is not None and f.grad.abs().sum() > 0 for f in features)
    assert image.grad is not None and image.grad.abs().sum() > 0


@pytest.mark.req("SRS-004", "SRS-003")
def test_demo_segmenter_shapes_gradients_and_fixed_size() -> None:
    model = build_demo_segmenter(0)
    image = torch.randn(1, 3, 224, 224)
    logits = model(image)
    assert logits.shape == (1, 3, 224, 224)
    logits.mean().backward()
    assert model.backbone.blocks[0].attn.qkv.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="accepts exactly"):
        model(torch.randn(1, 3, 252, 252))
    assert SegmenterConfig.from_config_dict(DEMO_SEGMENTER.to_config_dict()) == DEMO_SEGMENTER


@pytest.mark.req("SRS-005", "SRS-006")
def test_random_demo_segmenter_exports_and_matches_ort() -> None:
    from device_ai.model.export import export_onnx

    model = build_demo_segmenter(1).eval()
    data = export_onnx(model, 224)
    graph = onnx.load_model_from_string(data)
    assert [d.dim_value for d in graph.graph.input[0].type.tensor_type.shape.dim] == [1, 3, 224, 224]
    assert {op.domain or "": op.version for op in graph.opset_import}[""] == 17
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    image = np.random.default_rng(0).normal(size=(1, 3, 224, 224)).astype(np.float32)
    (ort_logits,) = session.run(None, {"image": image})
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(image)).numpy()
    assert np.max(np.abs(ort_logits - torch_logits)) < 1e-4
