"""The INT8 study's acceptance function (validation/int8/PROTOCOL.md §6) alone: a record within the
pre-registered criteria passes; each criterion's violation fails, and fails that criterion.

SRS-024 is the latency requirement (ORT FP32 vs PyTorch eager); no SRS states the INT8 release rule
of issue 20 yet, so these tests trace to SRS-024 only for the speed criterion's sake."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from validation.int8.study import CRITERIA, SETS, acceptance

RESULT = Path(__file__).resolve().parents[1] / "results" / "int8-demo-dinov2-seg-1.0.0.json"


def _within() -> dict:
    """Every figure at or inside its limit: speedup exactly 1.8, Dice drop exactly 0.01, equal sensitivity."""
    return {"speedup": 1.8, "sets": {name: {"organ_dice_drop": 0.01, "lesion_dice_drop": -0.02,
                                            "lesion_sensitivity": 0.95, "fp32_lesion_sensitivity": 0.95}
                                     for name in SETS}}


@pytest.mark.req("SRS-024")
def test_a_record_within_every_criterion_passes() -> None:
    verdict = acceptance(_within())
    assert verdict["passed"] and verdict["accuracy_passed"] and verdict["failed"] == []
    assert set(verdict["results"]) == {"speedup"} | {f"{s}.{k}" for s in SETS
                                                     for k in ("organ_dice_drop", "lesion_dice_drop",
                                                               "lesion_sensitivity")}


@pytest.mark.req("SRS-024")
def test_a_speedup_of_1_79_fails_on_speed_only() -> None:
    record = _within()
    record["speedup"] = 1.79
    verdict = acceptance(record)
    assert not verdict["passed"] and verdict["failed"] == ["speedup"] and verdict["accuracy_passed"]


@pytest.mark.req("SRS-024")
@pytest.mark.parametrize("set_name", SETS)
@pytest.mark.parametrize("label", ["organ", "lesion"])
def test_a_dice_drop_of_0_011_fails(set_name: str, label: str) -> None:
    record = _within()
    record["sets"][set_name][f"{label}_dice_drop"] = 0.011
    verdict = acceptance(record)
    assert not verdict["passed"] and not verdict["accuracy_passed"]
    assert verdict["failed"] == [f"{set_name}.{label}_dice_drop"]


@pytest.mark.req("SRS-024")
@pytest.mark.parametrize("set_name", SETS)
def test_a_sensitivity_drop_fails(set_name: str) -> None:
    record = _within()
    record["sets"][set_name]["lesion_sensitivity"] = 0.95 - 1 / 120  # one lesion of 120 missed
    verdict = acceptance(record)
    assert not verdict["passed"] and verdict["failed"] == [f"{set_name}.lesion_sensitivity"]


@pytest.mark.req("SRS-024")
def test_a_missing_set_or_figure_fails_rather_than_passes() -> None:
    record = _within()
    del record["sets"][SETS[-1]]
    assert not acceptance(record)["passed"]
    record = _within()
    del record["speedup"]
    assert acceptance(record)["failed"] == ["speedup"]
    record = _within()
    record["sets"][SETS[0]]["lesion_dice_drop"] = None
    assert acceptance(record)["failed"] == [f"{SETS[0]}.lesion_dice_drop"]


@pytest.mark.req("SRS-024")
def test_the_criteria_are_the_issue_s() -> None:
    assert CRITERIA == {"min_speedup": 1.8, "max_dice_drop": 0.01, "sensitivity_may_drop": False}


@pytest.mark.req("SRS-024")
def test_the_committed_result_s_verdicts_follow_from_its_figures() -> None:
    assert RESULT.exists(), f"{RESULT} is missing: run validation/int8/study.py (PROTOCOL.md §7)"
    report = json.loads(RESULT.read_text())
    for name, verdict in report["acceptance"].items():
        record = {"speedup": report["speed"]["speedup_over_fp32"][name],
                  "sets": {s: report["accuracy"][s]["variants"][name] for s in SETS}}
        assert acceptance(copy.deepcopy(record)) == verdict, name
    # the negative controls fail an accuracy criterion in the committed run
    assert all(report["controls_fail_on_accuracy"].values())
