"""The ViT-S/B/L feed-forward network, as in facebookresearch/dinov2 ``dinov2/layers/mlp.py``."""

from __future__ import annotations

from torch import Tensor, nn


class Mlp(nn.Module):
    """``fc2(GELU(fc1(x)))`` with the exact (erf) GELU, biases on (official ``ffn_bias=True``)."""

    def __init__(self, in_features: int, hidden_features: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features, bias=True)
        self.act = nn.GELU()  # approximate="none": erf, as the official nn.GELU default
        self.fc2 = nn.Linear(hidden_features, in_features, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))
