"""Segmentation Grad-CAM for the DINOv2 segmenter (reference/model.md §6.1, §6.6).

Target: the sum of label ``c``'s logits over the region where the label is predicted (the
locked ORT mask when given). Layer: the output of one transformer block; the CLS and
register tokens are dropped and the patch tokens reshaped to the grid. Weights are the
spatial means of the target's gradients per channel; the map is ReLU(sum_k w_k A_k),
bilinearly upsampled to the image and scaled to [0, 1].

Default layer: the last block. A CAM taken at the input of a linear head degenerates to a
shifted logit map (§6.6); ours feeds a nonlinear decoder, so the last block still carries
backbone evidence. This default is provisional until the faithfulness study (issue 7) has
compared the blocks.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from device_ai.model.segmenter import DinoSegmenter


def gradcam(
    model: DinoSegmenter,
    image: np.ndarray,
    label: int,
    layer: int | None = None,
    target_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Grad-CAM map (H, W) in [0, 1] for ``label`` on a preprocessed image (1, 3, H, W).

    ``target_mask`` (H, W) bool: where the label's logits are summed; defaults to the
    model's own argmax. An empty target gives an all-zero map (nothing to explain).
    """
    backbone = model.backbone
    depth = len(backbone.blocks)
    index = depth - 1 if layer is None else layer
    if not 0 <= index < depth:
        raise ValueError(f"layer {index} is outside 0..{depth - 1}")
    captured: dict[str, torch.Tensor] = {}

    def keep(module: torch.nn.Module, inputs: object, output: torch.Tensor) -> None:
        output.retain_grad()
        captured["tokens"] = output

    handle = backbone.blocks[index].register_forward_hook(keep)
    try:
        model.eval()
        tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
        with torch.enable_grad():
            logits = model(tensor)
            if target_mask is None:
                region = logits.argmax(dim=1)[0] == label
            else:
                region = torch.from_numpy(np.asarray(target_mask, dtype=bool))
            if not bool(region.any()):
                return np.zeros(image.shape[-2:], dtype=np.float32)
            target = logits[0, label][region].sum()
            model.zero_grad(set_to_none=True)
            target.backward()
    finally:
        handle.remove()
    tokens = captured["tokens"]
    prefix = 1 + backbone.num_register_tokens
    height, width = image.shape[-2] // backbone.patch_size, image.shape[-1] // backbone.patch_size
    activations = tokens[0, prefix:].detach().reshape(height, width, -1)
    gradients = tokens.grad[0, prefix:].reshape(height, width, -1)
    weights = gradients.mean(dim=(0, 1))
    cam = F.relu((activations * weights).sum(dim=-1))
    cam = F.interpolate(cam[None, None], size=tuple(image.shape[-2:]), mode="bilinear", align_corners=False)[0, 0]
    peak = float(cam.max())
    return (cam / peak).numpy().astype(np.float32) if peak > 0 else np.zeros(image.shape[-2:], dtype=np.float32)
