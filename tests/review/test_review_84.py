"""Independent review (helper-84) of SRS-043 and SRS-186 (the gate's residual-risk rules,
re-specified after results were seen: ANOM-015) at HEAD 99ae847, texts of the lead's 4d9fa6f.
helper-84 wrote none of the gate code, the texts or the earlier tests.

Checked, clause by clause, against src/device_ai/regulatory/check.py, evidence.py, trace.py and
cli/trace.py, with and without ``--release``, on the mini project of tests/regulatory:

- approved requirement without a passing test on this commit (check.py:135, evidence.py:26-100):
  skipped/xfailed/xpassed, failed/error, stale, no results, dirty with --release - as the text
  says. The code is stricter than the text in one material way (defect 1 below).
- retired requirement still verified (check.py:142-145): a gap; the code also counts a test that
  failed on this commit (the text says "verified"); pinned here.
- risk control not implemented / not verified (check.py:148-165): only for APPROVED controls; a
  draft or planned control is open, a retired one is skipped (defect 2: the text says "a risk
  control"). A situation that lists a retired control is a gap (check.py:185-187), a rule the text
  does not state (defect 1) and no SRS-043 test checked (mutant M27); pinned here.
- situation without controls and initial risk not acceptable (check.py:180-184): a gap with and
  without --release, judged on the initial estimate even when a residual is claimed (M06 survived
  the tagged tests; pinned here).
- ALARA residual without rationale (check.py:196): as the text says.
- SOUP not curated (check.py:220-243): missing fields, no software item, runtime dependency without
  an entry, runtime: false, runtime dependencies unknown; the last two survived the tagged tests
  (M32, M33), pinned here.
- class-specific document missing, DOC-VER (check.py:246-256): as the text says.
- dirty work tree, SOUP version drift (evidence.py:35, check.py:234, 282): warnings, gaps with
  --release, as the text says; a run whose cleanliness is unknown (dirty: null) is not evidence
  with --release (M18 survived; pinned here); a version specifier that excludes the installed
  version drifts too (M30 survived; pinned here).
- unacceptable residual of a situation WITH controls (check.py:191-195): open "not releasable"
  without --release, a gap with it, CLI --release reaches it (review 67's test). It stays a gap
  with --release while one of its controls is still draft (M10 survived; pinned here).
- SRS-186's text matches the code clause by clause; no defect found in it.
- Re-specification records (question 3): both requirements list the 2026-12-03 change with record
  ANOM-015; ANOM-015 keeps the original rule ("an unacceptable residual is a gap in every run") and
  the result that prompted it (the gate's 2 gaps, RISK-001/RISK-022 S4 at P3) beside the new rule;
  both items are draft; the lead's review records of 4d9fa6f are independent: false. 4d9fa6f
  changed texts only (no src/ change, checked with git show --stat) and makes the text state the
  stricter code, it relaxes no criterion. Complete as the evidence rules ask.

Mutants (each in a patched copy of src/device_ai under /tmp on PYTHONPATH, never src/; run
against the tests tagged SRS-043 or SRS-186 in tests/regulatory and reviews 67/74): 38 made,
before this file 29 killed, 9 survived (M06 no-controls judged by the claimed residual, M10
residual rule skipped while a control is pending, M18 dirty: null clean with --release, M21
retired requirement ignores failing tests, M23 results without a commit are evidence when HEAD is
unknown, M27 retired-control gap removed, M30 specifier never drifts, M32 runtime: false rule
removed, M33 unknown runtime dependencies rule removed). Each of the 9 is killed by a passing test
here (re-run with this file: 38 killed, 0 survived).

Defects (strict xfails, each beside a passing control):

1. SRS-043's text does not state rules its tests check or the code applies: a linked test that
   failed or errored on this commit is a gap even when another linked test passed (the text's
   "has no test that passed" is then false, yet the gate fails: test_gate.py
   test_a_failing_test_outweighs_a_passing_one); a graph built at another commit is a gap
   (test_graph_built_at_another_commit_is_stale); a situation that lists a retired control is a gap.
2. SRS-043's text says the gate fails when "a risk control is not implemented or not verified";
   the code judges approved controls only (a draft control with no implementer is listed as open,
   check.py:151-155). Either the text says "approved" or the code changes; the code's rule is the
   documented one (check.py docstring) and is the one to keep.

So SRS-043 stays draft; SRS-186 has no defect left (its one untested clause is pinned here).

Lead, 2026-12-05: both defects fixed in SRS-043's text (no code change); the two strict xfails are
ordinary tests now. SRS-043 stays draft until another independent review.

NOT checked: the real repository's graph (no trace build/check run on it: the brief limits the
commands), the security, SBOM and overclaim rules (other requirements), the pytest plugin beyond
its SRS-043-tagged tests, the incomplete-run warning (exit status 2 results still count, even with
--release: not in either text, noted only), report package (review 55 covers it), concurrency.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from device_ai.regulatory.check import check_graph
from tests import fast_yaml
from tests.regulatory.miniproject import (
    HEAD,
    TEST_A,
    baseline,
    build,
    default_items,
    gap_lines,
    gate,
    passing_results,
    requirement,
    write_project,
    write_results,
)

REPO = Path(__file__).resolve().parents[2]


def _project(root: Path, change=None) -> Path:  # noqa: ANN001 - callable(items)
    items = copy.deepcopy(default_items())
    if change is not None:
        change(items)
    write_project(root, items)
    baseline(root)
    return root


def _text(item: str) -> str:
    items = fast_yaml.safe_load((REPO / "traceability" / "requirements.yaml").read_text(encoding="utf-8"))
    return " ".join(next(r for r in items["software_requirements"] if r["id"] == item)["text"].split())


def _situations(items: dict) -> list:
    return items["risk/hazardous_situations.yaml"]["hazardous_situations"]


def _lines(report, item: str, section: str) -> list[str]:  # noqa: ANN001
    return [f.line() for f in report.section(section) if f.item == item]


# --- SRS-043: a situation without controls is judged on its initial risk (kills M06) -------------

def _uncontrolled(residual: dict | None):  # noqa: ANN202
    def change(items: dict) -> None:
        situations = _situations(items)
        situations.append({**situations[0], "id": "RISK-002", "controls": [], "residual": residual,
                           "residual_rationale": None, "effectiveness": [], "severity": "S2", "p1": "P3", "p2": "P3"})
        items["risk/benefit.yaml"]["benefit_risk"]["overall_residual_risk"] = "Not acceptable."
    return change


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("residual", [None, {"p1": "P1", "p2": "P1"}])  # S2/P1 is acceptable; None: the control
def test_a_claimed_residual_does_not_clear_a_situation_without_controls(tmp_path: Path,
                                                                         residual) -> None:  # noqa: ANN001
    root = _project(tmp_path, _uncontrolled(residual))
    results = write_results(root, passing_results())
    for release in (False, True):
        report = gate(root, results, release=release)
        assert "GAP RISK-002: risk: no risk controls and the initial risk (S2, P=P3) is unacceptable" in \
            _lines(report, "RISK-002", "gap"), release
        assert not [x for x in _lines(report, "RISK-002", "open") if "unacceptable" in x]


# --- SRS-186: the release gate while a control is still draft (kills M10) -------------------------

def _pending_control(unacceptable: bool):  # noqa: ANN202
    def change(items: dict) -> None:
        items["risk/controls.yaml"]["risk_controls"].append(
            {"id": "RC-009", "title": "Later", "text": "Not yet in effect.", "type": "protective",
             "implemented_by": ["SRS-003"], "status": "draft"})
        situation = _situations(items)[0]
        situation["controls"] = ["RC-001", "RC-009"]
        if unacceptable:
            situation["residual"] = {"p1": "P3", "p2": "P3"}
            situation.pop("effectiveness")
            items["risk/benefit.yaml"]["benefit_risk"].update(
                statement="The benefits do not outweigh the risks.", overall_residual_risk="Not acceptable.")
    return change


@pytest.mark.req("SRS-186")
@pytest.mark.parametrize("unacceptable", [True, False])  # False: the control, a reduced residual
def test_an_unacceptable_residual_blocks_the_release_while_a_control_is_draft(tmp_path: Path,
                                                                              unacceptable) -> None:  # noqa: ANN001
    root = _project(tmp_path, _pending_control(unacceptable))
    results = write_results(root, passing_results())
    development, release = gate(root, results), gate(root, results, release=True)
    line = "RISK-001: risk: residual risk (S3, P=P3) is unacceptable"
    opened = _lines(development, "RISK-001", "open")
    assert "OPEN RISK-001: risk: relies on control(s) not yet approved: RC-009" in opened
    if unacceptable:
        assert f"OPEN {line}: the device is not releasable (a gap with --release)" in opened
        assert f"GAP {line}" in gap_lines(release) and f"GAP {line}" not in gap_lines(development)
    else:
        assert not [x for x in gap_lines(release) + opened if "unacceptable" in x]


# --- SRS-043: evidence clauses whose mutants survived (M18, M21, M23) ----------------------------

@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("dirty", [None, False])  # False: the control, a clean run is evidence
def test_a_run_of_unknown_cleanliness_is_not_evidence_for_a_release(tmp_path: Path, dirty) -> None:  # noqa: ANN001
    root = _project(tmp_path)
    report = gate(root, write_results(root, passing_results(), dirty=dirty), release=True)
    reason = f"GAP SRS-001: verification: no test passed on this commit: {TEST_A} [run on a dirty work tree]"
    assert (reason in gap_lines(report)) is (dirty is None)


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("outcome", ["failed", "skipped"])  # skipped: the control, not run is no reference
def test_a_retired_requirement_with_a_failing_test_is_still_a_gap(tmp_path: Path, outcome: str) -> None:
    root = _project(tmp_path, lambda items: items["traceability/requirements.yaml"]["software_requirements"].append(
        requirement("SRS-004", "retired")))
    old = "tests/test_old.py::test_old"
    report = gate(root, write_results(root, {**passing_results(), old: (outcome, ["SRS-004"])}))
    assert (_lines(report, "SRS-004", "gap") == [f"GAP SRS-004: retired: tests still verify it: {old}"]) \
        is (outcome == "failed")


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("commit", [None, HEAD])  # HEAD: the control, judged against a known commit
def test_results_without_a_commit_are_no_evidence(tmp_path: Path, commit) -> None:  # noqa: ANN001
    root = _project(tmp_path)
    graph = build(root, write_results(root, passing_results()))
    graph["head"]["commit"] = commit
    for run in graph["runs"]:
        run["header"]["git"]["commit"] = commit
    gaps = gap_lines(check_graph(graph, head=commit))
    assert ("GAP SRS-001: verification: no test passed on this commit: "
            f"{TEST_A} [no git commit to compare the results with]" in gaps) is (commit is None)


# --- SRS-043: retired control, SOUP (M27, M30, M32, M33) ------------------------------------------

@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("status", ["retired", "approved"])  # approved: the control
def test_a_situation_controlled_by_a_retired_control_is_a_gap(tmp_path: Path, status: str) -> None:
    def change(items: dict) -> None:
        items["risk/controls.yaml"]["risk_controls"].append(
            {"id": "RC-009", "title": "Old", "text": "Was a control.", "type": "protective",
             "implemented_by": ["SRS-002"], "status": status})
        _situations(items)[0]["controls"] = ["RC-001", "RC-009"]

    root = _project(tmp_path, change)
    gaps = gap_lines(gate(root, write_results(root, passing_results())))
    assert ("GAP RISK-001: risk: controlled by retired control(s): RC-009" in gaps) is (status == "retired")


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize(("version", "drifts"), [(">=999", True), (">=1", False)])  # >=1: the control
def test_a_version_specifier_that_excludes_the_installed_version_drifts(tmp_path: Path, version: str,
                                                                         drifts: bool) -> None:
    root = _project(tmp_path, lambda items: items["traceability/soup.yaml"]["soup"][0].update(version=version))
    results = write_results(root, passing_results())
    development, release = gate(root, results), gate(root, results, release=True)
    warned = [f.line() for f in development.section("warning") if f.topic == "soup version"]
    assert bool(warned) is drifts and development.passed
    assert any(g.startswith(f"GAP SOUP-numpy: soup version: curated for {version}, installed ")
               for g in gap_lines(release)) is drifts


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("runtime", [False, True])  # True: the control
def test_a_runtime_dependency_marked_runtime_false_is_a_gap(tmp_path: Path, runtime: bool) -> None:
    root = _project(tmp_path, lambda items: items["traceability/soup.yaml"]["soup"][0].update(runtime=runtime))
    gaps = gap_lines(gate(root, write_results(root, passing_results())))
    assert ("GAP SOUP-numpy: soup: is a runtime dependency but marked runtime: false" in gaps) is (not runtime)


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize("known", [False, True])  # True: the control
def test_unknown_runtime_dependencies_are_a_gap(tmp_path: Path, known: bool) -> None:
    root = _project(tmp_path)
    graph = build(root, write_results(root, passing_results()))
    if not known:
        graph["environment"]["runtime_requirements"] = None
        graph["environment"]["runtime_requirements_source"] = "synthetic: not found"
    gaps = gap_lines(check_graph(graph, head=HEAD))
    assert ("GAP SOUP: soup: runtime dependencies unknown (synthetic: not found)" in gaps) is (not known)


# --- defect 1: SRS-043's text omits rules its tests check ----------------------------------------

@pytest.mark.req("SRS-043")
def test_control_the_gate_applies_the_rules_the_text_omits(tmp_path: Path) -> None:
    """The behaviour is right and should stay; only the text is short of it."""
    root = _project(tmp_path)
    other = TEST_A.replace("test_core", "test_core_again")
    report = gate(root, write_results(root, {**passing_results(), other: ("failed", ["SRS-001"])}))
    assert gap_lines(report) == [f"GAP SRS-001: verification: test(s) failed on this commit: {other} [failed]"]
    text = _text("SRS-043").lower()
    assert "retired requirement" in text and "dirty" in text  # review 74's omissions are fixed


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize(("rule", "pattern"), [
    ("test_a_failing_test_outweighs_a_passing_one", r"\bfail(s|ed|ing)?\b"),
    ("test_graph_built_at_another_commit_is_stale", r"\bgraph\b"),
    ("test_a_situation_controlled_by_a_retired_control_is_a_gap", r"retired (risk )?control"),
])
def test_srs_043_states_the_other_rules_its_tests_check(rule: str, pattern: str) -> None:
    assert re.search(pattern, _text("SRS-043").lower()), rule


# --- defect 2: "a risk control is not implemented" - only approved controls are judged ------------

def _unimplemented_control(status: str):  # noqa: ANN202
    def change(items: dict) -> None:
        items["risk/controls.yaml"]["risk_controls"].append(
            {"id": "RC-009", "title": "Nothing", "text": "No one implements it.", "type": "information",
             "implemented_by": [], "status": status})
    return change


@pytest.mark.req("SRS-043")
def test_control_an_approved_control_not_implemented_is_a_gap(tmp_path: Path) -> None:
    root = _project(tmp_path, _unimplemented_control("approved"))
    assert "GAP RC-009: risk control: not implemented by any requirement" in gap_lines(
        gate(root, write_results(root, passing_results())))


@pytest.mark.req("SRS-043")
def test_a_risk_control_not_implemented_is_a_gap_as_the_text_says(tmp_path: Path) -> None:
    root = _project(tmp_path, _unimplemented_control("draft"))
    report = gate(root, write_results(root, passing_results()))
    assert _lines(report, "RC-009", "open") == ["OPEN RC-009: draft: Nothing"]  # what the code does
    text = _text("SRS-043")
    assert _lines(report, "RC-009", "gap") or "approved risk control" in text, "'a risk control is not implemented'"
