"""Explanation sanity checks on the phantom verification set (SRS-034; Adebayo et al. 2018)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from device_ai.explain.gradcam import gradcam
from device_ai.inference.preprocess import normalize
from device_ai.model.twin import load_twin
from device_ai.training.data import build_pool


def _randomize_cascading(model: torch.nn.Module, seed: int) -> None:
    """Re-draw every parameter, from the head down to the first block and the embeddings."""
    generator = torch.Generator().manual_seed(seed)
    modules = [model.head, model.backbone.norm, *reversed(list(model.backbone.blocks)), model.backbone.patch_embed]
    with torch.no_grad():
        for module in modules:
            for param in module.parameters():
                param.copy_(torch.randn(param.shape, generator=generator) * max(float(param.std()), 1e-2))
        for name in ("pos_embed", "cls_token", "register_tokens"):
            param = getattr(model.backbone, name)
            if param is not None:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.02)


@pytest.mark.req("SRS-034")
def test_cascading_randomization_destroys_the_maps(released_engine) -> None:  # noqa: ANN001
    pool = build_pool("verification", 4, 224, slices_per_patient=4)
    picks = [i for i in range(len(pool.labels)) if (pool.labels[i] == 2).sum() > 50][:6]
    assert len(picks) >= 4
    twin = load_twin(released_engine.package)
    images = [normalize(pool.planes[i : i + 1]) for i in picks]
    masks = [released_engine.run(image).argmax(1)[0] == 2 for image in images]
    original = [gradcam(twin, image, 2, target_mask=mask) for image, mask in zip(images, masks)]
    _randomize_cascading(twin, seed=0)
    randomized = [gradcam(twin, image, 2, target_mask=mask) for image, mask in zip(images, masks)]
    rhos = [stats.spearmanr(a[::4, ::4].ravel(), b[::4, ::4].ravel()).statistic for a, b in zip(original, randomized)]
    rhos = [0.0 if np.isnan(r) else r for r in rhos]
    assert all(m.any() for m in masks) and all(o.any() for o in original)
    print(f"Spearman original vs randomized: {np.round(rhos, 3).tolist()}")
    assert float(np.median(rhos)) < 0.3, rhos
