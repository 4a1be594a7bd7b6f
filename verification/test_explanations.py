"""Explanation sanity checks on the phantom verification set (SRS-034; Adebayo et al. 2018)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from device_ai.explain.gradcam import gradcam
from device_ai.explain.sanity import permuted_label_head, randomize_cascading, spearman
from device_ai.inference.preprocess import normalize
from device_ai.model.twin import load_twin
from device_ai.training.data import build_pool

LESION = 2


@pytest.fixture(scope="module")
def cases(released_engine):  # noqa: ANN001, ANN201
    pool = build_pool("verification", 4, 224, slices_per_patient=4)
    picks = [i for i in range(len(pool.labels)) if (pool.labels[i] == LESION).sum() > 50][:6]
    assert len(picks) >= 4
    images = [normalize(pool.planes[i : i + 1]) for i in picks]
    masks = [released_engine.run(image).argmax(1)[0] == LESION for image in images]
    assert all(mask.any() for mask in masks)
    return images, masks


@pytest.mark.req("SRS-034")
def test_cascading_randomization_destroys_the_maps(released_engine, cases) -> None:  # noqa: ANN001
    images, masks = cases
    twin = load_twin(released_engine.package)
    original = [gradcam(twin, image, LESION, target_mask=mask) for image, mask in zip(images, masks)]
    randomized_model = randomize_cascading(twin, seed=0)
    randomized = [gradcam(randomized_model, image, LESION, target_mask=mask) for image, mask in zip(images, masks)]
    rhos = [spearman(a, b) for a, b in zip(original, randomized)]
    print(f"model randomization, Spearman: {np.round(rhos, 3).tolist()}")
    assert all(o.any() for o in original)
    assert float(np.median(rhos)) < 0.3, rhos


@pytest.mark.req("SRS-034", "SRS-070")
def test_a_head_trained_on_permuted_labels_gives_different_maps(released_engine, cases) -> None:  # noqa: ANN001
    images, masks = cases
    twin = load_twin(released_engine.package)
    torch.set_num_threads(2)
    train = build_pool("train", 12, 224, base_seed=3, slices_per_patient=4)
    permuted = permuted_label_head(twin, torch.from_numpy(normalize(train.planes)),
                                   torch.from_numpy(train.labels.astype(np.int64)), steps=120)
    original = [gradcam(twin, image, LESION, target_mask=mask) for image, mask in zip(images, masks)]
    shuffled = [gradcam(permuted, image, LESION, target_mask=mask) for image, mask in zip(images, masks)]
    rhos = [spearman(a, b) for a, b in zip(original, shuffled)]
    print(f"data randomization, Spearman: {np.round(rhos, 3).tolist()}")
    assert float(np.median(rhos)) < 0.3, rhos
