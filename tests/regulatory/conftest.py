"""Fixtures of the trace engine's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.regulatory.miniproject import baseline, write_project


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A complete mini project in ``tmp_path`` with every item reviewed."""
    write_project(tmp_path)
    baseline(tmp_path)
    return tmp_path
