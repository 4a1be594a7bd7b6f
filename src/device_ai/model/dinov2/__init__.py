"""Our own DINOv2 vision transformer, one small module per concept like
facebookresearch/dinov2 ``dinov2/layers``, loading the official checkpoints with strict keys."""

from device_ai.model.dinov2.configs import DEMO_CONFIGS, OFFICIAL_CONFIGS, ViTConfig, get_config
from device_ai.model.dinov2.vision_transformer import DinoVisionTransformer, interpolate_pos_embed

__all__ = [
    "DEMO_CONFIGS",
    "OFFICIAL_CONFIGS",
    "DinoVisionTransformer",
    "ViTConfig",
    "get_config",
    "interpolate_pos_embed",
]
