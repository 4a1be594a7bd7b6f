"""The committed standalone performance study belongs to the released package, meets the
acceptance criteria, and is reproduced case by case (SRS-021; protocol: PROTOCOL.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from device_ai.inference.engine import LockedEngine
from device_ai.training.evaluate import ACCEPTANCE, evaluate_case
from device_ai.training.phantoms import generate_case

RESULTS = Path(__file__).parent / "results" / "demo-dinov2-seg-1.0.0.json"


@pytest.fixture(scope="module")
def report() -> dict:
    return json.loads(RESULTS.read_text())


@pytest.mark.req("SRS-021", "SRS-081")
def test_committed_results_belong_to_the_released_model_and_pass(report: dict, released_engine: LockedEngine) -> None:
    summary = report["summary"]
    assert summary["manifest_sha256"] == released_engine.package.manifest_sha256
    metrics = summary["metrics"]
    assert metrics["test_patients"] >= 20 and len(report["cases"]) == metrics["test_patients"]
    assert metrics["organ_dice"]["mean"] >= ACCEPTANCE["organ_dice"]
    assert metrics["lesion_dice"]["mean"] >= ACCEPTANCE["lesion_dice"]
    assert metrics["lesion_sensitivity"]["value"] >= ACCEPTANCE["lesion_sensitivity"]
    for name in ("organ_dice", "lesion_dice"):
        low, high = metrics[name]["ci95"]
        assert low <= metrics[name]["mean"] <= high
    assert summary["acceptance"]["passed"] is True
    assert all(c["patient_id"].startswith("PHANTOM-TEST-") for c in report["cases"])


@pytest.mark.req("SRS-021", "SRS-081")
def test_the_first_cases_reproduce_exactly(report: dict, released_engine: LockedEngine, tmp_path: Path) -> None:
    for committed in report["cases"][:5]:
        case = generate_case(committed["seed"], split="test")
        again = evaluate_case(released_engine, case, tmp_path)
        for key in ("organ_dice", "lesion_dice", "lesions_detected", "lesions_evaluable", "lesions_false_positives"):
            assert again[key] == committed[key], (committed["patient_id"], key)


@pytest.mark.req("SRS-021")
def test_manifest_metrics_agree_with_the_acceptance_criteria(released_engine: LockedEngine) -> None:
    metrics = released_engine.manifest.metrics
    assert metrics["organ_dice"]["mean"] >= ACCEPTANCE["organ_dice"]
    assert metrics["lesion_dice"]["mean"] >= ACCEPTANCE["lesion_dice"]
    assert metrics["lesion_sensitivity"]["value"] >= ACCEPTANCE["lesion_sensitivity"]
