"""Segmentation Grad-CAM for the DINOv2 segmenter: the one released configuration
(reference/model.md §6.1, §6.6).

- Target: the sum of label ``c``'s logits over the target region, the mask the locked ORT
  engine predicted for ``c`` (an explanation explains the locked result, SRS-033).
- Site: the output of the last transformer block's second LayerNorm (``norm2``), the input of
  its MLP branch; the CLS and register tokens are dropped and the patch tokens reshaped to the
  grid. A and G are the activations there and the gradients of the target, each (h, w, K).
- Mean-centred: A := A - mean_ij(A), the tokens centred on the image's own average token.
  Grad-CAM's weights are per channel, so this subtracts one constant from the classic map
  before the ReLU: the map shows where the weighted evidence is above the image's average.
- Grad-CAM weighting (Selvaraju et al. 2017): map = ReLU(sum_k mean_ij(G_k) A_k), bilinearly
  upsampled to the image and scaled to [0, 1]; all zero when the target region is empty or no
  evidence is above the average (the legend says "map empty").

The configuration was chosen by the explanation study, which is not part of the device: the
study's generalised Grad-CAM (other weightings, baselines, sites) and its checks are in
`validation/explain/study/`, its measured figures in `validation/explain/results.md`,
`validation/explain/confirmation.md` and `validation/explain/respecified_checks.md`, and the
reasons in `docs/explanations.md`. `tests/explain/test_study_variants.py` checks that the
study's default variant gives this function's map.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from device_ai.model.segmenter import DinoSegmenter

DESCRIPTION = "Grad-CAM, last block MLP input (mean-centred)"


def description(model: DinoSegmenter) -> str:
    """The configuration as recorded with an explanation, the last block named by its index,
    e.g. ``"Grad-CAM, block 3 MLP input (mean-centred)"``."""
    return f"Grad-CAM, block {len(model.backbone.blocks) - 1} MLP input (mean-centred)"


def patch_grid(model: DinoSegmenter) -> int:
    """Tokens per side of the grid the map is computed on (input size / patch size, e.g. 16 for
    224 / 14): the map's true resolution before upsampling. The twin is built from the package
    manifest's architecture only (``model.twin.load_twin``), so this is the manifest's figure."""
    return model.cfg.input_size // model.backbone.patch_size  # square inputs only (SegmenterConfig)


def gradcam(model: DinoSegmenter, image: np.ndarray, label: int, target_mask: np.ndarray) -> np.ndarray:
    """The released Grad-CAM map (H, W), float32 in [0, 1], of ``label`` on a preprocessed image
    (1, 3, H, W); ``target_mask`` (H, W) bool: where the label's logits are summed (the locked
    engine's mask of the label). An empty target gives an all-zero map (nothing to explain)."""
    size = (int(image.shape[-2]), int(image.shape[-1]))
    region = torch.from_numpy(np.asarray(target_mask, dtype=bool))
    if region.shape != size:
        raise ValueError(f"the target mask is {tuple(region.shape)}, the image {size}")
    if not bool(region.any()):
        return np.zeros(size, dtype=np.float32)
    model.eval()
    backbone = model.backbone
    kept: list[torch.Tensor] = []

    def keep(module: torch.nn.Module, inputs: object, output: torch.Tensor) -> None:
        kept.append(output)

    handle = backbone.blocks[-1].norm2.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            logits = model(torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)))
            # Only the gradient at the site: autograd walks back from the target to the site and
            # no further (not through the earlier blocks, no parameter gradients). The same
            # operations give the site's gradient as a full backward() does, bit for bit.
            (site_gradient,) = torch.autograd.grad(logits[0, label][region].sum(), kept[0])
    finally:
        handle.remove()
    tokens = kept[0]
    side = patch_grid(model)
    first = 1 + backbone.num_register_tokens  # the CLS and register tokens are not on the grid
    activations = tokens.detach()[0, first:].reshape(side, side, -1)
    gradients = site_gradient[0, first:].reshape(side, side, -1)
    activations = activations - activations.mean(dim=(0, 1), keepdim=True)
    cam = F.relu((activations * gradients.mean(dim=(0, 1))).sum(dim=-1))
    cam = F.interpolate(cam[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
    peak = float(cam.max())
    return (cam / peak).numpy().astype(np.float32) if peak > 0 else np.zeros(size, dtype=np.float32)
