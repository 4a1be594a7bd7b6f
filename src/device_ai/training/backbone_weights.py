"""The segmenter a training run starts from: random, or an official DINOv2 backbone.

Modes:

- ``scratch``: every weight random (seeded), every weight trained (the demo model's recipe);
- ``frozen``: the backbone loaded from an official ``dinov2_vit*14[_reg4]_pretrain.pth`` and
  never updated (``requires_grad`` off): only the head is trained (``linear``: BatchNorm + 1x1
  convolution, the DINOv2 paper's linear probe; or the light decoder);
- ``finetune``: the backbone loaded the same way and trained with the head, at
  ``backbone_lr_factor`` times the head's learning rate.

The checkpoint is loaded by :func:`device_ai.model.dinov2.checkpoint.load_official_checkpoint`:
SHA-256 compared with the given value before the file is unpickled, ``torch.load(weights_only=True)``,
every key and shape checked against the configured backbone, then ``load_state_dict(strict=True)``;
the official 37 x 37 position embedding is re-sampled once to the input size with the official
formula. Nothing is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from device_ai.errors import ConfigError
from device_ai.model.dinov2 import OFFICIAL_CONFIGS
from device_ai.model.dinov2.checkpoint import load_official_checkpoint
from device_ai.model.segmenter import DinoSegmenter, SegmenterConfig

Mode = Literal["scratch", "frozen", "finetune"]
MODES = ("scratch", "frozen", "finetune")


@dataclass(frozen=True)
class BackboneStart:
    """Where the backbone's weights come from and whether they are trained."""

    mode: Mode = "scratch"
    weights: Path | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown training mode {self.mode!r}", hint=f"use one of {', '.join(MODES)}")
        if self.mode == "scratch" and (self.weights or self.sha256):
            raise ConfigError("backbone weights were given for training from scratch",
                              hint="use --mode frozen or --mode finetune with --backbone-weights")
        if self.mode != "scratch" and not (self.weights and self.sha256):
            raise ConfigError(f"--mode {self.mode} needs --backbone-weights FILE and --backbone-sha256 HEX",
                              hint="pass the official *_pretrain.pth and the SHA-256 you pinned for it")

    def record(self, segmenter: SegmenterConfig) -> dict[str, Any]:
        """The package manifest's ``training.backbone_init`` (no file path: only the digest)."""
        if self.mode == "scratch":
            return {"mode": "scratch", "source": "random (seeded)"}
        return {"mode": self.mode, "source": "official DINOv2 checkpoint", "config": segmenter.backbone,
                "sha256": str(self.sha256).strip().lower()}


def segmenter_config(backbone: str, head: str, input_size: int, num_classes: int,
                     layers: tuple[int, ...] | None = None) -> SegmenterConfig:
    """The segmenter for ``backbone``; ``layers`` default: the demo model's for its backbone,
    else the last four blocks (the DINOv2 paper's multi-layer segmentation setting)."""
    from device_ai.model.dinov2 import get_config
    from device_ai.model.segmenter import DEMO_SEGMENTER

    if layers is None:
        depth = get_config(backbone).depth
        layers = DEMO_SEGMENTER.layers if backbone == DEMO_SEGMENTER.backbone else tuple(range(max(0, depth - 4), depth))
    return SegmenterConfig(backbone=backbone, head=head, num_classes=num_classes,  # type: ignore[arg-type]
                           layers=tuple(layers), input_size=input_size)


def build_segmenter(cfg: SegmenterConfig, start: BackboneStart, seed: int) -> DinoSegmenter:
    """The segmenter of ``cfg`` seeded by ``seed``, its backbone loaded and frozen per ``start``."""
    if start.mode != "scratch" and cfg.backbone not in OFFICIAL_CONFIGS:
        raise ConfigError(f"backbone {cfg.backbone!r} has no official checkpoint",
                          hint=f"use one of {', '.join(sorted(OFFICIAL_CONFIGS))} with --backbone-weights")
    torch.manual_seed(seed)
    model = DinoSegmenter(cfg)
    if start.mode == "scratch":
        return model
    assert start.weights is not None and start.sha256 is not None
    load_official_checkpoint(model.backbone, Path(start.weights), start.sha256)
    if start.mode == "frozen":
        for parameter in model.backbone.parameters():
            parameter.requires_grad_(False)
    return model
