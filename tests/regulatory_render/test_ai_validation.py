"""The AI model validation report in the package (issue 19 item 5; SRS-212): the standalone study and
the external validation side by side, every set's figures and verdicts from the result files, the
worst subgroups, data management, candidates not released, the INT8 study, limitations and the
PCCP position.

Each check is a function that returns what is wrong, run on the real page and on a page rendered
from an edited copy of the result files, where it must fail or follow the edit.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from conftest import require_tool
from device_ai.errors import TraceabilityError
from device_ai.regulatory.package import model_manifests, package_files
from device_ai.regulatory.pdf import Printer, print_documents
from device_ai.regulatory.render import DOCUMENTS, PrintPage, render_all
from device_ai.regulatory.render.control import document_id
from device_ai.regulatory.render.view import TraceView

from . import pdf_checks as checks
from .conftest import DATE, REPO, copy_items

NAME = "ai-validation.html"
MODEL = "MODEL-demo-dinov2-seg-1.0.0"
EXTERNAL = "validation/results/external-demo-dinov2-seg-1.0.0.json"
STATEMENTS = "validation/ai_validation.yaml"
METRIC_OF = {"organ_dice": "mean", "lesion_dice": "mean", "lesion_sensitivity": "value",
             "false_positives_per_slice": "value", "lesion_free_slices_clean": "value"}


def render(graph: Mapping[str, Any], root: Path) -> str:
    view = TraceView.from_graph(graph)
    return render_all(view, root=root, sbom={}, model_manifests=model_manifests(view, root),
                      files=[d for d in DOCUMENTS if d.file == NAME])[NAME]


def edited_copy(tmp_path: Path, relative: str, edit: Any) -> Path:
    """A copy of the project's items whose JSON file ``relative`` went through ``edit(data)``."""
    root = copy_items(tmp_path / "copy")
    data = json.loads((root / relative).read_text(encoding="utf-8"))
    edit(data)
    (root / relative).write_text(json.dumps(data), encoding="utf-8")
    return root


def worst(subgroups: list[Mapping[str, Any]]) -> Mapping[str, Any]:
    return min((g for g in subgroups if g["n"] >= 5), key=lambda g: g["lesion_dice"])


def expected_figures(external: Mapping[str, Any]) -> dict[tuple[str, str], float]:
    """Every criterion's figure of every set, read from the JSON independently of the renderer."""
    out = {}
    for entry in external["sets"]:
        for name in entry["acceptance"]["criteria"]:
            out[(entry["set"], name)] = (worst(entry["subgroups"])["lesion_dice"] if name == "subgroup_lesion_dice"
                                         else entry["metrics"][name][METRIC_OF[name]])
    return out


def model_section(page: str) -> str:
    """The released model's part of the page (candidates have their own side-by-side tables)."""
    return page[page.index(f'<h3 id="{MODEL}">'):page.index('<h2 id="data">')]


def figure_problems(page: str, external: Mapping[str, Any]) -> list[str]:
    """Cells of the side-by-side table whose figure, verdict or threshold differ from the JSON, or are absent."""
    cells = {(m.group(1), m.group(2)): m.group(3) for m in re.finditer(
        r'<td class="small" data-set="([^"]+)" data-criterion="([^"]+)">(.*?)</td>', model_section(page), re.S)}
    problems = []
    for (name, criterion), value in expected_figures(external).items():
        cell = cells.get((name, criterion))
        entry = next(e for e in external["sets"] if e["set"] == name)
        met = entry["acceptance"]["results"][criterion]
        if cell is None:
            problems.append(f"{name} {criterion}: no cell")
            continue
        shown = re.search(r'data-value="([^"]+)">([^<]+)<', cell)
        if shown is None or float(shown.group(1)) != value or shown.group(2) != f"{value:.3f}":
            problems.append(f"{name} {criterion}: shows {shown and shown.groups()}, JSON {value}")
        if ('b-ok">met<' in cell) != met or f' {entry["acceptance"]["criteria"][criterion]} ' not in cell:
            problems.append(f"{name} {criterion}: verdict or threshold differs from the JSON")
    return problems


def subgroup_problems(page: str, external: Mapping[str, Any]) -> list[str]:
    """Subgroup rows (n, Lesion Dice with CI) that differ from the JSON, and worst subgroups not named."""
    section = page[page.index('<h2 id="subgroups">'):page.index('<h2 id="candidates">')]
    problems = []
    for entry in external["sets"]:
        rows = re.findall(rf'<tr data-set="{re.escape(entry["set"])}">(.*?)</tr>', section, re.S)
        shown = [re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", r))).strip() for r in rows]
        wanted = [f"{g['subgroup']} {g['bin']} {g['level']} {g['n']}{' (not counted)' if g['n'] < 5 else ''} "
                  f"{g['lesion_dice']:.3f} [{g['lesion_dice_ci95'][0]:.3f}, {g['lesion_dice_ci95'][1]:.3f}]"
                  for g in entry["subgroups"]]
        problems += [f"{entry['set']}: row {w!r} not shown" for w, s in zip(wanted, shown, strict=False)
                     if not s.startswith(w)] + ([f"{entry['set']}: {len(shown)} rows"] if len(shown) != len(wanted)
                                                 else [])
        named = re.search(rf'id="{MODEL}-worst-{re.escape(entry["set"])}".*?data-field="worst">([^<]+)<', section,
                          re.S)
        w = worst(entry["subgroups"])
        if named is None or html.unescape(named.group(1)) != f"{w['subgroup']} {w['bin']}, n {w['n']}":
            problems.append(f"{entry['set']}: worst subgroup {w['subgroup']} {w['bin']} not named")
    return problems


def verdict(page: str) -> str:
    return re.search(rf'id="{MODEL}-verdict" data-verdict="([a-z]+)"', page).group(1)


@pytest.fixture(scope="module")
def page(package_dir: Path) -> str:
    return (package_dir / NAME).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def external() -> dict[str, Any]:
    return json.loads((REPO / EXTERNAL).read_text(encoding="utf-8"))


@pytest.mark.req("SRS-212")
def test_the_report_is_a_package_document_with_its_id(graph: dict[str, Any], project: Path, package_dir: Path,
                                                      page: str) -> None:
    files = package_files(graph, root=project)
    assert files[NAME].decode("utf-8") == page  # package_files() writes it; the package on disk is the same bytes
    assert document_id(NAME) == "DAI-DOC-AI-VAL" and 'data-field="id">DAI-DOC-AI-VAL</strong>' in page
    assert "<script" not in page and f'href="{NAME}"' in (package_dir / "index.html").read_text(encoding="utf-8")
    manifest = json.loads(files["manifest.json"])
    assert manifest["documents"][NAME]["id"] == "DAI-DOC-AI-VAL" and NAME in manifest["files"]


@pytest.mark.req("SRS-212")
def test_every_set_figure_and_subgroup_equals_the_json_and_an_edited_figure_changes_the_page(
        graph: dict[str, Any], page: str, external: dict[str, Any], tmp_path: Path) -> None:
    assert len(expected_figures(external)) == 18  # 3 sets x 6 criteria, every one on the page
    assert figure_problems(page, external) == [] and subgroup_problems(page, external) == []
    # the standalone study is in the same table, with its own criteria
    study = json.loads((REPO / "validation/results/demo-dinov2-seg-1.0.0.json").read_text(encoding="utf-8"))
    organ = study["summary"]["metrics"]["organ_dice"]["mean"]
    assert f'data-set="standalone" data-criterion="organ_dice"><span class="mono" data-value="{organ}">' in page

    def edit(data: dict[str, Any]) -> None:  # one figure, on the same side of its threshold
        data["sets"][2]["metrics"]["organ_dice"]["mean"] = 0.6123
        data["sets"][1]["subgroups"][0]["n"] = 57
    edited = render(graph, edited_copy(tmp_path, EXTERNAL, edit))
    assert 'data-value="0.6123">0.612<' in edited and edited != page
    assert figure_problems(edited, external) == ["external organ_dice: shows ('0.6123', '0.612'), JSON "
                                                 f"{external['sets'][2]['metrics']['organ_dice']['mean']}"]
    assert subgroup_problems(edited, external) != []


@pytest.mark.req("SRS-212")
def test_the_verdict_follows_the_figures(graph: dict[str, Any], page: str, tmp_path: Path) -> None:
    assert verdict(page) == "fails"
    assert "The model fails the pre-registered external validation on every set (3 of 3: own-v1, own-v2, external)" \
        in page and 'href="release-notes.html#ANOM-014">ANOM-014</a>' in page

    def all_pass(data: dict[str, Any]) -> None:
        for entry in data["sets"]:
            good = {"organ_dice": 0.97, "lesion_dice": 0.9, "lesion_sensitivity": 0.95,
                    "false_positives_per_slice": 0.01, "lesion_free_slices_clean": 0.97}
            for name, value in good.items():
                entry["metrics"][name][METRIC_OF[name]] = value
            for g in entry["subgroups"]:
                g["lesion_dice"] = max(g["lesion_dice"], 0.75)
            entry["worst_subgroup"] = worst(entry["subgroups"])
            entry["acceptance"]["results"] = {name: True for name in entry["acceptance"]["criteria"]}
            entry["acceptance"]["passed"] = True
    passing = render(graph, edited_copy(tmp_path / "pass", EXTERNAL, all_pass))
    assert verdict(passing) == "passes"
    assert "The model meets every pre-registered external criterion on all 3 sets." in passing

    def contradicted(data: dict[str, Any]) -> None:  # a stored verdict its own figure does not support
        data["sets"][2]["acceptance"]["results"]["organ_dice"] = True
    with pytest.raises(TraceabilityError, match=r"external-demo-dinov2-seg-1\.0\.0\.json: criterion 'organ_dice' is "
                                                r"stored as met but its figure 0\.607\d* misses >= 0\.95"):
        render(graph, edited_copy(tmp_path / "contradicted", EXTERNAL, contradicted))

    def not_the_worst(data: dict[str, Any]) -> None:
        data["sets"][0]["worst_subgroup"] = data["sets"][0]["subgroups"][0]
    with pytest.raises(TraceabilityError, match="set own-v1: the stored worst subgroup is not the one"):
        render(graph, edited_copy(tmp_path / "worst", EXTERNAL, not_the_worst))


@pytest.mark.req("SRS-212")
def test_data_management_candidates_int8_limitations_and_the_pccp_position(page: str, project: Path) -> None:
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))
    manifest = json.loads((project / "models/demo-dinov2-seg-1.0.0/manifest.json").read_text(encoding="utf-8"))
    assert f"Training data manifest SHA-256 {manifest['training']['data_manifest_sha256']}" in text
    assert "seeds 2000000 to 2000059 (60); 60 patients, PHANTOM-TEST-000000 to PHANTOM-TEST-000059" in text
    assert "base seed 0; 60 patients, EXT-0000 to EXT-0059 all 60 synthetic; 0 training IDs" in text
    assert "The standalone study's cases equal the external set own-v1 case by case" in text
    for version in ("2.0.0", "2.1.0"):  # trained, not released, with their training plan
        assert f"demo-dinov2-seg {version} not released" in text and f"validation/training_plan_{version}.md" in text
    assert "no variant qualifies no INT8 variant qualifies: int8-dynamic fails" in text
    assert "external subgroup below the Lesion Dice criterion surrounding tissue vs organ within 15 HU 0.1305" in text
    assert "own-v2 subgroup below the Lesion Dice criterion lesion diameter 10-20 mm" in text
    assert ("Manufacturer's position: locked model; no predetermined change control plan." in text
            and "is a new package version, released only through the same gates" in text)


@pytest.mark.req("SRS-212")
def test_a_missing_result_shows_missing_and_a_malformed_one_is_refused_naming_it(
        graph: dict[str, Any], project: Path, tmp_path: Path) -> None:
    gone = copy_items(tmp_path / "gone")
    (gone / EXTERNAL).unlink()
    (gone / STATEMENTS).unlink()
    page = render(graph, gone)
    assert verdict(page) == "missing" and f'<span class="badge b-bad">missing</span> <code>{EXTERNAL}</code>' in page
    assert f'<span class="badge b-bad">missing</span> <code>{STATEMENTS}</code> No PCCP position is stated.' in page

    broken = copy_items(tmp_path / "broken")
    (broken / EXTERNAL).write_text('{"sets": [', encoding="utf-8")
    with pytest.raises(TraceabilityError, match=rf"{re.escape(EXTERNAL)}: not valid JSON"):
        render(graph, broken)
    other = edited_copy(tmp_path / "other", EXTERNAL, lambda d: d.update(manifest_sha256="0" * 64))
    with pytest.raises(TraceabilityError, match=f"{re.escape(EXTERNAL)}: names the package with manifest SHA-256 0000"):
        render(graph, other)
    (broken / EXTERNAL).unlink()
    (broken / STATEMENTS).write_text("schema: something-else\n", encoding="utf-8")
    with pytest.raises(TraceabilityError,
                       match=rf"{re.escape(STATEMENTS)}: not a device-ai/ai-validation-statements/1"):
        render(graph, broken)


@pytest.mark.req("SRS-212")
def test_the_report_prints_with_its_marks_without_overlap(package_dir: Path, tmp_path: Path) -> None:
    """`report package --pdf` prints every HTML document (test_pdf.py checks the whole package); here the
    report alone, so that a failure names it."""
    manifest = json.loads((package_dir / "manifest.json").read_text(encoding="utf-8"))
    page = (package_dir / NAME).read_text(encoding="utf-8")
    printed = print_documents({NAME: page}, binary=Printer.find(require_tool("chromium")).binary, recorded_utc=DATE)
    pdf = tmp_path / "ai-validation.pdf"
    pdf.write_bytes(printed["ai-validation.pdf"])
    entry = manifest["documents"][NAME]
    assert checks.page_count(pdf) > 3
    assert checks.missing_marks(pdf, entry["id"], entry["revision"]) == []
    assert checks.overlaps(pdf) == [] and checks.past_right_edge(pdf, PrintPage().margins_mm[1]) == []
    assert ["".join(t.split()) for t in checks.outline(pdf)] == ["".join(t.split()) for t in checks.headings(page)]
