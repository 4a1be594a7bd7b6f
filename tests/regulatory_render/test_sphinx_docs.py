"""The Sphinx site of docs/ publishes the submission package (issue 6 "then Sphinx"; issue 19
item 5 "one publication").

Built from the synthetic run of conftest.py with warnings as errors, offline, into tmp_path: the
site's ``package/`` folder must hold exactly the files ``report package --allow-gaps`` writes
for the same graph, byte for byte, and the generated index page must link every one of them.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

import pytest

from device_ai import cli
from device_ai.errors import OutputError
from device_ai.regulatory.package import package_files, verify_package
from device_ai.regulatory.render import DOCUMENTS
from device_ai.regulatory.render.control import document_id, revision
from device_ai.regulatory.render.myst import MARKER, md, site_files, write_pages
from device_ai.regulatory.render.view import TraceView

REPO = Path(__file__).resolve().parents[2]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def publication_problems(published: Mapping[str, bytes], package: Mapping[str, bytes]) -> list[str]:
    """How the published files differ from the package's: missing, extra or other bytes."""
    problems = [f"{name}: not published" for name in sorted(set(package) - set(published))]
    problems += [f"{name}: not in the package" for name in sorted(set(published) - set(package))]
    problems += [f"{name}: bytes differ" for name in sorted(set(package) & set(published))
                 if package[name] != published[name]]
    return problems


def link_problems(page: Path, site: Path) -> tuple[list[str], set[str]]:
    """Links of a built page that resolve to no file of the site, and the site files it links."""
    unresolved, linked = [], set()
    for href in re.findall(r'<a[^>]*\bhref="([^"#]+)(?:#[^"]*)?"', page.read_text(encoding="utf-8")):
        if "://" in href:
            continue
        target = (page.parent / href).resolve()
        if target.is_file() and target.is_relative_to(site.resolve()):
            linked.add(target.relative_to(site.resolve()).as_posix())
        else:
            unresolved.append(href)
    return unresolved, linked


@pytest.mark.req("SRS-045", "SRS-210")
def test_sphinx_site_publishes_exactly_the_package_files(graph: dict[str, Any], project: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from sphinx.cmd.build import build_main

    graph_path = tmp_path / "graph.json"
    graph_path.write_text(json.dumps(graph), encoding="utf-8")
    package_dir = tmp_path / "package"
    assert cli.main(["report", "package", "--graph", str(graph_path), "--root", str(project),
                     "--out", str(package_dir), "--allow-gaps"]) == 0
    source = tmp_path / "docs"
    shutil.copytree(REPO / "docs", source, ignore=shutil.ignore_patterns("_build", "generated"))
    assert cli.main(["report", "docs", "--graph", str(graph_path), "--root", str(project),
                     "--out", str(source / "generated")]) == 0
    assert "DRAFT with" in capsys.readouterr().err  # the synthetic graph has gaps: the site says it is a draft

    out = tmp_path / "html"
    status = build_main([str(source), str(out), "-b", "html", "-W", "--keep-going", "-q",
                         "-d", str(tmp_path / "doctrees")])
    assert status == 0
    for page in ("index", "architecture", "software_development_plan", "deidentification-conformance",
                 "dicom-conformance-statement", "generated/index"):
        assert (out / f"{page}.html").is_file(), page

    # the same files, byte for byte, as the package; the package's manifest verifies the published copy
    package, published = _files(package_dir), _files(out / "package")
    assert {d.file for d in DOCUMENTS} | {"index.html", "manifest.json"} == set(package)
    assert publication_problems(published, package) == []
    assert verify_package(out / "package") == []
    assert json.loads(published["manifest.json"])["status"] == "draft"
    # negative controls: one document dropped, one byte altered
    dropped = {name: data for name, data in published.items() if name != "risk-report.html"}
    assert publication_problems(dropped, package) == ["risk-report.html: not published"]
    altered = dict(published, **{"ifu.html": published["ifu.html"].replace(b"<", b"{", 1)})
    assert publication_problems(altered, package) == ["ifu.html: bytes differ"]

    # the index page links every published file, and every link resolves
    index = out / "generated" / "index.html"
    unresolved, linked = link_problems(index, out)
    assert unresolved == []
    assert {n for n in linked if n.startswith("package/")} == {f"package/{name}" for name in package}
    broken = index.with_name("broken.html")  # negative control: a link to a file the site lacks
    broken.write_text(index.read_text(encoding="utf-8").replace('href="../package/gspr.html"',
                                                                'href="../package/gspr2.html"'), encoding="utf-8")
    assert link_problems(broken, out)[0] == ["../package/gspr2.html"]
    html = index.read_text(encoding="utf-8")
    rows = {m.group(1): m.group(0) for m in re.finditer(r"<tr><td>(DAI-DOC-[A-Z0-9-]+)</td>.*?</tr>", html)}
    view = TraceView.from_graph(graph)
    for doc in DOCUMENTS:
        row = rows[document_id(doc.file)]
        assert f'href="../package/{doc.file}"' in row and revision(view) in row, doc.file
        assert escape(doc.title) in row and escape(doc.clause) in row, doc.file
    assert 'href="generated/index.html"' in (out / "index.html").read_text(encoding="utf-8")


@pytest.mark.req("SRS-045", "SRS-210")
def test_generated_folder_is_reproducible_replaced_whole_and_never_foreign(graph: dict[str, Any], project: Path,
                                                                           tmp_path: Path) -> None:
    files = site_files(graph, root=project)
    assert files == site_files(graph, root=project)
    assert {n.removeprefix("extra/package/"): d for n, d in files.items() if n != "index.md"} == \
        package_files(graph, root=project)
    assert md("a|b *c* [d](e) <script> {ref}`x`") == r"a\|b \*c\* \[d\](e) \<script\> \{ref\}\`x\`"
    assert md("# heading") == r"\# heading" and md(None) == "n/a"

    out = tmp_path / "generated"
    write_pages(graph, out, root=project)
    (out / "stale.md").write_text("left from an older version\n", encoding="utf-8")
    write_pages(graph, out, root=project)  # an earlier output is replaced whole
    assert not (out / "stale.md").exists() and (out / MARKER).is_file()
    assert _files(out) == {**files, MARKER: (out / MARKER).read_bytes()}

    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "mine.md").write_text("# mine\n", encoding="utf-8")
    with pytest.raises(OutputError):
        write_pages(graph, foreign, root=project)
    assert (foreign / "mine.md").read_text(encoding="utf-8") == "# mine\n"
