"""Independent re-review (helper-68) of SRS-181, SRS-182 and SRS-183 (issue 19 item 6) after
32aeb8b fixed review 56's defects.

Review 56's five strict xfails are ordinary tests now and pass; each fix was mutated here (the rule
broken in a scratch edit of overclaim.py, or review.py patched in-process) and a test failed. Two
mutations survived the author's tests: a state given to a *list* of IDs applied only to the last
one (SRS-183), and a *retired* re-specified requirement without an independent review being only
open (SRS-182). The tests in the "untested clauses" sections pin both; they pass.

Defects, each a strict xfail beside a control that passes:

- SRS-181: ``MEASUREMENT`` takes a version or clause number for a measured figure: the
  measures "tests pass on Python 3.11" (a passing-tests claim, issue 19's overclaim) and
  "effective per ISO 14971 7.2" are accepted as decimals like 0.95, "checked 2026/12/03" as a
  ratio like 3/3. The text says a digit inside an ID is no figure and asks for a figure that is a
  measurement; these are IDs and a date.
- SRS-181: the project's own pytest result file copied out of ``test-results/`` (same content:
  the run header and each test's outcome) is accepted as a measured record of effectiveness. The
  text judges a record "by its whole path" only, so a ``cp`` defeats the rule the issue asks for
  (a P1 residual resting on "tests passed" alone); the code does what the text says, the text
  does not do what the Done-when line asks.
- SRS-183 (title "The benefit-risk text cannot contradict the graph"): prose that contradicts
  the graph passes in three plain forms: an ID written with an en dash ("RISK–001 is
  acceptable": no ID is found, so no claim is needed), a state after a gloss in brackets, the
  house style of risk/benefit.yaml ("RISK-001 (missed lesion) is acceptable" beside a true claim
  'alara'), and an overall residual risk that does not *open* with the word ("The overall
  residual risk is acceptable." while RISK-001 is unacceptable). The text names these limits
  (hyphen/space/nothing; "right after an ID"; "opens with"); the title and issue 19's Done-when
  ("made impossible by a gate rule") claim more than the rule does.

Noted, not a defect: ``counts_as_independent`` compares a legacy record's date as a string, so
a hand-written record without the field dated "2026-12-03 23:00:00Z" (a space for the T) counts
as before the cut-off; the tool writes only ISO "...Z" dates, every record in the file has that
form, and a hand edit could as well write ``independent: true``. Validating ``Review.date``
would close it.

The mini project is written into ``tmp_path``; nothing reads the real items.

Each of the defects above was a strict xfail (review 68); fixed by helper-69 (the xfail markers
removed, the tests and their controls kept as they were): numbers that name rather than measure
(dates, times, versions, standards and their clause numbers) are blanked out before the figure is
looked for, and a bare decimal above 1 is a figure only with a unit or counted noun; a record is
judged by its content as well as its path (a pytest result document, JUnit XML, a runner's console
summary or a Python test module is generated test output wherever it lives, and a byte copy of a
loaded results file is named as such); an ID may be written with any dash-like character; a gloss
in brackets between an ID (or a list of IDs) and its state is skipped; and any sentence that
concludes the overall residual risk acceptable (not negated, not hypothetical) is read, not only
an opening word. Tests of the general class behind each example are in
tests/regulatory/test_overclaim_general.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.regulatory.miniproject import (
    baseline,
    default_items,
    gap_lines,
    gate,
    passing_results,
    write_project,
    write_results,
)


def _project(root: Path, change=None) -> Path:  # noqa: ANN001 - callable(items)
    items = default_items()
    if change is not None:
        change(items)
    write_project(root, items)
    baseline(root, independent=False)  # the rule under test needs records that are not independent
    return root


def _situation(items: dict) -> dict:
    return items["risk/hazardous_situations.yaml"]["hazardous_situations"][0]


def _gaps(root: Path) -> list[str]:
    return gap_lines(gate(root, write_results(root, passing_results())))


# --- SRS-181: the measure ----------------------------------------------------------------------

def _measure(measure: str):  # noqa: ANN202
    def change(items: dict) -> None:
        _situation(items)["effectiveness"][0]["measure"] = measure
    return change


NO_FIGURE = "GAP RISK-001: effectiveness: evidence 1 (RC-001): measure states no figure (how many cases, what outcome)"


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("measure", ["tests pass", "tests pass on Python (v3)", "effective per ISO 14971"])
def test_control_a_measure_without_a_measured_figure_is_a_gap(tmp_path: Path, measure: str) -> None:
    assert _gaps(_project(tmp_path, _measure(measure))) == [NO_FIGURE]


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("measure", ["tests pass on Python 3.11", "effective per ISO 14971 7.2",
                                     "checked 2026/12/03"])
def test_a_version_clause_or_date_is_not_a_measured_figure(tmp_path: Path, measure: str) -> None:
    assert _gaps(_project(tmp_path, _measure(measure))) == [NO_FIGURE]


# --- SRS-181: the record -----------------------------------------------------------------------

def _record_evidence(record: str):  # noqa: ANN202
    def change(items: dict) -> None:
        _situation(items)["effectiveness"] = [{"controls": ["RC-001"], "reduces": ["p1"], "record": record,
                                               "measure": "12 of 12 malformed inputs refused"}]
    return change


@pytest.mark.req("SRS-181")
def test_control_the_pytest_result_file_in_test_results_is_not_a_record(tmp_path: Path) -> None:
    write_results(tmp_path, passing_results(), name="test-results/requirements.json")
    gaps = _gaps(_project(tmp_path, _record_evidence("test-results/requirements.json")))
    assert gaps == ["GAP RISK-001: effectiveness: evidence 1 (RC-001): record test-results/requirements.json is a "
                    "test or test result, not a measured outcome"]


@pytest.mark.req("SRS-181")
def test_a_copied_pytest_result_file_is_not_a_record(tmp_path: Path) -> None:
    write_results(tmp_path, passing_results(), name="validation/results/requirements.json")
    gaps = _gaps(_project(tmp_path, _record_evidence("validation/results/requirements.json")))
    assert any(g.startswith("GAP RISK-001: effectiveness:") for g in gaps), gaps


# --- SRS-182: untested clause (the "retired" mutant survived the author's tests) ---------------

def _respecified(status: str):  # noqa: ANN202
    def change(items: dict) -> None:
        srs = items["traceability/requirements.yaml"]["software_requirements"][0]
        srs["status"] = status
        srs["respecifications"] = [{"date": "2026-12-01", "change": "criterion lowered", "record": "ANOM-001"}]
    return change


@pytest.mark.req("SRS-182")
@pytest.mark.parametrize(("status", "gap"), [("retired", True), ("approved", True), ("draft", False)])
def test_a_retired_respecified_requirement_without_an_independent_review_is_a_gap(tmp_path: Path, status: str,
                                                                                  gap: bool) -> None:
    root = _project(tmp_path, _respecified(status))
    report = gate(root, write_results(root, passing_results()))
    respecified = [line for line in report.lines() if "SRS-001: re-specified" in line]
    assert len(respecified) == 1 and respecified[0].startswith("GAP" if gap else "OPEN"), respecified
    assert "2026-12-01 (ANOM-001)" in respecified[0]


# --- SRS-183: untested clause (the "list" mutant survived the author's tests) ------------------

def _benefit(field: str, text: str, claims: list[dict]):  # noqa: ANN202
    def change(items: dict) -> None:
        items["risk/benefit.yaml"]["benefit_risk"][field] = text
        items["risk/benefit.yaml"]["benefit_risk"]["claims"] = claims
    return change


TRUE_CLAIMS = [{"item": "SRS-002", "state": "verified"}, {"item": "RISK-001", "state": "alara"}]


@pytest.mark.req("SRS-183")
def test_control_states_given_one_by_one_pass(tmp_path: Path) -> None:
    root = _project(tmp_path, _benefit("statement", "SRS-002 is verified and RISK-001 is alara.", TRUE_CLAIMS))
    assert _gaps(root) == []


@pytest.mark.req("SRS-183")
def test_a_state_given_to_a_list_applies_to_its_first_member(tmp_path: Path) -> None:
    root = _project(tmp_path, _benefit("statement", "SRS-002 and RISK-001 are alara.", TRUE_CLAIMS))
    assert _gaps(root) == ["GAP BENEFIT-RISK: benefit-risk: the prose says SRS-002 is 'alara', its claim says "
                           "'verified'"]


# --- SRS-183: prose that contradicts the graph -------------------------------------------------

@pytest.mark.req("SRS-183")
@pytest.mark.parametrize("text", ["RISK-001 is acceptable.", "RISK 001 is acceptable."])
def test_control_an_unclaimed_id_with_a_hyphen_or_space_is_a_gap(tmp_path: Path, text: str) -> None:
    assert _gaps(_project(tmp_path, _benefit("statement", text, []))) == [
        "GAP BENEFIT-RISK: benefit-risk: names items without a claimed state the gate can check: RISK-001"]


@pytest.mark.req("SRS-183")
def test_an_id_with_an_en_dash_needs_a_claim(tmp_path: Path) -> None:
    assert _gaps(_project(tmp_path, _benefit("statement", "RISK\u2013001 is acceptable.", []))) == [
        "GAP BENEFIT-RISK: benefit-risk: names items without a claimed state the gate can check: RISK-001"]


@pytest.mark.req("SRS-183")
def test_control_a_state_right_after_the_id_must_be_its_claim(tmp_path: Path) -> None:
    gaps = _gaps(_project(tmp_path, _benefit("statement", "RISK-001 is acceptable.", TRUE_CLAIMS)))
    assert gaps == ["GAP BENEFIT-RISK: benefit-risk: the prose says RISK-001 is 'acceptable', its claim says 'alara'"]


@pytest.mark.req("SRS-183")
def test_a_state_after_a_gloss_in_brackets_must_be_its_claim(tmp_path: Path) -> None:
    gaps = _gaps(_project(tmp_path, _benefit("statement", "RISK-001 (missed lesion) is acceptable.", TRUE_CLAIMS)))
    assert any(g.startswith("GAP BENEFIT-RISK") for g in gaps), gaps


def _unacceptable(overall: str):  # noqa: ANN202
    def change(items: dict) -> None:
        _situation(items)["residual"] = {"p1": "P3", "p2": "P3"}  # S3/P3: unacceptable
        _situation(items)["effectiveness"] = []
        items["risk/benefit.yaml"]["benefit_risk"]["overall_residual_risk"] = overall
    return change


OVERALL_GAP = ("GAP BENEFIT-RISK: benefit-risk: concludes the overall residual risk acceptable while residual risks "
               "are unacceptable: RISK-001")


@pytest.mark.req("SRS-183")
def test_control_an_overall_opening_with_acceptable_is_a_gap(tmp_path: Path) -> None:
    assert OVERALL_GAP in _gaps(_project(tmp_path, _unacceptable("Acceptable.")))
    assert _gaps(_project(tmp_path, _unacceptable("Not acceptable: a residual risk is unacceptable."))) == []


@pytest.mark.req("SRS-183")
def test_an_overall_conclusion_of_acceptable_in_a_sentence_is_a_gap(tmp_path: Path) -> None:
    assert OVERALL_GAP in _gaps(_project(tmp_path, _unacceptable("The overall residual risk is acceptable.")))
