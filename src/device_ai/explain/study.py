"""The phantom verification cases and the sanity-check models of the explanation study, in one
place for the study (`validation/explain/run_faithfulness.py`) and the verification tests.

- Faithfulness cases: the first ``max_cases`` slices of the verification split (8 patients,
  base seed of the released training) where the locked engine predicts at least 30 lesion
  pixels; the explained region is that ORT mask.
- Sanity cases: every slice with more than 50 labelled lesion pixels of ``POPULATION_PATIENTS``
  verification patients at 4 slices each (base seed 0; 32 slices), explained region = the ORT
  mask; the study and the verification tests use them. The first study round used the first 6
  such slices of 4 patients: too few to judge a median on,
  the default's permuted-label median was +0.07 there and +0.55 on the 32 (ANOM-012).
- Sanity models: the twin with every parameter re-drawn from the head down, once per seed of
  ``RANDOMIZATION_SEEDS`` (the Spearman median is taken over every seed and slice: with one
  seed the outcome of the check depended on the draw, +0.11 to +0.82 for the same map over
  seeds 0-4), and the twins with a fresh head trained for 120 steps on permuted labels of 12
  training patients (base seed 3, 4 slices each) on the frozen backbone, one per seed of
  ``PERMUTED_SEEDS`` (pooled likewise: one head gave +0.17, two others +0.52 and +0.62).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from device_ai.explain.faithfulness import Run, curves
from device_ai.explain.gradcam import gradcam
from device_ai.explain.sanity import compare, permuted_label_head, randomize_cascading
from device_ai.inference.engine import LockedEngine
from device_ai.inference.preprocess import normalize
from device_ai.model.segmenter import DinoSegmenter
from device_ai.training.data import build_pool

LESION = 2
MIN_REGION_PIXELS = 30
PERMUTED_STEPS = 120
RANDOMIZATION_SEEDS = (0, 1, 2, 3, 4)
PERMUTED_SEEDS = (0, 1, 2)
POPULATION_PATIENTS = 12  # the verification tests' sanity set: about 30 slices, not the study's 6


@dataclass(frozen=True)
class Case:
    slice_index: int
    image: np.ndarray  # (1, 3, H, W), as the engine sees it
    logits: np.ndarray  # the locked engine's output
    region: np.ndarray  # (H, W) bool: the ORT mask of the label
    body: np.ndarray  # (H, W) bool: pixels above the bottom of the window (not "air")


def _case(engine: LockedEngine, index: int, plane: np.ndarray, label: int) -> Case:
    image = normalize(plane[None])
    logits = engine.run(image)
    return Case(index, image, logits, logits[0].argmax(axis=0) == label, plane > 0)


def faithfulness_cases(engine: LockedEngine, *, patients: int = 8, max_cases: int = 24,
                       label: int = LESION, base_seed: int | None = None) -> list[Case]:
    """``base_seed`` None: the released training's base seed (the study's verification slices)."""
    seed = engine.manifest.training.seed if base_seed is None else base_seed
    pool = build_pool("verification", patients, engine.manifest.input.shape[-1], base_seed=seed)
    cases = []
    for index in range(len(pool.planes)):
        case = _case(engine, index, pool.planes[index], label)
        if case.region.sum() >= MIN_REGION_PIXELS:
            cases.append(case)
        if len(cases) >= max_cases:
            break
    return cases


def sanity_cases(engine: LockedEngine, *, label: int = LESION, count: int | None = None, base_seed: int = 0,
                 patients: int = POPULATION_PATIENTS) -> list[Case]:
    """Slices with more than 50 labelled pixels of ``label`` among ``patients`` verification
    patients at 4 slices each: the first ``count`` (None: all). The defaults are the sanity set
    of the study and the verification tests; the first study round's 6 slices were
    ``patients=4, count=6``."""
    pool = build_pool("verification", patients, engine.manifest.input.shape[-1], slices_per_patient=4,
                      base_seed=base_seed)
    picks = [i for i in range(len(pool.labels)) if (pool.labels[i] == label).sum() > 50][:count]
    return [_case(engine, i, pool.planes[i], label) for i in picks]


def randomized_models(twin: DinoSegmenter) -> list[DinoSegmenter]:
    """The cascading-randomized twins, one per seed of ``RANDOMIZATION_SEEDS``."""
    return [randomize_cascading(twin, seed=seed) for seed in RANDOMIZATION_SEEDS]


def permuted_models(twin: DinoSegmenter) -> list[DinoSegmenter]:
    """The twins with a head trained on permuted labels, one per seed of ``PERMUTED_SEEDS``."""
    train = build_pool("train", 12, twin.cfg.input_size, base_seed=3, slices_per_patient=4)
    images = torch.from_numpy(normalize(train.planes))
    labels = torch.from_numpy(train.labels.astype(np.int64))
    return [permuted_label_head(twin, images, labels, steps=PERMUTED_STEPS, seed=seed) for seed in PERMUTED_SEEDS]


def torch_runner(model: DinoSegmenter) -> Run:
    """A torch model as a ``Run`` (image -> logits, as the locked engine's ``run``), for the
    sanity models, which only exist in torch."""
    def run(image: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(image)).numpy()
    return run


def _wins_over_random(run: Run, cases: list[Case], maps: list[np.ndarray]) -> list[bool]:
    """Per case: is the map's deletion AUC (through ``run``) below that of the study's random map
    (``default_rng(0)``, one per case in order)?"""
    rng = np.random.default_rng(0)
    wins = []
    for case, saliency in zip(cases, maps):
        random_map = rng.random(case.region.shape).astype(np.float32)
        ours, _ = curves(run, case.image, LESION, case.region, saliency)
        baseline, _ = curves(run, case.image, LESION, case.region, random_map)
        wins.append(bool(ours < baseline))
    return wins


def _default_maps(twin: DinoSegmenter, cases: list[Case]) -> list[np.ndarray]:
    return [gradcam(twin, case.image, LESION, target_mask=case.region) for case in cases]


def beats_random_on_deletion(engine: LockedEngine, twin: DinoSegmenter, cases: list[Case]) -> list[bool]:
    """Per case: does the default map's deletion AUC through the locked engine beat the study's
    random map?"""
    return _wins_over_random(engine.run, cases, _default_maps(twin, cases))


def default_map_spearman(twin: DinoSegmenter, others: list[DinoSegmenter], cases: list[Case]) -> list[list[float | None]]:
    """Per sanity model, per case: Spearman of the default map of ``twin`` with that model's
    (None where the twin's map is empty: nothing to check)."""
    original = _default_maps(twin, cases)
    return [compare(original, [gradcam(other, case.image, LESION, target_mask=case.region) for case in cases])
            for other in others]


def deletion_wins_on_other_models(twin: DinoSegmenter, others: list[DinoSegmenter], cases: list[Case]) -> list[list[bool]]:
    """Per other model, per case: does the *real* model's default map beat the random map on the
    other model's deletion curve (its own label probability over the same region)? Where it
    does, a map shaped like the real one is faithful to the other model too, so a low Spearman
    against that model's map is not what a faithful explanation would give (ANOM-012)."""
    originals = _default_maps(twin, cases)
    return [_wins_over_random(torch_runner(other), cases, originals) for other in others]
