"""The regulatory wrapper (issue 19 item 7): the GSPR checklist, the IEC 62304 conformity matrix and the
device description with the IFU content, as data under submission/. Each gate test builds the mini project
(class B) with one defect and sees the gate fail, next to a control that passes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from device_ai.errors import TraceabilityError
from device_ai.regulatory.loader import load_project
from device_ai.regulatory.render import DOCUMENTS, render_all
from device_ai.regulatory.render.control import DOCUMENT_IDS
from device_ai.regulatory.render.view import TraceView
from tests.regulatory.miniproject import (
    TEST_A,
    baseline,
    build,
    default_items,
    gap_lines,
    gate,
    passing_results,
    write_project,
    write_results,
)

WRAPPER_FILES = ("gspr.html", "iec62304-conformity.html", "device-description.html", "ifu.html")
ONLY_SRS_001 = {TEST_A: ("passed", ["SRS-001"])}  # SRS-002 (and so RC-001) has no passing test


def gspr_row(gid: str, evidence: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": gid, "title": f"Requirement {gid}", "applicable": True, "methods": "By design and test.",
            "standards": ["IEC 62304"], "evidence": ["SRS-002", "DAI-DOC-VVR"] if evidence is None else evidence,
            **extra}


def clause(cid: str, evidence: list[str] | None = None, status: str = "conforms", classes: list[str] | None = None,
           note: str = "Shown by the linked evidence.") -> dict[str, Any]:
    return {"id": cid, "title": f"Clause {cid}", "classes": classes or ["A", "B", "C"],
            "evidence": ["SRS-001", "DAI-DOC-TRACE-REQ"] if evidence is None else evidence, "status": status,
            "note": note}


DEVICE: dict[str, Any] = {
    "name": "mini device", "manufacturer_note": "Demonstration only.", "intended_purpose": "Segments phantoms.",
    "users": "Engineers.", "environment": "A workstation.", "principles_of_operation": "A locked model.",
    "inputs": ["CT series"], "outputs": ["DICOM SEG"], "classification": ["The manufacturer's position: IIa."],
    "variants": ["MODEL-mini-1.0.0"], "novel_features": "None.", "performance_records": ["results/mini.json"],
    "ifu": {"intended_use": "Segments phantoms.", "contraindications": ["Patient data."],
            "warnings": ["Not for clinical use."], "precautions": ["Review every result."],
            "outputs": [{"output": "SEG", "what_it_is": "Label map.", "how_to_read": "In a viewer.",
                         "limits": "Phantoms only."}],
            "does_not": ["Diagnose."], "residual_risks": "See the risk report.", "installation": "make demo."},
}


def wrapper_items(device: bool = False) -> dict[str, Any]:
    """The mini project with a regulatory wrapper whose gate passes on ``passing_results``: an applicable
    GSPR with verified evidence, one that does not apply (no evidence needed), a class B clause that
    conforms with verified evidence and a class C only clause (not needed for class B); with ``device``,
    the device description too (its model package is a runtime component the SBOM rules would ask
    about with --release, so the gate tests leave it out)."""
    items = default_items()
    items.update({
        "submission/gspr.yaml": {"gspr": [
            gspr_row("GSPR-17.2"),
            {"id": "GSPR-22", "title": "Lay persons", "applicable": False,
             "justification": "Used by professionals only."}]},
        "submission/iec62304.yaml": {"iec62304": [
            clause("C62304-5.2.1"),
            clause("C62304-5.4.2", evidence=[], status="not_applicable", classes=["C"],
                   note="Class C only; the system is class B.")]},
    })
    if device:
        items["submission/device.yaml"] = {"device": json.loads(json.dumps(DEVICE))}
    return items


def write_wrapper_project(root: Path, change=None, *, device: bool = False) -> Path:  # noqa: ANN001
    items = wrapper_items(device)
    if change is not None:
        change(items)
    write_project(root, items)
    if device:
        (root / "models/mini-1.0.0").mkdir(parents=True)
        (root / "models/mini-1.0.0/manifest.json").write_text(json.dumps({"name": "mini", "version": "1.0.0"}),
                                                               encoding="utf-8")
        (root / "results").mkdir()
        (root / "results/mini.json").write_text("{}\n", encoding="utf-8")
    baseline(root)
    return root


def _gspr(items: dict) -> list[dict]:
    return items["submission/gspr.yaml"]["gspr"]


def _clauses(items: dict) -> list[dict]:
    return items["submission/iec62304.yaml"]["iec62304"]


def _report(root: Path, results: dict | None = None, *, release: bool = False):  # noqa: ANN202 - CheckReport
    return gate(root, write_results(root, results or passing_results()), release=release)


def _wrapper_lines(report) -> list[str]:  # noqa: ANN001
    return [line for line in report.lines() if re.search(r" (GSPR|C62304)-", line)]


@pytest.mark.req("SRS-205", "SRS-206", "SRS-207")
@pytest.mark.parametrize("release", [False, True])
def test_a_complete_wrapper_passes_the_gate(tmp_path: Path, release: bool) -> None:
    report = _report(write_wrapper_project(tmp_path), release=release)
    assert report.passed, report.lines()
    # the not-applicable GSPR and the class C only clause name no evidence and give no finding
    assert _wrapper_lines(report) == []


# --- SRS-204: checked when loaded


@pytest.mark.req("SRS-204")
@pytest.mark.parametrize(("bad", "message"), [
    ("SRS-999", "evidence refers to SRS-999, which does not exist"),
    ("DAI-DOC-NOPE", "evidence refers to DAI-DOC-NOPE, which is not a document of the package"),
    ("HAZ-001", "evidence ['HAZ-001'] are neither item IDs"),
])
def test_dangling_evidence_is_refused_with_its_line(tmp_path: Path, bad: str, message: str) -> None:
    def change(items: dict) -> None:
        _gspr(items)[0]["evidence"] = ["SRS-002", bad]

    write_project(tmp_path, wrapper_items())
    load_project(tmp_path)  # control: the same project with existing evidence loads
    items = wrapper_items()
    change(items)
    write_project(tmp_path, items)
    with pytest.raises(TraceabilityError) as caught:
        load_project(tmp_path)
    problems = caught.value.problems
    assert len(problems) == 1, problems
    lines = (tmp_path / "submission/gspr.yaml").read_text().splitlines()
    where = re.match(r"submission/gspr\.yaml:(\d+): GSPR-17\.2: ", problems[0])
    assert where, problems
    assert message in problems[0]
    if not bad.startswith("HAZ"):  # a malformed ID is reported at its field; a dangling one at its entry
        assert lines[int(where.group(1)) - 1].strip() == f"- {bad}"


@pytest.mark.req("SRS-204")
@pytest.mark.parametrize(("change", "message"), [
    (lambda items: _gspr(items)[1].pop("justification"), "a GSPR that does not apply needs a justification"),
    (lambda items: _gspr(items)[0].pop("methods"), "an applicable GSPR needs methods"),
    (lambda items: items["submission/device.yaml"]["device"].update(variants=["MODEL-other-2.0.0"]),
     "variants refers to MODEL-other-2.0.0, which does not exist"),
    (lambda items: items["submission/device.yaml"]["device"].update(performance_records=["results/none.json"]),
     "performance_records names results/none.json, which is not a file of the project"),
])
def test_incomplete_rows_and_device_description_are_refused(tmp_path: Path, change, message: str) -> None:  # noqa: ANN001
    with pytest.raises(TraceabilityError) as caught:
        write_wrapper_project(tmp_path, change, device=True)
    assert any(message in p for p in caught.value.problems), caught.value.problems


# --- SRS-205: a row without evidence fails the gate, in every run


@pytest.mark.req("SRS-205")
@pytest.mark.parametrize("release", [False, True])
@pytest.mark.parametrize(("change", "expected"), [
    (lambda items: _gspr(items).append(gspr_row("GSPR-14.2", evidence=[])),
     "GAP GSPR-14.2: GSPR checklist: applicable and names no evidence: name the items or package documents that "
     "show it in submission/"),
    (lambda items: _clauses(items).append(clause("C62304-5.1.1", evidence=[])),
     "GAP C62304-5.1.1: IEC 62304 conformity: needed for class B and names no evidence: name the items or package "
     "documents that show it in submission/"),
    (lambda items: _clauses(items).append(clause("C62304-5.5.2", status="not_applicable", classes=["B", "C"])),
     "GAP C62304-5.5.2: IEC 62304 conformity: marked not applicable, but the system's class B needs this clause "
     "(classes B, C)"),
])
def test_a_required_row_without_evidence_is_a_gap(tmp_path: Path, release: bool, change, expected: str) -> None:  # noqa: ANN001
    report = _report(write_wrapper_project(tmp_path, change), release=release)
    assert gap_lines(report) == [expected]


# --- SRS-206: evidence in effect on the commit


@pytest.mark.req("SRS-206")
@pytest.mark.parametrize(("evidence", "why"), [
    (["SRS-002", "DAI-DOC-VVR"], "SRS-002 is not verified"),
    (["RC-001"], "RC-001 is not verified (SRS-002)"),
    (["RISK-001"], "RISK-001 relies on controls not in effect (RC-001 is not verified (SRS-002))"),
])
def test_evidence_not_in_effect_is_open_and_a_release_gap(tmp_path: Path, evidence: list[str], why: str) -> None:
    def change(items: dict) -> None:
        _gspr(items)[0]["evidence"] = evidence

    root = write_wrapper_project(tmp_path, change)
    expected = f"GSPR-17.2: GSPR checklist: evidence not in effect on this commit: {why}"
    report = _report(root, ONLY_SRS_001)
    assert f"OPEN {expected} (a gap with --release)" in report.lines()
    assert not any("GSPR-17.2" in line for line in gap_lines(report))
    assert f"GAP {expected}" in gap_lines(_report(root, ONLY_SRS_001, release=True))
    # control: the same evidence verified on the commit gives no finding
    assert not [line for line in _report(root, release=True).lines() if "GSPR-17.2" in line]


# --- SRS-207: the matrix cannot claim conformity the graph does not show


@pytest.mark.req("SRS-207")
def test_conforms_with_unverified_evidence_is_not_shown(tmp_path: Path) -> None:
    def change(items: dict) -> None:
        _clauses(items)[0]["evidence"] = ["SRS-002"]

    root = write_wrapper_project(tmp_path, change)
    claim = "C62304-5.2.1: IEC 62304 conformity: says conforms, but the graph does not show it: SRS-002 is not verified"
    assert f"OPEN {claim} (a gap with --release)" in _report(root, ONLY_SRS_001).lines()
    assert f"GAP {claim}" in gap_lines(_report(root, ONLY_SRS_001, release=True))
    assert not [line for line in _report(root, release=True).lines() if "C62304-5.2.1" in line]  # control


@pytest.mark.req("SRS-207")
@pytest.mark.parametrize("status", ["partial", "not_conforming"])
def test_a_partial_clause_is_open_although_its_evidence_is_verified(tmp_path: Path, status: str) -> None:
    def change(items: dict) -> None:
        _clauses(items)[0].update(status=status, note="No signed approvals yet.")

    root = write_wrapper_project(tmp_path, change)
    said = status.replace("_", " ")
    assert (f"OPEN C62304-5.2.1: IEC 62304 conformity: {said}: No signed approvals yet. (a gap with --release)"
            in _report(root).lines())
    assert (f"GAP C62304-5.2.1: IEC 62304 conformity: {said}: No signed approvals yet."
            in gap_lines(_report(root, release=True)))


# --- SRS-208: the four documents


def _render(root: Path, results: dict | None = None) -> dict[str, str]:
    graph = build(root, write_results(root, passing_results() if results is None else results))
    docs = [d for d in DOCUMENTS if d.file in WRAPPER_FILES]
    return render_all(TraceView.from_graph(graph), root=root, sbom={}, model_manifests={}, files=docs)


def _row(page: str, row_id: str) -> str:
    match = re.search(rf'<tr id="{re.escape(row_id)}">(.*?)</tr>', page, re.S)
    assert match, f"no row {row_id}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip()


@pytest.mark.req("SRS-208")
def test_the_four_documents_have_their_own_ids() -> None:
    listed = {d.file: d for d in DOCUMENTS}
    ids = [DOCUMENT_IDS[name] for name in WRAPPER_FILES]
    assert all(name in listed and listed[name].template for name in WRAPPER_FILES)
    assert len(set(ids)) == 4 and len(set(DOCUMENT_IDS.values())) == len(DOCUMENT_IDS)


@pytest.mark.req("SRS-208", "SRS-206", "SRS-207")
def test_the_documents_show_each_evidence_state_as_the_gate_judges_it(tmp_path: Path) -> None:
    root = write_wrapper_project(tmp_path, device=True)
    verified = _render(root)
    unverified = _render(root, ONLY_SRS_001)
    assert "SRS-002 Requirement SRS-002 in effect" in _row(verified["gspr.html"], "GSPR-17.2")
    row = _row(unverified["gspr.html"], "GSPR-17.2")
    assert "SRS-002 Requirement SRS-002 not in effect SRS-002 is not verified" in row
    assert "evidence not in effect" in row
    assert "DAI-DOC-VVR" in row and 'href="vv-report.html"' in unverified["gspr.html"]
    assert "Used by professionals only." in _row(verified["gspr.html"], "GSPR-22")
    clause_row = _row(verified["iec62304-conformity.html"], "C62304-5.2.1")
    assert "conforms shown" in clause_row and "SRS-001 in effect" in clause_row
    assert "not for class B" in _row(verified["iec62304-conformity.html"], "C62304-5.4.2")
    assert "MODEL-mini-1.0.0" in verified["device-description.html"]
    assert "results/mini.json" in verified["device-description.html"]
    for text in ("Patient data.", "Not for clinical use.", "Review every result.", "Diagnose."):
        assert text in verified["ifu.html"]
    for name in WRAPPER_FILES:
        assert DOCUMENT_IDS[name] in verified[name]


@pytest.mark.req("SRS-208", "SRS-207")
def test_a_claimed_conformity_the_graph_does_not_show_is_shown_as_not_shown(tmp_path: Path) -> None:
    def change(items: dict) -> None:
        _clauses(items)[0]["evidence"] = ["SRS-002"]

    page = _render(write_wrapper_project(tmp_path, change), ONLY_SRS_001)["iec62304-conformity.html"]
    assert "conforms not shown" in _row(page, "C62304-5.2.1")


@pytest.mark.req("SRS-208")
def test_rendering_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    root = write_wrapper_project(tmp_path, device=True)
    graph = build(root, write_results(root, passing_results()))
    docs = [d for d in DOCUMENTS if d.file in WRAPPER_FILES]
    first = render_all(TraceView.from_graph(graph), root=root, sbom={}, model_manifests={}, files=docs)
    second = render_all(TraceView.from_graph(json.loads(json.dumps(graph))), root=root, sbom={}, model_manifests={},
                        files=docs)
    assert first == second and set(first) == set(WRAPPER_FILES)


@pytest.mark.req("SRS-208")
def test_a_gspr_with_open_points_is_not_shown_as_plainly_met(tmp_path: Path) -> None:
    def change(items: dict) -> None:
        _gspr(items)[0]["open_points"] = "No usability evaluation yet."

    page = _render(write_wrapper_project(tmp_path, change, device=True))["gspr.html"]
    row = _row(page, "GSPR-17.2")
    assert "shown, with open points" in row and "Open: No usability evaluation yet." in row
    control = _render(write_wrapper_project(tmp_path / "control", device=True))["gspr.html"]
    assert "yes shown " in _row(control, "GSPR-17.2") + " "


@pytest.mark.slow
@pytest.mark.req("SRS-208")
def test_the_repository_wrapper_documents_print_without_overlapping_text(tmp_path: Path) -> None:
    """The four documents rendered from the repository's own submission/ data, printed as the package's
    --pdf does: every page carries the ID, revision and page N of M, and no text overlaps or is cut off."""

    from conftest import require_tool
    from device_ai.regulatory import pdf as pdf_module
    from device_ai.regulatory.pdf import print_documents
    from device_ai.regulatory.render import PrintPage
    from device_ai.regulatory.render.control import block
    from tests.regulatory_render import pdf_checks as checks
    from tests.regulatory_render.conftest import build_graph, copy_items, sample_results, write_run

    printer = pdf_module.Printer.find(require_tool("chromium"))
    # copy_items brings submission/ and the validation records the device description names
    root = copy_items(tmp_path / "project")
    view = TraceView.from_graph(build_graph(root, write_run(tmp_path / "results.json", root, sample_results())))
    docs = [d for d in DOCUMENTS if d.file in WRAPPER_FILES]
    html = render_all(view, root=root, sbom={}, model_manifests={}, files=docs)
    assert "C62304-9.8" in html["iec62304-conformity.html"] and "GSPR-23.4" in html["gspr.html"]
    printed = print_documents(html, binary=printer.binary, recorded_utc=view.recorded_date())
    for name in WRAPPER_FILES:
        pdf = tmp_path / name.replace(".html", ".pdf")
        pdf.write_bytes(printed[pdf.name])
        control = block(view, name)
        assert checks.missing_marks(pdf, control["id"], control["revision"]) == [], name
        assert checks.overlaps(pdf) == [], name
        assert checks.past_right_edge(pdf, PrintPage().margins_mm[1]) == [], name
