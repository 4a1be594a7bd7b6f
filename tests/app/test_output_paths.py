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


@pytest.mark.req("SRS-109")
@pytest.mark.parametrize("target", ["empty folder", "nowhere"])
def test_out_swapped_for_a_symbolic_link_during_the_run_publishes_nothing_there(
        target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check before work passed; the link appears between the last check and the rename."""
    from device_ai import atomic_io
    from device_ai.errors import OutputError

    out, pointed = tmp_path / "out", tmp_path / "elsewhere"
    if target == "empty folder":
        pointed.mkdir()
    real_check = atomic_io._refuse_non_empty
    calls = []

    def check_then_swap(final_dir: Path) -> None:
        real_check(final_dir)
        calls.append(final_dir)
        if len(calls) == 2:  # the check just before the rename: swap now
            if final_dir.exists():
                final_dir.rmdir()
            os.symlink(pointed, final_dir)

    monkeypatch.setattr(atomic_io, "_refuse_non_empty", check_then_swap)
    with pytest.raises(OutputError, match="could not publish"):
        with atomic_io.staged_directory(out) as stage:
            (stage / "result.txt").write_text("result")
    assert out.is_symlink() and len(calls) == 2
    assert not pointed.exists() or not list(pointed.iterdir()), "the result went through the link"
    assert not list(tmp_path.glob(".out.*")), "the staging folder was left behind"
