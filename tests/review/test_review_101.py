"""Independent review 101 (reviewer helper-101) of SRS-204..208 (the regulatory wrapper, issue 19 item 7),
status draft, at HEAD 1943f76 (the wrapper code is unchanged at fbd8045). helper-101 wrote none of the
wrapper: the author is helper-98 (1d66628), with the lead's test fixes 5dd688d and 8d7030d. Code read:
submission_items.py (models), submission.py (gate rules and assess), loader.py:377-405
(_check_submission), the changes of 1d66628 to graph.py, review.py, check.py, render/__init__.py and
render/control.py, render/submission.py and the four templates. Mini projects under tmp_path built with
tests/regulatory/miniproject.py and the author's wrapper helpers (class B system).

Clauses probed:

SRS-204 (typed and linked, refused with file:line and the row's ID before any graph is written): HOLDS.
  YAML type errors (applicable "yes", evidence a string or a number, classes a string, an unknown status, a
  missing note, an unknown key), duplicate GSPR and clause IDs, blank and empty justifications and methods,
  evidence of kinds outside the list (GSPR, C62304, HAZ, SUC, CMP, lower-case dai-doc), dangling RISK/MODEL
  evidence (at the entry's line, also in a multi-line flow list), a YAML syntax error, non-UTF-8 bytes, a
  mapping where the list belongs, absolute / '..' / folder performance records: each one typed problem
  naming file:line (and the row's ID where the row has one), never a traceback; ``trace build`` exits 12 and
  writes no graph (test_h01 to test_h07).
SRS-205 (a required row without evidence is a gap in every run): HOLDS. A class-B clause marked
  not_applicable although it names evidence is a gap with and without --release; a class C system makes a
  C-only clause required (two gaps); a class A system needs no B/C-only clause; a not-applicable GSPR whose
  evidence is unverified gives no finding even with --release (test_h08 to test_h10).
SRS-206 (evidence in effect on the commit): DEFECT 1. HOLDS for requirements that are draft, planned or
  retired (named with their status), a draft user need, a draft risk control, a threat without control
  (not in effect even when everything is verified), a threat controlled by an unverified SRS or RC, and records
  (SI, SOUP, DAI-DOC-VVR) (test_h11 to test_h14). Fails for DAI-DOC-DIFF (below).
SRS-207 (no conformity the graph does not show): HOLDS for its own rule (submission.py:108-121): partial with
  unverified evidence gives both findings; a C-only clause that says partial gives none on a class B system;
  a clause whose only evidence is a package document "conforms" with no finding, as SRS-206 defines package
  documents (test_h15, test_h16). Its "not in effect" is SRS-206's, so defect 1 reaches it through
  C62304-7.4 (below); the rule itself needs no change.
SRS-208 (four documents, each evidence reference with the gate's state): DEFECTS 1 and 2. HOLDS: every
  text field of the four pages is HTML-escaped (a <script> in titles, methods, justification, note, open
  points, standards, device name, purpose, inputs, IFU warnings and output guide); every item evidence
  reference links to a row anchor that exists in the rendered package (SRS, UN, RC, RISK, THR, IF, SOUP,
  ANOM, MODEL, SI, DAI-DOC) (test_h17, test_h18).

Defects (each a strict xfail beside a passing pin and a passing control):

1. (SRS-206, SRS-208) DAI-DOC-DIFF, the ID of diff.html, is accepted as evidence (it is in DOCUMENT_IDS,
   render/control.py:52) and always judged in effect (submission.py:49-50: every DAI-DOC is), but the package
   writes diff.html only with --baseline (render/__init__.py:98, 188). Without a baseline the gate and
   gspr.html / iec62304-conformity.html show the evidence "in effect", linked to a diff.html the package does
   not contain. The repository's own matrix relies on it: C62304-7.4 says conforms with [SRS-044,
   DAI-DOC-DIFF], and 8.2, 8.3 name it too. SRS-206: package documents are records "in effect when they
   exist". Pins test_d1_diff_evidence_loads_and_counts_as_in_effect, test_d1_page_links_a_diff_the_package_
   lacks; controls: DAI-DOC-VVR (always written); strict xfails test_d1_diff_evidence_is_refused_or_named,
   test_d1_page_does_not_show_a_missing_diff_in_effect. Fix: refuse document IDs the package does not always
   write (DIFF) in loader._check_submission, or judge them not in effect without a baseline.
2. (SRS-208) A clause the system's class needs that the matrix marks not_applicable, and that names evidence,
   is a GAP in every run (rule 1, submission.py:88-90), but iec62304-conformity.html shows its state as a
   neutral "not applicable" badge and counts it in a "not applicable" card: assess (submission.py:144-145)
   takes the stated status for any clause that does not say conforms, before anything else. SRS-208: "the
   row's state as the gate judges it". Pin test_d2_needed_clause_marked_not_applicable_shows_neutral;
   control: the same clause without evidence shows the failing "no evidence" badge; strict xfail
   test_d2_needed_clause_marked_not_applicable_shows_the_gap. Fix: a required not_applicable clause gets a
   failing state (e.g. "marked not applicable, but needed") ahead of the stated-status branch.

Notes (not defects against the requirement texts; pinned where cheap):
N1 The pages judge evidence with the non-release context (render/submission.py:49, release=False, as the
   security pages do), while ``report package`` gates with --release: in a draft package (--allow-gaps)
   built from a dirty-tree run, gspr.html shows SRS-002 "in effect" where the release gate lists GSPR-17.2
   as a gap (test_n1). The draft index lists the gap; the revision says .dirty.
N2 An applicable GSPR row may carry a justification, and a not-applicable one methods; gspr.html shows only
   one of them (gspr.html.j2:36), so the other is silently dropped (test_n2). Unused in submission/ today.
   [Fixed by helper-109, 2026-12-06: both are shown, the other labelled; test_n2 pins the fix.]
N3 A performance record that is a link to a file outside the project loads (loader.py:402 follows the
   link); '/' and '..' are refused (test_n3). Variants may be listed twice (shown twice).
N4 Nothing requires the wrapper to exist or be complete: without submission/ the gate passes (test_n4);
   the repository's matrix starts at 4.3 (4.1 quality management and 4.2 risk management, all classes, are
   absent). Its classes per clause agree with reference/regulatory.md 3.1.
   [Fixed by helper-109, 2026-12-06 (SRS-213 draft): --release lists a DOC-WRAPPER gap when any of the three
   files is missing (test_n4 pins it); 4.1, 4.2 and 4.4 have rows; completeness against the clause and GSPR
   lists is tests/regulatory/test_wrapper_completeness.py.]
N5 Pydantic errors in submission/device.yaml carry file:line but no 'DEVICE-DESCRIPTION' label, unlike the
   loader's own checks of that file (the description has no ID field).
   [Fixed by helper-109, 2026-12-06: every single-item file's errors carry its class label (DEVICE-DESCRIPTION,
   RISK-PLAN, BENEFIT-RISK, SECURITY-PLAN).]

Mutation check (edits in copies /tmp/h101/mut/Mxx/src on PYTHONPATH, by /tmp/h101/mutate.py, never the
repository's src/; this file run against each; M00 null copy: 63 passed, 3 xfailed). submission.py: M01 GSPR
always required (71): h08-h16, d1 pin; M02 drop the not_applicable gap (88): h08, h09; M03 user need always in
effect (58): h12; M04 threat without control in effect (61): h13; M05 risk controls not judged (55): h12; M06
never a release gap (40): h10, h11, h15, h15b, h16, n1; M07 not_conforming not reported (120): h15; M08 no
'says conforms' finding (117): h15b; M18 threat controls not judged (63): h13; M19 not-required rows judged
(100): h10. submission_items.py: M09 duplicate evidence allowed (45): h04b; M10 justification not stripped
(84): h03; M13 absolute performance record allowed (175): h07b. loader.py: M11 DAI-DOC not checked (388):
h07; M12 a folder as performance record (402): h07b. render: M14 document href = its ID (render/submission.py
35): h18, d1 page pin; M15 |safe on the GSPR title (gspr.html.j2:34): h17; M20 every applicable GSPR shown
(render/submission.py:59): h19. Fix mutants: M16 (defect 2 fixed in assess) fails the d2 pin and XPASSes the
d2 xfail; M17 (DAI-DOC-DIFF judged not in effect) fails both d1 pins and XPASSes both d1 xfails.
18 behaviour mutants: 18 killed.

Outside the scope, noticed and left alone: render_all of security-risk.html raises TypeError (template
security_risk.html.j2:23, plan scope None) for a project without security/plan.yaml.

NOT checked: the PDF printing of the pages (the author's slow test covers it); the Sphinx site; suspect-link
reviews of GSPR/clause rows; the content of submission/*.yaml beyond the classes per clause and the
DAI-DOC-DIFF references.

Verdict: SRS-204, SRS-205 and SRS-207 hold (independent reviews recorded); SRS-206 and SRS-208 are NOT
approved (defects 1 and 2). Requirement statuses are left to the lead.

Lead/helper-102, 2026-12-06: defects 1 and 2 fixed (author-side; an independent re-review is needed).
Defect 1: a document the package writes only with an option (render.control.CONDITIONAL_DOCUMENTS:
diff.html, only with ``report package --baseline``) is not in every package, so the wrapper may not cite
it: loader._check_submission refuses DAI-DOC-DIFF with file:line, the row's ID and the option, before any
graph is written; every DAI-DOC ID that loads is one every package writes, so the gate and the pages may
count it in effect. submission/iec62304.yaml cites SRS-049 (the verified baseline diff) instead: 7.4
[SRS-044, SRS-049] conforms, 8.2 [SRS-044, SRS-182, SRS-049] partial, 8.3 [SRS-049, DAI-DOC-TRACE-GRAPH]
conforms. Defect 2: submission.assess gives a clause the class needs that is marked not_applicable the
state "marked not applicable, but needed" (submission.NEEDED_NOT_APPLICABLE) ahead of every other
branch, shown with the failing badge and counted under its own card, never under "not applicable". The
strict xfails are plain tests; the pins state the fixed behaviour under new names
(test_d1_diff_evidence_is_refused_at_its_entry, test_d1_no_page_links_a_diff_the_package_lacks,
test_d2_needed_clause_marked_not_applicable_shows_the_gate_state); the controls are kept.
"""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from device_ai.errors import TraceabilityError
from device_ai.regulatory.loader import load_project
from device_ai.regulatory.render import DOCUMENTS, render_all
from device_ai.regulatory.render.view import TraceView
from tests.regulatory.miniproject import build, passing_results, requirement, write_project, write_results
from tests.regulatory.test_security_gate import security_items, threat
from tests.regulatory.test_submission_wrapper import (
    ONLY_SRS_001,
    _clauses,
    _gspr,
    _render,
    _report,
    _row,
    _wrapper_lines,
    clause,
    gspr_row,
    wrapper_items,
    write_wrapper_project,
)

SECURITY_FILES = ("security/assets.yaml", "security/interfaces.yaml", "security/threats.yaml",
                  "security/use_cases.yaml", "security/plan.yaml")


def _problems(root: Path, change: Any, *, device: bool = False) -> list[str]:
    """The loader's problems for the wrapper project with ``change`` applied ([] when it loads)."""
    items = wrapper_items(device)
    change(items)
    write_project(root, items)
    if device:
        (root / "models/mini-1.0.0").mkdir(parents=True, exist_ok=True)
        (root / "models/mini-1.0.0/manifest.json").write_text(json.dumps({"name": "mini", "version": "1.0.0"}),
                                                               encoding="utf-8")
        (root / "results").mkdir(exist_ok=True)
        (root / "results/mini.json").write_text("{}\n", encoding="utf-8")
    try:
        load_project(root)
    except TraceabilityError as exc:
        return list(exc.problems)
    return []


def _lines(change: Any, tmp_path: Path, results: dict | None = None, *, release: bool = False,
           device: bool = False) -> list[str]:
    return _wrapper_lines(_report(write_wrapper_project(tmp_path, change, device=device), results, release=release))


def _evidence(*refs: str) -> Any:
    def change(items: dict) -> None:
        _gspr(items)[0]["evidence"] = list(refs)
    return change


# --- SRS-204 -----------------------------------------------------------------------------------------


@pytest.mark.req("SRS-204")
@pytest.mark.parametrize(("change", "where", "message"), [
    (lambda i: _gspr(i)[0].update(applicable="yes"), "submission/gspr.yaml:4: GSPR-17.2: ",
     "applicable: Input should be a valid boolean (got 'yes')"),
    (lambda i: _gspr(i)[0].update(evidence="SRS-001"), "submission/gspr.yaml:8: GSPR-17.2: ",
     "evidence: Input should be a valid list"),
    (lambda i: _gspr(i)[0].update(evidence=[1]), "submission/gspr.yaml:9: GSPR-17.2: ",
     "evidence.0: Input should be a valid string (got 1)"),
    (lambda i: _clauses(i)[0].update(classes="B"), "submission/iec62304.yaml:4: C62304-5.2.1: ",
     "classes: Input should be a valid list"),
    (lambda i: _clauses(i)[0].update(status="conform"), "submission/iec62304.yaml:11: C62304-5.2.1: ",
     "status: Input should be 'conforms', 'partial', 'not_conforming' or 'not_applicable' (got 'conform')"),
    (lambda i: _clauses(i)[0].pop("note"), "submission/iec62304.yaml:2: C62304-5.2.1: ", "missing field 'note'"),
    (lambda i: _gspr(i)[0].update(foo=1), "submission/gspr.yaml:11: GSPR-17.2: ", "unknown field 'foo'"),
    (lambda i: _gspr(i)[0].update(id="GSPR-17a"), "submission/gspr.yaml:2: GSPR-17a: ",
     "'GSPR-17a' is not a valid GSPR ID"),
])
def test_h01_type_errors_are_one_typed_problem_with_file_line_and_row(tmp_path: Path, change: Any, where: str,
                                                                     message: str) -> None:
    assert _problems(tmp_path / "control", lambda items: None) == []  # control: the unchanged project loads
    problems = _problems(tmp_path / "bad", change)
    assert len(problems) == 1, problems
    assert problems[0].startswith(where) and message in problems[0], problems


@pytest.mark.req("SRS-204")
@pytest.mark.parametrize(("change", "expected"), [
    (lambda i: _gspr(i).append(gspr_row("GSPR-17.2")),
     "submission/gspr.yaml:15: GSPR-17.2: duplicate ID (first defined at submission/gspr.yaml:2)"),
    (lambda i: _clauses(i).append(clause("C62304-5.2.1")),
     "submission/iec62304.yaml:20: C62304-5.2.1: duplicate ID (first defined at submission/iec62304.yaml:2)"),
])
def test_h02_duplicate_row_ids_are_refused(tmp_path: Path, change: Any, expected: str) -> None:
    assert _problems(tmp_path, change) == [expected]


@pytest.mark.req("SRS-204")
@pytest.mark.parametrize(("change", "message"), [
    (lambda i: _gspr(i)[1].update(justification="   "), "a GSPR that does not apply needs a justification"),
    (lambda i: _gspr(i)[1].update(justification=""), "justification: String should have at least 1 character"),
    (lambda i: _gspr(i)[0].update(methods=" \t"), "an applicable GSPR needs methods"),
])
def test_h03_blank_justification_or_methods_are_refused(tmp_path: Path, change: Any, message: str) -> None:
    problems = _problems(tmp_path, change)
    assert len(problems) == 1 and message in problems[0], problems
    # control: a not-applicable row with a justification and no methods loads
    assert _problems(tmp_path / "control", lambda i: _gspr(i)[1].update(methods=None)) == []


@pytest.mark.req("SRS-204")
@pytest.mark.parametrize("bad", ["GSPR-22", "C62304-5.2.1", "HAZ-001", "SUC-001", "CMP-numpy", "dai-doc-vvr",
                                 "DAI-DOC-"])
def test_h04_evidence_outside_the_listed_kinds_is_refused(tmp_path: Path, bad: str) -> None:
    problems = _problems(tmp_path, _evidence("SRS-001", bad))
    assert len(problems) == 1, problems
    assert problems[0].startswith("submission/gspr.yaml:2: GSPR-17.2: evidence [") and "are neither item IDs" in \
        problems[0] and repr(bad) in problems[0]


@pytest.mark.req("SRS-204")
@pytest.mark.parametrize("evidence", [["SRS-001", "SRS-001"], ["DAI-DOC-VVR", "SRS-001", "DAI-DOC-VVR"]])
def test_h04b_evidence_named_twice_is_refused(tmp_path: Path, evidence: list[str]) -> None:
    expected = "submission/gspr.yaml:2: GSPR-17.2: evidence lists an ID twice"
    assert _problems(tmp_path, _evidence(*evidence)) == [expected]
    assert _problems(tmp_path / "control", _evidence(*sorted(set(evidence)))) == []


@pytest.mark.req("SRS-204")
@pytest.mark.parametrize("bad", ["RISK-009", "MODEL-x-1.0", "SOUP-scipy", "IF-NONE", "THR-999", "ANOM-001"])
def test_h05_dangling_evidence_of_every_kind_is_refused_at_its_entry(tmp_path: Path, bad: str) -> None:
    problems = _problems(tmp_path, _evidence("SRS-001", bad))
    assert problems == [f"submission/gspr.yaml:10: GSPR-17.2: evidence refers to {bad}, which does not exist"]
    assert (tmp_path / "submission/gspr.yaml").read_text().splitlines()[9].strip() == f"- {bad}"


@pytest.mark.req("SRS-204")
def test_h06_malformed_files_are_typed_problems(tmp_path: Path) -> None:
    path = write_project(tmp_path, wrapper_items()) / "submission/gspr.yaml"
    # a dangling entry in a flow list over two lines is reported on its own line
    path.write_text(path.read_text().replace("  evidence:\n  - SRS-002\n  - DAI-DOC-VVR\n",
                                             "  evidence: [SRS-002,\n    DAI-DOC-VVR, SRS-999]\n"))
    with pytest.raises(TraceabilityError) as caught:
        load_project(tmp_path)
    assert caught.value.problems == ("submission/gspr.yaml:9: GSPR-17.2: evidence refers to SRS-999, which does "
                                     "not exist",)
    for text, expected in ((b"gspr:\n- id: GSPR-1\n  title: [unclosed\n", "submission/gspr.yaml:4: YAML syntax"),
                           (b"gspr:\n- id: GSPR-1\n  title: \xff\xfe\n", "submission/gspr.yaml:1: cannot read"),
                           (b"gspr:\n  id: GSPR-1\n", "submission/gspr.yaml:1: 'gspr' must be a list of items"),
                           (b"gspr:\n- [GSPR-1]\n", "submission/gspr.yaml:2: expected a mapping")):
        path.write_bytes(text)
        with pytest.raises(TraceabilityError) as caught:
            load_project(tmp_path)
        assert len(caught.value.problems) == 1 and caught.value.problems[0].startswith(expected), caught.value.problems


@pytest.mark.req("SRS-204")
def test_h07_trace_build_refuses_without_traceback_and_writes_no_graph(tmp_path: Path) -> None:
    from device_ai.cli import main

    def cli(root: Path) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(["trace", "build", "--root", str(root), "--out", str(root / "trace/graph.json")])
        return code, out.getvalue() + err.getvalue()

    write_project(tmp_path / "control", wrapper_items())
    code, _ = cli(tmp_path / "control")
    assert code == 0 and (tmp_path / "control/trace/graph.json").is_file()  # control
    items = wrapper_items()
    _evidence("SRS-002", "DAI-DOC-NOPE")(items)
    write_project(tmp_path / "bad", items)
    code, text = cli(tmp_path / "bad")
    assert code == 12 and "Traceback" not in text and not (tmp_path / "bad/trace/graph.json").exists()
    assert "submission/gspr.yaml:10: GSPR-17.2: evidence refers to DAI-DOC-NOPE, which is not a document" in text


@pytest.mark.req("SRS-204")
@pytest.mark.parametrize(("record", "message"), [
    ("/etc/hostname", "must be a path inside the repository"),
    ("results/../../x.json", "must be a path inside the repository"),
    ("results", "performance_records names results, which is not a file of the project"),
])
def test_h07b_performance_records_outside_or_not_files_are_refused(tmp_path: Path, record: str, message: str) -> None:
    def change(items: dict) -> None:
        items["submission/device.yaml"]["device"]["performance_records"] = [record]

    assert _problems(tmp_path / "control", lambda items: None, device=True) == []
    problems = _problems(tmp_path / "bad", change, device=True)
    assert len(problems) == 1 and problems[0].startswith("submission/device.yaml:") and message in problems[0]


# --- SRS-205 -----------------------------------------------------------------------------------------


@pytest.mark.req("SRS-205")
@pytest.mark.parametrize("release", [False, True])
def test_h08_needed_clause_marked_not_applicable_with_evidence_is_a_gap(tmp_path: Path, release: bool) -> None:
    def change(items: dict) -> None:
        _clauses(items).append(clause("C62304-5.5.2", status="not_applicable", classes=["B", "C"]))

    assert _lines(change, tmp_path, release=release) == [
        "GAP C62304-5.5.2: IEC 62304 conformity: marked not applicable, but the system's class B needs this clause "
        "(classes B, C)"]
    assert _lines(None, tmp_path / "control", release=release) == []


@pytest.mark.req("SRS-205")
def test_h09_the_system_class_decides_which_clauses_are_needed(tmp_path: Path) -> None:
    def class_c(items: dict) -> None:
        items["traceability/software_items.yaml"]["software_items"][0]["safety_class"] = "C"

    def class_a(items: dict) -> None:
        items["traceability/software_items.yaml"]["software_items"][0]["safety_class"] = "A"
        _clauses(items).append(clause("C62304-5.5.2", evidence=[], classes=["B", "C"]))

    assert _lines(class_c, tmp_path / "c", release=True) == [
        "GAP C62304-5.4.2: IEC 62304 conformity: marked not applicable, but the system's class C needs this clause "
        "(classes C)",
        "GAP C62304-5.4.2: IEC 62304 conformity: needed for class C and names no evidence: name the items or package "
        "documents that show it in submission/"]
    assert _lines(class_a, tmp_path / "a", release=True) == []


@pytest.mark.req("SRS-205", "SRS-206")
def test_h10_a_gspr_that_does_not_apply_is_not_judged(tmp_path: Path) -> None:
    def change(items: dict) -> None:
        _gspr(items)[1]["evidence"] = ["SRS-002"]

    # only the applicable GSPR-17.2 (evidence SRS-002) is reported, not GSPR-22 with the same evidence
    assert _lines(change, tmp_path, ONLY_SRS_001, release=True) == [
        "GAP GSPR-17.2: GSPR checklist: evidence not in effect on this commit: SRS-002 is not verified"]


# --- SRS-206 -----------------------------------------------------------------------------------------


@pytest.mark.req("SRS-206")
@pytest.mark.parametrize("status", ["draft", "planned", "retired", "approved"])
def test_h11_a_requirement_counts_only_when_approved_and_verified(tmp_path: Path, status: str) -> None:
    def change(items: dict) -> None:
        items["traceability/requirements.yaml"]["software_requirements"].append(requirement("SRS-004", status))
        _gspr(items)[0]["evidence"] = ["SRS-004"]

    verified = {**passing_results(), "tests/test_four.py::test_four": ("passed", ["SRS-004"])}
    root = write_wrapper_project(tmp_path, change)
    lines = _wrapper_lines(_report(root, verified))
    release = _wrapper_lines(_report(root, verified, release=True))
    if status == "approved":
        assert lines == release == []  # control
    else:
        why = f"GSPR-17.2: GSPR checklist: evidence not in effect on this commit: SRS-004 is {status}"
        assert lines == [f"OPEN {why} (a gap with --release)"] and release == [f"GAP {why}"]


@pytest.mark.req("SRS-206")
@pytest.mark.parametrize(("path", "key", "ref"), [
    ("traceability/user_needs.yaml", "user_needs", "UN-001"),
    ("risk/controls.yaml", "risk_controls", "RC-001"),
])
def test_h12_a_draft_user_need_or_control_is_not_in_effect(tmp_path: Path, path: str, key: str, ref: str) -> None:
    def change(items: dict) -> None:
        items[path][key][0]["status"] = "draft"
        _gspr(items)[0]["evidence"] = [ref]

    assert _lines(change, tmp_path) == [f"OPEN GSPR-17.2: GSPR checklist: evidence not in effect on this commit: "
                                        f"{ref} is draft (a gap with --release)"]
    assert _lines(_evidence(ref), tmp_path / "control", release=True) == []


def _with_threat(controls: list[str]) -> Any:
    def change(items: dict) -> None:
        security = security_items()
        for name in SECURITY_FILES:
            items[name] = security[name]
        items["security/threats.yaml"]["threats"] = [threat("THR-001", controls=controls)]
        _gspr(items)[0]["evidence"] = ["THR-001"]
    return change


@pytest.mark.req("SRS-206")
@pytest.mark.parametrize(("controls", "unverified", "verified"), [
    ([], "THR-001 has no control", "THR-001 has no control"),
    (["SRS-002"], "THR-001 relies on controls not in effect (SRS-002 is not verified)", None),
    (["RC-001"], "THR-001 relies on controls not in effect (RC-001 is not verified (SRS-002))", None),
])
def test_h13_a_threat_counts_when_every_control_is_in_effect(tmp_path: Path, controls: list[str], unverified: str,
                                                            verified: str | None) -> None:
    root = write_wrapper_project(tmp_path, _with_threat(controls))
    (root / "src/mini").mkdir(parents=True, exist_ok=True)  # the mini project writes it since review 129 d3's fix
    (root / "src/mini/core.py").write_text("# the mini device's code\n", encoding="utf-8")
    prefix = "OPEN GSPR-17.2: GSPR checklist: evidence not in effect on this commit: "
    assert _wrapper_lines(_report(root, ONLY_SRS_001)) == [f"{prefix}{unverified} (a gap with --release)"]
    assert _wrapper_lines(_report(root)) == ([] if verified is None else [f"{prefix}{verified} (a gap with --release)"])


@pytest.mark.req("SRS-206")
@pytest.mark.parametrize("ref", ["SI-CORE", "SOUP-numpy", "DAI-DOC-VVR"])
def test_h14_records_are_in_effect_when_they_exist(tmp_path: Path, ref: str) -> None:
    assert _lines(_evidence(ref), tmp_path, release=True) == []


@pytest.mark.req("SRS-206", "SRS-204")
def test_d1_diff_evidence_is_refused_at_its_entry(tmp_path: Path) -> None:
    """Was the pin of defect 1 (DAI-DOC-DIFF loaded and counted in effect, though the package has a
    diff.html only with --baseline). Lead/helper-102, 2026-12-06: defect 1 fixed: refused at its
    entry, naming the option; control: DAI-DOC-VVR (written by every package) loads and is in effect."""
    assert _problems(tmp_path / "load", _evidence("SRS-001", "DAI-DOC-DIFF")) == [
        "submission/gspr.yaml:10: GSPR-17.2: evidence refers to DAI-DOC-DIFF (diff.html), which the package writes "
        "only with `report package --baseline`: cite evidence every package holds (the requirement or record it "
        "shows)"]
    assert _problems(tmp_path / "control", _evidence("SRS-001", "DAI-DOC-VVR")) == []
    assert _lines(_evidence("SRS-001", "DAI-DOC-VVR"), tmp_path / "gate", release=True) == []


# Lead/helper-102, 2026-12-06: defect 1 fixed; the strict xfail is a plain test.
@pytest.mark.req("SRS-206")
def test_d1_diff_evidence_is_refused_or_named(tmp_path: Path) -> None:
    problems = _problems(tmp_path / "load", _evidence("DAI-DOC-DIFF"))
    if problems:
        assert any("DAI-DOC-DIFF" in p for p in problems)
        return
    assert any("DAI-DOC-DIFF" in line for line in _lines(_evidence("DAI-DOC-DIFF"), tmp_path / "gate", release=True))


# --- SRS-207 -----------------------------------------------------------------------------------------


@pytest.mark.req("SRS-207")
@pytest.mark.parametrize("status", ["partial", "not_conforming"])
def test_h15_partial_with_unverified_evidence_gives_both_findings(tmp_path: Path, status: str) -> None:
    def change(items: dict) -> None:
        _clauses(items)[0].update(status=status, evidence=["SRS-001"], note="No signed approvals.")
        _gspr(items)[0]["evidence"] = ["SRS-001"]

    unverified = {"tests/test_safety.py::test_refuses[case0]": ("passed", ["SRS-002"])}
    assert _lines(change, tmp_path, unverified, release=True) == [
        "GAP C62304-5.2.1: IEC 62304 conformity: evidence not in effect on this commit: SRS-001 is not verified",
        f"GAP C62304-5.2.1: IEC 62304 conformity: {status.replace('_', ' ')}: No signed approvals.",
        "GAP GSPR-17.2: GSPR checklist: evidence not in effect on this commit: SRS-001 is not verified"]


@pytest.mark.req("SRS-207")
def test_h15b_conforms_with_unverified_evidence_is_not_shown_with_release(tmp_path: Path) -> None:
    def change(items: dict) -> None:
        _clauses(items)[0]["evidence"] = ["SRS-001", "DAI-DOC-SDP"]
        _gspr(items)[0]["evidence"] = ["SRS-001"]

    unverified = {"tests/test_safety.py::test_refuses[case0]": ("passed", ["SRS-002"])}
    assert _lines(change, tmp_path, unverified, release=True) == [
        "GAP C62304-5.2.1: IEC 62304 conformity: evidence not in effect on this commit: SRS-001 is not verified",
        "GAP C62304-5.2.1: IEC 62304 conformity: says conforms, but the graph does not show it: SRS-001 is not "
        "verified",
        "GAP GSPR-17.2: GSPR checklist: evidence not in effect on this commit: SRS-001 is not verified"]
    assert _lines(change, tmp_path / "control", release=True) == []


@pytest.mark.req("SRS-207")
def test_h16_claims_are_judged_only_for_needed_clauses(tmp_path: Path) -> None:
    def c_only_partial(items: dict) -> None:
        _clauses(items)[1].update(status="partial")

    def document_only(items: dict) -> None:
        _clauses(items)[0]["evidence"] = ["DAI-DOC-SDP"]

    assert _lines(c_only_partial, tmp_path / "c", release=True) == []
    assert _lines(document_only, tmp_path / "doc", ONLY_SRS_001, release=True) == [
        "GAP GSPR-17.2: GSPR checklist: evidence not in effect on this commit: SRS-002 is not verified"]


# --- SRS-208 -----------------------------------------------------------------------------------------

EVIL = '<script>alert(1)</script>&"x'


@pytest.mark.req("SRS-208")
def test_h17_every_text_field_is_escaped(tmp_path: Path) -> None:
    def change(items: dict) -> None:
        _gspr(items)[0].update(title=EVIL, methods=EVIL, open_points=EVIL, standards=[EVIL])
        _gspr(items)[1].update(justification=EVIL)
        _clauses(items)[0].update(title=EVIL, note=EVIL, status="partial")
        device = items["submission/device.yaml"]["device"]
        device.update(name=EVIL, intended_purpose=[EVIL], manufacturer_note=EVIL, inputs=[EVIL])
        device["ifu"].update(warnings=[EVIL], intended_use=EVIL)
        device["ifu"]["outputs"][0].update(how_to_read=EVIL)

    pages = _render(write_wrapper_project(tmp_path, change, device=True))
    expected = {"gspr.html": 5, "iec62304-conformity.html": 2, "device-description.html": 4, "ifu.html": 5}
    for name, count in expected.items():
        assert "<script>alert" not in pages[name], name
        assert pages[name].count("&lt;script&gt;alert(1)&lt;/script&gt;&amp;&#34;x") == count, name


@pytest.mark.req("SRS-208")
def test_h18_every_evidence_link_reaches_a_row_of_the_package(tmp_path: Path) -> None:
    refs = ["SRS-001", "UN-001", "RC-001", "RISK-001", "THR-001", "IF-FILES", "SOUP-numpy", "ANOM-001",
            "MODEL-mini-1.0.0", "SI-CORE", "DAI-DOC-VVR"]

    def change(items: dict) -> None:
        _with_threat(["RC-001"])(items)
        items["traceability/anomalies.yaml"] = {"anomalies": [
            {"id": "ANOM-001", "title": "A known anomaly", "description": "d", "evaluation": "e", "status": "open",
             "criticality": "minor"}]}
        _gspr(items)[0]["evidence"] = refs

    root = write_wrapper_project(tmp_path, change, device=True)
    graph = build(root, write_results(root, passing_results()))
    pages = render_all(TraceView.from_graph(graph), root=root, sbom={"components": [], "serialNumber": "urn:uuid:0"},
                       model_manifests={}, files=DOCUMENTS)
    row = re.search(r'<tr id="GSPR-17\.2">(.*?)</tr>', pages["gspr.html"], re.S)
    assert row
    hrefs = [h for h in re.findall(r'href="([^"]+)"', row.group(1)) if not h.startswith("#")]
    assert len(hrefs) == len(refs)
    for href in hrefs:
        page, _, anchor = href.partition("#")
        assert page in pages, href
        assert not anchor or f'id="{anchor}"' in pages[page], href
    assert "nothing.html" not in pages  # control: a page the package does not write is not found


@pytest.mark.req("SRS-208")
def test_h19_the_checklist_states_and_counts_follow_the_gate(tmp_path: Path) -> None:
    root = write_wrapper_project(tmp_path, device=True)
    unverified = _render(root, ONLY_SRS_001)["gspr.html"]
    verified = _render(root)["gspr.html"]
    assert "yes evidence not in effect" in _row(unverified, "GSPR-17.2")
    assert "yes shown" in _row(verified, "GSPR-17.2")  # control
    assert "no not applicable" in _row(verified, "GSPR-22")
    for page, state in ((unverified, "evidence not in effect"), (verified, "shown")):
        assert f'<div class="n">1</div>{state}</div>' in page and '<div class="n">1</div>not applicable</div>' in page


def _status_cell(page: str, row_id: str) -> str:
    match = re.search(rf'<tr id="{re.escape(row_id)}">.*?</td>.*?</td>.*?</td>\s*<td class="small">(.*?)</td>', page,
                      re.S)
    assert match, row_id
    return match.group(1)


def _needed_not_applicable(evidence: list[str] | None = None) -> Any:
    def change(items: dict) -> None:
        _clauses(items).append(clause("C62304-5.5.2", status="not_applicable", classes=["B", "C"], evidence=evidence))
    return change


@pytest.mark.req("SRS-208")
def test_d2_needed_clause_marked_not_applicable_shows_the_gate_state(tmp_path: Path) -> None:
    """Was the pin of defect 2 (the gate gaps the clause, test_h08, the page showed a neutral state).
    Lead/helper-102, 2026-12-06: defect 2 fixed: the stated status stays neutral, the state is the
    gate's gap with the failing badge, counted under its own card and not under "not applicable"."""
    page = _render(write_wrapper_project(tmp_path, _needed_not_applicable(), device=True))["iec62304-conformity.html"]
    assert _status_cell(page, "C62304-5.5.2") == ('<span class="badge">not_applicable</span><br>'
                                                  '<span class="badge b-bad" style="white-space:normal">marked not '
                                                  'applicable, but needed</span>')
    assert '<div class="n">1</div>marked not applicable, but needed</div>' in page
    assert '<div class="n">1</div>not applicable</div>' not in page
    # control: the same clause without evidence shows the failing badge the gate's gap deserves
    control = _render(write_wrapper_project(tmp_path / "control", _needed_not_applicable([]), device=True))
    assert 'b-bad' in _status_cell(control["iec62304-conformity.html"], "C62304-5.5.2")


# Lead/helper-102, 2026-12-06: defect 2 fixed; the strict xfail is a plain test.
@pytest.mark.req("SRS-208")
def test_d2_needed_clause_marked_not_applicable_shows_the_gap(tmp_path: Path) -> None:
    page = _render(write_wrapper_project(tmp_path, _needed_not_applicable(), device=True))["iec62304-conformity.html"]
    cell = _status_cell(page, "C62304-5.5.2")
    assert cell.split("<br>")[1].startswith('<span class="badge b-bad"'), cell


@pytest.mark.req("SRS-208", "SRS-206")
def test_d1_no_page_links_a_diff_the_package_lacks(tmp_path: Path) -> None:
    """Was the pin of defect 1 on the page (rendered without a baseline, DAI-DOC-DIFF was 'in effect'
    and linked diff.html, which render_all did not write). Lead/helper-102, 2026-12-06: defect 1
    fixed: no graph is built from a row citing it, so no page can link it; control: DAI-DOC-VVR links a
    page that is there, in effect."""
    with pytest.raises(TraceabilityError) as caught:  # the mini project's baseline build already refuses it
        write_wrapper_project(tmp_path, _evidence("SRS-001", "DAI-DOC-DIFF", "DAI-DOC-VVR"), device=True)
    assert any("DAI-DOC-DIFF (diff.html)" in p for p in caught.value.problems), caught.value.problems
    root = write_wrapper_project(tmp_path / "control", _evidence("SRS-001", "DAI-DOC-VVR"), device=True)
    graph = build(root, write_results(root, passing_results()))
    docs = [d for d in DOCUMENTS if d.file in ("gspr.html", "vv-report.html")]
    pages = render_all(TraceView.from_graph(graph), root=root, sbom={}, model_manifests={}, files=docs)
    row = _row(pages["gspr.html"], "GSPR-17.2")
    assert "DAI-DOC-VVR vv-report.html in effect" in row and "yes shown" in row and "vv-report.html" in pages
    assert 'href="diff.html"' not in pages["gspr.html"]


# Lead/helper-102, 2026-12-06: defect 1 fixed; the strict xfail is a plain test.
@pytest.mark.req("SRS-208", "SRS-206")
def test_d1_page_does_not_show_a_missing_diff_in_effect(tmp_path: Path) -> None:
    if _problems(tmp_path / "load", _evidence("SRS-001", "DAI-DOC-DIFF")):
        return
    root = write_wrapper_project(tmp_path / "page", _evidence("SRS-001", "DAI-DOC-DIFF"), device=True)
    row = _row(_render(root)["gspr.html"], "GSPR-17.2")
    assert "DAI-DOC-DIFF diff.html in effect" not in row and "yes shown" not in row


# --- notes -------------------------------------------------------------------------------------------


@pytest.mark.req("SRS-208")
def test_n1_pages_judge_with_the_non_release_context(tmp_path: Path) -> None:
    root = write_wrapper_project(tmp_path, device=True)
    results = write_results(root, passing_results(), dirty=True)
    from device_ai.regulatory.check import check_graph
    from tests.regulatory.miniproject import HEAD

    graph = build(root, results)
    gaps = [f.line() for f in check_graph(graph, head=HEAD, release=True).section("gap")]
    assert "GAP GSPR-17.2: GSPR checklist: evidence not in effect on this commit: SRS-002 is not verified" in gaps
    docs = [d for d in DOCUMENTS if d.file == "gspr.html"]
    page = render_all(TraceView.from_graph(graph), root=root, sbom={}, model_manifests={}, files=docs)["gspr.html"]
    assert "SRS-002 Requirement SRS-002 in effect" in _row(page, "GSPR-17.2")


@pytest.mark.req("SRS-208")
def test_n2_the_checklist_shows_methods_and_justification_both(tmp_path: Path) -> None:
    """N2 fixed (helper-109): both are shown, the other one labelled (was: the other one dropped)."""
    def change(items: dict) -> None:
        _gspr(items)[0]["justification"] = "Applies: software is the device."
        _gspr(items)[1]["methods"] = "Professional use only, stated in the IFU."

    row = _row(_render(write_wrapper_project(tmp_path, change, device=True))["gspr.html"], "GSPR-17.2")
    other = _row(_render(write_wrapper_project(tmp_path / "b", change, device=True))["gspr.html"], "GSPR-22")
    assert "By design and test." in row and "Applies: software is the device." in row
    assert "Used by professionals only." in other and "stated in the IFU" in other


@pytest.mark.req("SRS-204")
def test_n3_a_performance_record_linked_out_of_the_project_loads(tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text("{}\n", encoding="utf-8")

    def change(items: dict) -> None:
        items["submission/device.yaml"]["device"]["performance_records"] = ["results/linked.json"]

    project = tmp_path / "project"
    (project / "results").mkdir(parents=True)
    (project / "results/linked.json").symlink_to(outside)
    assert _problems(project, change, device=True) == []
    outside.unlink()  # control: the dangling link is not a file
    assert any("results/linked.json, which is not a file" in p for p in _problems(project, change, device=True))


@pytest.mark.req("SRS-205", "SRS-213")
def test_n4_without_submission_files_the_release_gate_lists_the_wrapper(tmp_path: Path) -> None:
    """N4 fixed (helper-109, SRS-213 draft): without submission/ the release gate lists the DOC-WRAPPER gap
    (was: passed); the check without --release is unchanged (no row to judge, passes)."""
    root = write_wrapper_project(tmp_path)
    for rel in ("submission/gspr.yaml", "submission/iec62304.yaml", "submission/device.yaml"):
        (root / rel).unlink()
    report = _report(root, release=True)
    assert not report.passed and _wrapper_lines(report) == []
    assert [f.item for f in report.section("gap")] == ["DOC-WRAPPER"]
    development = _report(root)
    assert development.passed and _wrapper_lines(development) == []
