"""Output paths refused before any work (issue 22 item 4; SRS-109): a symbolic link as --out
and an over-long name are typed refusals, with no success in the audit trail."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from device_ai import cli
from device_ai.audit.log import LOG_NAME, default_folder
from device_ai.audit.store import scan
from device_ai.errors import OutputRefused
from tests.dicom.synthetic import phantom_hu, write_series


def _outcomes() -> list[tuple[str, int]]:
    path = default_folder() / LOG_NAME
    entries = [json.loads(r.payload) for r in scan(path.read_bytes()).records] if path.exists() else []
    return [(e["event"]["meaning"], e["outcome"]) for e in entries]


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("in") / "SERIES"
    write_series(folder, phantom_hu(2, 256))
    return folder


@pytest.mark.req("SRS-109")
@pytest.mark.parametrize("target", ["empty folder", "nowhere"])
def test_a_symbolic_link_as_out_is_refused_before_work(
        target: str, series: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pointed = tmp_path / "real"
    if target == "empty folder":
        pointed.mkdir()
    link = tmp_path / "link"
    os.symlink(pointed, link)
    assert cli.main(["analyze", str(series), "--out", str(link)]) == OutputRefused.exit_code
    err = capsys.readouterr().err
    assert "symbolic link" in err and "Traceback" not in err
    assert link.is_symlink() and (not pointed.exists() or not list(pointed.iterdir()))
    assert ("Analysis Run", 0) not in _outcomes(), "a success was recorded for a refused run"


@pytest.mark.req("SRS-109")
def test_an_over_long_name_is_refused_and_a_normal_one_is_not(series: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    long_out = tmp_path / ("x" * 300) / "result"
    assert cli.main(["analyze", str(series), "--out", str(long_out)]) == OutputRefused.exit_code
    err = capsys.readouterr().err
    assert "300 bytes long" in err and "DAI-999" not in err
    assert cli.main(["analyze", str(series), "--out", str(tmp_path / ("x" * 200))]) == 0  # negative control
    assert ("Analysis Run", 0) in _outcomes()
