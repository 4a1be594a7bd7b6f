"""The gate judges a situation's claimed residual whether or not it lists controls, and a blank
rationale is no rationale (SRS-043; review 86, defects A and B, on the mini project)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tests.regulatory.miniproject import baseline, default_items, gap_lines, gate, passing_results, write_project, write_results


def _project(root: Path, situation: dict | None = None, **first: object) -> Path:
    items = copy.deepcopy(default_items())
    situations = items["risk/hazardous_situations.yaml"]["hazardous_situations"]
    situations[0].update(first)
    if situation is not None:
        situations.append({**situations[0], "id": "RISK-002", "controls": [], "effectiveness": [],
                           "residual_rationale": None, **situation})
    write_project(root, items)
    baseline(root)
    return root


def _findings(root: Path, release: bool, item: str) -> list[str]:
    report = gate(root, write_results(root, passing_results()), release=release)
    return [f.line() for f in report.findings if f.item == item]


@pytest.mark.req("SRS-043")
def test_an_unacceptable_residual_claimed_without_controls_blocks_the_release(tmp_path: Path) -> None:
    """S2 at P1 is acceptable and has no controls; the file claims a residual of P3, unacceptable
    for S2 and above the initial estimate (review 86, defect A: nothing was listed)."""
    root = _project(tmp_path, {"severity": "S2", "p1": "P1", "p2": "P1", "residual": {"p1": "P3", "p2": "P3"}})
    release, development = _findings(root, True, "RISK-002"), _findings(root, False, "RISK-002")
    assert any(line.startswith("GAP RISK-002") and "is unacceptable" in line for line in release), release
    assert any(line.startswith("OPEN RISK-002") and "not releasable" in line for line in development), development
    assert any("above the initial" in line for line in development), development


@pytest.mark.req("SRS-043")
def test_control_an_acceptable_situation_without_controls_lists_nothing(tmp_path: Path) -> None:
    root = _project(tmp_path, {"severity": "S2", "p1": "P1", "p2": "P1", "residual": {"p1": "P1", "p2": "P1"}})
    for release in (False, True):
        assert _findings(root, release, "RISK-002") == [], release


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("rationale, is_gap", [(" ", True), ("\n\t", True), (None, True),
                                               ("Reduced as far as possible: the remaining control is impracticable.", False)])
def test_a_blank_residual_rationale_is_no_rationale(tmp_path: Path, rationale: str | None, is_gap: bool) -> None:
    """RISK-001 (S3, controlled): residual P1 is ALARA; a rationale of only white space counts as
    missing, as the SOUP check already treats blank curated fields (review 86, defect B)."""
    root = _project(tmp_path, residual_rationale=rationale)
    missing = "GAP RISK-001: risk: residual risk (S3, P=P1) is ALARA and needs residual_rationale (ISO 14971 7.4)"
    for release in (False, True):
        assert (missing in gap_lines(gate(root, write_results(root, passing_results()), release=release))) is is_gap


@pytest.mark.req("SRS-043")
def test_without_controls_and_an_unacceptable_initial_risk_a_missing_alara_rationale_is_listed_too(tmp_path: Path) -> None:
    """Review 86 note D: the no-controls gap no longer hides the residual's own missing rationale."""
    root = _project(tmp_path, {"severity": "S3", "p1": "P3", "p2": "P3", "residual": {"p1": "P1", "p2": "P1"}})
    lines = _findings(root, False, "RISK-002")
    assert any("no risk controls" in line for line in lines) and any("needs residual_rationale" in line for line in lines)
