"""A copy of the repository's items with one synthetic test run, its trace graph and a package.

The items are the device's real ones (traceability/, risk/, docs/, the model manifests), copied
so that tests can change them; the run is written through the plugin's own record functions
with a fixed date and commit, so graphs and packages built from it are reproducible.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from device_ai.regulatory.records import run_header
from device_ai.regulatory.trace import build

REPO = Path(__file__).resolve().parents[2]
HEAD = "0123456789abcdef0123456789abcdef01234567"
DATE = "2026-11-30T12:00:00Z"
LONG_NODE = ("tests/regulatory_render/test_wide.py::test_a_parametrized_case_with_a_very_long_identifier"
             "[" + "x" * 180 + "-case with spaces]")


def copy_items(root: Path) -> Path:
    """Copy what the trace graph and the documents read into ``root``."""
    for folder in ("traceability", "risk", "security", "submission", "docs"):
        # docs/_build and docs/generated are `make docs` outputs (ignored by git), not items
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("_build", "generated"))
    # the device description's performance records (submission/device.yaml) must exist
    shutil.copytree(REPO / "validation" / "results", root / "validation" / "results")
    # the AI validation report's protocols, training plans and statements (ai-validation.html)
    for source in [*REPO.glob("validation/*.md"), *REPO.glob("validation/*.yaml"), REPO / "validation/int8/PROTOCOL.md"]:
        (root / source.relative_to(REPO)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, root / source.relative_to(REPO))
    for manifest in sorted(REPO.glob("models/*/manifest.json")):
        target = root / manifest.relative_to(REPO)
        target.parent.mkdir(parents=True)
        shutil.copy2(manifest, target)
    return root


def write_run(path: Path, root: Path, results: dict[str, dict[str, Any]], *, commit: str = HEAD) -> Path:
    header = run_header(root, started_utc=DATE, command=["pytest", "-q"], git={"commit": commit, "dirty": False},
                        env={"DEVICE_AI_TESTER": "render-test", "CI_RUN_ID": "ci-42"})
    path.write_text(json.dumps({"run": header, "results": results}, indent=1, sort_keys=True), encoding="utf-8")
    return path


def sample_results() -> dict[str, dict[str, Any]]:
    """Passed, failed, skipped and xfailed records, one of them with a very long node id."""
    def record(outcome: str, reqs: list[str], line: int, message: str | None = None) -> dict[str, Any]:
        return {"outcome": outcome, "duration_s": 0.25, "file": "tests/test_sample.py", "line": line,
                "requirements": reqs, "message": message}

    return {
        "tests/test_sample.py::test_reading_limits": record("passed", ["SRS-010"], 10),
        "tests/test_sample.py::test_contract": record("passed", ["SRS-011", "SRS-075"], 20),
        "tests/test_sample.py::test_locked_package": record("failed", ["SRS-007"], 30, "AssertionError: digest differs\n"
                                                            "  expected abc, got def"),
        "tests/test_sample.py::test_skipped": record("skipped", ["SRS-009"], 40, "needs a tool"),
        "tests/test_sample.py::test_xfail": record("xfailed", ["SRS-019"], 50, "known deviation"),
        LONG_NODE: record("passed", ["SRS-001", "SRS-002", "SRS-003", "SRS-004", "SRS-005", "SRS-006"], 60),
    }


def build_graph(root: Path, results_path: Path, head: str = HEAD) -> dict[str, Any]:
    return build(root, [results_path], head=head)


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_items(tmp_path_factory.mktemp("project"))
    write_run(root / "results.json", root, sample_results())
    return root


@pytest.fixture(scope="session")
def graph(project: Path) -> dict[str, Any]:
    return build_graph(project, project / "results.json")


@pytest.fixture(scope="session")
def package_dir(graph: dict[str, Any], project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from device_ai.regulatory.package import build_package

    out = tmp_path_factory.mktemp("packages") / "package"
    build_package(graph, root=project, out=out)
    return out
