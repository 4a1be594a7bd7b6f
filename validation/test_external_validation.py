"""The committed external validation (validation/EXTERNAL_PROTOCOL.md) belongs to the released
package, its verdicts follow from its own cases, its Markdown is generated from its JSON, and
its own-generator figures reconcile with the standalone study (one source of truth)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from device_ai.inference.engine import LockedEngine
from device_ai.training.subgroups import EXTERNAL_ACCEPTANCE, summarize_study

RESULTS = Path(__file__).parent / "results"
EXTERNAL = RESULTS / "external-demo-dinov2-seg-1.0.0.json"
STANDALONE = RESULTS / "demo-dinov2-seg-1.0.0.json"


@pytest.fixture(scope="module")
def report() -> dict:
    return json.loads(EXTERNAL.read_text())


@pytest.mark.req("SRS-021")
def test_the_external_study_belongs_to_the_released_model_and_follows_the_protocol(
        report: dict, released_engine: LockedEngine) -> None:
    assert report["manifest_sha256"] == released_engine.package.manifest_sha256
    assert report["protocol"] == "validation/EXTERNAL_PROTOCOL.md"
    assert {s["set"] for s in report["sets"]} == {"own-v1", "own-v2", "external"}
    for result in report["sets"]:
        assert len(result["cases"]) == result["metrics"]["patients"] >= 60
        assert result["acceptance"]["criteria"] == EXTERNAL_ACCEPTANCE


@pytest.mark.req("SRS-021")
def test_the_verdicts_are_recomputed_from_the_cases(report: dict) -> None:
    for result in report["sets"]:
        again = json.loads(json.dumps(summarize_study(result["cases"])))
        assert again["acceptance"] == result["acceptance"], result["set"]
        assert again["metrics"] == result["metrics"], result["set"]
        assert again["worst_subgroup"] == result["worst_subgroup"], result["set"]


@pytest.mark.req("SRS-021")
def test_the_markdown_is_generated_from_the_json(report: dict) -> None:
    from validation.external_validation import markdown

    assert EXTERNAL.with_suffix(".md").read_text() == markdown(report)


@pytest.mark.req("SRS-021", "SRS-081")
def test_own_generator_figures_reconcile_with_the_standalone_study(report: dict) -> None:
    standalone = json.loads(STANDALONE.read_text())
    own = next(s for s in report["sets"] if s["set"] == "own-v1")
    assert [c["patient_id"] for c in own["cases"]] == [c["patient_id"] for c in standalone["cases"]]
    for ours, theirs in zip(own["cases"], standalone["cases"]):
        assert ours["organ_dice"] == theirs["organ_dice"] and ours["lesion_dice"] == theirs["lesion_dice"]
        assert ours["lesions_detected"] == theirs["lesions_detected"]
