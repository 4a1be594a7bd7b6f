"""The standalone performance study on held-out phantoms (validation/PROTOCOL.md).

Every case goes the whole way a clinical input would: written as a DICOM CT series, read
with limits, checked against the input contract, segmented by the locked engine, cleaned by
the versioned postprocessing. It is then compared with the phantom's exact ground truth at
source resolution. Torch-free: it evaluates the locked ORT engine only.

Metrics (per protocol):
- Dice per label per patient; point estimate = mean over patients (lesion Dice over the
  patients that have a lesion); 95% CI = percentile bootstrap over patients (2000 resamples).
- Lesion detection: a ground-truth lesion (3D connected component) is *evaluable* when its
  largest in-plane cross-section is at least the area of a 5 mm circle (smaller caps cut by
  the slab edge are below the intended use); it is *detected* when the predicted lesion
  components overlapping it reach IoU >= 0.2 with it. A predicted component overlapping no
  ground-truth lesion is a false positive. Sensitivity = detected / evaluable (pooled);
  false positives are reported per slice. The sensitivity CI is the exact binomial
  (Clopper-Pearson) interval over pooled lesions.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage, stats

from device_ai.atomic_io import atomic_write_text
from device_ai.dicom.contract import InputContract
from device_ai.dicom.reader import ReadLimits, collect_input_files
from device_ai.dicom.series import CTSeries, load_series
from device_ai.inference.analyze import segment_volume, series_spacing
from device_ai.inference.engine import LockedEngine
from device_ai.inference.postprocess import FULL_CONNECTIVITY
from device_ai.model.package.manifest import LabelRole
from device_ai.training.ct_series import write_ct_series
from device_ai.training.labels import DEMO_LESION, DEMO_ORGAN
from device_ai.training.phantoms import PhantomCase, generate_case, split_seeds

ACCEPTANCE = {"organ_dice": 0.95, "lesion_dice": 0.80, "lesion_sensitivity": 0.90}
MIN_EVALUABLE_AREA_MM2 = float(np.pi * 2.5**2)
DETECTION_IOU = 0.2
BOOTSTRAP_RESAMPLES = 2000
MIN_PATIENTS = 20  # the validation protocol's minimum of held-out patients
Progress = Callable[[int, int], None]


def dice(truth: np.ndarray, prediction: np.ndarray) -> float | None:
    """Dice of two boolean masks; None when both are empty (undefined, excluded)."""
    total = int(truth.sum()) + int(prediction.sum())
    if total == 0:
        return None
    return 2.0 * int(np.logical_and(truth, prediction).sum()) / total


def lesion_detection(truth: np.ndarray, prediction: np.ndarray, pixel_area_mm2: float) -> dict[str, int]:
    """Evaluable, detected and false-positive lesion counts for one volume (see module doc)."""
    gt_map, gt_count = ndimage.label(truth, structure=FULL_CONNECTIVITY)
    pred_map, pred_count = ndimage.label(prediction, structure=FULL_CONNECTIVITY)
    evaluable = detected = 0
    matched_pred: set[int] = set()
    for index in range(1, gt_count + 1):
        component = gt_map == index
        overlapping = set(np.unique(pred_map[component]).tolist()) - {0}
        matched_pred |= overlapping
        largest_area = float(component.reshape(component.shape[0], -1).sum(axis=1).max()) * pixel_area_mm2
        if largest_area < MIN_EVALUABLE_AREA_MM2:
            continue
        evaluable += 1
        if overlapping:
            predicted = np.isin(pred_map, list(overlapping))
            iou = np.logical_and(component, predicted).sum() / np.logical_or(component, predicted).sum()
            detected += int(iou >= DETECTION_IOU)
    return {"evaluable": evaluable, "detected": detected, "false_positives": pred_count - len(matched_pred)}


def segment_series(engine: LockedEngine, series_dir: Path) -> tuple[CTSeries, np.ndarray]:
    """The whole clinical input path for one series folder: read with limits, the model's input
    contract (a refusal raises), the locked engine and the versioned postprocessing; returns the
    series and its label volume in the manifest's values."""
    contract = InputContract.model_validate(engine.manifest.input_contract)
    series = load_series(collect_input_files(Path(series_dir), ReadLimits()), contract)
    return series, segment_volume(engine, series.hu, series_spacing(series))


def evaluate_case(engine: LockedEngine, case: PhantomCase, workdir: Path) -> dict[str, Any]:
    """Write the case as DICOM, run the full input path and the engine, compare with truth."""
    series_dir = workdir / case.patient_id
    write_ct_series(case, series_dir)
    series, labels = segment_series(engine, series_dir)
    if not np.array_equal(series.hu, case.hu.astype(np.float32)):
        raise AssertionError(f"{case.patient_id}: the DICOM round trip changed the image or slice order")
    # Truth is in the phantom generator's values (training/labels.py), the prediction in the
    # model manifest's: each is looked up by role, never assumed to be the same literal.
    truth_organ, truth_lesion = case.labels == DEMO_ORGAN.value, case.labels == DEMO_LESION.value
    organ = labels == engine.manifest.label_value(LabelRole.ORGAN)
    lesion = labels == engine.manifest.label_value(LabelRole.LESION)
    detection = lesion_detection(truth_lesion, lesion, case.pixel_spacing_mm**2)
    return {
        "patient_id": case.patient_id,
        "seed": case.seed,
        "slices": int(case.hu.shape[0]),
        "rows": int(case.hu.shape[1]),
        "pixel_spacing_mm": case.pixel_spacing_mm,
        "slice_thickness_mm": case.slice_thickness_mm,
        "noise_sigma_hu": case.noise_sigma_hu,
        "truth_has_lesion": bool(truth_lesion.any()),
        "organ_dice": dice(truth_organ, organ),
        "lesion_dice": dice(truth_lesion, lesion),
        **{f"lesions_{name}": value for name, value in detection.items()},
    }


def bootstrap_ci(values: list[float], statistic: Callable[[np.ndarray], float], seed: int = 0) -> tuple[float, float]:
    """Percentile 95% CI of ``statistic`` over patients resampled with replacement."""
    data = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    stats = [statistic(data[rng.integers(0, len(data), len(data))]) for _ in range(BOOTSTRAP_RESAMPLES)]
    low, high = np.percentile(stats, [2.5, 97.5])
    return float(low), float(high)


def summarize(cases: list[dict[str, Any]], manifest_sha256: str, model_identity: str) -> dict[str, Any]:
    organ = [c["organ_dice"] for c in cases if c["organ_dice"] is not None]
    lesion = [c["lesion_dice"] for c in cases if c["truth_has_lesion"]]
    pairs = np.array([[c["lesions_detected"], c["lesions_evaluable"]] for c in cases], dtype=np.float64)

    def sensitivity(rows: np.ndarray) -> float:
        return float(rows[:, 0].sum() / max(rows[:, 1].sum(), 1.0))

    detected, evaluable = int(pairs[:, 0].sum()), int(pairs[:, 1].sum())
    # Exact (Clopper-Pearson) interval over pooled lesions: a percentile bootstrap collapses
    # to [1, 1] when every lesion is found, which would overstate the certainty.
    sens_ci = stats.binomtest(detected, max(evaluable, 1)).proportion_ci(0.95, method="exact")
    slices = sum(c["slices"] for c in cases)
    metrics = {
        "organ_dice": {"mean": float(np.mean(organ)), "ci95": bootstrap_ci(organ, np.mean), "n": len(organ)},
        "lesion_dice": {"mean": float(np.mean(lesion)), "ci95": bootstrap_ci(lesion, np.mean), "n": len(lesion)},
        "lesion_sensitivity": {
            "value": sensitivity(pairs),
            "ci95": (float(sens_ci.low), float(sens_ci.high)),
            "ci_method": "Clopper-Pearson exact, pooled lesions",
            "detected": detected,
            "evaluable": evaluable,
        },
        "false_positives_per_slice": {
            "value": sum(c["lesions_false_positives"] for c in cases) / max(slices, 1),
            "false_positives": sum(c["lesions_false_positives"] for c in cases),
            "slices": slices,
        },
        "test_patients": len(cases),
    }
    checks = {
        "organ_dice": metrics["organ_dice"]["mean"] >= ACCEPTANCE["organ_dice"],
        "lesion_dice": metrics["lesion_dice"]["mean"] >= ACCEPTANCE["lesion_dice"],
        "lesion_sensitivity": metrics["lesion_sensitivity"]["value"] >= ACCEPTANCE["lesion_sensitivity"],
    }
    return {
        "model": model_identity,
        "manifest_sha256": manifest_sha256,
        "metrics": metrics,
        "acceptance": {"criteria": ACCEPTANCE, "results": checks, "passed": all(checks.values())},
    }


def run_validation(
    engine: LockedEngine,
    *,
    patients: int = 40,
    base_seed: int = 0,
    out: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Evaluate ``patients`` held-out test phantoms; optionally write the full report to ``out``."""
    if patients < MIN_PATIENTS:
        raise ValueError(f"the validation protocol needs at least {MIN_PATIENTS} held-out patients")
    cases = []
    with tempfile.TemporaryDirectory(prefix="device-ai-validation-") as tmp:
        for number, seed in enumerate(split_seeds("test", patients, base_seed=base_seed), start=1):
            case = generate_case(seed, split="test")
            result = evaluate_case(engine, case, Path(tmp))
            cases.append(result)
            if progress is not None:
                progress(number, patients)
    report = {
        "summary": summarize(cases, engine.package.manifest_sha256, engine.manifest.identity),
        "protocol": "validation/PROTOCOL.md",
        "cases": cases,
    }
    if out is not None:
        write_report(Path(out), report)
    return report


def report_text(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=True) + "\n"


def write_report(path: Path, report: dict[str, Any]) -> None:
    atomic_write_text(Path(path), report_text(report))
