"""Backbone + head = the segmentation model, rebuilt from a JSON-able config in a package.

The backbone's selected block outputs (after the final norm, as the official
``get_intermediate_layers(n=layers, reshape=True)``; reference/model.md §2.1) feed the head.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import torch
from torch import Tensor, nn

from device_ai.errors import ConfigError
from device_ai.model.dinov2 import DinoVisionTransformer, get_config
from device_ai.model.heads import LightDecoderHead, LinearBNHead, LiteDecoderHead

CONFIG_KIND = "dinov2-segmenter"
HEADS = ("linear", "light_decoder", "lite_decoder")


@dataclass(frozen=True)
class SegmenterConfig:
    """``backbone``: a ViT config name; ``layers``: block indices feeding the head;
    ``input_size``: the one accepted square input size (pixels, multiple of the patch size)."""

    backbone: str
    head: Literal["linear", "light_decoder", "lite_decoder"]
    num_classes: int
    layers: tuple[int, ...]
    input_size: int

    def __post_init__(self) -> None:
        vit = get_config(self.backbone)  # ConfigError for unknown names
        if self.head not in HEADS:
            raise ConfigError(f"unknown head {self.head!r}", hint=f"use one of {', '.join(HEADS)}")
        if self.num_classes < 1:
            raise ConfigError(f"num_classes must be >= 1, got {self.num_classes}")
        layers = tuple(self.layers)
        if not layers or list(layers) != sorted(set(layers)) or not all(0 <= i < vit.depth for i in layers):
            raise ConfigError(
                f"layers {layers} must be distinct, ascending block indices in 0..{vit.depth - 1} of {self.backbone}"
            )
        if self.input_size <= 0 or self.input_size % vit.patch_size:
            raise ConfigError(f"input_size {self.input_size} must be a positive multiple of {vit.patch_size}")

    def config_dict(self) -> dict[str, Any]:
        """JSON-able form stored in a model package manifest (``architecture``)."""
        return {"kind": CONFIG_KIND, **asdict(self), "layers": list(self.layers)}

    # Name used by the training code.
    to_config_dict = config_dict

    @classmethod
    def from_config_dict(cls, data: dict[str, Any]) -> SegmenterConfig:
        """Inverse of :meth:`config_dict`; unknown kinds or keys are a :class:`ConfigError`."""
        values = dict(data)
        kind = values.pop("kind", CONFIG_KIND)
        names = {f.name for f in fields(cls)}
        if kind != CONFIG_KIND or set(values) != names:
            raise ConfigError(
                f"not a {CONFIG_KIND} config (kind {kind!r}, keys {sorted(values)})",
                hint=f"expected keys: {sorted(names)}",
            )
        return cls(**{**values, "layers": tuple(values["layers"])})


DEMO_SEGMENTER = SegmenterConfig(
    backbone="demo_vitt14_reg4", head="light_decoder", num_classes=3, layers=(1, 3), input_size=224
)
# The cheaper segmenter (issue 20 item 6): 3 blocks and the lite decoder, 1.7-2.2x faster per slice
# through ONNX Runtime than DEMO_SEGMENTER and about 2x faster per training step
# (benchmarks/results/head_designs*.json, design dwsep_half_3blocks).
LITE_SEGMENTER = SegmenterConfig(
    backbone="demo_vitt14_reg4_d3", head="lite_decoder", num_classes=3, layers=(1, 2), input_size=224
)
# Named architectures of phantom training (`device-ai train --architecture`).
PHANTOM_ARCHITECTURES = {"demo": DEMO_SEGMENTER, "lite": LITE_SEGMENTER}


class DinoSegmenter(nn.Module):
    """``forward(image [B, 3, S, S]) -> logits [B, num_classes, S, S]`` with S = ``input_size``."""

    def __init__(self, cfg: SegmenterConfig) -> None:
        super().__init__()
        self.cfg = cfg
        vit_cfg = get_config(cfg.backbone)
        self.backbone = DinoVisionTransformer(vit_cfg)
        self.backbone.fix_input_size(cfg.input_size, cfg.input_size)  # no-op at the native size
        channels = vit_cfg.embed_dim * len(cfg.layers)
        heads = {"light_decoder": LightDecoderHead, "lite_decoder": LiteDecoderHead, "linear": LinearBNHead}
        self.head: nn.Module = heads[cfg.head](channels, cfg.num_classes)

    @classmethod
    def from_config(cls, cfg: SegmenterConfig) -> DinoSegmenter:
        return cls(cfg)

    @classmethod
    def from_config_dict(cls, data: dict[str, Any]) -> DinoSegmenter:
        return cls(SegmenterConfig.from_config_dict(data))

    def config_dict(self) -> dict[str, Any]:
        return self.cfg.config_dict()

    def forward(self, image: Tensor) -> Tensor:
        features = self.backbone.get_intermediate_layers(image, n=list(self.cfg.layers), reshape=True)
        return self.head(list(features), image)


def build_demo_segmenter(seed: int) -> DinoSegmenter:
    """The demo segmenter with weights initialised from ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    return DinoSegmenter(DEMO_SEGMENTER)
