"""ViT configurations: the 8 official DINOv2 backbones and the small demo backbone.

Sizes and interpolation settings from facebookresearch/dinov2 ``hub/backbones.py`` and
``MODEL_CARD.md`` (reference/model.md §1.2): plain models interpolate the position embedding
with the 0.1 offset and no antialiasing; ``_reg4`` models use 4 registers, offset 0 and
antialiasing. ViT-g uses the fused SwiGLU FFN.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from device_ai.errors import ConfigError


@dataclass(frozen=True)
class ViTConfig:
    name: str
    embed_dim: int
    depth: int
    num_heads: int
    mlp_ratio: float = 4.0
    ffn: Literal["mlp", "swiglufused"] = "mlp"
    num_register_tokens: int = 0
    patch_size: int = 14
    native_img_size: int = 518
    interpolate_offset: float = 0.1
    interpolate_antialias: bool = False
    in_chans: int = 3

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _official(name: str, dim: int, depth: int, heads: int, ffn: Literal["mlp", "swiglufused"] = "mlp") -> dict[str, ViTConfig]:
    return {
        name: ViTConfig(name, dim, depth, heads, ffn=ffn),
        f"{name}_reg4": ViTConfig(
            f"{name}_reg4", dim, depth, heads, ffn=ffn, num_register_tokens=4,
            interpolate_offset=0.0, interpolate_antialias=True,
        ),
    }


OFFICIAL_CONFIGS: dict[str, ViTConfig] = {
    **_official("dinov2_vits14", 384, 12, 6),
    **_official("dinov2_vitb14", 768, 12, 12),
    **_official("dinov2_vitl14", 1024, 24, 16),
    **_official("dinov2_vitg14", 1536, 40, 24, ffn="swiglufused"),
}

DEMO_CONFIGS: dict[str, ViTConfig] = {
    # Head dimension 64 as in every official model; 224 px native grid (16 x 16 tokens).
    "demo_vitt14_reg4": ViTConfig(
        "demo_vitt14_reg4", 192, 4, 3, num_register_tokens=4, native_img_size=224,
        interpolate_offset=0.0, interpolate_antialias=False,
    ),
}


def get_config(name: str) -> ViTConfig:
    """The named configuration; unknown names are a :class:`ConfigError` listing valid ones."""
    configs = {**OFFICIAL_CONFIGS, **DEMO_CONFIGS}
    if name not in configs:
        raise ConfigError(f"unknown ViT configuration {name!r}", hint="valid: " + ", ".join(sorted(configs)))
    return configs[name]
