"""Multi-head self-attention, as in facebookresearch/dinov2 ``dinov2/layers/attention.py``
before 2025-06-11 (explicit softmax; reference/model.md §1.3)."""

from __future__ import annotations

from torch import Tensor, nn


class Attention(nn.Module):
    """Fused ``qkv`` (rows: q, k, v stacked in that order, with bias) and output ``proj``.

    Written out as ``softmax((q * scale) @ k^T) @ v`` rather than
    ``F.scaled_dot_product_attention``: it exports to ONNX opset 17 as plain MatMul/Softmax,
    gives ordinary gradients for Grad-CAM, and keeps the attention weights observable.
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed dim {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]  # each [B, heads, N, head_dim]
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))
