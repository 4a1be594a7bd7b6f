"""Backbone + head = the segmentation model; rebuilt from its JSON config in a package."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from device_ai.model.dinov2 import DinoVisionTransformer, get_config
from device_ai.model.heads import LightDecoderHead, LinearBNHead


@dataclass(frozen=True)
class SegmenterConfig:
    backbone: str
    head: Literal["linear", "light_decoder"]
    num_classes: int
    layers: tuple[int, ...]
    input_size: int

    def to_config_dict(self) -> dict[str, Any]:
        return {"kind": "dinov2-segmenter", **asdict(self), "layers": list(self.layers)}

    @classmethod
    def from_config_dict(cls, data: dict[str, Any]) -> SegmenterConfig:
        values = {k: v for k, v in data.items() if k != "kind"}
        return cls(**{**values, "layers": tuple(values["layers"])})


DEMO_SEGMENTER = SegmenterConfig(
    backbone="demo_vitt14_reg4", head="light_decoder", num_classes=3, layers=(1, 3), input_size=224
)


class DinoSegmenter(nn.Module):
    """``forward(image [B, 3, S, S]) -> logits [B, num_classes, S, S]``."""

    def __init__(self, cfg: SegmenterConfig) -> None:
        super().__init__()
        self.cfg = cfg
        vit_cfg = get_config(cfg.backbone)
        self.backbone = DinoVisionTransformer(vit_cfg)
        if cfg.input_size != vit_cfg.native_img_size:
            self.backbone.fix_input_size(cfg.input_size, cfg.input_size)
        channels = vit_cfg.embed_dim * len(cfg.layers)
        self.head: nn.Module = (
            LightDecoderHead(channels, cfg.num_classes) if cfg.head == "light_decoder" else LinearBNHead(channels, cfg.num_classes)
        )

    def forward(self, image: Tensor) -> Tensor:
        features = self.backbone.get_intermediate_layers(image, n=list(self.cfg.layers), reshape=True)
        return self.head(list(features), image)


def build_demo_segmenter(seed: int) -> DinoSegmenter:
    torch.manual_seed(seed)
    return DinoSegmenter(DEMO_SEGMENTER)
