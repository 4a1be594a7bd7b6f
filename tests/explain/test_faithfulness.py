"""Deletion and insertion curves on a model whose lesion logit is known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from device_ai.inference.preprocess import IMAGENET_MEAN, IMAGENET_STD, normalize
from validation.explain.study.faithfulness import curves, deletion_auc

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
