"""Segmentation heads on DINOv2 patch features (reference/model.md §2.1).

``forward(features, image)``: ``features`` are [B, D, h, w] maps of the selected blocks
(after the final norm, as the official ``get_intermediate_layers(reshape=True)`` gives them);
``image`` is the model input [B, 3, H, W]. Both return logits [B, C, H, W]. Only ops with
static shapes that export to ONNX opset 17.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class LinearBNHead(nn.Module):
    """The official linear head (mmseg ``BNHead``, ``resize_concat``): BatchNorm + 1x1 conv,
    then bilinear upsampling of the logits to the image size (``align_corners=False``)."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels)
        self.conv_seg = nn.Conv2d(in_channels, num_classes, kernel_size=1)

    def forward(self, features: list[Tensor], image: Tensor) -> Tensor:
        size = (int(features[0].shape[-2]), int(features[0].shape[-1]))
        x = torch.cat([features[0]] + [_resize(f, size) for f in features[1:]], dim=1)
        logits = self.conv_seg(self.bn(x))
        return _resize(logits, (int(image.shape[-2]), int(image.shape[-1])))


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class LightDecoderHead(nn.Module):
    """A light U-Net-style decoder (docs/architecture.md, "The light decoder").

    A shallow convolutional branch on the image gives skips at 1, 1/2 and 1/4 resolution;
    the projected token map is upsampled to 1/4 and fused with them stage by stage. With the
    default widths it has about 0.1 M parameters and about 0.6 GFLOP per 224 x 224 image.
    """

    def __init__(self, in_channels: int, num_classes: int, widths: tuple[int, int, int] = (16, 32, 48),
                 token_channels: int = 64, image_channels: int = 3) -> None:
        super().__init__()
        w1, w2, w4 = widths
        self.stem1 = _conv_bn_relu(image_channels, w1)
        self.stem2 = _conv_bn_relu(w1, w2, stride=2)
        self.stem4 = _conv_bn_relu(w2, w4, stride=2)
        self.project = nn.Sequential(
            nn.Conv2d(in_channels, token_channels, kernel_size=1, bias=False),
            nn.BatchNorm2d(token_channels),
            nn.ReLU(inplace=True),
        )
        self.fuse4 = _conv_bn_relu(token_channels + w4, w4)
        self.fuse2 = _conv_bn_relu(w4 + w2, w2)
        self.fuse1 = _conv_bn_relu(w2 + w1, w1)
        self.classifier = nn.Conv2d(w1, num_classes, kernel_size=1)

    def forward(self, features: list[Tensor], image: Tensor) -> Tensor:
        skip1 = self.stem1(image)
        skip2 = self.stem2(skip1)
        skip4 = self.stem4(skip2)
        size4 = (int(skip4.shape[-2]), int(skip4.shape[-1]))
        tokens = torch.cat([_resize(f, size4) for f in features], dim=1)
        x = self.fuse4(torch.cat([self.project(tokens), skip4], dim=1))
        x = self.fuse2(torch.cat([_resize(x, (int(skip2.shape[-2]), int(skip2.shape[-1]))), skip2], dim=1))
        x = self.fuse1(torch.cat([_resize(x, (int(skip1.shape[-2]), int(skip1.shape[-1]))), skip1], dim=1))
        return self.classifier(x)
