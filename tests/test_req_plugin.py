"""The requirement-tag plugin: unknown IDs fail collection; outcomes go to the sidecar (SRS-017)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def _project(tmp_path: Path, test_body: str) -> Path:
    (tmp_path / "traceability").mkdir()
    (tmp_path / "traceability" / "requirements.yaml").write_text("software_requirements:\n  - id: SRS-900\n")
    (tmp_path / "test_x.py").write_text("import pytest\n\n" + test_body)
    return tmp_path


@pytest.mark.req("SRS-017")
def test_unknown_requirement_id_fails_collection(tmp_path: Path) -> None:
    root = _project(tmp_path, '@pytest.mark.req("SRS-901")\ndef test_a():\n    assert True\n')
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root)],
                            capture_output=True, text=True, cwd=root, timeout=120)
    assert result.returncode != 0
    assert "unknown requirement SRS-901" in result.stdout + result.stderr


@pytest.mark.req("SRS-017")
def test_outcomes_are_written_to_the_sidecar(tmp_path: Path) -> None:
    root = _project(tmp_path, '@pytest.mark.req("SRS-900")\ndef test_a():\n    assert True\n\n'
                              '@pytest.mark.req("SRS-900")\ndef test_b():\n    assert False\n')
    report = tmp_path / "out" / "req.json"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root), "--req-report", str(report)],
                   capture_output=True, text=True, cwd=root, timeout=120)
    outcomes = json.loads(report.read_text())
    assert outcomes["test_x.py::test_a"] == {"outcome": "passed", "requirements": ["SRS-900"]}
    assert outcomes["test_x.py::test_b"]["outcome"] == "failed"
