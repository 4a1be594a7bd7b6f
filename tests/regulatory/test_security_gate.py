"""Gate rules of the cybersecurity file (issue 19 item 1, FDA 524B): each test builds the mini project
with a small security file carrying one defect and sees the gate fail, next to a control that passes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from device_ai.errors import TraceabilityError
from device_ai.regulatory.loader import load_project
from tests.regulatory.miniproject import (  # noqa: F401 - SECURITY_PLAN, interface, threat: used by other tests
    SECURITY_PLAN,
    TEST_A,
    baseline,
    default_items,
    gap_lines,
    gate,
    interface,
    passing_results,
    threat,
    write_project,
    write_results,
)


def security_items() -> dict[str, Any]:
    """The mini project, whose default items carry a security file whose gate passes (one asset, one
    interface, one threat mitigated by RC-001, the security plan)."""
    return default_items()


def write_security_project(root: Path, change=None) -> Path:  # noqa: ANN001 - callable(items)
    items = security_items()
    if change is not None:
        change(items)
    write_project(root, items)
    baseline(root)
    return root


def _threats(items: dict) -> list[dict]:
    return items["security/threats.yaml"]["threats"]


def _report(root: Path, results: dict | None = None, *, release: bool = False):  # noqa: ANN202 - CheckReport
    return gate(root, write_results(root, results or passing_results()), release=release)


def _security_lines(report) -> list[str]:  # noqa: ANN001
    return [line for line in report.lines() if any(f" {p}" in line for p in ("THR-", "IF-"))]


@pytest.mark.req("SRS-190", "SRS-191", "SRS-193", "SRS-194")
@pytest.mark.parametrize("release", [False, True])
def test_a_complete_security_file_passes_the_gate(tmp_path: Path, release: bool) -> None:
    root = write_security_project(tmp_path)
    report = _report(root, release=release)
    assert report.passed, report.lines()
    assert _security_lines(report) == []


# --- SRS-190: every interface is analysed


@pytest.mark.req("SRS-190")
@pytest.mark.parametrize("release", [False, True])
def test_an_interface_no_threat_names_is_a_gap(tmp_path: Path, release: bool) -> None:
    def change(items: dict) -> None:
        items["security/interfaces.yaml"]["interfaces"].append(interface("IF-NETWORK"))

    root = write_security_project(tmp_path, change)
    gaps = gap_lines(_report(root, release=release))
    assert gaps == ["GAP IF-NETWORK: threat model: no threat names this interface: analyse it (STRIDE) in "
                    "security/threats.yaml"]


@pytest.mark.req("SRS-190")
def test_a_threat_on_the_new_interface_closes_the_gap(tmp_path: Path) -> None:
    def change(items: dict) -> None:
        items["security/interfaces.yaml"]["interfaces"].append(interface("IF-NETWORK"))
        _threats(items).append(threat("THR-002", "IF-NETWORK"))

    root = write_security_project(tmp_path, change)
    assert gap_lines(_report(root, release=True)) == []


# --- SRS-191: a threat is mitigated only by controls in effect


@pytest.mark.req("SRS-191")
def test_a_threat_without_control_is_open_and_a_release_gap(tmp_path: Path) -> None:
    def change(items: dict) -> None:
        _threats(items)[0]["controls"] = []
        del _threats(items)[0]["residual_exploitability"]
        _threats(items)[0]["impact"] = "I1"  # acceptable as it is: only the missing control is judged

    root = write_security_project(tmp_path, change)
    development = _report(root)
    assert development.passed, development.lines()
    assert "OPEN THR-001: threat: no control mitigates it (IF-FILES, tampering): the device is not releasable (a gap " \
           "with --release)" in development.lines()
    assert gap_lines(_report(root, release=True)) == ["GAP THR-001: threat: no control mitigates it (IF-FILES, "
                                                      "tampering)"]


@pytest.mark.req("SRS-191")
@pytest.mark.parametrize(("status", "why"), [("draft", "RC-001 is draft"), ("planned", "RC-001 is planned"),
                                             ("retired", "RC-001 is retired")])
def test_a_risk_control_not_approved_does_not_mitigate(tmp_path: Path, status: str, why: str) -> None:
    def change(items: dict) -> None:
        items["risk/controls.yaml"]["risk_controls"][0]["status"] = status
        situation = items["risk/hazardous_situations.yaml"]["hazardous_situations"][0]
        situation.update(controls=[], residual=None, effectiveness=[], p1="P1")  # the risk file is not under test

    root = write_security_project(tmp_path, change)
    expected = f"THR-001: threat: mitigated by controls not in effect: {why}"
    release = _report(root, release=True)
    assert f"GAP {expected}" in gap_lines(release)
    assert f"OPEN {expected}: the device is not releasable (a gap with --release)" in _report(root).lines()


@pytest.mark.req("SRS-191")
def test_a_control_whose_requirement_is_not_verified_does_not_mitigate(tmp_path: Path) -> None:
    root = write_security_project(tmp_path)
    only_a = {TEST_A: ("passed", ["SRS-001"])}  # SRS-002, which implements RC-001, has no passing test
    assert "GAP THR-001: threat: mitigated by controls not in effect: RC-001 is not verified (SRS-002)" in \
        gap_lines(_report(root, only_a, release=True))
    failing = {**passing_results(), "tests/test_safety.py::test_refuses[case0]": ("failed", ["SRS-002"])}
    assert "GAP THR-001: threat: mitigated by controls not in effect: RC-001 is not verified (SRS-002)" in \
        gap_lines(_report(root, failing, release=True))


@pytest.mark.req("SRS-191")
def test_a_requirement_as_control_must_be_approved_and_verified(tmp_path: Path) -> None:
    def change(items: dict) -> None:
        _threats(items)[0]["controls"] = ["SRS-001", "SRS-003"]  # SRS-003 is planned

    root = write_security_project(tmp_path, change)
    gaps = gap_lines(_report(root, release=True))
    assert gaps == ["GAP THR-001: threat: mitigated by controls not in effect: SRS-003 is planned"]

    def verified_only(items: dict) -> None:
        _threats(items)[0]["controls"] = ["SRS-001"]

    root = write_security_project(tmp_path / "ok", verified_only)
    assert gap_lines(_report(root, release=True)) == []
    assert "GAP THR-001: threat: mitigated by controls not in effect: SRS-001 is not verified" in \
        gap_lines(_report(root, {TEST_A: ("failed", ["SRS-001"])}, release=True))


# --- SRS-193: residual security risk


@pytest.mark.req("SRS-193")
def test_an_unacceptable_residual_is_open_and_a_release_gap(tmp_path: Path) -> None:
    def change(items: dict) -> None:
        _threats(items)[0]["residual_exploitability"] = "E3"  # I2 x E3: unacceptable

    root = write_security_project(tmp_path, change)
    development = _report(root)
    assert development.passed, development.lines()
    assert "OPEN THR-001: security risk: residual security risk (impact I2, exploitability E3) is unacceptable: the " \
           "device is not releasable (a gap with --release)" in development.lines()
    assert gap_lines(_report(root, release=True)) == [
        "GAP THR-001: security risk: residual security risk (impact I2, exploitability E3) is unacceptable"]


@pytest.mark.req("SRS-193")
def test_an_alara_residual_needs_a_rationale(tmp_path: Path) -> None:
    def change(items: dict) -> None:
        _threats(items)[0]["residual_exploitability"] = "E2"  # I2 x E2: ALARA

    root = write_security_project(tmp_path, change)
    assert gap_lines(_report(root)) == ["GAP THR-001: security risk: residual security risk (impact I2, exploitability "
                                        "E2) is ALARA and needs a rationale"]

    def with_rationale(items: dict) -> None:
        change(items)
        _threats(items)[0]["rationale"] = "Reduced as far as practicable: the file must still be read."

    root = write_security_project(tmp_path / "ok", with_rationale)
    assert gap_lines(_report(root, release=True)) == []


@pytest.mark.req("SRS-193")
def test_a_residual_above_the_initial_exploitability_is_a_warning(tmp_path: Path) -> None:
    def change(items: dict) -> None:
        _threats(items)[0].update(impact="I1", exploitability="E1", residual_exploitability="E2")

    root = write_security_project(tmp_path, change)
    report = _report(root)
    assert "WARNING THR-001: security risk: residual exploitability E2 is above the initial E1" in report.lines()
    assert report.passed


@pytest.mark.req("SRS-193")
def test_the_graph_records_each_threats_evaluation(tmp_path: Path) -> None:
    from tests.regulatory.miniproject import build

    root = write_security_project(tmp_path)
    node = next(n for n in build(root, write_results(root, passing_results()))["nodes"] if n["id"] == "THR-001")
    assert node["evaluation"] == {"initial": {"impact": "I2", "exploitability": "E3", "acceptability": "unacceptable"},
                                  "residual": {"impact": "I2", "exploitability": "E1", "acceptability": "acceptable"}}


# --- SRS-194: the interfaces name code that exists


@pytest.mark.req("SRS-194")
@pytest.mark.parametrize("release", [False, True])
def test_an_interface_naming_missing_code_is_a_gap(tmp_path: Path, release: bool) -> None:
    def change(items: dict) -> None:
        items["security/interfaces.yaml"]["interfaces"][0]["modules"] = ["mini.core", "mini.gone", "mini"]

    root = write_security_project(tmp_path, change)
    # src/mini holds code without __init__.py: a namespace package, found (review 154 D4, lead)
    assert gap_lines(_report(root, release=release)) == [
        "GAP IF-FILES: threat model: names code that is not in the source tree: mini.gone (describe the "
        "interface as built, or remove it)"]
    (root / "src/mini/gone.py").write_text("")
    assert gap_lines(_report(root, release=release)) == []


# --- SRS-192: the loader refuses a broken security file, naming file and line


def _load_problems(root: Path) -> list[str]:
    with pytest.raises(TraceabilityError) as caught:
        load_project(root)
    return list(caught.value.problems)


@pytest.mark.req("SRS-192")
def test_the_complete_security_file_loads(tmp_path: Path) -> None:
    project = load_project(write_security_project(tmp_path))
    assert {"ASSET-MODEL", "IF-FILES", "THR-001", "SUC-001"} <= set(project.items)
    assert project.security_plan is not None


@pytest.mark.req("SRS-192")
@pytest.mark.parametrize(("change", "problem"), [
    (lambda i: _threats(i)[0].update(interface="IF-GONE"),
     "security/threats.yaml:4: THR-001: interface refers to IF-GONE, which does not exist"),
    (lambda i: _threats(i)[0].update(controls=["RC-001", "RC-404"]),
     "security/threats.yaml:11: THR-001: controls refers to RC-404, which does not exist"),
    (lambda i: _threats(i)[0].update(controls=["RISK-001"]),
     "security/threats.yaml:2: THR-001: controls ['RISK-001'] are not risk control or requirement IDs (expected the "
     "form RC-001 or SRS-012)"),
    (lambda i: _threats(i)[0].update(assets=["ASSET-GONE"]),
     "security/threats.yaml:7: THR-001: assets refers to ASSET-GONE, which does not exist"),
    (lambda i: _threats(i)[0].update(related_risks=["RC-001"]),
     "security/threats.yaml:16: THR-001: related_risks.0: 'RC-001' is not a valid RISK ID"),
    (lambda i: _threats(i)[0].update(impact="I9"),
     "security/threats.yaml:11: THR-001: impact I9 is not a level of the security plan (I1, I2, I3)"),
    (lambda i: _threats(i)[0].update(residual_exploitability="E7"),
     "security/threats.yaml:14: THR-001: residual_exploitability E7 is not a level of the security plan (E1, E2, E3)"),
    (lambda i: _threats(i)[0].pop("residual_exploitability"),
     "THR-001: a threat with controls needs residual_exploitability"),
    (lambda i: _threats(i)[0].update(controls=[], residual_exploitability="E1"),
     "THR-001: a threat without controls keeps its exploitability"),
    (lambda i: _threats(i)[0].update(stride="phishing"), "THR-001: stride: Input should be 'spoofing'"),
    (lambda i: _threats(i)[0].update(severity="S3"), "THR-001: unknown field 'severity'"),
    (lambda i: i.pop("security/plan.yaml"),
     "security/threats.yaml:1: threats need security/plan.yaml (their impact and exploitability scales)"),
    (lambda i: i["security/plan.yaml"]["security_plan"]["acceptability"].pop("I3"),
     "acceptability rows ['I1', 'I2'] must be the impact levels ['I1', 'I2', 'I3']"),
    (lambda i: i["security/plan.yaml"]["security_plan"]["update_paths"][0].update(assets=["ASSET-GONE"]),
     "SECURITY-PLAN: update_paths refers to ASSET-GONE, which does not exist"),
    (lambda i: i["security/plan.yaml"]["security_plan"]["testing"][0].update(requirements=["SRS-404"]),
     "SECURITY-PLAN: testing refers to SRS-404, which does not exist"),
    (lambda i: i["security/interfaces.yaml"]["interfaces"][0].update(assets=["ASSET-GONE"]),
     "security/interfaces.yaml:13: IF-FILES: assets refers to ASSET-GONE, which does not exist"),
    (lambda i: i["security/use_cases.yaml"]["security_use_cases"][0].update(interfaces=["IF-GONE"]),
     "security/use_cases.yaml:7: SUC-001: interfaces refers to IF-GONE, which does not exist"),
    (lambda i: i["security/use_cases.yaml"]["security_use_cases"][0].update(interfaces=["THR-001"]),
     "security/use_cases.yaml:7: SUC-001: interfaces.0: 'THR-001' is not a valid IF ID"),
])
def test_a_broken_security_file_is_refused_with_its_location(tmp_path: Path, change, problem: str) -> None:  # noqa: ANN001
    items = security_items()
    change(items)
    write_project(tmp_path, items)
    problems = _load_problems(tmp_path)
    assert any(problem in line for line in problems), problems


# --- review 148 D4/D5 fixes (helper-150)


@pytest.mark.req("SRS-193")
@pytest.mark.parametrize(("rationale", "gap"), [
    ("   ", True), ("\t\n  \n", True), ("\u00a0\u2003", True),  # blanks (Unicode spaces too) are none ('' is refused)
    ("Kept as low as we can: the file must still be read.", False), ("  x  ", False),  # control: words count
])
def test_a_rationale_of_blanks_is_no_rationale(tmp_path: Path, rationale: str, gap: bool) -> None:
    def change(items: dict) -> None:
        _threats(items)[0].update(residual_exploitability="E2", rationale=rationale)  # I2 x E2: ALARA

    root = write_security_project(tmp_path, change)
    expected = ["GAP THR-001: security risk: residual security risk (impact I2, exploitability E2) is ALARA and "
                "needs a rationale"] if gap else []
    for release in (False, True):
        assert gap_lines(_report(root, release=release)) == expected


@pytest.mark.req("SRS-194")
def test_a_module_name_that_is_not_dotted_identifiers_is_not_in_the_source_tree(tmp_path: Path) -> None:
    from tests.regulatory.miniproject import build

    names = ["mini.core", "mini", str(tmp_path / "src/mini/core"), "src/mini/core", "mini/core", "../src/mini.core",
             "..", ".mini.core", "mini..core", "mini.core.", "mini.2core", " mini.core"]

    def change(items: dict) -> None:
        items["security/interfaces.yaml"]["interfaces"][0]["modules"] = names

    root = write_security_project(tmp_path, change)
    (root / "src/mini/__init__.py").write_text("")  # control: the package and its module are in the tree
    node = next(n for n in build(root, write_results(root, passing_results()))["nodes"] if n["id"] == "IF-FILES")
    assert node["missing_modules"] == names[2:]
    assert (root / "src/mini/core.py").is_file()  # each path above would find this file if it were joined on
