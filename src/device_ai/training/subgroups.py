"""Subgroup analysis of a performance study (validation/EXTERNAL_PROTOCOL.md §3-§5).

Covariates are measured on each case's image and truth, never read from a generator's
parameters, so the same analysis serves the project's phantoms, the clean-room phantoms and
any labelled DICOM: lesion diameter (largest in-plane extent of the truth component), lesion
contrast against the organ ring around it, surrounding soft tissue relative to the organ,
noise, pixel spacing, slice thickness and matrix size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage, stats

from device_ai.inference.postprocess import FULL_CONNECTIVITY
from device_ai.training.evaluate import DETECTION_IOU, MIN_EVALUABLE_AREA_MM2, bootstrap_ci, dice, lesion_detection

MIN_SUBGROUP_SIZE = 5  # the worst subgroup is chosen among subgroups with at least this many units
RING_MM = (2.0, 5.0)  # organ ring around a lesion for its contrast
SOFT_TISSUE_HU = (-30.0, 150.0)

EXTERNAL_ACCEPTANCE = {
    "organ_dice": 0.95,
    "lesion_dice": 0.85,
    "lesion_sensitivity": 0.90,
    "false_positives_per_slice": 0.05,  # at most
    "lesion_free_slices_clean": 0.95,
    "subgroup_lesion_dice": 0.70,
}


@dataclass(frozen=True)
class CaseArrays:
    """One case at source resolution: HU, truth and prediction masks, voxel spacing (z, y, x) mm."""

    hu: np.ndarray
    truth_organ: np.ndarray
    truth_lesion: np.ndarray
    pred_organ: np.ndarray
    pred_lesion: np.ndarray
    spacing_zyx_mm: tuple[float, float, float]


def inplane_diameter_mm(component: np.ndarray, pixel_mm: float) -> float:
    """Largest in-plane extent of a 3D mask: the longest distance between two of its pixels in
    one slice, plus one pixel (pixel centres to outer edges)."""
    longest = 0.0
    for plane in component:
        points = np.argwhere(plane & ~ndimage.binary_erosion(plane))
        if len(points) == 0:
            continue
        if len(points) > 1:
            diff = points[:, None, :] - points[None, :, :]
            longest = max(longest, float(np.sqrt((diff**2).sum(axis=2)).max()))
    return (longest + 1.0) * pixel_mm


def _ring(component: np.ndarray, organ: np.ndarray, pixel_mm: float) -> np.ndarray:
    ring = np.zeros_like(component)
    for z, plane in enumerate(component):
        if plane.any():
            distance = ndimage.distance_transform_edt(~plane, sampling=pixel_mm)
            ring[z] = (distance >= RING_MM[0]) & (distance <= RING_MM[1]) & organ[z]
    return ring


def lesion_records(case: CaseArrays) -> list[dict[str, Any]]:
    """One record per truth lesion (3D component): diameter, contrast, evaluable, detected, Dice."""
    pixel_mm = case.spacing_zyx_mm[1]
    truth_map, count = ndimage.label(case.truth_lesion, structure=FULL_CONNECTIVITY)
    pred_map, _ = ndimage.label(case.pred_lesion, structure=FULL_CONNECTIVITY)
    organ_or_lesion = case.truth_organ | case.truth_lesion
    records = []
    for index in range(1, count + 1):
        component = truth_map == index
        overlapping = sorted(set(np.unique(pred_map[component]).tolist()) - {0})
        predicted = np.isin(pred_map, overlapping) if overlapping else np.zeros_like(component)
        largest_area = float(component.reshape(component.shape[0], -1).sum(axis=1).max()) * pixel_mm**2
        union = np.logical_or(component, predicted).sum()
        iou = float(np.logical_and(component, predicted).sum() / union) if union else 0.0
        ring = _ring(component, organ_or_lesion & ~case.truth_lesion, pixel_mm)
        contrast = float(case.hu[component].mean() - np.median(case.hu[ring])) if ring.any() else float("nan")
        records.append({
            "diameter_mm": round(inplane_diameter_mm(component, pixel_mm), 2),
            "contrast_hu": round(contrast, 1),
            "evaluable": largest_area >= MIN_EVALUABLE_AREA_MM2,
            "detected": bool(overlapping) and iou >= DETECTION_IOU,
            "dice": dice(component, predicted) or 0.0,
        })
    return records


def patient_covariates(case: CaseArrays) -> dict[str, float]:
    organ = case.truth_organ & ~case.truth_lesion
    organ_hu = float(np.median(case.hu[organ])) if organ.any() else float("nan")
    soft = (case.hu >= SOFT_TISSUE_HU[0]) & (case.hu <= SOFT_TISSUE_HU[1]) & ~case.truth_organ & ~case.truth_lesion
    tissue = float(np.median(case.hu[soft]) - organ_hu) if soft.any() else float("nan")
    interior = np.stack([ndimage.binary_erosion(plane, iterations=3) for plane in organ])
    interior &= ~ndimage.binary_dilation(case.truth_lesion, iterations=3)
    values = case.hu[interior]
    noise = float(1.4826 * np.median(np.abs(values - np.median(values)))) if values.size else float("nan")
    return {
        "tissue_minus_organ_hu": round(tissue, 1),
        "noise_sigma_hu": round(noise, 1),
        "pixel_spacing_mm": case.spacing_zyx_mm[1],
        "slice_thickness_mm": case.spacing_zyx_mm[0],
        "matrix": int(case.hu.shape[1]),
    }


def lesion_free_slices(case: CaseArrays) -> tuple[int, int]:
    """(slices without truth lesion, of which those without any predicted lesion pixel)."""
    truth_free = ~case.truth_lesion.reshape(case.truth_lesion.shape[0], -1).any(axis=1)
    predicted_any = case.pred_lesion.reshape(case.pred_lesion.shape[0], -1).any(axis=1)
    return int(truth_free.sum()), int((truth_free & ~predicted_any).sum())


def case_record(case: CaseArrays) -> dict[str, Any]:
    """Everything the study needs of one case: Dice per label, detection counts, lesion
    records, covariates and lesion-free slice counts (no arrays)."""
    detection = lesion_detection(case.truth_lesion, case.pred_lesion, case.spacing_zyx_mm[1] ** 2)
    free, clean = lesion_free_slices(case)
    return {
        "slices": int(case.hu.shape[0]),
        "truth_has_lesion": bool(case.truth_lesion.any()),
        "organ_dice": dice(case.truth_organ, case.pred_organ),
        "lesion_dice": dice(case.truth_lesion, case.pred_lesion),
        **{f"lesions_{name}": value for name, value in detection.items()},
        "lesion_free_slices": free,
        "lesion_free_slices_clean": clean,
        "lesions": lesion_records(case),
        "covariates": patient_covariates(case),
    }


# --- subgroups -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Subgroups:
    name: str
    level: str  # "lesion" or "patient"
    key: str
    edges: tuple[tuple[str, float, float], ...]  # (label, low inclusive, high exclusive)

    def bin_of(self, value: float) -> str | None:
        if value != value:  # NaN: not measurable
            return None
        for label, low, high in self.edges:
            if low <= value < high:
                return label
        return None


INF = float("inf")
SUBGROUPS = (
    Subgroups("lesion diameter", "lesion", "diameter_mm",
              (("<10 mm", 0, 10), ("10-20 mm", 10, 20), ("20-30 mm", 20, 30), ("30-40 mm", 30, 40.0001),
               (">40 mm", 40.0001, INF))),
    Subgroups("lesion density", "lesion", "contrast_hu", (("hypodense", -INF, 0), ("hyperdense", 0, INF))),
    Subgroups("|lesion contrast|", "lesion", "abs_contrast_hu",
              (("0-20 HU", 0, 20), ("20-40 HU", 20, 40), ("40-60 HU", 40, 60), ("60+ HU", 60, INF))),
    Subgroups("surrounding tissue vs organ", "patient", "tissue_minus_organ_hu",
              (("darker by >15 HU", -INF, -15), ("within 15 HU", -15, 15.0001), ("brighter by >15 HU", 15.0001, INF))),
    Subgroups("noise sigma", "patient", "noise_sigma_hu", (("<12 HU", 0, 12), ("12-18 HU", 12, 18), ("18+ HU", 18, INF))),
    Subgroups("pixel spacing", "patient", "pixel_spacing_mm",
              (("0.50-0.67 mm", 0, 0.67), ("0.67-0.83 mm", 0.67, 0.83), ("0.83-1.00 mm", 0.83, INF))),
    Subgroups("slice thickness", "patient", "slice_thickness_mm",
              (("1-2 mm", 0, 2), ("2-3.5 mm", 2, 3.5), ("3.5-5 mm", 3.5, INF))),
    Subgroups("matrix", "patient", "matrix", (("256-341 px", 0, 342), ("342-426 px", 342, 427), ("427-512 px", 427, INF))),
)


def _ci(values: Sequence[float]) -> tuple[float, float] | None:
    return bootstrap_ci(list(values), np.mean) if len(values) else None


def proportion(successes: int, trials: int) -> dict[str, Any]:
    if trials == 0:
        return {"value": None, "ci95": None, "successes": 0, "trials": 0}
    ci = stats.binomtest(successes, trials).proportion_ci(0.95, method="exact")
    return {"value": successes / trials, "ci95": (float(ci.low), float(ci.high)), "successes": successes,
            "trials": trials}


def _units(cases: Sequence[dict[str, Any]], level: str) -> list[dict[str, Any]]:
    """Lesion units (evaluable lesions, with the patient covariates) or patient units (with a lesion)."""
    if level == "lesion":
        return [{**lesion, "abs_contrast_hu": abs(lesion["contrast_hu"])}
                for case in cases for lesion in case["lesions"] if lesion["evaluable"]]
    return [{**case["covariates"], "dice": case["lesion_dice"], "detected": case["lesions_detected"],
             "evaluable": case["lesions_evaluable"]} for case in cases if case["truth_has_lesion"]]


def subgroup_table(cases: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for group in SUBGROUPS:
        units = _units(cases, group.level)
        for label, _, _ in group.edges:
            members = [u for u in units if group.bin_of(float(u[group.key])) == label]
            if not members:
                continue
            dices = [float(u["dice"]) for u in members]
            if group.level == "lesion":
                sensitivity = proportion(sum(bool(u["detected"]) for u in members), len(members))
            else:
                sensitivity = proportion(sum(int(u["detected"]) for u in members), sum(int(u["evaluable"]) for u in members))
            rows.append({"subgroup": group.name, "bin": label, "level": group.level, "n": len(members),
                         "lesion_dice": float(np.mean(dices)), "lesion_dice_ci95": _ci(dices),
                         "sensitivity": sensitivity})
    return rows


def worst_subgroup(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    eligible = [row for row in rows if row["n"] >= MIN_SUBGROUP_SIZE]
    return min(eligible, key=lambda row: row["lesion_dice"]) if eligible else None


def summarize_study(cases: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Endpoints, subgroups, the worst subgroup and the acceptance verdict of one set (§3-§5)."""
    organ = [c["organ_dice"] for c in cases if c["organ_dice"] is not None]
    lesion = [c["lesion_dice"] for c in cases if c["truth_has_lesion"]]
    detected = sum(c["lesions_detected"] for c in cases)
    evaluable = sum(c["lesions_evaluable"] for c in cases)
    slices = sum(c["slices"] for c in cases)
    false_positives = sum(c["lesions_false_positives"] for c in cases)
    free, clean = sum(c["lesion_free_slices"] for c in cases), sum(c["lesion_free_slices_clean"] for c in cases)
    rows = subgroup_table(cases)
    worst = worst_subgroup(rows)
    metrics = {
        "patients": len(cases),
        "organ_dice": {"mean": float(np.mean(organ)) if organ else None, "ci95": _ci(organ), "n": len(organ)},
        "lesion_dice": {"mean": float(np.mean(lesion)) if lesion else None, "ci95": _ci(lesion),
                        "n": len(lesion)},
        "lesion_sensitivity": proportion(detected, evaluable),
        "false_positives_per_slice": {"value": false_positives / max(slices, 1), "false_positives": false_positives,
                                      "slices": slices},
        "lesion_free_slices_clean": proportion(clean, free),
    }
    eligible = [row for row in rows if row["n"] >= MIN_SUBGROUP_SIZE]
    checks = {
        "organ_dice": _at_least(metrics["organ_dice"]["mean"], EXTERNAL_ACCEPTANCE["organ_dice"]),
        "lesion_dice": _at_least(metrics["lesion_dice"]["mean"], EXTERNAL_ACCEPTANCE["lesion_dice"]),
        "lesion_sensitivity": _at_least(metrics["lesion_sensitivity"]["value"], EXTERNAL_ACCEPTANCE["lesion_sensitivity"]),
        "false_positives_per_slice": metrics["false_positives_per_slice"]["value"]
        <= EXTERNAL_ACCEPTANCE["false_positives_per_slice"],
        "lesion_free_slices_clean": _at_least(metrics["lesion_free_slices_clean"]["value"],
                                              EXTERNAL_ACCEPTANCE["lesion_free_slices_clean"]),
        "subgroup_lesion_dice": all(row["lesion_dice"] >= EXTERNAL_ACCEPTANCE["subgroup_lesion_dice"] for row in eligible),
    }
    return {"metrics": metrics, "subgroups": rows, "worst_subgroup": worst,
            "acceptance": {"criteria": EXTERNAL_ACCEPTANCE, "results": checks, "passed": all(checks.values())}}


def _at_least(value: float | None, threshold: float) -> bool:
    return value is not None and value >= threshold
