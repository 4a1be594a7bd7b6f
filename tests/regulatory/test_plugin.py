"""The requirement-tag plugin: unknown or retired IDs fail collection (SRS-043); every test's record
goes to the sidecar with the IEC 62304 5.7.5 run fields, also under pytest-xdist (SRS-041)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REQUIREMENTS = """software_requirements:
  - {id: SRS-900, status: approved}
  - {id: SRS-901, status: retired}
  - {id: SRS-902, status: planned}
"""

TESTS = '''import pytest

@pytest.fixture
def broken():
    raise RuntimeError("setup broke")

@pytest.mark.req("SRS-900")
@pytest.mark.parametrize("x", [1, 2])
def test_param(x):
    assert x == 1

@pytest.mark.req("SRS-900", "SRS-902")
def test_skipped():
    pytest.skip("tool missing")

@pytest.mark.req("SRS-900")
@pytest.mark.xfail(reason="known deviation")
def test_xfailed():
    assert False

@pytest.mark.req("SRS-900")
@pytest.mark.xfail(reason="fixed already")
def test_xpassed():
    pass

@pytest.mark.req("SRS-900")
def test_error(broken):
    pass

def test_untagged():
    pass
'''

EXPECTED = {
    "test_x.py::test_param[1]": ("passed", ["SRS-900"]),
    "test_x.py::test_param[2]": ("failed", ["SRS-900"]),
    "test_x.py::test_skipped": ("skipped", ["SRS-900", "SRS-902"]),
    "test_x.py::test_xfailed": ("xfailed", ["SRS-900"]),
    "test_x.py::test_xpassed": ("xpassed", ["SRS-900"]),
    "test_x.py::test_error": ("error", ["SRS-900"]),
    "test_x.py::test_untagged": ("passed", []),
}


def _project(tmp_path: Path, tests: str) -> Path:
    (tmp_path / "traceability").mkdir()
    (tmp_path / "traceability" / "requirements.yaml").write_text(REQUIREMENTS)
    (tmp_path / "test_x.py").write_text(tests)
    return tmp_path


def _pytest(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEVICE_AI_TESTER": "Tess Ter", "CI_RUN_ID": "run-42"}
    env.pop("GITHUB_RUN_ID", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          capture_output=True, text=True, cwd=root, timeout=300, env=env)


@pytest.mark.req("SRS-043")
@pytest.mark.parametrize(("tag", "message"), [
    ("SRS-999", "test_x.py::test_a: unknown requirement SRS-999"),
    ("SRS-901", "test_x.py::test_a: retired requirement SRS-901"),
    ("UN-001", "test_x.py::test_a: unknown requirement UN-001"),
])
def test_unknown_or_retired_id_fails_collection(tmp_path: Path, tag: str, message: str) -> None:
    root = _project(tmp_path, f'import pytest\n\n@pytest.mark.req("{tag}")\ndef test_a():\n    assert True\n')
    result = _pytest(root, "--req-report", "out/r.json")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert message in result.stdout + result.stderr
    # the sidecar is still (over)written, so no earlier file can pass for this run's evidence
    document = json.loads((root / "out" / "r.json").read_text())
    assert document["results"] == {} and document["run"]["exit_status"] == pytest.ExitCode.USAGE_ERROR


def _check_sidecar(path: Path) -> dict:
    document = json.loads(path.read_text())
    outcomes = {node: (record["outcome"], record["requirements"]) for node, record in document["results"].items()}
    assert outcomes == EXPECTED
    assert document["results"]["test_x.py::test_param[2]"]["message"] == "E assert 2 == 1"
    assert document["results"]["test_x.py::test_skipped"]["message"] == "Skipped: tool missing"
    assert document["results"]["test_x.py::test_xfailed"]["message"] == "known deviation"
    assert document["results"]["test_x.py::test_error"]["message"] == "E RuntimeError: setup broke"
    assert all(record["duration_s"] >= 0 and record["file"] == "test_x.py" for record in document["results"].values())
    return document["run"]


@pytest.mark.req("SRS-041")
def test_sidecar_holds_every_outcome_and_the_5_7_5_fields(tmp_path: Path) -> None:
    root = _project(tmp_path, TESTS)
    result = _pytest(root, "--req-report", "out/r.json")
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout
    run = _check_sidecar(root / "out" / "r.json")
    import device_ai

    assert run["schema"] == "device-ai/test-results/1"
    assert run["software"] == {"name": "device-ai", "version": device_ai.__version__}  # 5.7.5 c
    assert run["git"] == {"commit": None, "dirty": None}  # not a git work tree: said, not guessed
    assert run["environment"]["kind"].startswith("installed-distributions")  # 5.7.5 d
    assert len(run["environment"]["installed_sha256"]) == 64 and "pytest" in run["environment"]["installed"]
    assert run["runtime"]["python"].startswith(".".join(map(str, sys.version_info[:2])))
    assert set(run["runtime"]) >= {"onnxruntime", "torch", "numpy"}
    assert run["hardware"]["cpu_cores"] == os.cpu_count() and run["hardware"]["memory_bytes"] > 0
    assert run["platform"]["system"] and run["test_tools"]["pytest"] == pytest.__version__  # 5.7.5 e
    assert run["date_utc"].endswith("Z") and run["finished_utc"] >= run["date_utc"]  # 5.7.5 f
    assert run["tester"] == "Tess Ter" and run["ci_run_id"] == "run-42"  # 5.7.5 g
    assert run["exit_status"] == 1 and run["command"] == ["-q", "-p", "no:cacheprovider", "--req-report", "out/r.json"]


@pytest.mark.req("SRS-041")
def test_sidecar_is_the_same_under_xdist(tmp_path: Path) -> None:
    pytest.importorskip("xdist")
    root = _project(tmp_path, TESTS)
    result = _pytest(root, "-n", "2", "--req-report", "out/r.json")
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
    run = _check_sidecar(root / "out" / "r.json")
    assert run["test_tools"]["pytest-xdist"] is not None
    assert not list((root / "out").glob("*.tmp"))


@pytest.mark.req("SRS-041")
def test_git_commit_and_dirty_state_are_recorded(tmp_path: Path) -> None:
    root = _project(tmp_path, 'def test_a():\n    pass\n')
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "."], cwd=root, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], cwd=root, check=True)
    (root / ".gitignore").write_text("out/\n__pycache__/\n")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    _pytest(root, "--req-report", "out/r.json")
    assert json.loads((root / "out" / "r.json").read_text())["run"]["git"] == {"commit": head, "dirty": True}
