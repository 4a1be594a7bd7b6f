"""The submission package: every document, reproducible bytes, a hashed manifest, typed errors
(SRS-045, SRS-046, SRS-049)."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from device_ai import cli
from device_ai.errors import OutputError, TraceabilityError
from device_ai.regulatory import package as pkg
from device_ai.regulatory.render import DOCUMENTS
from device_ai.regulatory.render.documents import anchor

from .conftest import HEAD, LONG_NODE, build_graph, copy_items, sample_results, write_run


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.req("SRS-046")
def test_building_twice_gives_byte_identical_files(graph: dict[str, Any], project: Path, package_dir: Path,
                                                   tmp_path: Path) -> None:
    again = tmp_path / "again"
    pkg.build_package(json.loads(json.dumps(graph)), root=project, out=again)
    first, second = _files(package_dir), _files(again)
    assert sorted(first) == sorted(second)
    assert [name for name in first if first[name] != second[name]] == []


@pytest.mark.req("SRS-046")
def test_manifest_holds_the_sha256_of_every_other_file(package_dir: Path) -> None:
    manifest = json.loads((package_dir / "manifest.json").read_text(encoding="utf-8"))
    files = _files(package_dir)
    assert sorted(manifest["files"]) == sorted(name for name in files if name != "manifest.json")
    for name, entry in manifest["files"].items():
        assert entry == {"sha256": hashlib.sha256(files[name]).hexdigest(), "bytes": len(files[name])}
    assert manifest["commit"] == HEAD and manifest["software"]["name"] == "device-ai"
    assert pkg.verify_package(package_dir) == []
    index = files["index.html"].decode()
    for name in ("trace-requirements.html", "sbom.cdx.json", "trace-graph.json"):
        # the index lists each document's signed digest (the file's, less its approval region: SRS-214)
        assert manifest["documents"][name]["signed_sha256"] in index
    assert manifest["files"]["sbom.cdx.json"]["sha256"] == manifest["documents"]["sbom.cdx.json"]["signed_sha256"]


@pytest.mark.req("SRS-046")
def test_an_altered_or_extra_file_is_reported_and_nothing_is_overwritten(package_dir: Path, graph: dict[str, Any],
                                                                         project: Path, tmp_path: Path) -> None:
    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    for name, data in _files(package_dir).items():
        (copy_dir / name).write_bytes(data)
    (copy_dir / "vv-report.html").write_bytes(b"<html>edited</html>")
    (copy_dir / "notes.txt").write_text("added later")
    (copy_dir / "soup.html").unlink()
    assert pkg.verify_package(copy_dir) == ["notes.txt: not in the manifest", "soup.html: missing",
                                            "vv-report.html: SHA-256 differs from the manifest"]
    with pytest.raises(OutputError, match="already exists and is not empty"):
        pkg.build_package(graph, root=project, out=copy_dir)
    assert (copy_dir / "notes.txt").read_text() == "added later"


@pytest.mark.req("SRS-045")
def test_every_document_is_written_self_contained(package_dir: Path) -> None:
    files = _files(package_dir)
    expected = {doc.file for doc in DOCUMENTS} | {"index.html", "manifest.json"}
    assert set(files) == expected
    for name, data in files.items():
        if not name.endswith(".html"):
            continue
        text = data.decode("utf-8")
        assert text.startswith("<!DOCTYPE html>") and "<script" not in text
        assert not re.search(r'(src|href)="(https?:)?//', text), f"{name} refers to an external resource"
        assert not re.search(r"url\(", text), f"{name} loads a resource from CSS"
        assert "<link" not in text


@pytest.mark.req("SRS-045")
def test_requirement_matrix_traces_needs_requirements_tests_and_results(package_dir: Path, graph: dict[str, Any]) -> None:
    html = (package_dir / "trace-requirements.html").read_text(encoding="utf-8")
    requirements = [n for n in graph["nodes"] if n["kind"] == "requirement"]
    for node in requirements:
        assert f'<tr id="{node["id"]}">' in html
    for need in (n for n in graph["nodes"] if n["kind"] == "user_need"):
        assert f'<tr id="{need["id"]}">' in html
    row = html[html.index('<tr id="SRS-010">'):]
    row = row[:row.index("</tr>")]
    assert "test_reading_limits" in row and ">passed<" in row and ">verified<" in row and "UN-006" in row
    row = html[html.index('<tr id="SRS-007">'):]
    assert ">failed<" in row[:row.index("</tr>")]
    row = html[html.index('<tr id="SRS-009">'):]
    assert ">skipped<" in row[:row.index("</tr>")] and ">not_verified<" in row[:row.index("</tr>")]
    # a requirement that is not (or no longer) implemented shows its status, not a verdict
    # (the last planned requirements were retired 2026-12-03; either kind will do)
    unbuilt = [n for n in requirements if n["fields"]["status"] in ("planned", "retired")]
    assert unbuilt, "the items hold no planned or retired requirement to show"
    for node in unbuilt:
        row = html[html.index(f'<tr id="{node["id"]}">'):]
        assert f'>{node["fields"]["status"]}<' in row[:row.index("</tr>")], node["id"]
    # a criterion changed after results were seen is flagged beside the verdict, never shown as plainly verified
    respecified = {n["id"] for n in requirements if n["fields"].get("respecifications")}
    assert respecified, "the items hold no re-specified requirement to show"
    for node in requirements:
        row = html[html.index(f'<tr id="{node["id"]}">'):]
        assert (">re-specified<" in row[:row.index("</tr>")]) == (node["id"] in respecified), node["id"]


@pytest.mark.req("SRS-045")
def test_vv_report_holds_every_record_with_the_5_7_5_fields(package_dir: Path, graph: dict[str, Any]) -> None:
    html = (package_dir / "vv-report.html").read_text(encoding="utf-8")
    for label in ("(a) test procedures", "(c) software version", "(c) git commit", "(d) environment", "(d) runtime",
                  "(d) platform", "(d) hardware", "(e) test tools", "(f) date (UTC)", "(g) tester"):
        assert label in html
    assert "render-test" in html and "ci-42" in html and HEAD in html and "2026-11-30T12:00:00Z" in html
    for node_id in sample_results():
        assert f'id="{anchor(node_id)}"' in html
    assert "digest differs" in html  # the failure message of the failed record
    assert 'id="dev-SRS-007"' in html and 'id="dev-SRS-009"' in html  # deviations
    for anomaly in (n for n in graph["nodes"] if n["kind"] == "anomaly"):
        assert f'<tr id="{anomaly["id"]}">' in html


@pytest.mark.req("SRS-045")
def test_risk_documents_trace_hazards_situations_controls_and_verification(package_dir: Path,
                                                                           graph: dict[str, Any]) -> None:
    matrix = (package_dir / "trace-risk.html").read_text(encoding="utf-8")
    report = (package_dir / "risk-report.html").read_text(encoding="utf-8")
    situations = [n for n in graph["nodes"] if n["kind"] == "hazardous_situation"]
    assert len(situations) >= 15
    assert any(n["fields"].get("effectiveness") for n in situations)
    for node in situations:
        assert f'<tr id="{node["id"]}">' in matrix and f'<tr id="{node["id"]}">' in report
        row = report[report.index(f'<tr id="{node["id"]}">'):]
        row = row[:row.index("</tr>")]
        # each reduction's effectiveness evidence is shown beside its rationale (ISO 14971 7.2)
        assert row.count('class="effectiveness"') == len(node["fields"].get("effectiveness") or []), node["id"]
        for control in node["fields"]["controls"]:
            assert f'id="{node["id"]}-{control}"' in matrix
    for node in (n for n in graph["nodes"] if n["kind"] in ("hazard", "risk_control")):
        assert f'<tr id="{node["id"]}">' in report
    assert "acc-unacceptable" in report and "Overall residual risk" in report and "Open items" in report
    # issue 19: the header cited ISO 14971 clause 9 that the content did not back; section 7 now holds the
    # generated clause 9 review record and the clause 10 plan, with their state (SRS-227, SRS-228)
    meta = report[report.index('<div class="meta">'):]
    meta = meta[:meta.index("</div>")]
    assert "9 and 10: generated review record and post-production plan, with their state, section 7" in meta
    assert "not done" not in report
    section = report[report.index('<h2 id="review">'):]
    assert ('id="review-state"><span class="badge b-bad">not complete</span> <strong>Conclusion: the risk management '
            'process is not complete for release.</strong>') in section
    for question in ("a", "b", "c"):
        assert f'id="review-{question}">({question})' in section
    assert 'id="plan-state"><span class="badge b-bad">not in effect</span></p>' in section  # complete, not in effect
    assert '<a href="security-plan.html">security/plan.yaml</a>' in section
    soup = (package_dir / "trace-soup.html").read_text(encoding="utf-8")
    for node in (n for n in graph["nodes"] if n["kind"] == "soup"):
        assert f'<tr id="{node["id"]}">' in soup


@pytest.mark.req("SRS-045")
def test_model_card_plan_architecture_and_release_notes(package_dir: Path, project: Path, graph: dict[str, Any]) -> None:
    card = (package_dir / "model-card.html").read_text(encoding="utf-8")
    manifest_path = next(project.glob("models/*/manifest.json"))
    manifest = json.loads(manifest_path.read_text())
    assert hashlib.sha256(manifest_path.read_bytes()).hexdigest() in card
    assert manifest["training"]["data_manifest_sha256"] in card and "not for clinical use" in card
    assert all(label["property_type"]["value"] in card for label in manifest["labels"])
    sdp = (package_dir / "sdp.html").read_text(encoding="utf-8")
    assert "Software development plan" in sdp and "Verification plan" in sdp and 'id="SI-ENGINE"' in sdp
    architecture = (package_dir / "architecture.html").read_text(encoding="utf-8")
    assert "Software items and layering" in architecture and 'id="SI-AUDIT"' in architecture
    notes = (package_dir / "release-notes.html").read_text(encoding="utf-8")
    unresolved = notes[notes.index('id="anomalies"'):]
    anomalies = [n for n in graph["nodes"] if n["kind"] == "anomaly"]
    assert {n["fields"]["status"] for n in anomalies} == {"open", "closed"}  # both kinds present to tell apart
    for node in anomalies:  # the unresolved table lists open anomalies only; closed ones are named below it
        assert (f'<tr id="{node["id"]}">' in unresolved) == (node["fields"]["status"] == "open"), node["id"]
        assert node["id"] in unresolved
    planned = [n["id"] for n in graph["nodes"] if n["kind"] == "requirement" and n["fields"]["status"] == "planned"]
    assert all(f'id="planned-{p}"' in notes for p in planned) and HEAD in notes


def _edited_project(tmp_path: Path) -> Path:
    """The items with one requirement added, one changed, one anomaly removed, and a verdict changed."""
    root = copy_items(tmp_path / "edited")
    path = root / "traceability" / "requirements.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    reqs = data["software_requirements"]
    changed = next(r for r in reqs if r["id"] == "SRS-013")
    changed["text"] += " Volumes are rounded to 0.1 mL."
    reqs.append({"id": "SRS-990", "title": "A requirement added after the baseline", "text": "It shall exist.",
                 "status": "planned", "category": "functional", "satisfies": ["UN-001"], "software_items": ["SI-CLI"]})
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    anomalies = root / "traceability" / "anomalies.yaml"
    data = yaml.safe_load(anomalies.read_text(encoding="utf-8"))
    removed = data["anomalies"].pop()["id"]
    anomalies.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    results = sample_results()
    results["tests/test_sample.py::test_locked_package"].update(outcome="passed", message=None)
    write_run(root / "results.json", root, results, commit="f" * 40)
    (root / "removed.txt").write_text(removed)
    return root


@pytest.mark.req("SRS-049")
def test_baseline_diff_reports_added_changed_removed_items_and_changed_verdicts(package_dir: Path,
                                                                                tmp_path: Path) -> None:
    root = _edited_project(tmp_path)
    graph = build_graph(root, root / "results.json", head="f" * 40)
    out = tmp_path / "next"
    pkg.build_package(graph, root=root, out=out, baseline=package_dir)
    html = (out / "diff.html").read_text(encoding="utf-8")

    def section(name: str) -> str:
        start = html.index(f'<h2 id="{name}">')
        end = html.find("<h2 ", start + 1)
        return html[start:end if end > 0 else len(html)]

    assert 'id="added-SRS-990"' in section("added")
    assert f'id="removed-{(root / "removed.txt").read_text()}"' in section("removed")
    changed = section("changed")
    assert 'id="changed-SRS-013"' in changed and "text" in changed
    verdicts = section("verdicts")
    assert 'id="verdict-SRS-007"' in verdicts and ">failed<" in verdicts and ">verified<" in verdicts
    assert f'id="verdict-{anchor("tests/test_sample.py::test_locked_package")}"' in verdicts
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["baseline"]["commit"] == HEAD and "diff.html" in manifest["files"]
    assert "diff.html" in (out / "index.html").read_text() and "Changes since the baseline" in (
        out / "release-notes.html").read_text()


@pytest.mark.req("SRS-049")
def test_an_altered_baseline_is_refused(package_dir: Path, graph: dict[str, Any], project: Path, tmp_path: Path) -> None:
    baseline = tmp_path / "baseline"
    baseline.mkdir()
    for name, data in _files(package_dir).items():
        (baseline / name).write_bytes(data)
    (baseline / "trace-graph.json").write_bytes((baseline / "trace-graph.json").read_bytes().replace(b"SRS-013", b"SRS-014"))
    with pytest.raises(TraceabilityError, match="does not match its manifest"):
        pkg.build_package(graph, root=project, out=tmp_path / "out", baseline=baseline)
    with pytest.raises(TraceabilityError, match="is not a submission package"):
        pkg.build_package(graph, root=project, out=tmp_path / "out", baseline=tmp_path)
    assert not (tmp_path / "out").exists()


@pytest.mark.req("SRS-046")
def test_bad_graphs_are_typed_errors_and_the_cli_prints_one_line(tmp_path: Path, graph: dict[str, Any],
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    wrong = copy.deepcopy(graph)
    wrong["schema"] = "something/else"
    with pytest.raises(TraceabilityError, match="not a trace graph"):
        pkg.package_files(wrong, root=tmp_path)
    broken = tmp_path / "graph.json"
    broken.write_text("{not json")
    assert cli.main(["report", "package", "--graph", str(broken), "--out", str(tmp_path / "p")]) == 12
    assert cli.main(["report", "package", "--graph", str(tmp_path / "missing.json"), "--out", str(tmp_path / "p")]) == 12
    err = capsys.readouterr().err
    assert "DAI-900" in err and "Traceback" not in err and not (tmp_path / "p").exists()


@pytest.mark.req("SRS-046")
def test_cli_writes_the_package(tmp_path: Path, graph: dict[str, Any], project: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "graph.json"
    path.write_text(json.dumps(graph), encoding="utf-8")
    # the synthetic graph has gaps: refused with each gap listed and nothing written, unless --allow-gaps
    assert cli.main(["report", "package", "--graph", str(path), "--root", str(project), "--out", str(tmp_path / "p")]) == 13
    refused = capsys.readouterr().err
    assert "GAP " in refused and "error DAI-910" in refused and not (tmp_path / "p").exists()
    assert cli.main(["report", "package", "--graph", str(path), "--root", str(project), "--out", str(tmp_path / "p"),
                     "--allow-gaps"]) == 0
    captured = capsys.readouterr()
    assert "manifest.json SHA-256" in captured.out and "DRAFT package" in captured.err
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert manifest["status"] == "draft" and manifest["draft_gaps"] and manifest["draft_gaps"][0].startswith("GAP ")
    assert "DRAFT, NOT A SUBMISSION" in (tmp_path / "p" / "index.html").read_text()
    assert pkg.verify_package(tmp_path / "p") == []
    assert LONG_NODE.split("::")[1][:40] in (tmp_path / "p" / "vv-report.html").read_text()
