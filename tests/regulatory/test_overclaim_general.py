"""The general classes behind review 68's examples (issue 19 item 6; helper-69's fixes of SRS-181
and SRS-183). Each reviewer example (tests/review/test_review_68.py) is one instance of a class:
here each class is exercised with further members, each beside a control that passes.

- SRS-181, the measure: no number that *names* something is a measured figure - dates and times
  in any common form, versions, standards with their clause numbers, clause/section/annex/issue
  numbers; a bare decimal above 1 is a version or clause, a decimal from 0 to 1 a proportion.
- SRS-181, the record: generated test output is no record of effectiveness wherever it lives,
  judged by its content (the plugin's result file, pytest-json-report, JUnit XML, a runner's
  console summary, a Python test module) and, for a byte copy of a loaded results file, by digest.
- SRS-183, the prose: an ID written with any dash-like character is an ID; a gloss in brackets
  between an ID (or a list of IDs) and its state is skipped; any sentence that concludes the
  overall residual risk acceptable is read.

The mini project is written into ``tmp_path``; nothing reads the real items.
"""

from __future__ import annotations

import json
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
    baseline(root)
    return root


def _situation(items: dict) -> dict:
    return items["risk/hazardous_situations.yaml"]["hazardous_situations"][0]


def _gaps(root: Path) -> list[str]:
    return gap_lines(gate(root, write_results(root, passing_results())))


# --- SRS-181: numbers that name are no measured figure -------------------------------------------

def _measure(measure: str):  # noqa: ANN202
    def change(items: dict) -> None:
        _situation(items)["effectiveness"][0]["measure"] = measure
    return change


NO_FIGURE = "GAP RISK-001: effectiveness: evidence 1 (RC-001): measure states no figure (how many cases, what outcome)"


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("measure", [
    # dates and times
    "checked 2026-12-03", "checked 03.12.2026", "checked 12/03/2026", "checked 12/03/26", "checked 3 December 2026",
    "checked Dec 3, 2026", "checked in December 2026", "run at 2026-12-03T20:23:27Z", "run at 20:23",
    "checked 2026\u201312\u201303",
    # versions
    "tests pass on numpy 1.26.4", "tests pass with v3.11", "tests pass in version 2", "tests pass on release 4",
    "tests pass on torch 2.5",
    # standards and clauses
    "effective per IEC 62304 5.2.6", "meets ISO 14971:2019 clause 7", "per clause 7.2", "per \u00a7 4.1",
    "see annex 3 and section 5.1", "as issue 19 item 6 asks", "meets IEC 81001-5-1", "per RFC 9162",
])
def test_a_number_that_names_something_is_not_a_measured_figure(tmp_path: Path, measure: str) -> None:
    assert _gaps(_project(tmp_path, _measure(measure))) == [NO_FIGURE]


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize("measure", [
    "sensitivity 0.95", "agreement 1.0", "Dice >= 0.9", "mean error \u00b1 0.4 mm", "mean 3.2 mm", "1.5x faster",
    "12 of 12 refused on 2026-12-03", "pydicom 3.0.2's test data: 193 inputs refused", "ISO 14971 7.2: 5 cases",
    "declines 12 of 12 inputs", "exit 3 x4134",
])
def test_control_a_measured_figure_beside_a_date_version_or_clause_passes(tmp_path: Path, measure: str) -> None:
    assert _gaps(_project(tmp_path, _measure(measure))) == []


# --- SRS-181: generated test output is no record, wherever it lives -----------------------------

def _record(record: str):  # noqa: ANN202
    def change(items: dict) -> None:
        _situation(items)["effectiveness"] = [{"controls": ["RC-001"], "reduces": ["p1"], "record": record,
                                               "measure": "12 of 12 malformed inputs refused"}]
    return change


def _record_gaps(root: Path, record: str, content: str) -> list[str]:
    path = root / record
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return _gaps(_project(root, _record(record)))


def _edited_results(root: Path) -> str:
    """The plugin's result file for another run (not a byte copy of the one the gate loads)."""
    source = write_results(root, {"tests/test_x.py::test_y": ("passed", ["SRS-002"])}, name="scratch/r.json",
                           date="2026-12-01T08:00:00Z")
    text = source.read_text(encoding="utf-8")
    source.unlink()
    return text


JUNIT = ('<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="1">'
         '<testcase classname="tests.test_x" name="test_y"/></testsuite></testsuites>\n')
JSON_REPORT = json.dumps({"created": 1.0, "summary": {"passed": 1},
                          "tests": [{"nodeid": "tests/test_x.py::test_y", "outcome": "passed"}]})
CONSOLE = "collected 12 items\n\ntests/test_x.py ............\n\n============ 12 passed in 0.31s ============\n"
UNITTEST = "............\n" + "-" * 70 + "\nRan 12 tests in 0.031s\n\nOK\n"
MODULE = "import numpy\n\n\ndef test_refuses_bad_input():\n    assert True\n"


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize(("record", "content", "kind"), [
    ("validation/results/run.json", None, "a pytest result file (a run header and per-test outcomes)"),
    ("validation/results/report.json", JSON_REPORT, "a pytest result file (per-test outcomes by node ID)"),
    ("validation/results/junit.xml", JUNIT, "a JUnit XML test report"),
    ("validation/results/console.txt", CONSOLE, "a test runner's console output"),
    ("validation/results/unittest.log", UNITTEST, "a test runner's console output"),
    ("validation/check_refusal.py", MODULE, "a Python test module"),
])
def test_generated_test_output_is_not_a_record_wherever_it_lives(tmp_path: Path, record: str, content: str | None,
                                                                 kind: str) -> None:
    gaps = _record_gaps(tmp_path, record, _edited_results(tmp_path) if content is None else content)
    assert gaps == [f"GAP RISK-001: effectiveness: evidence 1 (RC-001): record {record} is by its content {kind}, "
                    "not a measured outcome"]


@pytest.mark.req("SRS-181")
def test_a_byte_copy_of_the_loaded_test_results_is_named_as_such(tmp_path: Path) -> None:
    loaded = write_results(tmp_path, passing_results())  # what _gaps loads, byte for byte
    gaps = _record_gaps(tmp_path, "evidence/outcome.json", loaded.read_text(encoding="utf-8"))
    assert gaps == ["GAP RISK-001: effectiveness: evidence 1 (RC-001): record evidence/outcome.json is a copy of the "
                    "test results test-results/requirements.json, not a measured outcome"]


@pytest.mark.req("SRS-181")
@pytest.mark.parametrize(("record", "content"), [
    ("validation/results/study.json", json.dumps({"cases": [{"id": "c1", "outcome": "refused"}], "refused": 12})),
    ("validation/results/study.csv", "case,outcome\nc1,refused\nc2,refused\n"),
    ("fuzz/results/campaign.md", "# Campaign\n\n5000 mutants, 4134 refused (exit 3), 866 analysed; tests passed "
                                 "before the run.\n"),
    ("validation/results/reader.xml", '<?xml version="1.0"?><study><reader id="r1" agreed="12"/></study>\n'),
    ("benchmarks/measure_refusal.py", "def measure():\n    return 12\n"),
])
def test_control_a_measured_outcome_is_a_record(tmp_path: Path, record: str, content: str) -> None:
    assert _record_gaps(tmp_path, record, content) == []


# --- SRS-183: an ID with any dash-like character ------------------------------------------------

def _benefit(field: str, text: str, claims: list[dict]):  # noqa: ANN202
    def change(items: dict) -> None:
        items["risk/benefit.yaml"]["benefit_risk"][field] = text
        items["risk/benefit.yaml"]["benefit_risk"]["claims"] = claims
    return change


UNCLAIMED = "GAP BENEFIT-RISK: benefit-risk: names items without a claimed state the gate can check: RISK-001"


@pytest.mark.req("SRS-183")
@pytest.mark.parametrize("separator", ["-", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015", "\u2212",
                                       "\ufe63", "\uff0d", " \u2013 ", "_", "\u00a0"])
def test_an_id_written_with_any_dash_like_character_needs_a_claim(tmp_path: Path, separator: str) -> None:
    text = f"RISK{separator}001 is acceptable."
    assert _gaps(_project(tmp_path, _benefit("statement", text, []))) == [UNCLAIMED]


@pytest.mark.req("SRS-183")
@pytest.mark.parametrize("separator", ["\u2013", "\u2212"])
def test_control_an_id_with_a_dash_and_its_true_claim_passes(tmp_path: Path, separator: str) -> None:
    text = f"RISK{separator}001 is alara."
    assert _gaps(_project(tmp_path, _benefit("statement", text, [{"item": "RISK-001", "state": "alara"}]))) == []


# --- SRS-183: a gloss in brackets between the ID and its state ----------------------------------

TRUE_CLAIMS = [{"item": "SRS-002", "state": "verified"}, {"item": "RISK-001", "state": "alara"}]
SAID_ACCEPTABLE = "GAP BENEFIT-RISK: benefit-risk: the prose says RISK-001 is 'acceptable', its claim says 'alara'"


@pytest.mark.req("SRS-183")
@pytest.mark.parametrize("text", [
    "RISK-001 [missed lesion] is acceptable.",
    "RISK-001 (missed lesion) (S3) is acceptable.",
    "RISK-001 (missed lesion): acceptable.",
    "RISK\u2013001 (missed lesion) \u2013 acceptable.",
    "SRS-002 (input check) and RISK-001 (missed lesion) are acceptable.",
])
def test_a_state_after_any_bracketed_gloss_must_be_its_claim(tmp_path: Path, text: str) -> None:
    gaps = _gaps(_project(tmp_path, _benefit("statement", text, TRUE_CLAIMS)))
    assert SAID_ACCEPTABLE in gaps


@pytest.mark.req("SRS-183")
@pytest.mark.parametrize("text", [
    "RISK-001 (missed lesion) is alara.",
    "SRS-002 (input check) is verified and RISK-001 [missed lesion] remains alara.",
    "RISK-001 (missed lesion), because no model is validated, stays in its region.",  # no state: not read
])
def test_control_a_gloss_before_the_true_state_passes(tmp_path: Path, text: str) -> None:
    assert _gaps(_project(tmp_path, _benefit("statement", text, TRUE_CLAIMS))) == []


# --- SRS-183: any sentence concluding the overall residual risk acceptable ----------------------

def _unacceptable(field: str, text: str):  # noqa: ANN202
    def change(items: dict) -> None:
        _situation(items)["residual"] = {"p1": "P3", "p2": "P3"}  # S3/P3: unacceptable
        _situation(items)["effectiveness"] = []
        items["risk/benefit.yaml"]["benefit_risk"]["overall_residual_risk"] = "Not acceptable."
        items["risk/benefit.yaml"]["benefit_risk"][field] = text
    return change


OVERALL_GAP = ("GAP BENEFIT-RISK: benefit-risk: concludes the overall residual risk acceptable while residual risks "
               "are unacceptable: RISK-001")


@pytest.mark.req("SRS-183")
@pytest.mark.parametrize(("field", "text"), [
    ("overall_residual_risk", "Judged against the plan's criteria, the overall residual risk is acceptable."),
    ("overall_residual_risk", "Overall: acceptable."),
    ("overall_residual_risk", "Not all controls are approved. The residual risk is acceptable."),
    ("overall_residual_risk", "It is acceptable; no further reduction is practicable."),
    ("overall_residual_risk", "The overall residual risk is acceptably low."),
    ("statement", "Benefits outweigh risks. Overall, the residual risk is acceptable."),
    ("statement", "All residual risks are acceptable."),
    ("benefits", "Faster reads; the device is acceptable for clinical use."),
])
def test_any_sentence_concluding_overall_acceptability_is_a_gap(tmp_path: Path, field: str, text: str) -> None:
    assert OVERALL_GAP in _gaps(_project(tmp_path, _unacceptable(field, text)))


@pytest.mark.req("SRS-183")
@pytest.mark.parametrize(("field", "text"), [
    ("overall_residual_risk", "The overall residual risk is not acceptable."),
    ("overall_residual_risk", "The overall residual risk isn't acceptable while RISK-001 is unacceptable."),
    ("overall_residual_risk", "The overall residual risk is not, on this evidence, acceptable."),
    ("overall_residual_risk", "The overall residual risk would be acceptable once a model is validated."),
    ("overall_residual_risk", "The overall residual risk is acceptable only if a model is validated."),
    ("statement", "The device is no longer acceptable for clinical use."),
    ("statement", "An acceptable benefit needs a validated model."),  # not about the overall or residual risk
])
def test_control_a_negated_or_hypothetical_conclusion_passes(tmp_path: Path, field: str, text: str) -> None:
    claims = [{"item": "RISK-001", "state": "unacceptable"}] if "RISK-001" in text else []

    def change(items: dict) -> None:
        _unacceptable(field, text)(items)
        items["risk/benefit.yaml"]["benefit_risk"]["claims"] = claims

    assert _gaps(_project(tmp_path, change)) == []


@pytest.mark.req("SRS-183")
@pytest.mark.parametrize("text", ["Not acceptable: RISK-001 is unacceptable and RISK-002 is acceptable.",
                                  "Not acceptable: RISK-001 is unacceptable (RISK-002, acceptable).",
                                  "Not acceptable. RISK-002, the wrong label, is acceptable.",
                                  "Not acceptable. Overall, RISK-001 is unacceptable and RISK-002 is acceptable."])
def test_control_acceptable_said_of_an_item_is_not_an_overall_conclusion(tmp_path: Path, text: str) -> None:
    def change(items: dict) -> None:
        _unacceptable("overall_residual_risk", text)(items)
        situations = items["risk/hazardous_situations.yaml"]["hazardous_situations"]
        situations.append({**situations[0], "id": "RISK-002", "severity": "S1", "controls": [], "residual": None,
                           "effectiveness": []})  # S1: acceptable without controls
        items["risk/benefit.yaml"]["benefit_risk"]["claims"] = [{"item": "RISK-001", "state": "unacceptable"},
                                                                {"item": "RISK-002", "state": "acceptable"}]

    assert _gaps(_project(tmp_path, change)) == []
