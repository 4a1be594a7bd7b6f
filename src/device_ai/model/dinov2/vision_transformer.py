"""DinoVisionTransformer with the official parameter names and forward pass
(facebookresearch/dinov2 ``dinov2/models/vision_transformer.py``, reference/model.md §1.3).

Token order: patch embedding, prepend CLS, add the position embedding, *then* insert the
register tokens between CLS and the patches (registers get no position embedding).

Fixed input size (DESIGN.md): the position embedding is interpolated once, by
:meth:`fix_input_size`, with the official formula, and stored; there is no interpolation in
the forward pass, so the exported ONNX graph is static, and any other size is rejected.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from device_ai.model.dinov2.configs import ViTConfig
from device_ai.model.dinov2.layers import LAYER_NORM_EPS, Block, PatchEmbed


def interpolate_pos_embed(pos_embed: Tensor, height: int, width: int, patch_size: int,
                          offset: float, antialias: bool) -> Tensor:
    """The official ``interpolate_pos_encoding`` for a (height, width) input, computed once.

    float32 bicubic; with ``offset`` (plain models, 0.1) the scale factor
    ``((h0 + offset) / M, (w0 + offset) / M)`` drives the sampling, else the target size.
    """
    class_pos, patch_pos = pos_embed[:, :1], pos_embed[:, 1:]
    n = patch_pos.shape[1]
    m = int(math.sqrt(n))
    assert m * m == n, "the stored position embedding must be a square grid"
    h0, w0 = height // patch_size, width // patch_size
    if (h0, w0) == (m, m):
        return pos_embed
    dim = pos_embed.shape[-1]
    grid = patch_pos.float().reshape(1, m, m, dim).permute(0, 3, 1, 2)
    kwargs: dict[str, Any] = {"mode": "bicubic", "antialias": antialias}
    if offset:
        kwargs["scale_factor"] = (float(h0 + offset) / m, float(w0 + offset) / m)
    else:
        kwargs["size"] = (h0, w0)
    grid = F.interpolate(grid, **kwargs)
    assert grid.shape[-2:] == (h0, w0)
    patch_pos = grid.permute(0, 2, 3, 1).reshape(1, h0 * w0, dim)
    return torch.cat((class_pos.float(), patch_pos), dim=1).to(pos_embed.dtype)


class DinoVisionTransformer(nn.Module):
    def __init__(self, cfg: ViTConfig, *, init_values: float = 1.0) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.embed_dim
        grid = cfg.native_img_size // cfg.patch_size
        self.embed_dim = d
        self.patch_size = cfg.patch_size
        self.num_register_tokens = cfg.num_register_tokens
        self.input_size = (cfg.native_img_size, cfg.native_img_size)
        self.patch_embed = PatchEmbed(cfg.patch_size, cfg.in_chans, d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid * grid, d))
        self.register_tokens = nn.Parameter(torch.zeros(1, cfg.num_register_tokens, d)) if cfg.num_register_tokens else None
        self.mask_token = nn.Parameter(torch.zeros(1, d))  # training-time only; kept so official keys load
        self.blocks = nn.ModuleList(
            Block(d, cfg.num_heads, cfg.mlp_ratio, cfg.ffn, init_values) for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(d, eps=LAYER_NORM_EPS)
        self.head = nn.Identity()
        self._init_weights()

    def _init_weights(self) -> None:
        if self.pos_embed.is_meta:
            return
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        if self.register_tokens is not None:
            nn.init.normal_(self.register_tokens, std=1e-6)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    @torch.no_grad()
    def fix_input_size(self, height: int, width: int) -> None:
        """Interpolate the position embedding once for (height, width) and store it."""
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(f"input size must be a multiple of the patch size {self.patch_size}")
        new = interpolate_pos_embed(self.pos_embed.data, height, width, self.patch_size,
                                    self.cfg.interpolate_offset, self.cfg.interpolate_antialias)
        self.pos_embed = nn.Parameter(new)
        self.input_size = (height, width)

    def _check_size(self, x: Tensor) -> None:
        if tuple(x.shape[-2:]) != self.input_size:
            raise ValueError(
                f"input is {tuple(x.shape[-2:])}; this model accepts exactly {self.input_size} "
                "(the position embedding is fixed)"
            )

    def prepare_tokens(self, x: Tensor) -> Tensor:
        self._check_size(x)
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = x + self.pos_embed
        if self.register_tokens is not None:
            x = torch.cat((x[:, :1], self.register_tokens.expand(x.shape[0], -1, -1), x[:, 1:]), dim=1)
        return x

    def forward_features(self, x: Tensor) -> dict[str, Tensor]:
        x = self.prepare_tokens(x)
        for block in self.blocks:
            x = block(x)
        x_norm = self.norm(x)
        r = self.num_register_tokens
        return {
            "x_norm_clstoken": x_norm[:, 0],
            "x_norm_regtokens": x_norm[:, 1 : r + 1],
            "x_norm_patchtokens": x_norm[:, r + 1 :],
            "x_prenorm": x,
            "masks": None,
        }

    def get_intermediate_layers(
        self, x: Tensor, n: int | list[int] | tuple[int, ...] = 1, reshape: bool = False,
        return_class_token: bool = False, norm: bool = True,
    ) -> tuple[Any, ...]:
        """Outputs of the last ``n`` blocks (or of the listed block indices), official semantics."""
        batch, _, height, width = x.shape
        tokens = self.prepare_tokens(x)
        wanted = set(range(len(self.blocks) - n, len(self.blocks)) if isinstance(n, int) else n)
        outputs = []
        for index, block in enumerate(self.blocks):
            tokens = block(tokens)
            if index in wanted:
                outputs.append(tokens)
        assert len(outputs) == len(wanted), f"only {len(outputs)} of {len(wanted)} blocks found"
        if norm:
            outputs = [self.norm(out) for out in outputs]
        class_tokens = [out[:, 0] for out in outputs]
        outputs = [out[:, 1 + self.num_register_tokens :] for out in outputs]
        if reshape:
            h, w = height // self.patch_size, width // self.patch_size
            outputs = [out.reshape(batch, h, w, -1).permute(0, 3, 1, 2).contiguous() for out in outputs]
        if return_class_token:
            return tuple(zip(outputs, class_tokens))
        return tuple(outputs)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x)["x_norm_clstoken"])
