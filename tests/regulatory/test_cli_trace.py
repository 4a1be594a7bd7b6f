"""``device-ai trace build | check | review`` on a git work tree: exit codes, one line per gap or
problem, no traceback (SRS-043, SRS-044, SRS-017)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from device_ai.cli import main
from tests import fast_yaml
from tests.regulatory.miniproject import baseline, passing_results, write_project, write_results

GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.invalid"]


def _commit(root: Path) -> str:
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-q", "-m", "items"], cwd=root, check=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()


def assessed_components(root: Path, runtime: list[str]) -> None:
    """security/components.yaml with a complete entry for every installed runtime component of
    ``runtime`` (its closure, CPython, native libraries), so that the SBOM rules (SRS-196) pass."""
    from device_ai.regulatory.runtime_components import installed_runtime_components

    entries = [{"id": f"CMP-{c['name']}-{c['version']}", "name": c["name"], "version": c["version"],
                "support_level": "actively-maintained", "support_source": "test", "end_of_support": "2099-12-31",
                "vex": {"date": "2026-11-30", "assessor": "Test", "sources": ["test"],
                        "no_known_vulnerability": "none in the test's sources"}}
               for c in installed_runtime_components(runtime) or ()]
    (root / "security").mkdir(exist_ok=True)
    (root / "security" / "components.yaml").write_text(yaml.safe_dump({"components": entries}), encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, str]:
    write_project(tmp_path)
    assessed_components(tmp_path, ["numpy"])
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "device-ai"\ndependencies = ["numpy>=1.26"]\n')
    (tmp_path / ".gitignore").write_text("test-results/\ntrace/\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    baseline(tmp_path)
    head = _commit(tmp_path)
    write_results(tmp_path, passing_results(), commit=head)
    return tmp_path, head


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.mark.req("SRS-043")
def test_build_and_check_pass_on_complete_evidence(repo: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = repo
    graph = root / "trace" / "graph.json"
    code, out, _ = _run(capsys, "trace", "build", "--root", str(root), "--out", str(graph))
    assert code == 0 and out.startswith("trace graph: ") and graph.is_file()
    code, out, _ = _run(capsys, "trace", "check", "--root", str(root), "--graph", str(graph))
    assert code == 0, out
    assert out.splitlines() == ["OPEN SRS-003: planned: Requirement SRS-003",
                                "trace check: 0 gap(s), 1 open, 0 warning(s)"]


@pytest.mark.req("SRS-043", "SRS-017")
def test_gaps_are_listed_one_per_line_and_exit_10(repo: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = repo
    graph = root / "trace" / "graph.json"
    _run(capsys, "trace", "build", "--root", str(root), "--out", str(graph))
    (root / "new.txt").write_text("a new commit makes the recorded results stale\n")
    _commit(root)
    code, out, err = _run(capsys, "trace", "check", "--root", str(root), "--graph", str(graph))
    assert code == 13
    assert out.splitlines()[0].startswith("GAP DOC-VER: document: no test run recorded on this commit (stale: run on")
    assert "GAP GRAPH: stale graph: built at commit" in out
    assert err.startswith("error DAI-910: ") and "what to do:" in err


@pytest.mark.req("SRS-040", "SRS-017")
def test_malformed_item_is_reported_with_file_and_line(repo: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = repo
    path = root / "risk" / "controls.yaml"
    path.write_text(path.read_text().replace("type: inherent", "type: hope"))
    code, _, err = _run(capsys, "trace", "build", "--root", str(root), "--out", str(root / "trace" / "g.json"))
    assert code == 12
    assert "risk/controls.yaml:5: RC-001: type: Input should be 'inherent', 'protective' or 'information'" in err
    assert "error DAI-900: 1 problem(s) in the traceability and risk items" in err


@pytest.mark.req("SRS-043", "SRS-017")
def test_check_without_a_graph_says_what_to_do(repo: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = repo
    code, _, err = _run(capsys, "trace", "check", "--root", str(root), "--graph", str(root / "none.json"))
    assert code == 12 and "no trace graph at" in err and "device-ai trace build" in err


@pytest.mark.req("SRS-044")
def test_review_records_who_when_commit_and_fingerprint(repo: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    root, head = repo
    reqs = root / "traceability" / "requirements.yaml"
    reqs.write_text(reqs.read_text().replace("The device shall do SRS-001.", "The device shall do SRS-001 faster."))
    graph = str(root / "trace" / "graph.json")
    _run(capsys, "trace", "build", "--root", str(root), "--out", graph)
    code, out, _ = _run(capsys, "trace", "check", "--root", str(root), "--graph", graph)
    assert code == 13 and "GAP SRS-001: changed: changed since its review" in out
    code, out, _ = _run(capsys, "trace", "review", "SRS-001", "--by", "Ann Other", "--root", str(root))
    assert code == 0 and out.startswith("reviewed SRS-001 at ")
    record = fast_yaml.safe_load((root / "traceability" / "reviews.yaml").read_text())["reviews"][-1]
    assert record["id"] == "SRS-001" and record["by"] == "Ann Other" and record["commit"] == head
    assert record["date"].endswith("Z") and len(record["fingerprint"]) == 64
    code, _, err = _run(capsys, "trace", "review", "--by", "Ann Other", "--root", str(root))
    assert code == 2 and "give item IDs or --all" in err
