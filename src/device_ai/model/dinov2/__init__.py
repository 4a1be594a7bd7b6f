"""Our own DINOv2 vision transformer, compatible with the official checkpoints."""

from device_ai.model.dinov2.configs import DEMO_CONFIGS, OFFICIAL_CONFIGS, ViTConfig, get_config
from device_ai.model.dinov2.vision_transformer import DinoVisionTransformer

__all__ = ["DEMO_CONFIGS", "OFFICIAL_CONFIGS", "DinoVisionTransformer", "ViTConfig", "get_config"]
