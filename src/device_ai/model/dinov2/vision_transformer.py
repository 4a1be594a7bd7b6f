"""DinoVisionTransformer with the official parameter names and forward pass
(facebookresearch/dinov2 ``dinov2/models/vision_transformer.py``; reference/model.md §1.3-1.4).

Token order (``prepare_tokens_with_masks``): patch embedding, optional mask token, prepend CLS,
add the position embedding, *then* insert the register tokens between CLS and the patches,
so the registers get no position embedding: ``[CLS, registers, patches]``.

Fixed input size (DESIGN.md, "Decisions"): the position embedding is interpolated once, by
:meth:`DinoVisionTransformer.fix_input_size`, with the official formula, and stored as the
``pos_embed`` parameter. The forward pass never interpolates, so the exported ONNX graph is
static, and any other input size is rejected with a ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from device_ai.model.dinov2.block import LAYER_NORM_EPS, Block
from device_ai.model.dinov2.configs import ViTConfig
from device_ai.model.dinov2.patch_embed import PatchEmbed


def interpolate_pos_embed(pos_embed: Tensor, height: int, width: int, patch_size: int,
                          offset: float, antialias: bool) -> Tensor:
    """The official ``interpolate_pos_encoding`` for a ``height`` x ``width`` input.

    Computed in float32 on the square ``M x M`` grid (``M = int(sqrt(N))``), bicubic. With an
    offset (plain models, 0.1) the *scale factor* ``((h0 + offset) / M, (w0 + offset) / M)``
    drives the sampling (the "historical kludge" of facebookresearch/dino issue 8); without
    (``_reg`` models) the target size ``(h0, w0)`` does. The CLS position embedding is kept.
    Returned unchanged when the grid already matches (the official early return).
    The official code names dim 2 "w"; here it is called height, consistently.
    """
    class_pos, patch_pos = pos_embed[:, :1], pos_embed[:, 1:]
    n = patch_pos.shape[1]
    m = int(math.sqrt(n))
    if m * m != n:
        raise ValueError(f"position embedding has {n} patch positions, not a square grid")
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
    if tuple(grid.shape[-2:]) != (h0, w0):  # the official code asserts the same
        raise ValueError(f"interpolated grid is {tuple(grid.shape[-2:])}, expected {(h0, w0)}")
    patch_pos = grid.permute(0, 2, 3, 1).reshape(1, h0 * w0, dim)
    return torch.cat((class_pos.float(), patch_pos), dim=1).to(pos_embed.dtype)


class DinoVisionTransformer(nn.Module):
    """DINOv2 ViT whose ``state_dict`` keys and shapes are exactly the official ones.

    ``init_values`` is the layerscale init (1.0 like the hub builders; training used 1e-5).
    ``input_size`` is (native, native) until :meth:`fix_input_size` is called.
    """

    def __init__(self, cfg: ViTConfig, *, init_values: float = 1.0) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.embed_dim
        self.embed_dim = d
        self.patch_size = cfg.patch_size
        self.num_register_tokens = cfg.num_register_tokens
        self.input_size: tuple[int, int] = (cfg.native_img_size, cfg.native_img_size)
        self.patch_embed = PatchEmbed(cfg.patch_size, cfg.in_chans, d)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + cfg.native_grid**2, d))
        self.register_tokens = (
            nn.Parameter(torch.zeros(1, cfg.num_register_tokens, d)) if cfg.num_register_tokens else None
        )
        self.blocks = nn.ModuleList(
            Block(d, cfg.num_heads, cfg.mlp_ratio, cfg.ffn, init_values) for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(d, eps=LAYER_NORM_EPS)
        self.head = nn.Identity()
        # Used only by masked-image training; kept so that the official key set loads strictly.
        self.mask_token = nn.Parameter(torch.zeros(1, d))
        self.init_weights()

    def init_weights(self) -> None:
        """The official ``init_weights``: pos trunc-normal 0.02, CLS and registers normal 1e-6,
        every Linear trunc-normal 0.02 with zero bias (timm ``init_weights_vit_timm``);
        conv, LayerNorm, layerscale and mask token keep their constructor values."""
        if self.pos_embed.is_meta:  # shape-only model (tests of huge configs): nothing to fill
            return
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        if self.register_tokens is not None:
            nn.init.normal_(self.register_tokens, std=1e-6)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    @torch.no_grad()
    def fix_input_size(self, height: int, width: int) -> None:
        """Interpolate the native position embedding once for ``height`` x ``width`` and store
        it as the ``pos_embed`` parameter; afterwards only that size is accepted.

        Only the native grid is re-sampled (never an already re-sampled one), so call this on a
        freshly built or freshly loaded model; fixing the same size again is a no-op.
        """
        if height % self.patch_size or width % self.patch_size:
            raise ValueError(f"input size {height}x{width} is not a multiple of the patch size {self.patch_size}")
        if (height, width) == self.input_size:
            return
        native = (self.cfg.native_img_size, self.cfg.native_img_size)
        if self.input_size != native:
            raise ValueError(
                f"the position embedding is already fixed to {self.input_size}; "
                f"rebuild the model (or reload native weights) to fix another size"
            )
        new = interpolate_pos_embed(self.pos_embed.data, height, width, self.patch_size,
                                    self.cfg.interpolate_offset, self.cfg.interpolate_antialias)
        self.pos_embed = nn.Parameter(new, requires_grad=self.pos_embed.requires_grad)
        self.input_size = (height, width)

    def _check_size(self, x: Tensor) -> None:
        if x.dim() != 4 or tuple(x.shape[-2:]) != self.input_size:
            raise ValueError(
                f"input has shape {tuple(x.shape)}; this model accepts exactly [B, "
                f"{self.cfg.in_chans}, {self.input_size[0]}, {self.input_size[1]}], i.e. {self.input_size} "
                "(the position embedding is fixed; resample the image to that size)"
            )

    def prepare_tokens_with_masks(self, x: Tensor, masks: Tensor | None = None) -> Tensor:
        """``[CLS, registers, patches]`` tokens, position embedding added before the registers."""
        self._check_size(x)
        x = self.patch_embed(x)
        if masks is not None:
            x = torch.where(masks.unsqueeze(-1), self.mask_token.to(x.dtype).unsqueeze(0), x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = x + self.pos_embed
        if self.register_tokens is not None:
            x = torch.cat((x[:, :1], self.register_tokens.expand(x.shape[0], -1, -1), x[:, 1:]), dim=1)
        return x

    def forward_features(self, x: Tensor, masks: Tensor | None = None) -> dict[str, Tensor | None]:
        """The official output dict: normalised CLS, registers and patches, and the pre-norm tokens."""
        x = self.prepare_tokens_with_masks(x, masks)
        for block in self.blocks:
            x = block(x)
        x_norm = self.norm(x)
        r = self.num_register_tokens
        return {
            "x_norm_clstoken": x_norm[:, 0],
            "x_norm_regtokens": x_norm[:, 1 : r + 1],
            "x_norm_patchtokens": x_norm[:, r + 1 :],
            "x_prenorm": x,
            "masks": masks,
        }

    def get_intermediate_layers(
        self,
        x: Tensor,
        n: int | Sequence[int] = 1,
        reshape: bool = False,
        return_class_token: bool = False,
        norm: bool = True,
    ) -> tuple[Any, ...]:
        """Outputs of the last ``n`` blocks (int) or of the listed block indices, in block order.

        Official semantics: each output optionally through the final ``norm``; the CLS and
        register tokens dropped; with ``reshape`` patch maps [B, D, H/14, W/14]; with
        ``return_class_token`` pairs ``(patches, cls)``. Blocks after the last requested one
        are not run (their outputs would be discarded anyway).
        """
        batch, _, height, width = x.shape
        tokens = self.prepare_tokens_with_masks(x)
        total = len(self.blocks)
        to_take = range(total - n, total) if isinstance(n, int) else list(n)
        last = max(to_take, default=-1)
        outputs = []
        for index, block in enumerate(self.blocks):
            if index > last:
                break
            tokens = block(tokens)
            if index in to_take:
                outputs.append(tokens)
        if len(outputs) != len(to_take):
            raise ValueError(f"only {len(outputs)} of the {len(to_take)} requested blocks {list(to_take)} exist "
                             f"(depth {total}, indices must be distinct and in 0..{total - 1})")
        if norm:
            outputs = [self.norm(out) for out in outputs]
        class_tokens = [out[:, 0] for out in outputs]
        outputs = [out[:, 1 + self.num_register_tokens :] for out in outputs]
        if reshape:
            h, w = height // self.patch_size, width // self.patch_size
            outputs = [out.reshape(batch, h, w, -1).permute(0, 3, 1, 2).contiguous() for out in outputs]
        if return_class_token:
            return tuple(zip(outputs, class_tokens, strict=True))
        return tuple(outputs)

    def forward(self, x: Tensor) -> Tensor:
        """``head(x_norm_clstoken)``; ``head`` is ``nn.Identity`` as in the official backbones."""
        cls = self.forward_features(x)["x_norm_clstoken"]
        assert cls is not None
        return self.head(cls)
