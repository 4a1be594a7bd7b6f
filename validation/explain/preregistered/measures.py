"""Measures and criteria of the pre-registered faithfulness study (PREREGISTRATION.md), as pure
functions of maps and per-slice figures so that each can be tested on a closed-form model.

- ``road_score``: ROAD's comparison of removal orders (Rong et al. 2022): the mean, over removed
  fractions 10%..90%, of the target with the least relevant pixels removed first (LeRF) minus the
  target with the most relevant removed first (MoRF); removed pixels are imputed.
- ``gap``: the mean deletion AUC of reference random maps minus the map's deletion AUC.
- ``clustered_ci``: percentile interval of the mean over slices, resampling patients.
- ``judge``: the plan's criteria F1, F2, "faithful", discrimination and beating the baselines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import ndimage

from validation.explain.study.faithfulness import Run, _intact_target, _removed_target

ROAD_FRACTIONS = tuple(round(0.1 * k, 1) for k in range(1, 10))
GAP_AT_LEAST = 0.1  # F1: per slice
GAP_SHARE = 0.9  # F1: share of slices
GAP_MEAN_LOWER_BOUND = 0.3  # F1: CI lower bound of the mean gap
ROAD_MARGIN = 0.1  # F2: CI lower bound of the mean ROAD score (pre-set margin)
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 11
BLUR_SIGMA = 8.0
EDGE_SIGMA = 2.0
NEGATIVE_CONTROLS = ("inverted", "randomized twin", "random")
MODEL_FREE = ("blurred target", "edges")


def scaled(saliency: np.ndarray) -> np.ndarray:
    """Min-max scaled to [0, 1]; a constant map is all zeros."""
    low, high = float(saliency.min()), float(saliency.max())
    if high <= low:
        return np.zeros_like(saliency, dtype=np.float32)
    return ((saliency - low) / (high - low)).astype(np.float32)


def inverted(saliency: np.ndarray) -> np.ndarray:
    return (1.0 - scaled(saliency)).astype(np.float32)


def blurred_target(region: np.ndarray) -> np.ndarray:
    """The explained region as 0/1, blurred: a map that holds nothing of the model."""
    return ndimage.gaussian_filter(region.astype(np.float32), BLUR_SIGMA).astype(np.float32)


def edges(plane: np.ndarray) -> np.ndarray:
    """The slice's own edges: Sobel gradient magnitude of the window-unit plane, smoothed."""
    smooth = ndimage.gaussian_filter(plane.astype(np.float64), EDGE_SIGMA)
    return np.hypot(ndimage.sobel(smooth, axis=0), ndimage.sobel(smooth, axis=1)).astype(np.float32)


def random_map(shape: tuple[int, int], *key: int) -> np.ndarray:
    return np.random.default_rng(list(key)).random(shape).astype(np.float32)


def road_score(run: Run, image: np.ndarray, label: int, region: np.ndarray, saliency: np.ndarray, *,
               fractions: Sequence[float] = ROAD_FRACTIONS, memo: dict | None = None) -> float:
    """Mean over ``fractions`` of LeRF - MoRF (targets relative to the intact image's); higher is
    more faithful. 0.0 when the intact target is 0 (nothing to explain)."""
    order = np.argsort(-saliency.ravel(), kind="stable")
    reference = _intact_target(run, image, label, region, memo)
    if reference == 0:
        return 0.0
    differences = []
    for fraction in fractions:
        count = int(round(fraction * saliency.size))
        most, least = np.zeros(saliency.size, dtype=bool), np.zeros(saliency.size, dtype=bool)
        most[order[:count]] = True
        least[order[saliency.size - count:]] = True
        morf = _removed_target(run, image, most.reshape(saliency.shape), "imputed", label, region, reference, memo)
        lerf = _removed_target(run, image, least.reshape(saliency.shape), "imputed", label, region, reference, memo)
        differences.append((lerf - morf) / reference)
    return float(np.mean(differences))


def clustered_ci(values: Sequence[float], patients: Sequence[int], *, resamples: int = BOOTSTRAP_RESAMPLES,
                 seed: int = BOOTSTRAP_SEED) -> tuple[float, float, float]:
    """(mean, 2.5th, 97.5th percentile) of the mean over slices, patients drawn with replacement
    (all slices of a drawn patient kept)."""
    values = np.asarray(values, dtype=np.float64)
    patients = np.asarray(patients)
    if values.size == 0:
        raise ValueError("no slice to summarise")
    ids = np.unique(patients)
    sums = np.array([values[patients == p].sum() for p in ids])
    counts = np.array([(patients == p).sum() for p in ids])
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(ids), size=(resamples, len(ids)))
    means = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(values.mean()), float(low), float(high)


def f1(gaps: Sequence[float], patients: Sequence[int]) -> dict:
    share = float(np.mean(np.asarray(gaps) >= GAP_AT_LEAST))
    mean, low, high = clustered_ci(gaps, patients)
    return {"share_gap_at_least": share, "mean": mean, "ci": [low, high],
            "passed": bool(share >= GAP_SHARE and low > GAP_MEAN_LOWER_BOUND)}


def f2(roads: Sequence[float], patients: Sequence[int]) -> dict:
    mean, low, high = clustered_ci(roads, patients)
    return {"mean": mean, "ci": [low, high], "passed": bool(low > ROAD_MARGIN)}


def beats(default: Mapping[str, Sequence[float]], baseline: Mapping[str, Sequence[float]],
          patients: Sequence[int]) -> dict:
    """Paired: baseline AUC - default AUC, and default ROAD - baseline ROAD; both CIs above 0."""
    auc = np.asarray(baseline["auc"]) - np.asarray(default["auc"])
    road = np.asarray(default["road"]) - np.asarray(baseline["road"])
    auc_mean, auc_low, auc_high = clustered_ci(auc, patients)
    road_mean, road_low, road_high = clustered_ci(road, patients)
    return {"auc_difference": {"mean": auc_mean, "ci": [auc_low, auc_high]},
            "road_difference": {"mean": road_mean, "ci": [road_low, road_high]},
            "passed": bool(auc_low > 0 and road_low > 0)}


def judge(per_map: Mapping[str, Mapping[str, Sequence[float]]], patients: Sequence[int]) -> dict:
    """The plan's verdicts from the per-slice figures: ``per_map[name]`` has ``gap``, ``road`` and
    ``auc`` lists in slice order (``default`` and every control and baseline)."""
    verdicts = {}
    for name, figures in per_map.items():
        first, second = f1(figures["gap"], patients), f2(figures["road"], patients)
        verdicts[name] = {"F1": first, "F2": second, "faithful": first["passed"] and second["passed"]}
    discrimination = {name: not verdicts[name]["faithful"] for name in (*NEGATIVE_CONTROLS, *MODEL_FREE)}
    against = {name: beats(per_map["default"], per_map[name], patients) for name in MODEL_FREE}
    decision = (verdicts["default"]["faithful"] and all(discrimination.values())
                and all(b["passed"] for b in against.values()))
    return {"verdicts": verdicts, "fails_as_it_must": discrimination, "default_beats": against,
            "credit_allowed": bool(decision)}
