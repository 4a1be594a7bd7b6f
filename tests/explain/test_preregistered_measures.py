"""The measures and criteria of the pre-registered faithfulness study (issue 21 items 2, 3, 5;
validation/explain/preregistered) on a scene whose evidence is known: each can fail."""

from __future__ import annotations

import numpy as np
import pytest

from tests.explain.test_faithfulness import LESION, _run, _scene
from validation.explain.preregistered import measures


@pytest.mark.req("SRS-068")
def test_road_scores_the_map_on_the_evidence_high_and_its_inverse_low() -> None:
    image, lesion = _scene()
    run = _run(lesion)
    on = lesion.astype(np.float32) + 0.01 * np.random.default_rng(0).random(lesion.shape).astype(np.float32)
    good = measures.road_score(run, image, LESION, lesion, on)
    bad = measures.road_score(run, image, LESION, lesion, measures.inverted(on))
    noise = measures.road_score(run, image, LESION, lesion, measures.random_map(lesion.shape, 1, 2, 3))
    assert good > 0.3 and bad < -0.3, (good, bad)
    assert abs(noise) < good / 2  # control: an order that knows nothing scores near neither end


@pytest.mark.req("SRS-068")
def test_the_bootstrap_resamples_patients_not_slices() -> None:
    """Two patients, one at 0 and one at 1 on each of their 10 slices: resampling patients gives an
    interval from about 0 to 1; resampling slices (the control) would give about 0.4 to 0.6."""
    values, patients = [0.0] * 10 + [1.0] * 10, [0] * 10 + [1] * 10
    mean, low, high = measures.clustered_ci(values, patients)
    assert mean == 0.5 and low <= 0.01 and high >= 0.99
    slices = np.random.default_rng(0).choice(values, size=(2000, 20)).mean(axis=1)
    assert np.percentile(slices, 97.5) - np.percentile(slices, 2.5) < 0.5
    assert measures.clustered_ci([0.2, 0.4], [3, 3])[1:] == pytest.approx((0.3, 0.3))


@pytest.mark.req("SRS-068")
@pytest.mark.parametrize("gaps, passed", [([0.35] * 20, True), ([0.29] * 20, False),
                                          ([0.9] * 17 + [0.05] * 3, False), ([0.9] * 18 + [0.05] * 2, True)])
def test_f1_needs_the_share_and_the_lower_bound(gaps: list[float], passed: bool) -> None:
    assert measures.f1(gaps, list(range(20)))["passed"] is passed


@pytest.mark.req("SRS-068")
def test_f2_needs_the_lower_bound_above_the_margin() -> None:
    patients = list(range(12))
    assert measures.f2([0.3] * 12, patients)["passed"]
    assert not measures.f2([0.3] * 6 + [-0.2] * 6, patients)["passed"]  # mean 0.05


def _figures(gap: float, road: float, auc: float, n: int = 12) -> dict:
    return {"gap": [gap] * n, "road": [road] * n, "auc": [auc] * n}


@pytest.mark.req("SRS-068")
def test_credit_needs_every_control_to_fail_and_the_default_to_beat_each_baseline() -> None:
    patients = list(range(12))
    failing = _figures(0.0, 0.0, 0.9)
    per_map = {"default": _figures(0.6, 0.8, 0.2), "inverted": failing, "randomized twin": failing,
               "random": failing, "blurred target": failing, "edges": failing}
    assert measures.judge(per_map, patients)["credit_allowed"]
    passing_blob = {**per_map, "blurred target": _figures(0.7, 0.85, 0.15)}  # a model-free map passes
    judged = measures.judge(passing_blob, patients)
    assert not judged["credit_allowed"] and not judged["fails_as_it_must"]["blurred target"]
    assert not judged["default_beats"]["blurred target"]["passed"]
    weak = {**per_map, "default": _figures(0.2, 0.8, 0.2)}  # the default itself fails F1
    assert not measures.judge(weak, patients)["credit_allowed"]


@pytest.mark.req("SRS-068")
def test_the_model_free_maps_hold_nothing_of_a_model() -> None:
    region = np.zeros((40, 40), dtype=bool)
    region[10:20, 10:20] = True
    blob = measures.blurred_target(region)
    assert blob[15, 15] > blob[35, 35] and blob.max() < 1.0  # blurred, peaked on the region
    plane = region.astype(np.float32)
    edges = measures.edges(plane)
    assert edges[10, 15] > edges[15, 15] and edges[10, 15] > edges[35, 35]  # the boundary, not the inside
