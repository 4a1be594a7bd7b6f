"""Segmentation heads (SRS-004): the official linear BN head and the light decoder."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from device_ai.model.heads import LightDecoderHead, LinearBNHead
from device_ai.model.segmenter import DinoSegmenter, SegmenterConfig


def randomize_bn(bn: nn.BatchNorm2d) -> None:
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.uniform_(0.5, 2)
        bn.bias.uniform_(-1, 1)


@pytest.mark.req("SRS-004")
def test_linear_head_is_resize_concat_batchnorm_1x1_conv_then_bilinear_upsampling() -> None:
    torch.manual_seed(0)
    head = LinearBNHead(8 + 4, 3).eval()
    randomize_bn(head.bn)
    a, b = torch.randn(2, 8, 4, 4), torch.randn(2, 4, 2, 2)  # second map at half size
    # by hand: resize_concat (to the first map's size), BN in eval, 1x1 conv
    x = torch.cat([a, F.interpolate(b, size=(4, 4), mode="bilinear", align_corners=False)], dim=1)
    mean, var = head.bn.running_mean.view(1, -1, 1, 1), head.bn.running_var.view(1, -1, 1, 1)
    x = (x - mean) / torch.sqrt(var + 1e-5) * head.bn.weight.view(1, -1, 1, 1) + head.bn.bias.view(1, -1, 1, 1)
    logits = torch.einsum("oc,bchw->bohw", head.conv_seg.weight[:, :, 0, 0], x) + head.conv_seg.bias.view(1, -1, 1, 1)
    with torch.no_grad():
        same_size = head([a, b], torch.zeros(2, 3, 4, 4))  # no upsampling: pure BN + conv
        upsampled = head([a, b], torch.zeros(2, 3, 28, 42))
    assert torch.allclose(same_size, logits, atol=1e-5)
    assert upsampled.shape == (2, 3, 28, 42)
    assert torch.allclose(upsampled, F.interpolate(logits, size=(28, 42), mode="bilinear", align_corners=False),
                          atol=1e-5)
    # the official parameter names (mmseg BNHead): bn, conv_seg
    assert set(head.state_dict()) >= {"bn.weight", "bn.running_var", "conv_seg.weight", "conv_seg.bias"}


def assert_shapes_and_gradients(head: nn.Module, height: int, width: int, modules: list[str]) -> None:
    """``head`` on two 8-channel token maps and a (2, 3, height, width) image gives logits of the image's size,
    and a loss on them reaches the tokens, the image and the first weight of each of ``modules``."""
    features = [torch.randn(2, 8, height // 14, width // 14, requires_grad=True) for _ in range(2)]
    image = torch.randn(2, 3, height, width, requires_grad=True)
    logits = head(features, image)
    assert logits.shape == (2, 3, height, width)
    logits.square().mean().backward()
    assert all(f.grad is not None and f.grad.abs().sum() > 0 for f in features)
    assert image.grad is not None and image.grad.abs().sum() > 0
    for name in modules:
        assert getattr(head, name)[0].weight.grad.abs().sum() > 0, name


@pytest.mark.req("SRS-004")
@pytest.mark.parametrize(("height", "width"), [(56, 56), (70, 98)])  # 70x98: odd sizes at 1/2 and 1/4
def test_light_decoder_shapes_and_gradients_into_tokens_and_skips(height: int, width: int) -> None:
    torch.manual_seed(0)
    assert_shapes_and_gradients(LightDecoderHead(16, 3), height, width,
                                ["stem1", "stem2", "stem4", "project", "fuse4", "fuse1"])


@pytest.mark.req("SRS-004")
def test_light_decoder_size_matches_its_docstring() -> None:
    head = LightDecoderHead(2 * 192, 3).eval()
    assert sum(p.numel() for p in head.parameters()) == 122_339
    macs = 0

    def count(module: nn.Module, _: object, out: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            macs += out.numel() * module.in_channels * module.kernel_size[0] * module.kernel_size[1]

    for module in head.modules():
        module.register_forward_hook(count)
    with torch.no_grad():
        head([torch.zeros(1, 192, 16, 16)] * 2, torch.zeros(1, 3, 224, 224))
    assert round(macs / 1e9, 3) == 0.990
    assert "122,339" in (LightDecoderHead.__doc__ or "") and "0.990 G" in (LightDecoderHead.__doc__ or "")


@pytest.mark.req("SRS-004")
@pytest.mark.parametrize("head", ["light_decoder", "linear"])
def test_segmenter_gradients_reach_the_backbone_and_the_head(head: str) -> None:
    torch.manual_seed(0)
    cfg = SegmenterConfig(backbone="demo_vitt14_reg4", head=head, num_classes=3, layers=(0, 2), input_size=112)
    model = DinoSegmenter(cfg)
    logits = model(torch.randn(2, 3, 112, 112))
    assert logits.shape == (2, 3, 112, 112)
    logits.square().mean().backward()
    backbone = model.backbone
    assert backbone.blocks[0].attn.qkv.weight.grad.abs().sum() > 0
    assert backbone.blocks[2].mlp.fc2.weight.grad.abs().sum() > 0
    assert backbone.pos_embed.grad.abs().sum() > 0
    # blocks after the last selected one do not influence the output
    assert backbone.blocks[3].attn.qkv.weight.grad is None
    if head == "light_decoder":
        assert model.head.stem1[0].weight.grad.abs().sum() > 0  # the full-resolution skip branch
