"""The SRS, the SDS with its generated architecture diagram and the revision history in the package
(issue 19 item 5; SRS-211).

Each check is a function that returns what is wrong, run on the real package and on a broken
input (a requirement dropped from the view, an item removed from the YAML) where it must fail.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from markupsafe import escape

from device_ai.regulatory.package import package_files
from device_ai.regulatory.render import DOCUMENTS, render_all
from device_ai.regulatory.render.control import document_id
from device_ai.regulatory.render.revisions import history
from device_ai.regulatory.render.specification import split_acceptance
from device_ai.regulatory.render.view import TraceView

from .conftest import build_graph, copy_items, sample_results, write_run
from tests import fast_yaml

NEW = ("srs.html", "sds.html", "revision-history.html")


def _render(graph: Mapping[str, Any], root: Path, *names: str) -> dict[str, str]:
    return render_all(TraceView.from_graph(graph), root=root, sbom={}, model_manifests={},
                      files=[d for d in DOCUMENTS if d.file in names])


def _yaml(root: Path, name: str, key: str) -> list[dict[str, Any]]:
    return fast_yaml.safe_load((root / "traceability" / name).read_text(encoding="utf-8"))[key]


def missing_requirement_texts(page: str, requirements: Iterable[Mapping[str, Any]]) -> list[str]:
    """IDs of requirements whose full text (HTML-escaped) is not on the page in its own row."""
    missing = []
    for r in requirements:
        row = re.search(rf'<tr id="{re.escape(r["id"])}">(.*?)</tr>', page, re.S)
        if row is None or f'data-field="text">{escape(r["text"])}</p>' not in row.group(1):
            missing.append(r["id"])
    return missing


def unnamed_items(page: str, items: Iterable[Mapping[str, Any]]) -> list[str]:
    """IDs of items that the page's first SVG (the architecture diagram) does not show as a box."""
    svg = re.search(r"<svg.*?</svg>", page, re.S)
    drawn = set(re.findall(r'font-weight="bold">([^<]+)</text>', svg.group(0))) if svg else set()
    return [i["id"] for i in items if i["id"] not in drawn]


@pytest.mark.req("SRS-211")
def test_each_new_document_is_in_the_package_with_its_id(package_dir: Path) -> None:
    for name in NEW:
        page = (package_dir / name).read_text(encoding="utf-8")
        assert f'data-field="id">{document_id(name)}</strong>' in page, name
        assert "<script" not in page
    assert document_id("srs.html") == "DAI-DOC-SRS" and document_id("sds.html") == "DAI-DOC-SDS"
    index = (package_dir / "index.html").read_text(encoding="utf-8")
    assert all(f'href="{name}"' in index for name in NEW)
    # the test project is no git repository: the page says so instead of failing
    assert "No history available: the package was built outside a git work tree" in (
        package_dir / "revision-history.html").read_text(encoding="utf-8")


@pytest.mark.req("SRS-211")
def test_the_srs_holds_every_requirement_text_and_a_dropped_one_fails_the_check(
        graph: dict[str, Any], project: Path, package_dir: Path) -> None:
    requirements = _yaml(project, "requirements.yaml", "software_requirements")
    page = (package_dir / "srs.html").read_text(encoding="utf-8")
    assert len(requirements) > 150 and missing_requirement_texts(page, requirements) == []
    # grouped by category, sorted by ID inside each group
    for group in re.findall(r'<h2 id="cat-[a-z]+">.*?</table>', page, re.S):
        ids = re.findall(r'<tr id="SRS-(\d+)">', group)
        assert ids and ids == sorted(ids, key=int)
    # acceptance criterion and re-specification shown
    with_criterion = next(r for r in requirements if "Acceptance:" in r["text"])
    assert f'data-field="acceptance">{escape(split_acceptance(with_criterion["text"])[1])}</span>' in page
    respecified = next(r for r in requirements if r.get("respecifications"))
    row = re.search(rf'<tr id="{respecified["id"]}">(.*?)</tr>', page, re.S).group(1)
    assert "re-specified" in row and "Independent review at this content" in row

    dropped = copy.deepcopy(graph)
    dropped["nodes"] = [n for n in dropped["nodes"] if n["id"] != "SRS-012"]
    control = _render(dropped, project, "srs.html")["srs.html"]
    assert missing_requirement_texts(control, requirements) == ["SRS-012"]


@pytest.mark.req("SRS-211")
def test_split_acceptance_takes_the_criterion_after_its_label_only() -> None:
    assert split_acceptance("X shall hold. Acceptance: a test sees it.") == ("X shall hold.", "a test sees it.")
    assert split_acceptance("X shall hold; nothing else.") == ("X shall hold; nothing else.", None)
    assert split_acceptance("NoAcceptance: here") == ("NoAcceptance: here", None)


@pytest.mark.req("SRS-211")
def test_a_requirement_text_with_a_script_is_escaped(graph: dict[str, Any], project: Path) -> None:
    hostile = copy.deepcopy(graph)
    node = next(n for n in hostile["nodes"] if n["id"] == "SRS-001")
    node["fields"]["text"] = 'Shall <script>alert("x")</script> & hold. Acceptance: <img src=x onerror=1>'
    node["fields"]["rationale"] = "<b>bold</b>"
    page = _render(hostile, project, "srs.html")["srs.html"]
    assert "<script" not in page and "<img" not in page and "<b>bold" not in page
    assert "Shall &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; hold." in page
    assert 'data-field="acceptance">&lt;img src=x onerror=1&gt;</span>' in page


@pytest.mark.req("SRS-211")
def test_the_diagram_names_every_item_and_an_item_removed_from_the_yaml_fails_the_check(
        project: Path, package_dir: Path, tmp_path: Path) -> None:
    items = _yaml(project, "software_items.yaml", "software_items")
    for name in ("architecture.html", "sds.html"):
        page = (package_dir / name).read_text(encoding="utf-8")
        assert len(items) >= 18 and unnamed_items(page, items) == [], name
        assert "<script" not in page and "url(" not in re.search(r"<svg.*?</svg>", page, re.S).group(0)

    root = copy_items(tmp_path / "removed")
    listing = root / "traceability" / "software_items.yaml"
    text = listing.read_text(encoding="utf-8")
    listing.write_text(text[:text.index("  - id: SI-PREPROCESS")] + text[text.index("  - id: SI-ENGINE"):],
                       encoding="utf-8")
    for other in sorted((root / "traceability").glob("*.yaml")):  # its links move to SI-ENGINE
        if other.name not in ("software_items.yaml", "reviews.yaml"):
            t = re.sub(r",\s*SI-PREPROCESS\b", "", other.read_text(encoding="utf-8"))
            other.write_text(re.sub(r"\bSI-PREPROCESS,\s*", "", t).replace("SI-PREPROCESS", "SI-ENGINE"),
                             encoding="utf-8")
    write_run(root / "results.json", root, sample_results())
    control = _render(build_graph(root, root / "results.json"), root, "architecture.html")["architecture.html"]
    assert unnamed_items(control, items) == ["SI-PREPROCESS"]


PLANTED = '''"""A planted module of the regulatory item."""

from device_ai.errors import TraceabilityError


def planted_public_entry(path, *, strict=True):
    """Read the planted <script>alert(1)</script> thing.

    A second paragraph that the summary leaves out.
    """
    raise TraceabilityError(str(path))


def _planted_private_helper():
    """Not part of the interface."""


class PlantedPublicRecord:
    """One planted record."""
'''


@pytest.mark.req("SRS-211")
def test_the_sds_lists_a_planted_public_function_not_a_private_one(graph: dict[str, Any], project: Path,
                                                                   tmp_path: Path) -> None:
    root = copy_items(tmp_path / "with-source")
    (root / "results.json").write_bytes((project / "results.json").read_bytes())
    module = root / "src" / "device_ai" / "regulatory" / "planted_design.py"
    module.parent.mkdir(parents=True)
    module.write_text(PLANTED, encoding="utf-8")
    (root / "src" / "device_ai" / "broken_item_module.py").write_text("def (:\n", encoding="utf-8")
    files = package_files(graph, root=root)
    assert set(NEW) <= set(files)
    page = files["sds.html"].decode("utf-8")
    row = re.search(r'<tr id="mod-device_ai.regulatory.planted_design">(.*?)</tr>', page, re.S).group(1)
    assert "<code>planted_public_entry(path, *, strict)</code>: Read the planted &lt;script&gt;alert(1)&lt;/script&gt; thing." in row
    assert "<code>class PlantedPublicRecord</code>: One planted record." in row
    assert "_planted_private_helper" not in page and "second paragraph" not in page and "<script" not in page
    # the import of device_ai.errors is a dependency of SI-REGULATORY on SI-PLATFORM, with the import named
    edge = re.search(r'<tr id="dep-SI-REGULATORY-SI-PLATFORM">(.*?)</tr>', page, re.S)
    assert edge is not None and "device_ai.regulatory.planted_design &rarr; device_ai.errors" in edge.group(1)
    assert re.search(r'<tr id="dep-SI-PLATFORM-', page) is None  # the planted tree has no platform source
    # a file that does not parse is reported in its row, not skipped and not a crash
    assert "not parsed: SyntaxError (line 1)" in page


def _git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_DATE": "2026-12-01T10:00:00Z", "GIT_COMMITTER_DATE": "2026-12-01T10:00:00Z",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", "-c", "user.name=Test Author", "-c", "user.email=test@example.invalid",
                           "-c", "commit.gpgsign=false", *args], cwd=root, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def _commit(root: Path, path: str, text: str, subject: str) -> str:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(text, encoding="utf-8")
    _git(root, "add", path)
    _git(root, "commit", "-q", "-m", subject)
    return _git(root, "rev-parse", "HEAD")


@pytest.mark.req("SRS-211")
def test_the_revision_history_lists_the_commits_of_the_device_file(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    first = _commit(repo, "traceability/requirements.yaml", "a\n", "Requirements <first>")
    _commit(repo, "docs/notes.md", "b\n", "Docs only")
    third = _commit(repo, "models/demo/manifest.json", "{}\n", "Model manifest")
    fourth = _commit(repo, "risk/hazards.yaml", "c\n", "Risk after the graph's commit")

    found = history(repo, third)
    assert found.available
    assert [(r.commit, r.subject, r.areas) for r in found.revisions] == [
        (third, "Model manifest", ("models",)), (first, "Requirements <first>", ("traceability",))]
    assert found.revisions[0].date == "2026-12-01" and "shallow" not in found.note
    assert [r.commit for r in history(repo, fourth).revisions] == [fourth, third, first]

    assert history(repo, "f" * 40).note == "no history available: the graph's commit ffffffffffff is not in this repository"
    assert not history(repo, None).available
    tarball = tmp_path / "tarball"
    tarball.mkdir()
    (tarball / "traceability").mkdir()
    assert history(tarball, third).note.startswith("no history available: the package was built outside")
    assert not history(repo / "traceability", third).available  # a folder inside a repository is not its root

    shallow = tmp_path / "shallow"
    _git(tmp_path, "clone", "-q", "--depth", "1", repo.as_uri(), str(shallow))
    partial = history(shallow, fourth)
    assert partial.available and [r.commit for r in partial.revisions] == [fourth]
    assert "this clone is shallow" in partial.note and "incomplete" in partial.note


@pytest.mark.req("SRS-211")
def test_the_revision_history_page_escapes_subjects(graph: dict[str, Any], tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    commit = _commit(repo, "traceability/x.yaml", "a\n", "Subject with <script>alert(1)</script>")
    moved = copy.deepcopy(graph)
    moved["head"]["commit"] = commit
    page = _render(moved, repo, "revision-history.html")["revision-history.html"]
    assert "<script" not in page and "Subject with &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert f'<tr id="rev-{commit[:12]}">' in page and "1 commit(s) up to" in page
