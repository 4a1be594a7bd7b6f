"""Occlusion sensitivity through the locked ORT engine (model-agnostic, no gradients).

A square patch of the input is replaced by the baseline (the preprocessed value of the
bottom of the window: "air"), and the drop of the target (sum of the label's logits over
the target region) is assigned to the patch; overlapping patches are averaged. Scaled to
[0, 1]; increases of the target count as zero.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from device_ai.inference.preprocess import air_baseline


def occlusion(
    run: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    label: int,
    target_mask: np.ndarray,
    *,
    patch: int = 28,
    stride: int = 14,
) -> np.ndarray:
    """Occlusion map (H, W) in [0, 1]; ``run`` maps an input (1, 3, H, W) to logits (1, C, H, W)."""
    target_mask = np.asarray(target_mask, dtype=bool)
    if not target_mask.any():
        return np.zeros(image.shape[-2:], dtype=np.float32)
    baseline = air_baseline(*image.shape[-2:])
    reference = float(run(image)[0, label][target_mask].sum())
    height, width = image.shape[-2:]
    drop = np.zeros((height, width), dtype=np.float64)
    counts = np.zeros((height, width), dtype=np.float64)
    for top in range(0, height - patch + 1, stride):
        for left in range(0, width - patch + 1, stride):
            occluded = image.copy()
            occluded[..., top : top + patch, left : left + patch] = baseline[..., top : top + patch, left : left + patch]
            score = float(run(occluded)[0, label][target_mask].sum())
            drop[top : top + patch, left : left + patch] += reference - score
            counts[top : top + patch, left : left + patch] += 1
    result = np.clip(drop / np.maximum(counts, 1), 0.0, None)
    peak = result.max()
    return (result / peak).astype(np.float32) if peak > 0 else np.zeros((height, width), dtype=np.float32)
