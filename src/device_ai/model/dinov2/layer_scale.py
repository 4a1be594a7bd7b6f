"""LayerScale (CaiT), as in facebookresearch/dinov2 ``dinov2/layers/layer_scale.py``."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class LayerScale(nn.Module):
    """Per-channel scale ``x * gamma``; the parameter is named ``gamma`` like the official one.

    Training initialises it at 1e-5; the official hub builds with 1.0 and the checkpoint then
    supplies the trained values (reference/model.md §1.2).
    """

    def __init__(self, dim: int, init_values: float = 1.0) -> None:
        super().__init__()
        self.gamma = nn.Parameter(init_values * torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma
