"""Faithfulness of explanation maps: deletion and insertion curves through the locked engine
(reference/model.md §6.4; Petsiuk et al. 2018, RISE).

Deletion: the most important pixels first are removed, in equal steps; the curve is the score
(the mean softmax probability of the label over the explained region: bounded, unlike raw
logits, which a perturbed image can drive to any negative value) relative to its value on the
intact image. Insertion: from the image with every pixel removed, the most important pixels
first are put back. Areas under the curves (trapezoid over the fraction changed): a faithful map
has a LOW deletion AUC and a HIGH insertion AUC. A random map is the baseline to beat.

How a pixel is removed (``removal``):
- ``"air"`` (RISE's constant baseline): replaced by the bottom of the window. The explanation
  study ranked its configurations this way. The images it makes are out of distribution
  (Gomez et al. 2022): scattered air pixels break a slice's texture, so a *random* order
  destroys the output quickly, and a hypodense lesion replaced by air stays a dark spot that
  still looks like a lesion; every slice where the default explanation lost to random this way
  had a hypodense lesion (ANOM-013).
- ``"imputed"`` (ROAD, Rong et al. 2022; `imputation.py`): removed pixels are filled from
  their neighbours, so a removed lesion becomes the tissue around it and scattered removals
  stay in distribution. The verification criterion (SRS-068) is measured this way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np

from device_ai.inference.preprocess import air_baseline
from validation.explain.study.imputation import impute

Run = Callable[[np.ndarray], np.ndarray]
STEPS = 16
REMOVALS = ("air", "imputed")


def _target(run: Run, image: np.ndarray, label: int, region: np.ndarray) -> float:
    return _probability(run(image), label, region)


def _probability(output: np.ndarray, label: int, region: np.ndarray) -> float:
    logits = output[0].astype(np.float64)
    logits -= logits.max(axis=0, keepdims=True)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=0, keepdims=True)
    return float(probabilities[label][region].mean())


def _intact_target(run: Run, image: np.ndarray, label: int, region: np.ndarray, memo: dict | None) -> float:
    """The target on the intact image; ``memo`` keeps ``run``'s output of the last image, which the
    curve of the next map of the same image (the random map's) needs again."""
    if memo is None:
        return _target(run, image, label, region)
    key = ("intact", image.shape, image.dtype.str, hashlib.sha256(np.ascontiguousarray(image)).digest())
    if memo.get("intact key") != key:
        memo["intact key"], memo["intact"] = key, run(image)
    return _probability(memo["intact"], label, region)


def _removed_target(run: Run, image: np.ndarray, removed: np.ndarray, removal: str, label: int,
                    region: np.ndarray, reference: float, memo: dict | None) -> float:
    """The target with the ``removed`` pixels removed. Nothing removed is the intact image, whose
    target is ``reference`` (the engines are deterministic: the same input gives the same output).
    Every pixel removed is an image that does not depend on ``image`` (air everywhere, or the
    imputation of every pixel, which no pixel of the image enters): ``memo``, when given, keeps
    ``run``'s output for it, so that the curves of several images through one ``run`` run it once."""
    if not removed.any():
        return reference
    if not removed.all() or memo is None:
        return _target(run, _remove(image, removed, removal), label, region)
    key = (image.shape, removal)
    if key not in memo:
        memo[key] = run(_remove(image, removed, removal))
    return _probability(memo[key], label, region)


def _remove(image: np.ndarray, removed: np.ndarray, removal: str) -> np.ndarray:
    if removal == "air":
        return np.where(removed[None, None], air_baseline(*image.shape[-2:]), image).astype(np.float32)
    if removal == "imputed":
        return impute(image, removed)
    raise ValueError(f"unknown removal {removal!r}; use one of {', '.join(REMOVALS)}")


def _auc(run: Run, image: np.ndarray, label: int, region: np.ndarray, saliency: np.ndarray,
         steps: int, removal: str, modes: tuple[str, ...], memo: dict | None = None) -> dict[str, float]:
    order = np.argsort(-saliency.ravel(), kind="stable")
    reference = _intact_target(run, image, label, region, memo)
    if reference == 0:
        return dict.fromkeys(modes, 0.0)
    fractions = np.linspace(0.0, 1.0, steps + 1)
    scores: dict[str, list[float]] = {mode: [] for mode in modes}
    for fraction in fractions:
        chosen = np.zeros(saliency.size, dtype=bool)
        chosen[order[: int(round(fraction * saliency.size))]] = True
        chosen = chosen.reshape(saliency.shape)
        if "deletion" in modes:  # the chosen pixels removed
            scores["deletion"].append(_removed_target(run, image, chosen, removal, label, region, reference, memo)
                                      / reference)
        if "insertion" in modes:  # only the chosen pixels kept
            scores["insertion"].append(_removed_target(run, image, ~chosen, removal, label, region, reference, memo)
                                       / reference)
    return {mode: float(np.trapezoid(values, fractions)) for mode, values in scores.items()}


def curves(run: Run, image: np.ndarray, label: int, region: np.ndarray, saliency: np.ndarray,
           steps: int = STEPS, removal: str = "air") -> tuple[float, float]:
    """(deletion AUC, insertion AUC) of ``saliency`` for the target; both relative to the intact target."""
    aucs = _auc(run, image, label, region, saliency, steps, removal, ("deletion", "insertion"))
    return aucs["deletion"], aucs["insertion"]


def deletion_auc(run: Run, image: np.ndarray, label: int, region: np.ndarray, saliency: np.ndarray,
                 steps: int = STEPS, removal: str = "imputed", *, memo: dict | None = None) -> float:
    """The deletion AUC alone (the criterion of SRS-068), relative to the intact target. ``memo``:
    a dict shared by the calls of one ``run`` (and only of that ``run``), which then runs the image
    with every pixel removed once, and an intact image once for consecutive curves of it."""
    return _auc(run, image, label, region, saliency, steps, removal, ("deletion",), memo)["deletion"]
