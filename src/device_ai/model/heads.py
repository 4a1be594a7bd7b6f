"""Segmentation heads on DINOv2 patch features (reference/model.md §2.1).

Every head shares one signature, ``forward(features, image) -> logits [B, C, H, W]``:
``features`` are the [B, D, h, w] patch maps of the selected blocks (after the final norm,
as the official ``get_intermediate_layers(reshape=True)`` returns them) and ``image`` is the
model input [B, 3, H, W]. Only ops with static shapes that export to ONNX opset 17: every
resize is ``F.interpolate(size=<python ints>, mode="bilinear", align_corners=False)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _size(x: Tensor) -> tuple[int, int]:
    # Python ints: the traced ONNX graph gets constant Resize sizes (static shapes).
    return int(x.shape[-2]), int(x.shape[-1])


def _resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    if _size(x) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def resize_concat(features: Sequence[Tensor]) -> Tensor:
    """mmseg ``input_transform="resize_concat"``: every map resized (bilinear,
    ``align_corners=False``) to the first map's size, then concatenated along channels."""
    size = _size(features[0])
    return torch.cat([_resize(f, size) for f in features], dim=1)


class LinearBNHead(nn.Module):
    """The official linear head: mmseg ``BNHead`` as used by the DINOv2 segmentation eval
    (``dinov2/eval/segmentation/models/decode_heads/linear_head.py``): ``resize_concat`` ->
    ``BatchNorm2d`` (``bn``; SyncBN there) -> 1x1 conv (``conv_seg``), then bilinear
    upsampling of the logits to the image size (mmseg ``EncoderDecoder``, ``align_corners=False``).
    Dropout ratio 0 as in the official linear configs.
    """

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels)
        self.conv_seg = nn.Conv2d(in_channels, num_classes, kernel_size=1)

    def forward(self, features: Sequence[Tensor], image: Tensor) -> Tensor:
        logits = self.conv_seg(self.bn(resize_concat(features)))
        return _resize(logits, _size(image))


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False),  # BN supplies the bias
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def _project_bn_relu(cin: int, cout: int) -> nn.Sequential:
    """1x1 conv+BN+ReLU: the token maps projected to the decoder's width."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel_size=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class LightDecoderHead(nn.Module):
    """A light U-Net-style decoder: ViT tokens give the context, image skips the boundaries.

    The 14-px patch grid alone (16 x 16 at 224 px) cannot delineate ~10-mm lesions, so a
    shallow conv branch on the image gives skips at full, 1/2 and 1/4 resolution
    (conv3x3+BN+ReLU, stride 2 to go down). The token maps are upsampled bilinearly to 1/4,
    concatenated, projected by a 1x1 conv+BN+ReLU to ``token_channels``, concatenated with
    the 1/4 skip and fused by conv3x3+BN+ReLU; then
    up x2 + 1/2 skip + conv, up x2 + full skip + conv, and a 1x1 conv to the classes.

    Size with the defaults (widths (16, 32, 48), token_channels 64) for the demo segmenter
    (in_channels 2 x 192 = 384, 3 classes, 224 x 224 input): 122,339 parameters and
    0.990 G multiply-accumulates (about 2 GFLOP) per image, 0.35 G MACs of which are the
    full-resolution fuse conv; for scale, the 4-block demo backbone (1.94 M parameters) is
    about 0.6 G MACs per image. ``tests/model/test_heads.py`` recomputes both head numbers.
    """

    def __init__(self, in_channels: int, num_classes: int, widths: tuple[int, int, int] = (16, 32, 48),
                 token_channels: int = 64, image_channels: int = 3) -> None:
        super().__init__()
        w1, w2, w4 = widths
        self.stem1 = _conv_bn_relu(image_channels, w1)  # full resolution
        self.stem2 = _conv_bn_relu(w1, w2, stride=2)  # 1/2
        self.stem4 = _conv_bn_relu(w2, w4, stride=2)  # 1/4
        self.project = _project_bn_relu(in_channels, token_channels)
        self.fuse4 = _conv_bn_relu(token_channels + w4, w4)
        self.fuse2 = _conv_bn_relu(w4 + w2, w2)
        self.fuse1 = _conv_bn_relu(w2 + w1, w1)
        self.classifier = nn.Conv2d(w1, num_classes, kernel_size=1)

    def forward(self, features: Sequence[Tensor], image: Tensor) -> Tensor:
        skip1 = self.stem1(image)
        skip2 = self.stem2(skip1)
        skip4 = self.stem4(skip2)
        # Tokens are upsampled to 1/4 before the projection (its ReLU makes the order matter);
        # the released demo model was trained this way.
        tokens = self.project(torch.cat([_resize(f, _size(skip4)) for f in features], dim=1))
        x = self.fuse4(torch.cat([tokens, skip4], dim=1))
        x = self.fuse2(torch.cat([_resize(x, _size(skip2)), skip2], dim=1))
        x = self.fuse1(torch.cat([_resize(x, _size(skip1)), skip1], dim=1))
        return self.classifier(x)


def _separable_bn_relu(cin: int, cout: int) -> nn.Sequential:
    """3x3 depthwise conv+BN+ReLU, then 1x1 pointwise conv+BN+ReLU (MobileNet's separable block)."""
    return nn.Sequential(
        nn.Conv2d(cin, cin, kernel_size=3, padding=1, groups=cin, bias=False),
        nn.BatchNorm2d(cin),
        nn.ReLU(inplace=True),
        nn.Conv2d(cin, cout, kernel_size=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class LiteDecoderHead(nn.Module):
    """The light decoder made cheaper (issue 20 item 6; validation/design_study): no full-resolution
    stage, and depthwise-separable fuse convs.

    The image branch goes straight to 1/2 resolution (conv3x3 stride 2 + BN + ReLU), is refined there
    (conv3x3) and goes down to 1/4 (stride 2); the token maps are upsampled to 1/4, projected (1x1
    conv+BN+ReLU to ``token_channels``), fused with the 1/4 skip, upsampled to 1/2 and fused with the
    1/2 skip (each fuse a 3x3 depthwise + 1x1 pointwise block), and a 1x1 conv gives the classes at
    1/2 resolution, upsampled bilinearly to the image size. The full-resolution stage was most of
    the light decoder's cost (its fuse conv alone 0.35 G MACs) and of its training step.

    Size with the defaults (widths (16, 32, 48), token_channels 64) for a 2 x 192-channel token input,
    3 classes, 224 x 224: 54,067 parameters and 0.246 G multiply-accumulates per image (the light
    decoder: 122,339 and 0.990 G). ``tests/model/test_lite_segmenter.py`` recomputes both numbers.
    """

    def __init__(self, in_channels: int, num_classes: int, widths: tuple[int, int, int] = (16, 32, 48),
                 token_channels: int = 64, image_channels: int = 3) -> None:
        super().__init__()
        w1, w2, w4 = widths
        self.stem1 = _conv_bn_relu(image_channels, w1, stride=2)  # 1/2
        self.stem2 = _conv_bn_relu(w1, w2)  # 1/2
        self.stem4 = _conv_bn_relu(w2, w4, stride=2)  # 1/4
        self.project = _project_bn_relu(in_channels, token_channels)
        self.fuse4 = _separable_bn_relu(token_channels + w4, w4)
        self.fuse2 = _separable_bn_relu(w4 + w2, w2)
        self.classifier = nn.Conv2d(w2, num_classes, kernel_size=1)

    def forward(self, features: Sequence[Tensor], image: Tensor) -> Tensor:
        skip2 = self.stem2(self.stem1(image))
        skip4 = self.stem4(skip2)
        tokens = self.project(torch.cat([_resize(f, _size(skip4)) for f in features], dim=1))
        x = self.fuse4(torch.cat([tokens, skip4], dim=1))
        x = self.fuse2(torch.cat([_resize(x, _size(skip2)), skip2], dim=1))
        return _resize(self.classifier(x), _size(image))
