"""Segmentation Grad-CAM for the DINOv2 segmenter (reference/model.md §6.1, §6.6).

Target: the sum of label ``c``'s logits over the region where the label is predicted (the
locked ORT mask when given). Layer: the output of one transformer block; the CLS and
register tokens are dropped and the patch tokens reshaped to the grid (A, gradients G).

Two gradient weightings:
- ``"gradcam"`` (Selvaraju et al. 2017): weights are the spatial means of G per channel,
  map = ReLU(sum_k mean(G_k) A_k);
- ``"hirescam"`` (Draelos & Carin 2020): the element-wise product, map = ReLU(sum_k G_k A_k),
  which is the first-order contribution of each token to the target.
Both are bilinearly upsampled to the image and scaled to [0, 1].

Defaults: the last block and classic Grad-CAM weighting. The faithfulness study on the
phantom verification set (`validation/explain/results.json`) shows the trade-off, which is
not resolved yet (issue 7 stays open): classic Grad-CAM passes the model-randomization
sanity check (median Spearman about -0.5) but beats a random map on deletion in only about
half of the cases (50%, last block; HiResCAM 83%, occlusion 100%), because its global weights assume non-negative (post-ReLU) features while
ViT tokens are signed, so on some lesions the map points away from them; HiResCAM is
faithful on deletion but fails the randomization check (Spearman about 0.9: with the target
region fixed, G * A mostly traces that region whatever the weights). A CAM taken at the
input of a linear head degenerates to a shifted logit map (reference/model.md §6.6); ours
feeds a nonlinear decoder, so the last block still carries backbone evidence.
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
    weighting: str = "gradcam",
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
    if weighting not in ("gradcam", "hirescam"):
        raise ValueError(f"unknown weighting {weighting!r}; use 'hirescam' or 'gradcam'")
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
    if weighting == "gradcam":
        cam = F.relu((activations * gradients.mean(dim=(0, 1))).sum(dim=-1))
    elif weighting == "hirescam":
        cam = F.relu((activations * gradients).sum(dim=-1))
    else:  # checked above
        raise AssertionError(weighting)
    cam = F.interpolate(cam[None, None], size=tuple(image.shape[-2:]), mode="bilinear", align_corners=False)[0, 0]
    peak = float(cam.max())
    return (cam / peak).numpy().astype(np.float32) if peak > 0 else np.zeros(image.shape[-2:], dtype=np.float32)
