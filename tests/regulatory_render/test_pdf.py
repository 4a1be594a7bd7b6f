"""`report package --pdf`: one PDF per HTML document with the document ID, revision and "page N of
M" on every page, bookmarks from the headings, no overlapping text, nothing written without a
working Chromium (SRS-202); the parametrized cases of the requirements matrix collapsed so that the
repository's matrix prints in tens of pages (SRS-203). The PDFs are read back with poppler-utils
(pdf_checks.py). Under CI a missing Chromium or poppler-utils fails these tests (conftest.require_tool).
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from conftest import require_tool
from device_ai import cli
from device_ai.errors import DependencyMissing, OutputError
from device_ai.regulatory import pdf as pdf_module
from device_ai.regulatory.package import build_package, verify_package
from device_ai.regulatory.pdf import print_documents
from device_ai.regulatory.render import DOCUMENTS, PrintPage, render_all
from device_ai.regulatory.render.view import TraceView

from . import pdf_checks as checks
from .conftest import DATE, build_graph, copy_items, write_run

DATA = Path(__file__).parent / "data"
PAGE_LIMIT = 60  # SRS-203: the repository's requirements matrix on A4
RIGHT_MARGIN_MM = PrintPage().margins_mm[1]
PLAIN = ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>'
         '@page {{ size: A4; margin: 16mm 11mm 15mm 11mm; }} body {{ font: 14px "DejaVu Sans", sans-serif; }}'
         '</style></head><body><h1>{title}</h1>{body}</body></html>')


def _printer() -> pdf_module.Printer:
    return pdf_module.Printer.find(require_tool("chromium"))


@pytest.fixture(scope="module")
def pdf_package(graph: dict[str, Any], project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture graph's package with --pdf: printed once for this module."""
    require_tool("chromium")
    out = tmp_path_factory.mktemp("pdf") / "package"
    build_package(graph, root=project, out=out, pdf=True)
    return out


def _manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def _pdfs(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    documents = _manifest(folder)["documents"]
    return [(folder / entry["pdf"], entry) for name, entry in sorted(documents.items()) if "pdf" in entry]


@pytest.mark.req("SRS-202")
def test_every_html_document_has_a_pdf_listed_in_the_manifest(pdf_package: Path) -> None:
    manifest = _manifest(pdf_package)
    html = sorted(p.name for p in pdf_package.glob("*.html"))
    assert len(html) >= 14
    assert sorted(p.name for p in pdf_package.glob("*.pdf")) == sorted(name[:-5] + ".pdf" for name in html)
    for name in html:
        pdf = name[:-5] + ".pdf"
        assert manifest["documents"][name]["pdf"] == pdf and pdf in manifest["files"], name
        assert (pdf_package / pdf).read_bytes().startswith(b"%PDF-")
    assert manifest["pdf_printer"].startswith(("Chromium", "Chrome"))
    assert verify_package(pdf_package) == []  # the PDFs are hashed like every other file
    index = (pdf_package / "index.html").read_text(encoding="utf-8")
    assert 'href="trace-requirements.pdf"' in index


@pytest.mark.req("SRS-202")
def test_every_page_carries_the_id_the_revision_and_page_n_of_m(pdf_package: Path) -> None:
    pages = 0
    for pdf, entry in _pdfs(pdf_package):
        assert checks.missing_marks(pdf, entry["id"], entry["revision"]) == [], pdf.name
        pages += checks.page_count(pdf)
    assert pages > 30  # the matrices and reports run to several pages: "page N of M" is tested beyond N = 1


@pytest.mark.req("SRS-202")
def test_no_text_overlaps_and_none_runs_past_the_right_edge(pdf_package: Path) -> None:
    for pdf, _ in _pdfs(pdf_package):
        assert checks.overlaps(pdf) == [], pdf.name
        assert checks.past_right_edge(pdf, RIGHT_MARGIN_MM) == [], pdf.name


@pytest.mark.req("SRS-202")
def test_the_checks_see_overlapping_text_a_cut_off_line_and_missing_page_marks(tmp_path: Path) -> None:
    """Negative controls: the checks above must fail on pages that have the defects."""
    overlapping = PLAIN.format(title="Overlap", body=(
        '<div style="position:absolute;top:120px;left:100px">OVERLAPPING TEXT SAMPLE</div>'
        '<div style="position:absolute;top:124px;left:112px">COLLIDING WORDS HERE</div>'))
    # a glyph is drawn, and extracted whole, only when it starts inside the clip: six lines shifted by 5 px make
    # sure one of them straddles the edge by most of a 24 px W, whatever the font's metrics
    cut_off = PLAIN.format(title="Cut off", body="".join(
        f'<p style="white-space:nowrap;font-size:24px;padding-left:{shift}px">' + "WWWW " * 30 + "</p>"
        for shift in range(0, 30, 5)))
    printed = print_documents({"overlap.html": overlapping, "cut-off.html": cut_off}, binary=_printer().binary,
                              recorded_utc=DATE)
    for name, data in printed.items():
        (tmp_path / name).write_bytes(data)
    assert any("COLLIDING" in line or "OVERLAPPING" in line for line in checks.overlaps(tmp_path / "overlap.pdf"))
    assert checks.overlaps(tmp_path / "cut-off.pdf") == []
    assert checks.past_right_edge(tmp_path / "cut-off.pdf", RIGHT_MARGIN_MM) != []
    assert checks.past_right_edge(tmp_path / "overlap.pdf", RIGHT_MARGIN_MM) == []
    assert checks.missing_marks(tmp_path / "overlap.pdf", "DAI-DOC-INDEX", "0.1.0+g0123456789ab") == [
        "page 1: no 'DAI-DOC-INDEX'", "page 1: no '0.1.0+g0123456789ab'", "page 1: no 'page 1 of 1'"]


@pytest.mark.req("SRS-202")
def test_the_bookmarks_are_the_headings_of_each_document(pdf_package: Path, tmp_path: Path) -> None:
    def unspaced(titles: list[str]) -> list[str]:
        # ANOM-016: Chromium drops the space where a heading wraps onto a second line (SRS-202 re-specified)
        return ["".join(title.split()) for title in titles]

    for pdf, _ in _pdfs(pdf_package):
        html = pdf.with_suffix(".html").read_text(encoding="utf-8")
        expected = checks.headings(html)
        assert expected and unspaced(checks.outline(pdf)) == unspaced(expected), pdf.name
    # negative control: the same document printed without an outline fails the check
    card = (pdf_package / "model-card.html").read_text(encoding="utf-8")
    bare = print_documents({"model-card.html": card}, binary=_printer().binary, recorded_utc=DATE, outline=False)
    (tmp_path / "bare.pdf").write_bytes(bare["model-card.pdf"])
    assert checks.headings(card) and checks.outline(tmp_path / "bare.pdf") == []


@pytest.mark.req("SRS-202")
def test_printing_again_gives_the_same_bytes_with_no_local_path(pdf_package: Path) -> None:
    names = ("model-card.html", "trace-soup.html")
    again = print_documents({n: (pdf_package / n).read_text(encoding="utf-8") for n in names},
                            binary=_printer().binary, recorded_utc=DATE)  # another temporary folder
    for name in names:
        pdf = name[:-5] + ".pdf"
        assert again[pdf] == (pdf_package / pdf).read_bytes(), pdf
    for pdf, _ in _pdfs(pdf_package):
        data = pdf.read_bytes()
        assert b"file:" not in data and b"device-ai-pdf-" not in data, pdf.name
        assert checks.info(pdf)["CreationDate"].strip() == "Mon Nov 30 12:00:00 2026 UTC"  # the recorded run date


def _fake_chromium(folder: Path, version: str, *, prints: bool) -> Path:
    script = folder / "chromium"
    script.write_text("#!/bin/sh\n"
                      f'if [ "$1" = "--version" ]; then echo "{version}"; exit 0; fi\n'
                      + ("echo 'printing failed: no display' >&2; exit 1\n" if not prints else "exit 0\n"))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


@pytest.mark.req("SRS-202")
def test_without_a_working_chromium_nothing_is_written(graph: dict[str, Any], project: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "package"
    with pytest.raises(DependencyMissing, match="does not exist") as missing:
        build_package(graph, root=project, out=out, pdf=True, chromium=tmp_path / "no-such-chromium")
    assert "apt-get install chromium" in missing.value.hint
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(DependencyMissing, match="none was found on PATH"):
        build_package(graph, root=project, out=out, pdf=True)
    old = tmp_path / "old"
    old.mkdir()
    with pytest.raises(DependencyMissing, match="131 or newer"):
        build_package(graph, root=project, out=out, pdf=True,
                      chromium=_fake_chromium(old, "Chromium 120.0.6099.224 built on Debian", prints=True))
    failing = tmp_path / "failing"
    failing.mkdir()
    with pytest.raises(OutputError, match="failed to print .*printing failed: no display"):
        build_package(graph, root=project, out=out, pdf=True,
                      chromium=_fake_chromium(failing, "Chromium 156.0.8078.114 built on Debian", prints=False))
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["empty-path", "failing", "old"]
    monkeypatch.setenv("PATH", os.defpath)

    graph_file = tmp_path / "graph.json"
    graph_file.write_text(json.dumps(graph), encoding="utf-8")
    code = cli.main(["report", "package", "--graph", str(graph_file), "--root", str(project), "--out", str(out),
                     "--allow-gaps", "--pdf", "--chromium", str(tmp_path / "no-such-chromium")])
    err = capsys.readouterr().err
    assert code == 2 and "DAI-600" in err and "Traceback" not in err and not out.exists()


def _ci8_results(*, one_function_per_case: bool) -> dict[str, dict[str, Any]]:
    """The test records of CI run 8 (data/ci8-test-records.json.gz); with ``one_function_per_case`` each
    parametrized case renamed into a function of its own (nothing left to collapse)."""
    snapshot = json.loads(gzip.decompress((DATA / "ci8-test-records.json.gz").read_bytes()))
    results = {}
    for node_id, record in snapshot["records"].items():
        if one_function_per_case:
            node_id = node_id.replace("[", "_").replace("]", "")
        results[node_id] = {"outcome": record["outcome"], "duration_s": 0.1, "file": record["file"],
                            "line": record["line"], "requirements": record["requirements"], "message": None}
    return results


def _with_cases(graph: dict[str, Any], function: str, requirement: str, outcomes: list[str]) -> dict[str, Any]:
    """The graph with parametrized cases ``function[case-i]`` verifying ``requirement``."""
    run = graph["runs"][0]["id"]
    for i, outcome in enumerate(outcomes):
        test_id = f"{function}[case-{i:03d}]"
        graph["nodes"].append({"kind": "test", "id": test_id, "fingerprint": None, "source": None, "review": None,
                               "review_state": None, "suspect_because": [],
                               "fields": {"file": function.split("::")[0], "line": 1, "requirements": [requirement],
                                          "unresolved": []},
                               "results": [{"run": run, "outcome": outcome, "duration_s": 0.1, "message": None}]})
        graph["edges"].append({"kind": "verifies", "source": test_id, "target": requirement,
                               "reviewed": {"source": None, "target": None}, "suspect": False})
    return graph


@pytest.mark.req("SRS-203")
def test_parametrized_cases_collapse_into_one_entry_per_function(graph: dict[str, Any], project: Path) -> None:
    from device_ai.regulatory.render.documents import requirements_matrix

    many = "tests/test_wide.py::test_many_cases"
    mixed = "tests/test_wide.py::test_mixed_cases"
    wide = _with_cases(copy.deepcopy(graph), many, "SRS-001", ["passed"] * 301)
    wide = _with_cases(wide, mixed, "SRS-001", ["passed", "failed", "passed"])
    view = TraceView.from_graph(wide)
    row = next(r for r in requirements_matrix(view)["rows"] if r["id"] == "SRS-001")
    entries = {t["id"]: t for t in row["tests"]}
    assert (entries[many]["cases"], entries[many]["summary"], entries[many]["outcome"]) == (301, "301 passed", "passed")
    assert (entries[mixed]["cases"], entries[mixed]["summary"], entries[mixed]["outcome"]) == (3, "1 failed, 2 passed",
                                                                                                "failed")
    assert entries[many]["result"] == "301 cases: 301 passed"
    plain = next(r for r in requirements_matrix(view)["rows"] if r["id"] == "SRS-010")["tests"]
    assert [(t["id"], t["cases"], t["parametrized"], t["result"]) for t in plain] == [
        ("tests/test_sample.py::test_reading_limits", 1, False, "passed")]

    docs = {d.file: d for d in DOCUMENTS}
    html = render_all(view, root=project, sbom={}, model_manifests={},
                      files=(docs["trace-requirements.html"], docs["vv-report.html"]))
    assert "301 cases: 301 passed" in html["trace-requirements.html"]
    assert html["trace-requirements.html"].count("test_many_cases[case-") == 0
    assert html["vv-report.html"].count(f"{many}[case-") == 301  # the V&V report keeps every record


@pytest.mark.slow
@pytest.mark.req("SRS-203")
def test_the_repository_requirements_matrix_prints_in_at_most_60_pages(tmp_path: Path) -> None:
    printer = _printer()
    root = copy_items(tmp_path / "project")
    doc = next(d for d in DOCUMENTS if d.file == "trace-requirements.html")
    pages = {}
    for renamed in (False, True):
        results = write_run(tmp_path / f"results-{renamed}.json", root, _ci8_results(one_function_per_case=renamed))
        view = TraceView.from_graph(build_graph(root, results))
        html = render_all(view, root=root, sbom={}, model_manifests={}, files=(doc,))
        pdf = tmp_path / f"matrix-{renamed}.pdf"
        pdf.write_bytes(print_documents(html, binary=printer.binary, recorded_utc=view.recorded_date())
                        ["trace-requirements.pdf"])
        pages[renamed] = checks.page_count(pdf)
        if not renamed:
            assert checks.overlaps(pdf) == [] and checks.past_right_edge(pdf, RIGHT_MARGIN_MM) == []
    print(f"requirements matrix of CI run 8's records: {pages[False]} pages; without collapsing: {pages[True]}")
    assert pages[False] <= PAGE_LIMIT < pages[True], pages
