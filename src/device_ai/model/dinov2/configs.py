"""ViT configurations: the 8 official DINOv2 backbones and the small demo backbone.

Sizes from facebookresearch/dinov2 ``models/vision_transformer.py`` (``vit_small`` ...
``vit_giant2``) and ``MODEL_CARD.md``; interpolation settings from ``hub/backbones.py``
(reference/model.md §1.1-1.2): the plain models interpolate the position embedding with the
0.1 offset and no antialiasing; the ``_reg4`` models use 4 registers, offset 0 and
antialiasing. ViT-g uses the fused SwiGLU FFN. All: patch 14, native 518 px (37 x 37 grid).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from device_ai.errors import ConfigError


@dataclass(frozen=True)
class ViTConfig:
    """Architecture of one DINOv2-style ViT (everything a state dict's shapes depend on, plus
    the position-embedding interpolation settings)."""

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

    def __post_init__(self) -> None:
        if self.embed_dim % self.num_heads:
            raise ConfigError(f"{self.name}: embed_dim {self.embed_dim} not divisible by {self.num_heads} heads")
        if self.native_img_size % self.patch_size:
            raise ConfigError(f"{self.name}: native size {self.native_img_size} not a multiple of {self.patch_size}")
        if self.ffn not in ("mlp", "swiglufused"):
            raise ConfigError(f"{self.name}: unknown ffn {self.ffn!r}", hint="use 'mlp' or 'swiglufused'")

    @property
    def native_grid(self) -> int:
        """Patches per side of the stored position embedding (37 for the official models)."""
        return self.native_img_size // self.patch_size

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _official_pair(name: str, dim: int, depth: int, heads: int,
                   ffn: Literal["mlp", "swiglufused"] = "mlp") -> dict[str, ViTConfig]:
    return {
        name: ViTConfig(name, dim, depth, heads, ffn=ffn, interpolate_offset=0.1, interpolate_antialias=False),
        f"{name}_reg4": ViTConfig(
            f"{name}_reg4", dim, depth, heads, ffn=ffn, num_register_tokens=4,
            interpolate_offset=0.0, interpolate_antialias=True,
        ),
    }


OFFICIAL_CONFIGS: dict[str, ViTConfig] = {
    **_official_pair("dinov2_vits14", 384, 12, 6),
    **_official_pair("dinov2_vitb14", 768, 12, 12),
    **_official_pair("dinov2_vitl14", 1024, 24, 16),
    **_official_pair("dinov2_vitg14", 1536, 40, 24, ffn="swiglufused"),
}

DEMO_CONFIGS: dict[str, ViTConfig] = {
    # Head dimension 64 as in every official model; native 224 px = 16 x 16 patch grid, so the
    # demo model is trained at its native size and never interpolated.
    "demo_vitt14_reg4": ViTConfig(
        "demo_vitt14_reg4", 192, 4, 3, num_register_tokens=4, native_img_size=224,
        interpolate_offset=0.0, interpolate_antialias=False,
    ),
    # The same with 3 blocks: the cheaper segmenter's backbone (issue 20 item 6; validation/design_study).
    "demo_vitt14_reg4_d3": ViTConfig(
        "demo_vitt14_reg4_d3", 192, 3, 3, num_register_tokens=4, native_img_size=224,
        interpolate_offset=0.0, interpolate_antialias=False,
    ),
}


def get_config(name: str) -> ViTConfig:
    """The named configuration; an unknown name is a :class:`ConfigError` listing the valid ones."""
    configs = {**OFFICIAL_CONFIGS, **DEMO_CONFIGS}
    if name not in configs:
        valid = ", ".join(sorted(configs))
        raise ConfigError(f"unknown ViT configuration {name!r} (valid: {valid})", hint=f"use one of: {valid}")
    return configs[name]
