"""Independent review (helper-56) of the overclaim gate rules SRS-180..SRS-184 (issue 19 item 6).

Each defect found in review was shown as a strict xfail next to a control that passes; all five
were fixed by helper-57 (miniproject copies the plan; SRS-181 whole-path records and
requirement-to-control link; SRS-182 structured independence; SRS-183 prose read against the
claims) and are now ordinary tests keeping the reviewer's assertions. The mini project is written into ``tmp_path``; nothing reads the real items.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from device_ai.regulatory.review import is_independent
from tests.regulatory import miniproject
from tests.regulatory.miniproject import (
    baseline,
    default_items,
    gap_lines,
    gate,
    passing_results,
    requirement,
    write_project,
    write_results,
)


def _project(root: Path, change=None) -> Path:  # noqa: ANN001 - callable(items)
    items = copy.deepcopy(default_items())  # never mutate the module's shared PLAN (see the last test)
    if change is not None:
        change(items)
    write_project(root, items)
    baseline(root)
    return root


def _situation(items: dict) -> dict:
    return items["risk/hazardous_situations.yaml"]["hazardous_situations"][0]


def _gaps(root: Path) -> list[str]:
    return gap_lines(gate(root, write_results(root, passing_results())))


# --- SRS-180: the branches the author's tests do not exercise (controls: pass) -----------------

@pytest.mark.req("SRS-180")
def test_reduction_crediting_a_control_with_no_approved_implementing_requirement_is_a_gap(tmp_path: Path) -> None:
    def change(items: dict) -> None:
        items["traceability/requirements.yaml"]["software_requirements"][1]["status"] = "draft"  # SRS-002

    gaps = _gaps(_project(tmp_path, change))
    assert "GAP RISK-001: risk reduction: P1 reduced crediting controls not in effect (ISO 14971 7.2): RC-001 is " \
           "not implemented by an approved requirement: withdraw the reduction or bring the controls into effect" in gaps


@pytest.mark.req("SRS-180")
def test_reduction_crediting_a_retired_control_is_a_gap(tmp_path: Path) -> None:
    def change(items: dict) -> None:
        items["risk/controls.yaml"]["risk_controls"][0]["status"] = "retired"

    gaps = _gaps(_project(tmp_path, change))
    assert any(g.startswith("GAP RISK-001: risk reduction:") and "RC-001 is retired" in g for g in gaps), gaps


# --- SRS-181 ----------------------------------------------------------------------------------

def _record(root: Path, rel: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"results": {}}\n')


def _record_evidence(record: str):  # noqa: ANN202
    def change(items: dict) -> None:
        _situation(items)["effectiveness"] = [{"controls": ["RC-001"], "reduces": ["p1"], "record": record,
                                               "measure": "12 of 12 refused"}]
    return change


@pytest.mark.req("SRS-181")
def test_control_a_test_result_at_the_top_level_is_not_a_record(tmp_path: Path) -> None:
    _record(tmp_path, "test-results/requirements.json")
    gaps = _gaps(_project(tmp_path, _record_evidence("test-results/requirements.json")))
    assert any("is a test or test result, not a measured outcome" in g for g in gaps), gaps


@pytest.mark.req("SRS-181")
def test_a_test_result_in_a_sub_folder_is_not_a_record(tmp_path: Path) -> None:
    _record(tmp_path, "verification/test-results/requirements.json")
    gaps = _gaps(_project(tmp_path, _record_evidence("verification/test-results/requirements.json")))
    assert any("is a test or test result, not a measured outcome" in g for g in gaps), gaps


@pytest.mark.req("SRS-181")
def test_control_evidence_by_the_controls_own_requirement_passes(tmp_path: Path) -> None:
    assert _gaps(_project(tmp_path)) == []  # RC-001 is implemented by SRS-002, the evidence names SRS-002


@pytest.mark.req("SRS-181")
def test_evidence_requirements_must_belong_to_the_credited_controls(tmp_path: Path) -> None:
    def change(items: dict) -> None:
        _situation(items)["effectiveness"][0]["requirements"] = ["SRS-001"]

    gaps = _gaps(_project(tmp_path, change))
    assert any(g.startswith("GAP RISK-001: effectiveness:") for g in gaps), gaps


# --- SRS-182 ----------------------------------------------------------------------------------

@pytest.mark.req("SRS-182")
@pytest.mark.parametrize("by", ["helper-56 (independent review; not the author)",
                                "independent reviewer helper (did not write issue 15 code), session 3"])
def test_control_independent_records(by: str) -> None:
    assert is_independent(by)


@pytest.mark.req("SRS-182")
@pytest.mark.parametrize("by", ["helper-53 (non-independent; the author)", "helper-53 (not-independent)",
                                "helper-53 (independent review; author)", "the author (self-review, independently re-run)"])
def test_author_records_are_not_independent(by: str) -> None:
    assert not is_independent(by)


# --- SRS-183 ----------------------------------------------------------------------------------

def _benefit(text: str, claims: list[dict]):  # noqa: ANN202
    def change(items: dict) -> None:
        items["risk/benefit.yaml"]["benefit_risk"]["overall_residual_risk"] = text
        items["risk/benefit.yaml"]["benefit_risk"]["claims"] = claims
    return change


@pytest.mark.req("SRS-183")
def test_control_a_false_claim_is_a_gap(tmp_path: Path) -> None:
    gaps = _gaps(_project(tmp_path, _benefit("SRS-002 is not yet verified.", [{"item": "SRS-002",
                                                                                "state": "not verified"}])))
    assert gaps == ["GAP BENEFIT-RISK: benefit-risk: says SRS-002 is 'not verified', the graph shows 'verified'"]


@pytest.mark.req("SRS-183")
def test_prose_contradicting_its_own_true_claim_is_a_gap(tmp_path: Path) -> None:
    gaps = _gaps(_project(tmp_path, _benefit("SRS-002 is not yet verified.", [{"item": "SRS-002",
                                                                                "state": "verified"}])))
    assert any(g.startswith("GAP BENEFIT-RISK") for g in gaps), gaps


# --- test isolation (the SRS-180 test of the author mutates the shared plan) -----------------

@pytest.mark.req("SRS-180")
def test_default_items_give_each_test_its_own_plan() -> None:
    matrix = miniproject.PLAN["acceptability"]["S3"]
    before = matrix["P3"]
    try:
        changed = "unacceptable" if before == "alara" else "alara"  # whatever an earlier test left there
        default_items()["risk/plan.yaml"]["risk_management_plan"]["acceptability"]["S3"]["P3"] = changed
        assert default_items()["risk/plan.yaml"]["risk_management_plan"]["acceptability"]["S3"]["P3"] == before
    finally:
        matrix["P3"] = before
