"""The segmenter designs compared by ``benchmarks/head_designs.py`` and the pilot of PLAN.md (study
code, not the product): the released architecture rebuilt, and cheaper variants of its head and
backbone. Every design keeps the product's signature, ``forward(image [B, 3, S, S]) -> logits
[B, 3, S, S]``, and exports with ``device_ai.model.export.export_onnx``.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from device_ai.model.dinov2 import DinoVisionTransformer, get_config
from device_ai.model.heads import LightDecoderHead, _conv_bn_relu, _resize, _separable_bn_relu, _size
from device_ai.model.segmenter import DEMO_SEGMENTER


class StudyHead(LightDecoderHead):
    """The light decoder with depthwise-separable fuse convs and/or without the full-resolution stage."""

    def __init__(self, in_channels: int, num_classes: int, *, depthwise: bool, full_resolution: bool) -> None:
        super().__init__(in_channels, num_classes)
        w1, w2, w4 = 16, 32, 48
        self.full_resolution = full_resolution
        if depthwise:
            self.fuse4 = _separable_bn_relu(64 + w4, w4)
            self.fuse2 = _separable_bn_relu(w4 + w2, w2)
            self.fuse1 = _separable_bn_relu(w2 + w1, w1)
        if not full_resolution:
            self.stem1 = _conv_bn_relu(3, w1, stride=2)  # straight to 1/2
            self.stem2 = _conv_bn_relu(w1, w2)
            self.classifier = nn.Conv2d(w2, num_classes, 1)

    def forward(self, features, image):  # noqa: ANN001, ANN201
        if self.full_resolution:
            return super().forward(features, image)
        skip2 = self.stem2(self.stem1(image))  # 1/2
        skip4 = self.stem4(skip2)
        tokens = self.project(torch.cat([_resize(f, _size(skip4)) for f in features], dim=1))
        x = self.fuse4(torch.cat([tokens, skip4], dim=1))
        x = self.fuse2(torch.cat([_resize(x, _size(skip2)), skip2], dim=1))
        return _resize(self.classifier(x), _size(image))


class StudySegmenter(nn.Module):
    def __init__(self, *, depth: int, layers: tuple[int, ...], input_size: int, head: str) -> None:
        super().__init__()
        vit = replace(get_config(DEMO_SEGMENTER.backbone), depth=depth)
        self.layers, self.input_size = list(layers), input_size
        self.backbone = DinoVisionTransformer(vit)
        self.backbone.fix_input_size(input_size, input_size)
        channels = vit.embed_dim * len(layers)
        if head == "light":
            self.head = LightDecoderHead(channels, 3)
        else:
            self.head = StudyHead(channels, 3, depthwise="dwsep" in head, full_resolution="half" not in head)

    def forward(self, image):  # noqa: ANN001, ANN201
        return self.head(list(self.backbone.get_intermediate_layers(image, n=self.layers, reshape=True)), image)


DESIGNS = {
    "light": dict(depth=4, layers=(1, 3), input_size=224, head="light"),
    "dwsep": dict(depth=4, layers=(1, 3), input_size=224, head="dwsep"),
    "half": dict(depth=4, layers=(1, 3), input_size=224, head="half"),
    "dwsep_half": dict(depth=4, layers=(1, 3), input_size=224, head="dwsep_half"),
    "dwsep_half_3blocks": dict(depth=3, layers=(1, 2), input_size=224, head="dwsep_half"),
    "light_168": dict(depth=4, layers=(1, 3), input_size=168, head="light"),
}


def build(name: str) -> StudySegmenter:
    torch.manual_seed(0)
    return StudySegmenter(**DESIGNS[name]).eval()
