"""Patch embedding, as in facebookresearch/dinov2 ``dinov2/layers/patch_embed.py``."""

from __future__ import annotations

from torch import Tensor, nn


class PatchEmbed(nn.Module):
    """Non-overlapping ``patch_size`` patches by a strided convolution (``patch_embed.proj``),
    flattened row-major to tokens [B, h*w, D]."""

    def __init__(self, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        # The size check (exact fixed input size) lives in DinoVisionTransformer.
        return self.proj(x).flatten(2).transpose(1, 2)
