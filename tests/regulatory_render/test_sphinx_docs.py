"""The Sphinx site of docs/ with the pages generated from the trace graph (issue 6, "then Sphinx").

Built from the synthetic run of conftest.py (SRS-010 passed, SRS-007 failed) with warnings as
errors, offline, into tmp_path: the matrices must be pages of the site and show the verdicts of
the graph.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from device_ai.errors import OutputError
from device_ai.regulatory.render.myst import MARKER, md, render_pages, write_pages
from device_ai.regulatory.render.view import TraceView

REPO = Path(__file__).resolve().parents[2]
MATRICES = ("trace-requirements", "trace-risk", "trace-soup", "requirements", "release-notes")


def _row(html: str, first_cell: str) -> str:
    """The table row whose first cell is ``first_cell`` (an item ID)."""
    found = [r for r in re.findall(r"<tr[^>]*>.*?</tr>", html, flags=re.S) if _cells(r)[:1] == [first_cell]]
    assert found, f"no row for {first_cell}"
    return found[0]


def _cells(row: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", row, flags=re.S)]


@pytest.mark.req("SRS-045")
def test_sphinx_site_builds_with_the_generated_matrices(graph: dict[str, Any], tmp_path: Path) -> None:
    from sphinx.cmd.build import build_main

    source = tmp_path / "docs"
    shutil.copytree(REPO / "docs", source, ignore=shutil.ignore_patterns("_build", "generated"))
    written = write_pages(graph, source / "generated")
    assert sorted(p.name for p in written) == sorted([f"{m}.md" for m in MATRICES] + ["index.md"])

    out = tmp_path / "html"
    status = build_main([str(source), str(out), "-b", "html", "-W", "--keep-going", "-q",
                         "-d", str(tmp_path / "doctrees")])
    assert status == 0

    for page in ("index", "architecture", "software_development_plan", "deidentification-conformance",
                 "dicom-conformance-statement"):
        assert (out / f"{page}.html").is_file(), page
    pages = {m: (out / "generated" / f"{m}.html").read_text(encoding="utf-8") for m in MATRICES}
    requirements = pages["trace-requirements"]
    assert _cells(_row(requirements, "SRS-010"))[-1] == "verified"
    assert _cells(_row(requirements, "SRS-007"))[-1] == "failed"
    assert "tests/test_sample.py::test_reading_limits (passed)" in _cells(_row(requirements, "SRS-010"))[3]
    assert _cells(_row(pages["requirements"], "SRS-010"))[2:5] == ["approved", "security", "verified"]
    assert "RC-001" in pages["trace-risk"] and "SOUP-numpy" in pages["trace-soup"]
    index = (out / "index.html").read_text(encoding="utf-8")
    for matrix in MATRICES:  # every generated page is in the site's toctree
        assert f'href="generated/{matrix}.html"' in index, matrix


@pytest.mark.req("SRS-045")
def test_generated_pages_are_reproducible_and_escape_item_text(graph: dict[str, Any], tmp_path: Path) -> None:
    view = TraceView.from_graph(graph)
    assert render_pages(view) == render_pages(TraceView.from_graph(graph))
    assert md("a|b *c* [d](e) <script> {ref}`x`") == r"a\|b \*c\* \[d\](e) \<script\> \{ref\}\`x\`"
    assert md("# heading") == r"\# heading" and md(None) == "n/a"

    out = tmp_path / "generated"
    write_pages(graph, out)
    (out / "stale.md").write_text("left from an older version\n", encoding="utf-8")
    write_pages(graph, out)  # an earlier output is replaced whole
    assert not (out / "stale.md").exists() and (out / MARKER).is_file()

    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "mine.md").write_text("# mine\n", encoding="utf-8")
    with pytest.raises(OutputError):
        write_pages(graph, foreign)
    assert (foreign / "mine.md").read_text(encoding="utf-8") == "# mine\n"
