"""Shared pytest fixtures for tests/, verification/ and validation/."""

from __future__ import annotations

import os
import shutil
import sys

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` run first, in their collected order (a stable sort). Under xdist the
    scheduler hands out tests in collection order: the longest ones (up to 4 minutes) then start
    early and the run does not end with one worker busy on one of them and the other idle."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _one_torch_thread_per_xdist_worker() -> None:
    """Under pytest-xdist two workers share the two cores: torch's default of one thread per core
    made each worker's small forward passes wait on the other's (an occlusion test: 3 s alone, 116 s
    in the suite; a study-variants file 30 s with two threads, 11 s with one). One thread per worker,
    set again before each test because a test may change it (training takes its plan's threads).
    Only where torch is already imported: importing it here would cost every worker a second."""
    torch = sys.modules.get("torch") if os.environ.get("PYTEST_XDIST_WORKER") else None
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _device_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own DEVICE_AI_HOME: no test writes to the real device state."""
    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path_factory.mktemp("device_home")))
    monkeypatch.delenv("DEVICE_AI_AUDIT_COPY_DIR", raising=False)
    # Tests run the demonstration model on synthetic data only: the setting a site would need to
    # do the same (RC-035). tests/app/test_clinical_use_lock.py removes it to test the refusal.
    monkeypatch.setenv("DEVICE_AI_DEMONSTRATION_MODE", "true")


def require_tool(name: str) -> str:
    """Path of an external DICOM tool (dcmtk, dicom3tools).

    Under CI (``CI=true``) a missing tool is a failure, never a skip: `.ci/run` installs
    them, so their absence means the evidence would silently be missing.
    """
    path = shutil.which(name)
    if path is None:
        message = f"external tool {name!r} not found (Debian packages dcmtk / dicom3tools / chromium / poppler-utils)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + "; CI must install it (.ci/run)")
        pytest.skip(message)
    return path


def dciodvfy_errors(tool: str, path: object) -> list[str]:
    """The lines dciodvfy reports as errors for one file (warnings are not errors)."""
    import subprocess

    result = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=120)
    return [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]


@pytest.fixture
def dciodvfy() -> str:
    return require_tool("dciodvfy")


@pytest.fixture
def dcmdump() -> str:
    return require_tool("dcmdump")


# --- the released, locked model package as shipped in models/ (verification, validation) ---

from pathlib import Path  # noqa: E402


@pytest.fixture(scope="session")
def released_package() -> Path:
    from device_ai.config import default_model_path

    path = default_model_path()
    assert (path / "manifest.json").is_file(), f"the released model package is missing at {path}"
    return path


@pytest.fixture(scope="session")
def released_engine(released_package: Path):  # noqa: ANN201 - LockedEngine
    from device_ai.inference.engine import EngineOptions, LockedEngine

    # One ONNX Runtime thread per pytest-xdist worker, as torch (above): two workers with two spinning intra-op
    # threads each oversubscribe the two cores. The outputs are the same bit for bit (1 vs 2 threads, 8 random
    # inputs, 2026-12-07) and verification/test_explanations.py's recorded figures are reproduced with it.
    threads = 1 if os.environ.get("PYTEST_XDIST_WORKER") else 2
    return LockedEngine.load(released_package, options=EngineOptions(threads=threads))
