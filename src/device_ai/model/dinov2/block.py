"""The transformer block, as in facebookresearch/dinov2 ``dinov2/layers/block.py``
(inference path: no drop-path, no nested tensors)."""

from __future__ import annotations

from typing import Literal

from torch import Tensor, nn

from device_ai.model.dinov2.attention import Attention
from device_ai.model.dinov2.layer_scale import LayerScale
from device_ai.model.dinov2.mlp import Mlp
from device_ai.model.dinov2.swiglu_ffn import SwiGLUFFNFused

LAYER_NORM_EPS = 1e-6  # official: partial(nn.LayerNorm, eps=1e-6)


class Block(nn.Module):
    """Pre-norm block: ``x + ls1(attn(norm1(x)))``, then ``x + ls2(mlp(norm2(x)))``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0,
                 ffn: Literal["mlp", "swiglufused"] = "mlp", init_values: float = 1.0) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.attn = Attention(dim, num_heads)
        self.ls1 = LayerScale(dim, init_values)
        self.norm2 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.mlp: nn.Module
        if ffn == "mlp":
            self.mlp = Mlp(dim, hidden)
        elif ffn == "swiglufused":
            self.mlp = SwiGLUFFNFused(dim, hidden)
        else:
            raise ValueError(f"unknown FFN {ffn!r}; expected 'mlp' or 'swiglufused'")
        self.ls2 = LayerScale(dim, init_values)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))
