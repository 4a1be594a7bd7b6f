"""The cybersecurity documents (issue 19 item 1, SRS-195): the threat model and security risk report,
the four FDA architecture views and the vulnerability and patch plan, rendered from the graph of the
mini project's security file; a control's state and the credited residual follow the gate."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest

from device_ai.regulatory.render import DOCUMENTS, render_all
from device_ai.regulatory.render.view import TraceView
from tests import fast_yaml
from tests.regulatory.miniproject import build, passing_results, write_results
from tests.regulatory.test_security_gate import interface, threat, write_security_project

SECURITY_FILES = ("security-risk.html", "security-architecture.html", "security-plan.html")


def _render(root: Path, results: dict | None = None) -> dict[str, str]:
    graph = build(root, write_results(root, passing_results() if results is None else results))
    docs = [d for d in DOCUMENTS if d.file in SECURITY_FILES]
    return render_all(TraceView.from_graph(graph), root=root, sbom={}, model_manifests={}, files=docs)


def _row(page: str, row_id: str) -> str:
    match = re.search(rf'<tr id="{re.escape(row_id)}">(.*?)</tr>', page, re.S)
    assert match, f"no row {row_id}"
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", match.group(1)))).strip()


def _section(page: str, section_id: str) -> str:
    start = page.index(f'id="{section_id}"')
    end = page.find("<h2", start)
    return page[start:end if end != -1 else len(page)]


def _two_threats(items: dict[str, Any]) -> None:
    """A second interface whose threat has no control and reaches many patients."""
    items["security/interfaces.yaml"]["interfaces"].append(interface("IF-NETWORK", direction="out"))
    items["security/threats.yaml"]["threats"].append(
        threat("THR-002", "IF-NETWORK", controls=[], impact="I1", exploitability="E2", multi_patient=True))
    items["security/use_cases.yaml"]["security_use_cases"][0]["interfaces"] = ["IF-FILES", "IF-NETWORK"]


@pytest.mark.req("SRS-195")
def test_the_three_security_documents_are_in_the_package_list() -> None:
    listed = {d.file: d for d in DOCUMENTS}
    for name in SECURITY_FILES:
        assert name in listed and listed[name].template and listed[name].nav


@pytest.mark.req("SRS-195", "SRS-191")
def test_a_control_in_effect_credits_the_stated_residual(tmp_path: Path) -> None:
    page = _render(write_security_project(tmp_path))["security-risk.html"]
    row = _row(page, "THR-001")
    assert "RC-001 in effect" in row and "not in effect" not in row
    assert "stated I2 × E1 acceptable credited I2 × E1 acceptable" in row
    assert "I2 × E3 unacceptable" in row  # the initial risk
    assert "THR-001" not in _section(page, "open")


@pytest.mark.req("SRS-195", "SRS-191")
@pytest.mark.parametrize(("results", "why"), [
    ({"tests/test_core.py::test_core": ("passed", ["SRS-001"])}, "RC-001 is not verified (SRS-002)"),
    (None, "RC-001 is draft"),
])
def test_a_control_not_in_effect_is_shown_and_the_initial_risk_stands(tmp_path: Path, results: dict | None,
                                                                       why: str) -> None:
    def draft(items: dict) -> None:
        items["risk/controls.yaml"]["risk_controls"][0]["status"] = "draft"
        items["risk/hazardous_situations.yaml"]["hazardous_situations"][0].update(
            controls=[], residual=None, effectiveness=[], p1="P1")

    root = write_security_project(tmp_path, None if results else draft)
    page = _render(root, results)["security-risk.html"]
    row = _row(page, "THR-001")
    assert f"RC-001 not in effect {why}" in row
    assert "stated I2 × E1 acceptable credited I2 × E3 unacceptable" in row
    assert "THR-001" in _section(page, "open")


@pytest.mark.req("SRS-195")
def test_the_report_lists_scales_assets_threats_and_testing_evidence(tmp_path: Path) -> None:
    root = write_security_project(tmp_path, _two_threats)
    page = _render(root)["security-risk.html"]
    method = _section(page, "method")
    for level in ("I1", "I2", "I3", "E1", "E2", "E3"):
        assert f"<td>{level}</td>" in method
    assert method.count('class="acc-unacceptable"') == 3 and method.count('class="acc-alara"') == 2
    assert "ASSET-MODEL" in _row(page, "ASSET-MODEL")
    assert "no control" in _row(page, "THR-002")
    testing = _section(page, "testing")
    assert re.search(r"SRS-002</a> <span class=\"badge b-ok\">verified</span> 1 / 1", testing)
    without = _render(root, {"tests/test_core.py::test_core": ("passed", ["SRS-001"])})["security-risk.html"]
    assert re.search(r"SRS-002</a> <span class=\"badge b-bad\">no_tests</span> 0 / 0", _section(without, "testing"))


@pytest.mark.req("SRS-195")
def test_the_four_architecture_views_come_from_the_data(tmp_path: Path) -> None:
    root = write_security_project(tmp_path, _two_threats)
    page = _render(root)["security-architecture.html"]
    svg = re.search(r"<svg.*?</svg>", page, re.S).group(0)
    boxes = dict(re.findall(r'<a href="#(IF-[A-Z-]+)"><g>.*?stroke="(#[0-9a-f]+)"', svg, re.S))
    assert boxes == {"IF-FILES": "#2da44e", "IF-NETWORK": "#cf222e"}  # mitigated: green; a threat open: red
    assert "IF-FILES" in _row(page, "IF-FILES") and "IF-NETWORK" in _row(page, "IF-NETWORK")
    multi = _section(page, "multi-patient")
    assert 'id="mp-THR-002"' in multi and 'id="mp-THR-001"' not in multi  # only threats marked multi_patient
    update = _section(page, "updatability")
    assert "Mini software" in update and "SHA-256 published." in update and "ASSET-MODEL" in update
    cases = _section(page, "use-cases")
    assert "SUC-001: Analyse" in cases
    steps = re.findall(r'<li><a href="#(IF-[A-Z-]+)">', cases)
    assert steps == ["IF-FILES", "IF-NETWORK"]  # in the use case's order
    assert re.search(r"THR-001</a> Tampering: <span class=\"badge b-ok\">mitigated", cases)
    assert re.search(r"THR-002</a> Tampering: <span class=\"badge b-bad\">no control", cases)


@pytest.mark.req("SRS-195")
def test_the_vulnerability_plan_page_holds_the_plan(tmp_path: Path) -> None:
    page = _render(write_security_project(tmp_path))["security-plan.html"]
    for text in ("Advisories of every SBOM component, monthly.", "Reports to the security contact",
                 "Against the scales of this plan.", "Uncontrolled", "60 days", "24 months after the next release."):
        assert text in page
    assert "was not found" not in page


@pytest.mark.req("SRS-195")
def test_the_real_security_file_is_in_the_package(package_dir: Path, project: Path) -> None:
    import yaml

    risk = (package_dir / "security-risk.html").read_text(encoding="utf-8")
    views = (package_dir / "security-architecture.html").read_text(encoding="utf-8")
    threats = fast_yaml.safe_load((project / "security/threats.yaml").read_text(encoding="utf-8"))["threats"]
    interfaces = fast_yaml.safe_load((project / "security/interfaces.yaml").read_text(encoding="utf-8"))["interfaces"]
    assert threats and interfaces
    for entry in threats:
        assert f'<tr id="{entry["id"]}">' in risk
    for entry in interfaces:
        assert f'<tr id="{entry["id"]}">' in views and f'<a href="#{entry["id"]}"><g>' in views
    assert (package_dir / "security-plan.html").is_file()
