"""Independent review (helper-55) of SRS-186 / ANOM-015 (the gate's unacceptable-residual rule,
re-specified after results were seen: a gap only with ``trace check --release``).

The last test shows a defect found in review (the package judged by the development gate),
strict xfail until the lead's fix made it pass, next to controls that pass. The mini project is written into ``tmp_path``; nothing reads the real items.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from device_ai.errors import TraceGateFailed
from tests.regulatory import miniproject
from tests.regulatory.miniproject import HEAD, RUNTIME, baseline, default_items, gap_lines, gate, passing_results, \
    write_project, write_results


def _project(root: Path, *, unacceptable: bool) -> tuple[Path, Path]:
    """The mini project (complete evidence) and its graph file; with ``unacceptable``, RISK-001's
    residual is left at its initial estimate (S3, P3: unacceptable per the plan), no reduction claimed,
    and the benefit-risk text says so honestly (its conclusion is not 'acceptable')."""
    from device_ai.regulatory import trace

    items = copy.deepcopy(default_items())
    if unacceptable:
        situation = items["risk/hazardous_situations.yaml"]["hazardous_situations"][0]
        situation["residual"] = {"p1": "P3", "p2": "P3"}
        situation.pop("effectiveness")
        items["risk/benefit.yaml"]["benefit_risk"].update(
            statement="The benefits do not outweigh the risks.", overall_residual_risk="Not acceptable.",
            overall_residual_risk_verdict="not_acceptable")  # helper-135: the typed verdict (review 133 d2)
    write_project(root, items)
    baseline(root)
    results = write_results(root, passing_results())
    graph = root / "trace" / "graph.json"
    trace.build(root, [results], graph, head=HEAD, runtime=RUNTIME)
    return root, graph


def _package_gate(root: Path, graph: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What ``device-ai report package`` (without --allow-gaps) asks before it writes a submission package."""
    from device_ai.regulatory import package, trace

    monkeypatch.setattr(trace, "git_head", lambda _root: HEAD)  # the mini project is not a git checkout
    return package.gate_gaps(root, graph, allow_gaps=False)


@pytest.mark.req("SRS-186")
def test_control_a_complete_mini_project_gives_a_submission_package(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    root, graph = _project(tmp_path, unacceptable=False)
    assert _package_gate(root, graph, monkeypatch) == []


@pytest.mark.req("SRS-186")
def test_control_the_release_gate_reports_the_unacceptable_residual(tmp_path: Path) -> None:
    root, _ = _project(tmp_path, unacceptable=True)
    results = write_results(root, passing_results())
    assert gap_lines(gate(root, results)) == []  # SRS-186: the development gate lists it as open only
    released = gap_lines(gate(root, results, release=True))
    assert released[0] == "GAP RISK-001: risk: residual risk (S3, P=P3) is unacceptable"
    # lead, 2026-12-07 (SRS-228): the generated ISO 14971 clause 9 record, not complete for the same residual and
    # the statement that does not conclude acceptable, is the release gate's second line
    assert len(released) == 2 and released[1].startswith(
        "GAP RISK-REVIEW: risk management review: the risk management process is not complete for release")
    assert "RISK-001" in released[1] and "BENEFIT-RISK" in released[1]
    assert miniproject.PLAN["acceptability"]["S3"]["P3"] == "unacceptable"


@pytest.mark.req("SRS-186")
# Review defect (helper-55), fixed by the lead: `report package` judged the package by the development
# gate (no release=True), so since SRS-186 an unacceptable residual gave a non-draft submission package.
def test_an_unacceptable_residual_keeps_report_package_from_writing_a_submission(tmp_path: Path,
                                                                                monkeypatch) -> None:  # noqa: ANN001
    root, graph = _project(tmp_path, unacceptable=True)
    with pytest.raises(TraceGateFailed) as refused:
        _package_gate(root, graph, monkeypatch)
    assert "GAP RISK-001: risk: residual risk (S3, P=P3) is unacceptable" in refused.value.problems
