"""Faithfulness of explanation maps: deletion and insertion curves through the locked engine
(reference/model.md §6.4; Petsiuk et al. 2018, RISE).

Deletion: the most important pixels first are replaced by the baseline ("air"), in equal
steps; the curve is the score (the mean softmax probability of the label over the explained
region: bounded, unlike raw logits, which a perturbed image can drive to any negative value)
relative to its value on the intact image. Insertion: from the all-baseline image, the most important
pixels first are put back. Areas under the curves (trapezoid over the fraction changed): a
faithful map has a LOW deletion AUC and a HIGH insertion AUC. A random map is the baseline to
beat.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from device_ai.inference.preprocess import air_baseline

Run = Callable[[np.ndarray], np.ndarray]
STEPS = 16


def _target(run: Run, image: np.ndarray, label: int, region: np.ndarray) -> float:
    logits = run(image)[0].astype(np.float64)
    logits -= logits.max(axis=0, keepdims=True)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=0, keepdims=True)
    return float(probabilities[label][region].mean())


def curves(run: Run, image: np.ndarray, label: int, region: np.ndarray, saliency: np.ndarray,
           steps: int = STEPS) -> tuple[float, float]:
    """(deletion AUC, insertion AUC) of ``saliency`` for the target; both relative to the intact target."""
    baseline = air_baseline(*image.shape[-2:])
    order = np.argsort(-saliency.ravel(), kind="stable")
    reference = _target(run, image, label, region)
    if reference == 0:
        return 0.0, 0.0
    fractions = np.linspace(0.0, 1.0, steps + 1)
    deletion, insertion = [], []
    for fraction in fractions:
        chosen = np.zeros(saliency.size, dtype=bool)
        chosen[order[: int(round(fraction * saliency.size))]] = True
        chosen = chosen.reshape(saliency.shape)
        deleted = np.where(chosen[None, None], baseline, image).astype(np.float32)
        inserted = np.where(chosen[None, None], image, baseline).astype(np.float32)
        deletion.append(_target(run, deleted, label, region) / reference)
        insertion.append(_target(run, inserted, label, region) / reference)
    return float(np.trapezoid(deletion, fractions)), float(np.trapezoid(insertion, fractions))
