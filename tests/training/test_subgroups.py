"""The external study's analysis (validation/EXTERNAL_PROTOCOL.md): covariates measured on the
image, subgroups with CIs, the worst subgroup, and acceptance criteria that the truth passes and
that broken predictions fail (the protocol's negative controls, §6)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from device_ai.training.subgroups import (CaseArrays, case_record, inplane_diameter_mm, lesion_records,
                                          patient_covariates, summarize_study)

PIXEL_MM = 0.8


def _disc(shape: tuple[int, int], centre: tuple[float, float], radius_px: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius_px**2


def _case(seed: int, tissue_hu: float = 20.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hu, organ, lesion) of a simple 4-slice phantom: body, fat ring, organ at 60 HU, 0-3 lesions."""
    rng = np.random.default_rng(seed)
    shape = (256, 256)
    body = _disc(shape, (128, 128), 115)
    fat = body & ~_disc(shape, (128, 128), 105)
    organ2d = _disc(shape, (128, 120), 70)
    plane = np.full(shape, -1000.0)
    plane[body] = tissue_hu
    plane[fat] = -100.0
    plane[organ2d] = 60.0
    lesion2d = np.zeros(shape, dtype=bool)
    for index in range(seed % 4):
        diameter_mm = [14.0, 24.0, 34.0][index % 3]
        centre = [(95, 95), (95, 150), (160, 120)][index]
        disc = _disc(shape, centre, diameter_mm / PIXEL_MM / 2) & organ2d
        plane[disc] = 60.0 + (40.0 if index % 2 else -40.0)
        lesion2d |= disc
    hu = np.stack([plane + rng.normal(0, 10, shape) for _ in range(4)]).astype(np.float32)
    organ = np.stack([organ2d & ~lesion2d] * 4)
    lesion = np.stack([lesion2d] * 4)
    return hu, organ, lesion


def _study(prediction) -> dict:  # noqa: ANN001 - (hu, organ, lesion) -> (pred_organ, pred_lesion)
    cases = []
    for seed in range(24):
        hu, organ, lesion = _case(seed, tissue_hu=(-5.0, 20.0, 55.0)[seed % 3])
        pred_organ, pred_lesion = prediction(hu, organ, lesion)
        cases.append(case_record(CaseArrays(hu, organ, lesion, pred_organ, pred_lesion, (2.0, PIXEL_MM, PIXEL_MM))))
    return summarize_study(cases)


@pytest.mark.req("SRS-021")
def test_covariates_are_measured_on_the_image() -> None:
    hu, organ, lesion = _case(3, tissue_hu=20.0)
    case = CaseArrays(hu, organ, lesion, organ, lesion, (2.0, PIXEL_MM, PIXEL_MM))
    records = sorted(lesion_records(case), key=lambda r: r["diameter_mm"])
    assert [r["diameter_mm"] for r in records] == pytest.approx([14.0, 24.0, 34.0], abs=1.0)
    assert [np.sign(r["contrast_hu"]) for r in records] == [-1, 1, -1]
    assert [abs(r["contrast_hu"]) for r in records] == pytest.approx([40, 40, 40], abs=3)
    covariates = patient_covariates(case)
    assert covariates["tissue_minus_organ_hu"] == pytest.approx(-40, abs=3)
    assert covariates["noise_sigma_hu"] == pytest.approx(10, abs=1.5)
    assert covariates["matrix"] == 256 and covariates["pixel_spacing_mm"] == PIXEL_MM


@pytest.mark.req("SRS-021")
def test_diameter_is_the_largest_inplane_extent() -> None:
    square = np.zeros((2, 64, 64), dtype=bool)
    square[1, 10:30, 10:20] = True  # 20 x 10 px: the diagonal is the largest extent
    expected = (np.hypot(19, 9) + 1) * 0.5
    assert inplane_diameter_mm(square, 0.5) == pytest.approx(expected)


@pytest.mark.req("SRS-021")
def test_the_truth_passes_every_criterion_and_names_a_worst_subgroup() -> None:
    summary = _study(lambda hu, organ, lesion: (organ, lesion))
    assert summary["acceptance"]["passed"], summary["acceptance"]
    assert summary["worst_subgroup"] is not None and summary["worst_subgroup"]["n"] >= 5
    for row in summary["subgroups"]:
        low, high = row["lesion_dice_ci95"]
        assert low <= row["lesion_dice"] <= high
    names = {row["subgroup"] for row in summary["subgroups"]}
    assert {"lesion diameter", "lesion density", "surrounding tissue vs organ", "noise sigma"} <= names


@pytest.mark.req("SRS-021")
def test_no_lesion_predicted_fails() -> None:
    summary = _study(lambda hu, organ, lesion: (organ | lesion, np.zeros_like(lesion)))
    results = summary["acceptance"]["results"]
    assert not summary["acceptance"]["passed"]
    assert not results["lesion_dice"] and not results["lesion_sensitivity"] and not results["subgroup_lesion_dice"]


@pytest.mark.req("SRS-021")
def test_the_issue_14_shortcut_fails() -> None:
    """Surrounding soft tissue darker than the organ labelled Lesion (what the 1.0.0 model does)."""

    def shortcut(hu: np.ndarray, organ: np.ndarray, lesion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        soft = (hu > -30) & (hu < 45) & ~organ & ~lesion
        soft = np.stack([ndimage.binary_opening(plane, iterations=2) for plane in soft])
        darker = soft.any() and np.median(hu[soft]) < 60
        return organ, lesion | (soft if darker else np.zeros_like(soft))

    summary = _study(shortcut)
    results = summary["acceptance"]["results"]
    assert not summary["acceptance"]["passed"]
    assert not results["lesion_free_slices_clean"] and not results["false_positives_per_slice"] or \
        not results["lesion_dice"]
    worst = summary["worst_subgroup"]
    assert worst["lesion_dice"] < 0.7


@pytest.mark.req("SRS-021")
def test_a_shifted_truth_fails() -> None:
    summary = _study(lambda hu, organ, lesion: (organ, np.roll(lesion, 6, axis=2)))
    assert not summary["acceptance"]["passed"]
    assert not summary["acceptance"]["results"]["lesion_dice"]
