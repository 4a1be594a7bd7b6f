"""The ViT-g feed-forward network, as in facebookresearch/dinov2 ``dinov2/layers/swiglu_ffn.py``
(``SwiGLUFFNFused``; without xFormers the official class computes exactly this)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def swiglu_hidden_features(hidden_features: int) -> int:
    """The official rounding: 2/3 of the MLP width, up to a multiple of 8 (6144 -> 4096 for g)."""
    return (int(hidden_features * 2 / 3) + 7) // 8 * 8


class SwiGLUFFNFused(nn.Module):
    """``x1, x2 = w12(x).chunk(2); w3(silu(x1) * x2)``; ``w12`` holds the two input projections
    stacked (gate first), so the official ``mlp.w12`` / ``mlp.w3`` keys load unchanged."""

    def __init__(self, in_features: int, hidden_features: int) -> None:
        super().__init__()
        hidden = swiglu_hidden_features(hidden_features)
        self.w12 = nn.Linear(in_features, 2 * hidden, bias=True)
        self.w3 = nn.Linear(hidden, in_features, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        x1, x2 = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(x1) * x2)
