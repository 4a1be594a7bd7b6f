"""Deletion and insertion curves on a model whose lesion logit is known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from device_ai.inference.preprocess import IMAGENET_MEAN, IMAGENET_STD, normalize
from validation.explain.study.faithfulness import STEPS, _remove, _target, curves, deletion_auc

SIZE = 40
LESION = 1


def _scene() -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    lesion = (rows - 20) ** 2 + (cols - 18) ** 2 < 25
    body = (rows - 20) ** 2 + (cols - 20) ** 2 < 300
    plane = np.where(lesion, 0.6, np.where(body, 0.5, 0.0)).astype(np.float32)
    return normalize(plane[None]), lesion


def _run(region: np.ndarray):  # noqa: ANN202
    """Lesion logit everywhere = 40 (mean brightness in the region - 0.55); background 0."""
    def run(image: np.ndarray) -> np.ndarray:
        plane = image[0, 0] * IMAGENET_STD[0] + IMAGENET_MEAN[0]
        logit = 40.0 * (float(plane[region].mean()) - 0.55)
        return np.stack([np.zeros((SIZE, SIZE)), np.full((SIZE, SIZE), logit)])[None].astype(np.float32)
    return run


@pytest.mark.req("SRS-068")
@pytest.mark.parametrize("removal", ["air", "imputed"])
def test_the_map_on_the_evidence_beats_the_map_away_from_it(removal: str) -> None:
    image, lesion = _scene()
    run = _run(lesion)
    on = lesion.astype(np.float32) + 0.01 * np.random.default_rng(0).random(lesion.shape).astype(np.float32)
    away = 1.0 - on
    deletion_on, insertion_on = curves(run, image, LESION, lesion, on, removal=removal)
    deletion_away, insertion_away = curves(run, image, LESION, lesion, away, removal=removal)
    assert deletion_on < deletion_away - 0.3 and insertion_on > insertion_away + 0.3
    assert deletion_auc(run, image, LESION, lesion, on, removal=removal) == pytest.approx(deletion_on)


@pytest.mark.req("SRS-068")
def test_imputed_removal_is_not_fooled_by_scattered_pixels() -> None:
    """Air removal of a random half of the pixels darkens the lesion's mean as much as a map
    would; imputed removal fills them from their neighbours, so a random map removes little
    evidence until most pixels are gone."""
    image, lesion = _scene()
    run = _run(lesion)
    random_map = np.random.default_rng(1).random(lesion.shape).astype(np.float32)
    assert deletion_auc(run, image, LESION, lesion, random_map, removal="imputed") > \
        deletion_auc(run, image, LESION, lesion, random_map, removal="air") + 0.1


def test_an_unknown_removal_is_refused() -> None:
    image, lesion = _scene()
    with pytest.raises(ValueError, match="removal"):
        curves(_run(lesion), image, LESION, lesion, lesion.astype(np.float32), removal="blur")


def _deletion_auc_running_every_image(run, image, region, saliency, removal):  # noqa: ANN001, ANN202
    """The deletion AUC as the study first computed it: the intact image and every step's image
    run, nothing shared."""
    order = np.argsort(-saliency.ravel(), kind="stable")
    reference = _target(run, image, LESION, region)
    fractions = np.linspace(0.0, 1.0, STEPS + 1)
    values = []
    for fraction in fractions:
        chosen = np.zeros(saliency.size, dtype=bool)
        chosen[order[: int(round(fraction * saliency.size))]] = True
        values.append(_target(run, _remove(image, chosen.reshape(saliency.shape), removal), LESION, region) / reference)
    return float(np.trapezoid(values, fractions))


@pytest.mark.parametrize("removal", ["air", "imputed"])
def test_the_shared_runs_give_the_same_aucs_bit_for_bit_with_fewer_runs(removal: str) -> None:
    """The shortcuts: nothing removed is the intact image, whose output the curve already has;
    with ``memo`` (as wins_over_random uses it), every pixel removed is the same image whatever
    the image was, run once for all curves, and an intact image is run once for consecutive
    curves of it. The AUCs must be exactly those of running every image, with fewer runs."""
    image, lesion = _scene()
    other = normalize(np.flipud(image[0, 0] * IMAGENET_STD[0] + IMAGENET_MEAN[0])[None].copy())
    maps = [lesion.astype(np.float32) + 0.01 * np.random.default_rng(0).random(lesion.shape).astype(np.float32),
            np.random.default_rng(1).random(lesion.shape).astype(np.float32)]
    calls = {"count": 0}

    def counted(image: np.ndarray) -> np.ndarray:
        calls["count"] += 1
        return _run(lesion)(image)

    def aucs(compute) -> tuple[list[float], int]:  # noqa: ANN001
        calls["count"] = 0
        return [compute(picture, saliency) for picture in (image, other) for saliency in maps], calls["count"]

    everything, runs_everything = aucs(lambda i, m: _deletion_auc_running_every_image(counted, i, lesion, m, removal))
    plain, runs_plain = aucs(lambda i, m: deletion_auc(counted, i, LESION, lesion, m, removal=removal))
    memo: dict = {}
    shared, runs_shared = aucs(lambda i, m: deletion_auc(counted, i, LESION, lesion, m, removal=removal, memo=memo))
    assert plain == everything and shared == everything  # exactly, not approximately
    assert len(set(everything)) == 4  # four different curves
    assert runs_everything == 4 * (STEPS + 2)  # the intact image and 17 steps per curve
    assert runs_plain == 4 * (STEPS + 1)  # step 0 is the intact image
    assert runs_shared == 2 + 4 * (STEPS - 1) + 1  # one intact run per image, one all-removed run
