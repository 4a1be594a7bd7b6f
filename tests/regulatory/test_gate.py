"""The gate refuses missing, non-passing and stale evidence, and checks risk, SOUP and documents (SRS-043)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.regulatory.miniproject import (
    OTHER,
    TEST_A,
    TEST_B,
    baseline,
    default_items,
    gap_lines,
    gate,
    passing_results,
    requirement,
    write_project,
    write_results,
)


def _rewrite(root: Path, change) -> None:  # noqa: ANN001 - callable(items)
    items = default_items()
    change(items)
    write_project(root, items)
    baseline(root)


@pytest.mark.req("SRS-043")
def test_complete_evidence_passes_and_planned_is_open(root: Path) -> None:
    report = gate(root, write_results(root, passing_results()))
    assert report.passed, report.lines()
    assert [f.line() for f in report.section("open")] == ["OPEN SRS-003: planned: Requirement SRS-003"]
    assert report.lines()[-1] == "trace check: 0 gap(s), 1 open, 0 warning(s)"


@pytest.mark.req("SRS-043")
def test_requirement_with_no_test(root: Path) -> None:
    report = gate(root, write_results(root, {TEST_B: ("passed", ["SRS-002"])}))
    assert gap_lines(report) == ["GAP SRS-001: verification: no test verifies it"]


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("outcome", ["skipped", "xfailed", "xpassed"])
def test_requirement_whose_only_test_did_not_pass_is_not_verified(root: Path, outcome: str) -> None:
    report = gate(root, write_results(root, {TEST_A: (outcome, ["SRS-001"]), TEST_B: ("passed", ["SRS-002"])}))
    assert gap_lines(report) == [f"GAP SRS-001: verification: no test passed on this commit: {TEST_A} [{outcome}]"]


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("outcome", ["failed", "error"])
def test_requirement_whose_only_test_failed(root: Path, outcome: str) -> None:
    report = gate(root, write_results(root, {TEST_A: (outcome, ["SRS-001"]), TEST_B: ("passed", ["SRS-002"])}))
    assert gap_lines(report) == [f"GAP SRS-001: verification: test(s) failed on this commit: {TEST_A} [{outcome}]"]


@pytest.mark.req("SRS-043")
def test_a_failing_test_outweighs_a_passing_one(root: Path) -> None:
    other = TEST_A.replace("test_core", "test_core_again")
    results = {**passing_results(), other: ("failed", ["SRS-001"])}
    report = gate(root, write_results(root, results))
    assert gap_lines(report) == [f"GAP SRS-001: verification: test(s) failed on this commit: {other} [failed]"]


@pytest.mark.req("SRS-043")
def test_results_from_another_commit_are_stale(root: Path) -> None:
    stale = write_results(root, passing_results(), commit=OTHER)
    gaps = gap_lines(gate(root, stale))
    reason = f"stale: run on commit {OTHER[:12]}, HEAD is {'a' * 12}"
    assert f"GAP SRS-001: verification: no test passed on this commit: {TEST_A} [{reason}]" in gaps
    assert f"GAP DOC-VER: document: no test run recorded on this commit ({reason})" in gaps
    # a fresh run on HEAD next to the stale one is evidence again
    fresh = write_results(root, passing_results(), name="test-results/fresh.json")
    assert gate(root, stale, fresh).passed


@pytest.mark.req("SRS-043")
def test_no_results_at_all(root: Path) -> None:
    gaps = gap_lines(gate(root))
    assert "GAP SRS-001: verification: no test verifies it" in gaps
    assert "GAP DOC-VER: document: no test run recorded on this commit (no results given to trace build)" in gaps


@pytest.mark.req("SRS-043")
def test_dirty_work_tree_warns_and_fails_for_a_release(root: Path) -> None:
    dirty = write_results(root, passing_results(), dirty=True)
    report = gate(root, dirty)
    assert report.passed and [f.topic for f in report.section("warning")] == ["dirty work tree"]
    strict = gate(root, dirty, release=True)
    assert f"GAP SRS-001: verification: no test passed on this commit: {TEST_A} [run on a dirty work tree]" \
        in gap_lines(strict)


@pytest.mark.req("SRS-043")
def test_risk_control_with_no_verification(root: Path) -> None:
    report = gate(root, write_results(root, {TEST_A: ("passed", ["SRS-001"])}))
    assert gap_lines(report) == [
        "GAP RC-001: risk control: not verified: SRS-002 no test verifies it",
        "GAP RISK-001: effectiveness: evidence 1 (RC-001): SRS-002 is not verified",
        "GAP RISK-001: risk reduction: P1 reduced crediting controls not in effect (ISO 14971 7.2): RC-001 is not "
        "verified (SRS-002): withdraw the reduction or bring the controls into effect",
        "GAP SRS-002: verification: no test verifies it",
    ]


@pytest.mark.req("SRS-043")
def test_risk_control_not_implemented_by_an_approved_requirement(root: Path) -> None:
    def change(items: dict) -> None:
        items["risk/controls.yaml"]["risk_controls"].append(
            {"id": "RC-002", "title": "Nothing", "text": "No one implements it.", "type": "information",
             "implemented_by": [], "status": "approved"})
        items["risk/controls.yaml"]["risk_controls"].append(
            {"id": "RC-003", "title": "Later", "text": "Planned work implements it.", "type": "protective",
             "implemented_by": ["SRS-003"], "status": "approved"})

    _rewrite(root, change)
    gaps = gap_lines(gate(root, write_results(root, passing_results())))
    assert gaps == ["GAP RC-002: risk control: not implemented by any requirement",
                    "GAP RC-003: risk control: not implemented by an approved requirement: SRS-003 (planned)"]


@pytest.mark.req("SRS-043", "SRS-186")
def test_uncontrolled_risk_must_be_acceptable_and_residual_not_unacceptable(root: Path) -> None:
    def change(items: dict) -> None:
        situations = items["risk/hazardous_situations.yaml"]["hazardous_situations"]
        base = situations[0]
        situations.append({**base, "id": "RISK-002", "controls": [], "residual": None, "residual_rationale": None,
                           "severity": "S2", "p1": "P2", "p2": "P3"})  # P2 -> alara, no controls
        situations.append({**base, "id": "RISK-003", "residual": {"p1": "P2", "p2": "P2"}})  # S3 P2 unacceptable
        situations.append({**base, "id": "RISK-004", "residual_rationale": None})  # alara without rationale
        situations.append({**base, "id": "RISK-005", "controls": [], "residual": None, "severity": "S1"})  # fine
        # the overall conclusion must not say acceptable beside an unacceptable residual (SRS-183)
        items["risk/benefit.yaml"]["benefit_risk"]["overall_residual_risk"] = "Not acceptable: a residual is unacceptable."

    _rewrite(root, change)
    results = write_results(root, passing_results())
    gaps = gap_lines(gate(root, results))
    assert gaps == [
        "GAP RISK-002: risk: no risk controls and the initial risk (S2, P=P2) is alara",
        # review 86 note D: the no-controls gap no longer hides the residual's missing ALARA rationale
        "GAP RISK-002: risk: residual risk (S2, P=P2) is ALARA and needs residual_rationale (ISO 14971 7.4)",
        "GAP RISK-003: effectiveness: P2 reduced without effectiveness evidence (a measured record or challenge-tested "
        "requirements; ISO 14971 7.2)",
        "GAP RISK-004: risk: residual risk (S3, P=P1) is ALARA and needs residual_rationale (ISO 14971 7.4)",
    ]
    # SRS-186: an unacceptable residual blocks the release; in development it is listed as open
    opened = [f.line() for f in gate(root, results).section("open") if f.item == "RISK-003"]
    assert opened == ["OPEN RISK-003: risk: residual risk (S3, P=P2) is unacceptable: the device is not releasable "
                      "(a gap with --release)"]
    assert "GAP RISK-003: risk: residual risk (S3, P=P2) is unacceptable" in gap_lines(gate(root, results, release=True))


@pytest.mark.req("SRS-043")
def test_soup_curation_and_runtime_dependencies(root: Path) -> None:
    def change(items: dict) -> None:
        soup = items["traceability/soup.yaml"]["soup"]
        soup[0] = {"id": "SOUP-numpy", "package": "numpy", "version": ">=1.26", "runtime": True,
                   "software_items": [], "purpose": "arrays"}

    _rewrite(root, change)
    gaps = gap_lines(gate(root, write_results(root, passing_results())))
    assert gaps == [
        "GAP SOUP-numpy: soup: missing curated field(s): functional_requirements, performance_requirements, "
        "hardware_software_requirements, anomaly_review",
        "GAP SOUP-numpy: soup: not allocated to a software item (software_items is empty)",
    ]
    (root / "traceability/soup.yaml").write_text("soup: []\n")
    assert "GAP SOUP-numpy: soup: runtime dependency of device-ai has no SOUP entry" in gap_lines(
        gate(root, write_results(root, passing_results())))


@pytest.mark.req("SRS-043")
def test_class_b_documents_must_exist(root: Path) -> None:
    (root / "docs/software_development_plan.md").unlink()
    (root / "risk/benefit.yaml").unlink()
    gaps = gap_lines(gate(root, write_results(root, passing_results())))
    assert gaps == [
        "GAP DOC-RMF: document: Risk management file (ISO 14971 4.5; IEC 62304 7, class B) missing: expected "
        "risk/benefit.yaml",
        "GAP DOC-SDP: document: Software development plan (IEC 62304 5.1, class B) missing: expected "
        "docs/software_development_plan.md or docs/software_development_plan.rst",
    ]


@pytest.mark.req("SRS-043")
def test_planned_but_verified_is_a_warning_and_retired_with_tests_a_gap(root: Path) -> None:
    def change(items: dict) -> None:
        items["traceability/requirements.yaml"]["software_requirements"].append(requirement("SRS-004", "retired"))

    _rewrite(root, change)
    results = {**passing_results(), "tests/test_later.py::test_later": ("passed", ["SRS-003"]),
               "tests/test_old.py::test_old": ("passed", ["SRS-004"])}
    report = gate(root, write_results(root, results))
    assert gap_lines(report) == ["GAP SRS-004: retired: tests still verify it: tests/test_old.py::test_old"]
    assert [f.line() for f in report.section("warning")] == [
        "WARNING SRS-003: planned but verified: 1 test(s) passed on this commit: approve it?"]


@pytest.mark.req("SRS-043")
def test_graph_built_at_another_commit_is_stale(root: Path) -> None:
    from device_ai.regulatory.check import check_graph
    from tests.regulatory.miniproject import build

    graph = build(root, write_results(root, passing_results()))
    assert "GAP GRAPH: stale graph: built at commit aaaaaaaaaaaa, HEAD is bbbbbbbbbbbb: run device-ai trace build" \
        in gap_lines(check_graph(graph, head=OTHER))


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("uncommitted", [None, [], ["risk/hazardous_situations.yaml"]])
def test_a_graph_built_from_uncommitted_item_files_warns_and_fails_for_a_release(
        root: Path, uncommitted: list[str] | None) -> None:
    """Review 89 O1: the graph names a commit, its items are read from the work tree. Item files
    that differ from the commit are a warning, a gap with --release; none (the control) or an
    unknown state (outside git: the results then carry no commit either) is neither."""
    from device_ai.regulatory.check import check_graph
    from tests.regulatory.miniproject import HEAD, build

    graph = build(root, write_results(root, passing_results()))
    assert graph["head"]["uncommitted_items"] is None  # the mini project is not a git work tree
    if uncommitted is not None:
        graph["head"]["uncommitted_items"] = uncommitted
    development, release = check_graph(graph, head=HEAD), check_graph(graph, head=HEAD, release=True)
    listed = bool(uncommitted)
    line = "uncommitted changes to risk/hazardous_situations.yaml"
    assert any(line in f.message for f in development.section("warning")) is listed
    assert not any(f.item == "GRAPH" for f in development.section("gap"))
    assert any(f.item == "GRAPH" and line in f.message for f in release.section("gap")) is listed
    assert release.passed is not listed and development.passed


@pytest.mark.req("SRS-043")
def test_soup_version_drift_warns_and_fails_for_a_release(root: Path) -> None:
    def change(items: dict) -> None:
        items["traceability/soup.yaml"]["soup"][0]["version"] = "0.0.1"

    _rewrite(root, change)
    results = write_results(root, passing_results())
    report = gate(root, results)
    (warning,) = report.section("warning")
    assert report.passed and warning.line().startswith("WARNING SOUP-numpy: soup version: curated for 0.0.1, installed ")
    assert gap_lines(gate(root, results, release=True))[0].startswith("GAP SOUP-numpy: soup version: curated for 0.0.1")
