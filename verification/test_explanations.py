"""Explanation sanity checks and faithfulness of the default explanation on the phantom
verification set (SRS-034, SRS-070, SRS-067, SRS-068; Adebayo et al. 2018; issue 7).

The faithfulness cases and the sanity models come from `device_ai.explain.study`, as in the
study (`validation/explain/run_faithfulness.py`). The sanity checks run on every slice with a
lesion of ``POPULATION_PATIENTS`` verification patients (about 30), not on the study's 6: on
6 slices the median is decided by which slices are drawn (ANOM-012).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from device_ai.explain.gradcam import DEFAULT, resolve
from device_ai.explain.sanity import MIN_CHECKED, median_checked
from device_ai.explain.study import (
    beats_random_on_deletion,
    default_map_spearman,
    faithfulness_cases,
    permuted_models,
    randomized_models,
    sanity_cases,
)
from device_ai.model.twin import load_twin

RESULTS = Path(__file__).resolve().parents[1] / "validation" / "explain" / "results.json"
SPEARMAN_BELOW = 0.3
BEATS_RANDOM_AT_LEAST = 0.9


@pytest.fixture(scope="module")
def twin(released_engine):  # noqa: ANN001, ANN201
    torch.set_num_threads(2)
    return load_twin(released_engine.package)


@pytest.fixture(scope="module")
def cases(released_engine):  # noqa: ANN001, ANN201
    picked = sanity_cases(released_engine)
    assert len(picked) >= 20 and all(case.region.any() for case in picked)
    return picked


def _median_spearman(twin, others, cases) -> tuple[float, list[float | None]]:  # noqa: ANN001
    """Median over every other model and every slice where the real map is not empty (an empty
    map has nothing to check)."""
    rhos = [rho for per_model in default_map_spearman(twin, others, cases) for rho in per_model]
    assert sum(r is not None for r in rhos) >= MIN_CHECKED * len(others), rhos
    return median_checked(rhos), rhos


@pytest.mark.req("SRS-034")
def test_cascading_randomization_destroys_the_maps(twin, cases) -> None:  # noqa: ANN001
    median, rhos = _median_spearman(twin, randomized_models(twin), cases)
    print(f"model randomization, Spearman: {rhos}")
    assert median < SPEARMAN_BELOW, rhos


@pytest.mark.req("SRS-034", "SRS-070")
@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="ANOM-012: heads trained on permuted labels on the frozen backbone give default maps with "
                   "median Spearman about +0.5 against the real ones (below 0.3 only on the study's 6 slices)")
def test_a_head_trained_on_permuted_labels_gives_different_maps(twin, cases) -> None:  # noqa: ANN001
    median, rhos = _median_spearman(twin, permuted_models(twin), cases)
    print(f"data randomization, Spearman: {rhos}")
    assert median < SPEARMAN_BELOW, rhos


@pytest.fixture(scope="module")
def deletion_wins(released_engine, twin) -> list[bool]:  # noqa: ANN001
    """Per faithfulness case: does the default map beat the study's random map on deletion AUC?"""
    wins = beats_random_on_deletion(released_engine, twin, faithfulness_cases(released_engine))
    assert len(wins) == 24
    return wins


@pytest.mark.req("SRS-067")
def test_the_recorded_study_figure_of_the_default_reproduces(released_engine, twin, deletion_wins: list[bool]) -> None:  # noqa: ANN001
    record = json.loads(RESULTS.read_text(encoding="utf-8"))
    assert record["model_manifest_sha256"] == released_engine.package.manifest_sha256
    assert record["default"] == resolve(twin, DEFAULT).key and record["cases"] == len(deletion_wins)
    recorded = record["summary"][record["default"]]["beats_random_on_deletion"]
    assert float(np.mean(deletion_wins)) == pytest.approx(recorded)


@pytest.mark.req("SRS-068")
def test_the_default_explanation_beats_random_on_deletion_in_90_percent_of_cases(deletion_wins: list[bool]) -> None:
    share = float(np.mean(deletion_wins))
    print(f"default Grad-CAM beats random on deletion in {share:.0%} of {len(deletion_wins)} slices")
    assert share >= BEATS_RANDOM_AT_LEAST, share
