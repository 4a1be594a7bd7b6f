"""Independent review 148 (helper-148, the first independent review) of issue 19's risk-file and
cybersecurity-file gate requirements SRS-181, SRS-183 and SRS-190..195, at the content approved in
b5d307b. I wrote none of this code or text.

Verdicts (file:line at b5d307b):

- SRS-181 DEFECT. The text refuses a record that "is the risk file or the trace items" or "is by
  its content, wherever it lives, generated test output". ``is_item_file``
  (src/device_ai/regulatory/overclaim.py:186-189) knows only ``risk/*.yaml`` and
  ``traceability/*.yaml`` by the record's spelling: (a) ``security/threats.yaml`` (an item file
  ``trace build`` loads: loader.py:85-90) is accepted as a measured record of effectiveness;
  (b) a committed symlink to ``risk/hazardous_situations.yaml`` is accepted (graph.py:248 digests
  through the link; the file *is* the risk file); (c) a committed copy of the trace graph, which
  holds every pytest run header and each test's outcome by node ID, is accepted: its content is
  test verdicts, not a measured outcome (record_content.py:46-66 looks for a ``results`` map or
  ``::`` keys; the graph keeps node IDs as values). Each leaves a P1 reduction resting on
  passing tests or on the risk file itself, the overclaim the rule exists for.
- SRS-183 DEFECT. (a) A sentence about the overall residual risk that puts "acceptable" before
  its subject ("We judge as acceptable the overall residual risk of the device.") is not read:
  ``overall_acceptable`` looks for the subject only before the word (overclaim.py:378); the text
  asks for any sentence about the overall residual risk, the device or the benefit-risk, so the
  gate passes it while a residual is unacceptable. (b) "any dash-like character" before the
  number: ``DASHES`` (overclaim.py:88) holds 11 characters; two-em and three-em dashes (U+2E3A,
  U+2E3B), the presentation-form dashes (U+FE31, U+FE32), the double hyphen (U+2E40), the
  Armenian hyphen (U+058A) and others of Unicode's Dash_Punctuation are not read, so
  "SRS\u2e3a001 is not verified" needs no claim.
- SRS-190 HOLDS (security.py:82-87): every interface no threat names is a gap with and without
  --release; a threat on another interface, or an empty threats file, does not cover it.
- SRS-191 HOLDS (security.py:65-77, 101-111; overclaim.py:137-147; render/security.py:42-66):
  one control not in effect among several (draft, unimplemented, one implementing requirement
  failing, a retired requirement) un-mitigates the threat; the open line names every such control
  and why; the documents credit the initial risk.
- SRS-192 DEFECT. "Loading the items (trace build, trace check, trace review) shall refuse ...":
  ``trace check`` never loads the items; it judges the graph it is given (trace.py:73-76,
  cli/trace.py:32-41). A threat naming an interface that does not exist, written after the graph
  was built, passes ``trace check`` with no file:line. trace build and trace review do refuse it
  (the controls below), so nothing dangling reaches a graph; the text promises a refusal
  ``trace check`` does not give. Fix the text (drop "trace check") or have check load the items.
- SRS-193 DEFECT. "a residual that is ALARA without a rationale shall be a gap": a rationale of
  blanks is taken as one (security.py:127 ``not fields.get("rationale")``; ``Text`` only needs one
  character, items.py:109). The same rule for hazardous situations strips the text (check.py,
  ``_risks``; reviews 85/86: "a blank rationale is no rationale").
- SRS-194 DEFECT. "the modules it names that are neither a module nor a package under src/ or the
  project root": ``_module_exists`` (graph.py:271-275) joins the name to ``root/src`` and ``root``;
  a name that is an absolute path (no dots) replaces the base, so code outside the project counts
  as in the source tree and the interface passes. Noted, not a defect of the text: an interface of
  the code that the security file does not list at all (a new listener module) is no gap; the text
  checks only the modules an interface names (its title "describes the device as built" says more).
- SRS-195 HOLDS (render/security.py, templates/security_*.html.j2): the three pages hold the
  scales and matrix, every asset, every threat with STRIDE, interface, initial, stated and
  credited residual and each control's state as the gate judges it, the open items, the testing
  evidence with verdicts and counts, the global view (every interface, in, out and both ways), the
  multi-patient view, every update path on both pages and the use cases in order.

Each defect is a strict xfail beside a pin of today's behaviour and a control that passes. The
mini project (tests/regulatory/miniproject.py) is written into ``tmp_path``; nothing reads the
real items (but for SRS-192's text, after the fix).

helper-150, 2026-12-07 (fixer, not re-reviewed): D1-D5 fixed (D1: overclaim.is_item_file takes the
loader's ITEM_PATHS, model manifests and any YAML file in their folders, the graph records the path
each record resolves to inside the project (graph._inside) and the gate judges that too, and
record_content reads a trace graph (nodes, edges, runs) as generated test output; D2: a sentence's
subject is read on either side of "acceptable", and DASHES is every Unicode Pd character plus the
minus signs U+2212, U+2796; D3: SRS-192's text names trace build and trace review, and says trace
check judges the graph; D4: a blank rationale is stripped; D5: a module name that is not dotted
identifiers is missing). The xfails are plain tests; the pins are inverted, each beside its
control (D3's pin stays: the fix is of the text; a new test reads SRS-192's text).
"""

from __future__ import annotations

import html
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from device_ai.errors import TraceabilityError
from device_ai.regulatory import trace
from device_ai.regulatory.graph import write_graph
from device_ai.regulatory.loader import load_project
from device_ai.regulatory.overclaim import named_ids, overall_acceptable
from tests import fast_yaml
from tests.regulatory.miniproject import (
    HEAD,
    RUNTIME,
    TEST_A,
    baseline,
    build,
    default_items,
    gap_lines,
    gate,
    interface,
    passing_results,
    threat,
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


def _report(root: Path, results: dict | None = None, *, release: bool = False):  # noqa: ANN202 - CheckReport
    return gate(root, write_results(root, results or passing_results()), release=release)


def _situation(items: dict) -> dict:
    return items["risk/hazardous_situations.yaml"]["hazardous_situations"][0]


def _threats(items: dict) -> list[dict]:
    return items["security/threats.yaml"]["threats"]


def _interfaces(items: dict) -> list[dict]:
    return items["security/interfaces.yaml"]["interfaces"]


def _lines(report, item: str) -> list[str]:  # noqa: ANN001
    return [line for line in report.lines() if f" {item}:" in line]


# ============================== SRS-181: effectiveness records ==============================


def _record(path: str):  # noqa: ANN202 - callable(items)
    def change(items: dict) -> None:
        evidence = _situation(items)["effectiveness"][0]
        evidence.pop("requirements")
        evidence["record"] = path
    return change


def _effectiveness_gaps(root: Path) -> list[str]:
    return [line for line in gap_lines(_report(root)) if "RISK-001: effectiveness" in line]


@pytest.mark.req("SRS-181")
def test_181_control_a_measured_record_is_evidence_and_the_risk_file_is_not(tmp_path: Path) -> None:
    ok = _project(tmp_path / "ok", _record("docs/challenge-run.csv"))
    (ok / "docs/challenge-run.csv").write_text("input,refused\n" + "".join(f"bad-{i},yes\n" for i in range(12)))
    assert _effectiveness_gaps(ok) == []
    own = _project(tmp_path / "own", _record("risk/hazardous_situations.yaml"))
    assert _effectiveness_gaps(own) == ["GAP RISK-001: effectiveness: evidence 1 (RC-001): record "
                                        "risk/hazardous_situations.yaml is the risk file or the trace items, not a "
                                        "measured outcome"]


@pytest.mark.req("SRS-181")
def test_181_was_pin_the_security_file_is_refused_as_a_record(tmp_path: Path) -> None:
    root = _project(tmp_path, _record("security/threats.yaml"))
    assert _effectiveness_gaps(root) == ["GAP RISK-001: effectiveness: evidence 1 (RC-001): record "
                                         "security/threats.yaml is the risk file or the trace items, not a measured "
                                         "outcome"]


# fixed by helper-150: review 148 D1a, security/*.yaml (trace items trace build loads) was taken as a measured
# record; is_item_file knew only risk/ and traceability/
@pytest.mark.req("SRS-181")
def test_181_the_security_file_is_not_a_record(tmp_path: Path) -> None:
    root = _project(tmp_path, _record("security/threats.yaml"))
    assert any("record security/threats.yaml" in line for line in _effectiveness_gaps(root))


def _symlinked_risk_file(root: Path) -> None:
    (root / "docs").mkdir(exist_ok=True)
    os.symlink("../risk/hazardous_situations.yaml", root / "docs/effectiveness.yaml")


@pytest.mark.req("SRS-181")
def test_181_was_pin_a_symlink_to_the_risk_file_is_refused(tmp_path: Path) -> None:
    root = _project(tmp_path, _record("docs/effectiveness.yaml"))
    _symlinked_risk_file(root)
    assert (root / "docs/effectiveness.yaml").resolve() == (root / "risk/hazardous_situations.yaml").resolve()
    assert _effectiveness_gaps(root) == ["GAP RISK-001: effectiveness: evidence 1 (RC-001): record "
                                         "docs/effectiveness.yaml is the risk file or the trace items (it resolves to "
                                         "risk/hazardous_situations.yaml), not a measured outcome"]


# fixed by helper-150: review 148 D1b, a symlink to the risk file is the risk file; it was judged by the spelling of
# its path only
@pytest.mark.req("SRS-181")
def test_181_a_symlink_to_the_risk_file_is_not_a_record(tmp_path: Path) -> None:
    root = _project(tmp_path, _record("docs/effectiveness.yaml"))
    _symlinked_risk_file(root)
    assert any("record docs/effectiveness.yaml" in line for line in _effectiveness_gaps(root))


def _committed_graph_copy(root: Path) -> None:
    """A copy of the trace graph (every run header, each test's outcome by node ID) committed as a record."""
    graph = build(root, write_results(root, passing_results()))
    write_graph(graph, root / "docs/evidence/trace-graph.json")


@pytest.mark.req("SRS-181")
def test_181_was_pin_a_copy_of_the_trace_graph_is_refused(tmp_path: Path) -> None:
    root = _project(tmp_path, _record("docs/evidence/trace-graph.json"))
    _committed_graph_copy(root)
    text = (root / "docs/evidence/trace-graph.json").read_text(encoding="utf-8")
    assert '"outcome":"passed"' in text and TEST_A in text  # test verdicts by node ID, nothing measured
    assert _effectiveness_gaps(root) == ["GAP RISK-001: effectiveness: evidence 1 (RC-001): record "
                                         "docs/evidence/trace-graph.json is by its content a trace graph (test run "
                                         "headers and each test's outcome), not a measured outcome"]


@pytest.mark.req("SRS-181")
def test_181_control_a_copy_of_the_results_file_is_refused(tmp_path: Path) -> None:
    root = _project(tmp_path, _record("docs/evidence/results.json"))
    (root / "docs/evidence").mkdir(parents=True)
    shutil.copy(write_results(root, passing_results()), root / "docs/evidence/results.json")
    assert any("record docs/evidence/results.json is" in line for line in _effectiveness_gaps(root))


# fixed by helper-150: review 148 D1c, the trace graph holds the pytest run headers and each test's outcome; a
# committed copy is generated test output, yet was taken as a measured record
@pytest.mark.req("SRS-181")
def test_181_a_copy_of_the_trace_graph_is_not_a_record(tmp_path: Path) -> None:
    root = _project(tmp_path, _record("docs/evidence/trace-graph.json"))
    _committed_graph_copy(root)
    assert any("record docs/evidence/trace-graph.json" in line for line in _effectiveness_gaps(root))


@pytest.mark.req("SRS-181")
def test_181_probe_each_reduced_factor_and_each_entry_is_judged(tmp_path: Path) -> None:
    def both(items: dict) -> None:  # P1 and P2 reduced, evidence for P1 only, naming a control not listed
        situation = _situation(items)
        situation["residual"] = {"p1": "P1", "p2": "P2"}
        situation["effectiveness"][0]["controls"] = ["RC-001", "RC-002"]
        items["risk/controls.yaml"]["risk_controls"].append(
            {"id": "RC-002", "title": "Warn", "text": "A warning.", "type": "information", "implemented_by": ["SRS-001"],
             "status": "approved"})

    gaps = _effectiveness_gaps(_project(tmp_path, both))
    assert "GAP RISK-001: effectiveness: P2 reduced without effectiveness evidence (a measured record or " \
           "challenge-tested requirements; ISO 14971 7.2)" in gaps
    assert any("RC-002 is not a control of RISK-001" in line for line in gaps)

    def information(items: dict) -> None:  # an information control credited by requirements only
        both(items)
        _situation(items)["controls"] = ["RC-001", "RC-002"]
        _situation(items)["residual"] = {"p1": "P1", "p2": "P3"}
        _situation(items)["effectiveness"][0]["requirements"] = ["SRS-001"]

    gaps = _effectiveness_gaps(_project(tmp_path / "info", information))
    assert any("RC-002 is information for safety: its effectiveness needs a record" in line for line in gaps)


# ============================== SRS-183: benefit-risk prose ==============================


def _unacceptable_with(statement: str):  # noqa: ANN202 - callable(items)
    """RISK-001's residual unacceptable (S3 x P3) and the statement's prose under test."""
    def change(items: dict) -> None:
        situation = _situation(items)
        situation["residual"] = {"p1": "P3", "p2": "P3"}
        situation["effectiveness"] = []
        benefit = items["risk/benefit.yaml"]["benefit_risk"]
        benefit.update(statement=statement, overall_residual_risk="Weighed in the statement.",
                       overall_residual_risk_verdict="undecided")
    return change


def _benefit_gaps(root: Path) -> list[str]:
    return [line for line in gap_lines(_report(root)) if "BENEFIT-RISK" in line]


CONCLUDED = "GAP BENEFIT-RISK: benefit-risk: concludes the overall residual risk acceptable while residual risks are " \
            "unacceptable: RISK-001"
INVERTED = "We judge as acceptable the overall residual risk of the device."


@pytest.mark.req("SRS-183")
def test_183_control_the_usual_order_is_a_gap(tmp_path: Path) -> None:
    root = _project(tmp_path, _unacceptable_with("The overall residual risk of the device is acceptable."))
    assert _benefit_gaps(root) == [CONCLUDED]
    negated = _project(tmp_path / "negated", _unacceptable_with("The overall residual risk is not acceptable."))
    assert _benefit_gaps(negated) == []


@pytest.mark.req("SRS-183")
def test_183_was_pin_acceptable_before_its_subject_is_read(tmp_path: Path) -> None:
    assert overall_acceptable(INVERTED, overall_field=False) == [INVERTED]
    negated = "We do not judge as acceptable the overall residual risk of the device."
    assert overall_acceptable(negated, overall_field=False) == []
    assert _benefit_gaps(_project(tmp_path, _unacceptable_with(negated))) == []


# fixed by helper-150: review 148 D2a, the subject of an overall conclusion was looked for only before 'acceptable'
# (overclaim.py:378)
@pytest.mark.req("SRS-183")
def test_183_acceptable_before_its_subject_is_a_gap(tmp_path: Path) -> None:
    assert _benefit_gaps(_project(tmp_path, _unacceptable_with(INVERTED))) == [CONCLUDED]


#: Unicode Dash_Punctuation characters (and a dash-like minus) that DASHES lacks.
UNREAD_DASHES = ("\u2e3a", "\u2e3b", "\ufe31", "\ufe32", "\u2e40", "\u058a", "\u2796")


def _named(prose: str):  # noqa: ANN202 - callable(items)
    def change(items: dict) -> None:
        items["risk/benefit.yaml"]["benefit_risk"]["benefits"] = prose
    return change


@pytest.mark.req("SRS-183")
def test_183_control_a_listed_dash_needs_a_claim(tmp_path: Path) -> None:
    root = _project(tmp_path, _named("SRS\u2013001 is not verified."))
    assert _benefit_gaps(root) == ["GAP BENEFIT-RISK: benefit-risk: names items without a claimed state the gate can "
                                   "check: SRS-001"]


@pytest.mark.req("SRS-183")
@pytest.mark.parametrize("dash", UNREAD_DASHES)
def test_183_was_pin_other_dashes_are_read(dash: str) -> None:
    assert named_ids(f"SRS{dash}001 is not verified") == [("SRS-001", 0, 7)]
    assert named_ids(f"SRS{dash}{dash}001 is not verified") == []  # control: two dashes are no separator


# fixed by helper-150: review 148 D2b, 'any dash-like character' - DASHES lacked most of Unicode's dash punctuation
# (U+2E3A two-em dash, U+FE31, U+2E40 ...)
@pytest.mark.req("SRS-183")
def test_183_any_dash_like_character_is_read(tmp_path: Path) -> None:
    assert all(named_ids(f"SRS{dash}001") for dash in UNREAD_DASHES)
    root = _project(tmp_path, _named("SRS\u2e3a001 is not verified."))
    assert _benefit_gaps(root) == ["GAP BENEFIT-RISK: benefit-risk: names items without a claimed state the gate can "
                                   "check: SRS-001"]


@pytest.mark.req("SRS-183")
def test_183_probe_states_of_items_and_claims_follow_the_graph(tmp_path: Path) -> None:
    def claimed(items: dict) -> None:
        benefit = items["risk/benefit.yaml"]["benefit_risk"]
        benefit["benefits"] = "SRS-001 and SRS-002 (refusal) are not yet verified; RISK-001 remains acceptable."
        benefit["claims"] = [{"item": "SRS-001", "state": "verified"}, {"item": "SRS-002", "state": "verified"},
                             {"item": "RISK-001", "state": "alara"}]

    gaps = _benefit_gaps(_project(tmp_path, claimed))
    assert "GAP BENEFIT-RISK: benefit-risk: the prose says SRS-001 is 'not verified', its claim says 'verified'" in gaps
    assert "GAP BENEFIT-RISK: benefit-risk: the prose says SRS-002 is 'not verified', its claim says 'verified'" in gaps
    assert "GAP BENEFIT-RISK: benefit-risk: the prose says RISK-001 is 'acceptable', its claim says 'alara'" in gaps


# ============================== SRS-190: every interface analysed ==============================


@pytest.mark.req("SRS-190")
@pytest.mark.parametrize("release", [False, True])
def test_190_probe_a_threat_on_another_interface_does_not_cover_it(tmp_path: Path, release: bool) -> None:
    def change(items: dict) -> None:
        _interfaces(items).append(interface("IF-LISTENER", direction="in-out"))
        _threats(items).append(threat("THR-002", "IF-FILES"))  # a second threat, on the analysed interface

    gaps = gap_lines(_report(_project(tmp_path, change), release=release))
    assert [g for g in gaps if "IF-" in g] == ["GAP IF-LISTENER: threat model: no threat names this interface: "
                                               "analyse it (STRIDE) in security/threats.yaml"]


@pytest.mark.req("SRS-190")
def test_190_probe_no_threats_at_all_leaves_every_interface_a_gap(tmp_path: Path) -> None:
    def change(items: dict) -> None:
        _interfaces(items).append(interface("IF-NETWORK"))
        items["security/threats.yaml"] = {"threats": []}

    gaps = gap_lines(_report(_project(tmp_path, change)))
    assert sorted(g.split(":")[0] for g in gaps if "threat model" in g) == ["GAP IF-FILES", "GAP IF-NETWORK"]
    control = gap_lines(_report(_project(tmp_path / "ok")))
    assert not [g for g in control if "threat model" in g]


# ============================== SRS-191: controls in effect ==============================


def _second_control(status: str = "approved", implemented_by: list[str] | None = None):  # noqa: ANN202
    def change(items: dict) -> None:
        items["risk/controls.yaml"]["risk_controls"].append(
            {"id": "RC-002", "title": "Sign", "text": "Signed packages.", "type": "protective",
             "implemented_by": ["SRS-001"] if implemented_by is None else implemented_by, "status": status})
        _threats(items)[0]["controls"] = ["RC-001", "RC-002"]
    return change


@pytest.mark.req("SRS-191")
@pytest.mark.parametrize(("change", "results", "why"), [
    (_second_control("draft"), None, "RC-002 is draft"),
    (_second_control(implemented_by=[]), None, "RC-002 is not implemented by an approved requirement"),
    (_second_control(implemented_by=["SRS-003"]), None, "RC-002 is not implemented by an approved requirement"),
    (_second_control(implemented_by=["SRS-001", "SRS-002"]), {TEST_A: ("failed", ["SRS-001"])},
     "RC-002 is not verified (SRS-001)"),
])
def test_191_probe_one_control_not_in_effect_unmitigates_the_threat(tmp_path: Path, change, results,  # noqa: ANN001
                                                                     why: str) -> None:
    root = _project(tmp_path, change)
    outcomes = {**passing_results(), **(results or {})}
    released = [g for g in gap_lines(_report(root, outcomes, release=True)) if "THR-001" in g]
    assert released and all(why in g or "RC-001 is not verified" in g for g in released), released
    assert any(why in g for g in released)
    development = _lines(_report(root, outcomes), "THR-001")
    assert any(line.startswith("OPEN THR-001: threat: mitigated by controls not in effect") and why in line
               and line.endswith("the device is not releasable (a gap with --release)") for line in development)


@pytest.mark.req("SRS-191")
def test_191_probe_every_control_not_in_effect_is_named(tmp_path: Path) -> None:
    def change(items: dict) -> None:
        _second_control("planned")(items)
        _threats(items)[0]["controls"] = ["RC-001", "RC-002", "SRS-003"]

    lines = _lines(_report(_project(tmp_path, change), {TEST_A: ("passed", ["SRS-001"])}), "THR-001")
    assert lines == ["OPEN THR-001: threat: mitigated by controls not in effect: RC-001 is not verified (SRS-002); "
                     "RC-002 is planned; SRS-003 is planned: the device is not releasable (a gap with --release)"]


@pytest.mark.req("SRS-191")
def test_191_probe_a_retired_requirement_as_control_does_not_mitigate(tmp_path: Path) -> None:
    def change(items: dict) -> None:
        items["traceability/requirements.yaml"]["software_requirements"][2]["status"] = "retired"
        _threats(items)[0]["controls"] = ["SRS-003"]

    gaps = gap_lines(_report(_project(tmp_path, change), release=True))
    assert "GAP THR-001: threat: mitigated by controls not in effect: SRS-003 is retired" in gaps


# ============================== SRS-192: the loader refuses ==============================


def _load_problems(root: Path) -> list[str]:
    with pytest.raises(TraceabilityError) as caught:
        load_project(root)
    return list(caught.value.problems)


@pytest.mark.req("SRS-192")
@pytest.mark.parametrize(("change", "problem"), [
    (lambda i: _threats(i)[0].update(related_risks=["RISK-404"]),
     r"security/threats\.yaml:\d+: THR-001: related_risks refers to RISK-404, which does not exist"),
    (lambda i: _threats(i)[0].update(controls=["SRS-404"]),
     r"security/threats\.yaml:\d+: THR-001: controls refers to SRS-404, which does not exist"),
    (lambda i: _threats(i)[0].update(interface="ASSET-MODEL"),
     r"security/threats\.yaml:\d+: THR-001: interface: .*'ASSET-MODEL' is not a valid IF ID"),
    (lambda i: _threats(i).append(threat("THR-001")), r"security/threats\.yaml:\d+: THR-001: duplicate ID"),
    (lambda i: i["security/plan.yaml"]["security_plan"]["testing"][0].update(interfaces=["IF-GONE"]),
     r"security/plan\.yaml:\d+: SECURITY-PLAN: testing refers to IF-GONE, which does not exist"),
    (lambda i: i["security/plan.yaml"]["security_plan"]["timelines"][0].update(patch="now"),
     r"security/plan\.yaml:\d+: SECURITY-PLAN: unknown field 'timelines\.0\.patch'"),
    (lambda i: i["security/plan.yaml"]["security_plan"]["acceptability"]["I1"].pop("E3"),
     r"acceptability\[I1\] columns \['E1', 'E2'\] must be the exploitability levels"),
    (lambda i: _interfaces(i)[0].update(exposure="lan"), r"security/interfaces\.yaml:\d+: IF-FILES: unknown field"),
])
def test_192_probe_broken_references_are_refused_with_file_and_line(tmp_path: Path, change, problem: str) -> None:  # noqa: ANN001
    items = default_items()
    change(items)
    write_project(tmp_path, items)
    problems = _load_problems(tmp_path)
    assert any(re.search(problem, line) for line in problems), problems


def _built_then_broken(root: Path) -> tuple[Path, Path]:
    """A graph built from a sound security file; then a threat is pointed at an interface that does not exist."""
    _project(root)
    graph = root / "trace/graph.json"
    trace.build(root, [write_results(root, passing_results())], graph, head=HEAD, runtime=RUNTIME)
    threats = root / "security/threats.yaml"
    threats.write_text(threats.read_text(encoding="utf-8").replace("interface: IF-FILES", "interface: IF-GONE"),
                       encoding="utf-8")
    return root, graph


@pytest.mark.req("SRS-192")
def test_192_control_trace_build_and_trace_review_refuse_the_broken_file(tmp_path: Path) -> None:
    root, graph = _built_then_broken(tmp_path)
    for operation in (lambda: trace.build(root, [], head=HEAD, runtime=RUNTIME),
                      lambda: trace.review(root, ["THR-001"], by="Rev Iewer")):
        with pytest.raises(TraceabilityError) as caught:
            operation()
        assert any(re.search(r"security/threats\.yaml:\d+: THR-001: interface refers to IF-GONE", line)
                   for line in caught.value.problems)


@pytest.mark.req("SRS-192")
def test_192_pin_trace_check_does_not_load_the_items(tmp_path: Path) -> None:
    """Kept (the fix is of the text, not of trace check): trace check judges the graph built from
    the items as they were."""
    root, graph = _built_then_broken(tmp_path)
    report = trace.check(root, graph, head=HEAD)
    assert report.passed, report.lines()
    assert not any("IF-GONE" in line for line in report.lines())


# fixed by helper-150: review 148 D3, the text said loading the items in trace check refuses; trace check reads only
# the graph (trace.py:73-76). The text now names trace build and trace review and says what trace check does.
@pytest.mark.req("SRS-192")
def test_192_the_text_promises_no_refusal_by_trace_check() -> None:
    import yaml

    text = next(r["text"] for r in fast_yaml.safe_load((Path(__file__).parents[2] / "traceability/requirements.yaml")
                                                  .read_text(encoding="utf-8"))["software_requirements"]
                if r["id"] == "SRS-192")
    assert "(trace build, trace review)" in text and "trace check judges the graph" in text
    assert "trace build, trace check" not in text


# ============================== SRS-193: residual security risk ==============================


def _alara(rationale: str | None):  # noqa: ANN202 - callable(items)
    def change(items: dict) -> None:
        _threats(items)[0]["residual_exploitability"] = "E2"  # I2 x E2: ALARA
        if rationale is not None:
            _threats(items)[0]["rationale"] = rationale
    return change


ALARA_GAP = "GAP THR-001: security risk: residual security risk (impact I2, exploitability E2) is ALARA and needs a " \
            "rationale"


@pytest.mark.req("SRS-193")
def test_193_control_no_rationale_is_a_gap_and_a_rationale_passes(tmp_path: Path) -> None:
    assert ALARA_GAP in gap_lines(_report(_project(tmp_path / "none", _alara(None))))
    assert ALARA_GAP not in gap_lines(_report(_project(tmp_path / "ok", _alara("The file must still be read."))))


@pytest.mark.req("SRS-193")
def test_193_was_pin_a_rationale_of_blanks_is_a_gap(tmp_path: Path) -> None:
    for release in (False, True):
        assert ALARA_GAP in gap_lines(_report(_project(tmp_path / str(release), _alara(" \t\n ")), release=release))


# fixed by helper-150: review 148 D4, a blank rationale was taken as a rationale (security.py:127); the hazardous
# situations' rule strips it, and so does this one now
@pytest.mark.req("SRS-193")
def test_193_a_rationale_of_blanks_is_no_rationale(tmp_path: Path) -> None:
    assert ALARA_GAP in gap_lines(_report(_project(tmp_path, _alara("   "))))


@pytest.mark.req("SRS-193")
def test_193_probe_levels_off_the_matrix_are_refused_and_the_graph_records_the_evaluation(tmp_path: Path) -> None:
    items = default_items()
    _threats(items)[0]["residual_exploitability"] = "E0"
    write_project(tmp_path / "off", items)
    assert any("residual_exploitability E0 is not a level of the security plan" in p
               for p in _load_problems(tmp_path / "off"))

    def uncontrolled(items: dict) -> None:  # without controls the residual is the initial risk
        _threats(items)[0].update(controls=[], impact="I3", exploitability="E1", rationale="Kept as low as we can.")
        del _threats(items)[0]["residual_exploitability"]

    root = _project(tmp_path / "bare", uncontrolled)
    node = next(n for n in build(root, write_results(root, passing_results()))["nodes"] if n["id"] == "THR-001")
    assert node["evaluation"]["residual"] == {"impact": "I3", "exploitability": "E1", "acceptability": "alara"}


# ============================== SRS-194: the interfaces name code that exists ==============================


@pytest.fixture
def outside() -> Any:
    """A module outside the project, at a path without dots (a dotted name is split into parts)."""
    folder = Path(tempfile.mkdtemp(prefix="h148outside"))
    if "." in str(folder):
        shutil.rmtree(folder)
        pytest.skip(f"the temporary folder {folder} has a dot")
    (folder / "listener.py").write_text("# not the device's code\n", encoding="utf-8")
    yield folder / "listener"
    shutil.rmtree(folder)


def _modules(*names: str):  # noqa: ANN202 - callable(items)
    def change(items: dict) -> None:
        _interfaces(items)[0]["modules"] = list(names)
    return change


@pytest.mark.req("SRS-194")
def test_194_control_a_module_not_in_the_tree_is_a_gap(tmp_path: Path) -> None:
    gaps = gap_lines(_report(_project(tmp_path, _modules("mini.core", "mini.listener")), release=True))
    assert "GAP IF-FILES: threat model: names code that is not in the source tree: mini.listener (describe the " \
           "interface as built, or remove it)" in gaps


@pytest.mark.req("SRS-194")
def test_194_was_pin_an_absolute_path_outside_the_project_is_not_code(tmp_path: Path, outside: Path) -> None:
    root = _project(tmp_path, _modules("mini.core", str(outside)))
    assert not (root / "src").joinpath("listener.py").exists()
    assert [g for g in gap_lines(_report(root, release=True)) if "IF-FILES" in g] == [
        f"GAP IF-FILES: threat model: names code that is not in the source tree: {outside} (describe the interface "
        "as built, or remove it)"]


# fixed by helper-150: review 148 D5, _module_exists joined an absolute name onto src/ and the root, which pathlib
# replaces by the absolute path (graph.py:271-275)
@pytest.mark.req("SRS-194")
def test_194_code_outside_the_project_is_not_in_the_source_tree(tmp_path: Path, outside: Path) -> None:
    root = _project(tmp_path, _modules("mini.core", str(outside)))
    assert any("names code that is not in the source tree" in g for g in gap_lines(_report(root, release=True)))


@pytest.mark.req("SRS-194")
def test_194_noted_an_interface_the_file_does_not_list_is_no_gap(tmp_path: Path) -> None:
    """Not a defect of the text (it judges only the modules an interface names): a new network
    listener in src/ that no interface names passes the gate."""
    root = _project(tmp_path)
    (root / "src/mini/listener.py").write_text("import socket\nsocket.socket().bind(('0.0.0.0', 11112))\n")
    assert gap_lines(_report(root, release=True)) == []


# ============================== SRS-195: the security documents ==============================


def _render(root: Path, results: dict | None = None) -> dict[str, str]:
    from device_ai.regulatory.render import DOCUMENTS, render_all
    from device_ai.regulatory.render.view import TraceView

    graph = build(root, write_results(root, results or passing_results()))
    names = ("security-risk.html", "security-architecture.html", "security-plan.html")
    return render_all(TraceView.from_graph(graph), root=root, sbom={}, model_manifests={},
                      files=[d for d in DOCUMENTS if d.file in names])


def _text(fragment: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


def _row(page: str, row_id: str) -> str:
    match = re.search(rf'<tr id="{re.escape(row_id)}">(.*?)</tr>', page, re.S)
    assert match, f"no row {row_id}"
    return _text(match.group(1))


def _section(page: str, section_id: str) -> str:
    start = page.index(f'id="{section_id}"')
    end = page.find("<h2", start + 1)
    return page[start:end if end != -1 else len(page)]


def _views(items: dict) -> None:
    """Three interfaces (in, out, both ways), a mixed-control threat, two update paths, a use case
    crossing the interfaces in a non-sorted order."""
    _interfaces(items).extend([interface("IF-EXPORT", direction="out"), interface("IF-KEYS", direction="in-out")])
    _second_control("draft")(items)
    _threats(items).extend([threat("THR-002", "IF-EXPORT", multi_patient=True),
                            threat("THR-003", "IF-KEYS", controls=[], impact="I1", exploitability="E2")])
    plan = items["security/plan.yaml"]["security_plan"]
    plan["update_paths"].append({"component": "Model package", "assets": ["ASSET-MODEL"], "how": "A new package.",
                                 "integrity": "Ed25519 signature.", "who": "The manufacturer.",
                                 "verification": "model verify"})
    items["security/use_cases.yaml"]["security_use_cases"][0]["interfaces"] = ["IF-KEYS", "IF-FILES", "IF-EXPORT"]


@pytest.mark.req("SRS-195")
def test_195_probe_the_risk_report_says_what_the_gate_says(tmp_path: Path) -> None:
    root = _project(tmp_path, _views)
    page = _render(root)["security-risk.html"]
    mixed = _row(page, "THR-001")  # RC-001 in effect, RC-002 draft: the initial risk stands
    assert "RC-001 in effect" in mixed and "RC-002 not in effect RC-002 is draft" in mixed
    assert "stated I2 × E1 acceptable credited I2 × E3 unacceptable" in mixed
    assert "stated I2 × E1 acceptable credited I2 × E1 acceptable" in _row(page, "THR-002")
    assert "no control" in _row(page, "THR-003")
    open_items = _text(_section(page, "open"))
    assert "THR-001" in open_items and "THR-003" in open_items and "THR-002" not in open_items
    gate_open = {line.split(":")[0].split()[-1] for line in _report(root).lines()
                 if line.startswith("OPEN THR-") and ": threat:" in line}
    assert gate_open == {"THR-001", "THR-003"}  # the page's open threats are the gate's


@pytest.mark.req("SRS-195")
def test_195_probe_the_four_views_and_the_plan_cover_every_entry(tmp_path: Path) -> None:
    pages = _render(_project(tmp_path, _views))
    views = pages["security-architecture.html"]
    svg = re.search(r"<svg.*?</svg>", views, re.S).group(0)
    assert sorted(re.findall(r'<a href="#(IF-[A-Z-]+)"><g>', svg)) == ["IF-EXPORT", "IF-FILES", "IF-KEYS"]
    for iid in ("IF-EXPORT", "IF-FILES", "IF-KEYS"):
        assert iid in _row(views, iid)
    multi = _section(views, "multi-patient")
    assert 'id="mp-THR-002"' in multi and 'id="mp-THR-001"' not in multi and 'id="mp-THR-003"' not in multi
    steps = re.findall(r'<li><a href="#(IF-[A-Z-]+)">', _section(views, "use-cases"))
    assert steps == ["IF-KEYS", "IF-FILES", "IF-EXPORT"]
    for page in (_section(views, "updatability"), pages["security-plan.html"]):
        assert "Mini software" in page and "Model package" in page and "Ed25519 signature." in page
