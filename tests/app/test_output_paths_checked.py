"""Output paths checked before any work (SRS-109) and user paths the system cannot use (SRS-017,
SRS-139): the fixes of helper-40's review findings 4, 5 and 7 beyond the review's own tests
(tests/app/test_review_hardening.py). Each refusal has a control: the same command with an
ordinary path of the same kind passes the check.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from device_ai.cli import main
from tests.dicom.synthetic import phantom_hu, write_series


def _linked(tmp_path: Path, name: str, *, folder: bool) -> tuple[Path, Path]:
    """A symbolic link ``name`` to a target folder (or file holding a site's text)."""
    target = tmp_path / f"{name}-target"
    if folder:
        target.mkdir()
    else:
        target.write_text("a site file\n")
    link = tmp_path / name
    link.symlink_to(target)
    return link, target


def _refused_untouched(code: int, err: str, link: Path, target: Path) -> None:
    assert code == 6 and err.startswith("error DAI-501: ") and "symbolic link" in err and "Traceback" not in err, err
    assert link.is_symlink()
    assert (sorted(target.iterdir()) == [] if target.is_dir() else target.read_text() == "a site file\n")


@pytest.mark.req("SRS-109")
@pytest.mark.parametrize("folder", [True, False], ids=["link to a folder", "link to a file"])
def test_trace_build_out_that_is_a_link_is_refused_before_the_graph_is_built(
        folder: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "root").mkdir()  # an empty project: building it succeeds (the control below)
    link, target = _linked(tmp_path, "graph.json", folder=folder)
    code = main(["trace", "build", "--root", str(tmp_path / "root"), "--out", str(link)])
    _refused_untouched(code, capsys.readouterr().err, link, target)


@pytest.mark.req("SRS-109")
def test_control_trace_build_writes_an_ordinary_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "root").mkdir()
    assert main(["trace", "build", "--root", str(tmp_path / "root"), "--out", str(tmp_path / "graph.json")]) == 0
    assert (tmp_path / "graph.json").is_file(), capsys.readouterr().err


@pytest.mark.req("SRS-109")
def test_conformance_out_that_is_a_link_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    link, target = _linked(tmp_path, "dcs.md", folder=False)
    code = main(["conformance", "--reference", "--out", str(link)])
    _refused_untouched(code, capsys.readouterr().err, link, target)


@pytest.mark.req("SRS-109")
def test_phantom_out_that_is_a_link_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    link, target = _linked(tmp_path, "phantoms", folder=True)
    code = main(["phantom", "--out", str(link), "--count", "1", "--slices", "3"])
    _refused_untouched(code, capsys.readouterr().err, link, target)


@pytest.mark.req("SRS-109")
def test_control_phantom_writes_into_an_existing_folder(tmp_path: Path) -> None:
    (tmp_path / "phantoms").mkdir()
    assert main(["phantom", "--out", str(tmp_path / "phantoms"), "--count", "1", "--slices", "3"]) == 0
    assert len(list((tmp_path / "phantoms").rglob("*.dcm"))) == 3


@pytest.mark.req("SRS-109")
@pytest.mark.parametrize("kind", ["link", "long name"])
def test_anonymize_quarantine_that_is_a_link_or_too_long_is_refused(kind: str, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    write_series(tmp_path / "IN", phantom_hu(3, 64))
    if kind == "link":
        quarantine, target = _linked(tmp_path, "quarantine", folder=True)
    else:
        quarantine, target = tmp_path / ("q" * 300), None
    code = main(["anonymize", str(tmp_path / "IN"), str(tmp_path / "OUT"), "--quarantine", str(quarantine)])
    err = capsys.readouterr().err
    assert code == 6 and err.startswith("error DAI-501: --quarantine") and not (tmp_path / "OUT").exists(), err
    if target is not None:
        _refused_untouched(code, err, quarantine, target)
    else:
        assert "300 bytes long" in err and "q" * 300 not in err


@pytest.mark.req("SRS-109")
def test_control_anonymize_with_an_ordinary_quarantine_runs(tmp_path: Path) -> None:
    write_series(tmp_path / "IN", phantom_hu(3, 64))
    code = main(["anonymize", str(tmp_path / "IN"), str(tmp_path / "OUT"), "--quarantine", str(tmp_path / "q")])
    assert code == 0 and len(list((tmp_path / "OUT").rglob("*.dcm"))) == 3


@pytest.mark.req("SRS-109")
@pytest.mark.parametrize("which", ["OUT", "--rejected"])
def test_watch_out_or_rejected_that_is_a_link_is_refused_with_exit_6(
        which: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.node.conftest import node_env

    node_env(monkeypatch)
    monkeypatch.setattr("device_ai.node.hot_folder.HotFolder.run", lambda self, stop: None)  # never waits for a signal
    (tmp_path / "in").mkdir()
    link, target = _linked(tmp_path, "out", folder=True)
    argv = ["watch", str(tmp_path / "in"), str(link)] if which == "OUT" else \
        ["watch", str(tmp_path / "in"), str(tmp_path / "results"), "--rejected", str(link)]
    code = main(argv)
    _refused_untouched(code, capsys.readouterr().err, link, target)
    assert not (tmp_path / "results").exists()  # nothing created before the refusal


@pytest.mark.req("SRS-109")
def test_control_an_existing_output_place_with_earlier_results_passes(tmp_path: Path) -> None:
    from device_ai.app.preconditions import check_output_place
    from device_ai.errors import OutputRefused

    (tmp_path / "out" / "study").mkdir(parents=True)  # earlier results: an output place may hold them
    check_output_place(tmp_path / "out", "OUT")
    check_output_place(tmp_path / "new" / "out", "OUT")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputRefused, match="is a file"):
        check_output_place(tmp_path / "file", "OUT")


# --- hot folder: a file whose own path is longer than the system allows (SRS-139) ---------------


def _file_over_path_max_in_a_listable_folder(top: Path, data: bytes) -> Path:
    """A file whose path is over PATH_MAX in a folder whose own path is under it, whatever the
    length of ``top`` (folders of 200-byte names until the path is 3,846..4,046 bytes, then a
    250-byte file name)."""
    name = "d" * 200
    fd, depth, levels = os.open(top, os.O_RDONLY | os.O_DIRECTORY), len(os.fsencode(top)), 0
    try:
        while depth + 201 <= 4046:
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd, depth, levels = inner, depth + 201, levels + 1
        leaf = "j" * 246 + ".bin"
        assert depth < 4095 < depth + 1 + len(leaf)
        out = os.open(leaf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd)
        os.write(out, data)
        os.close(out)
    finally:
        os.close(fd)
    return top.joinpath(*[name] * levels, leaf)


@pytest.mark.req("SRS-139")
def test_a_hot_folder_file_whose_path_is_over_path_max_is_refused_and_moved_aside(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from device_ai.node.hot_folder import REASON_SUFFIX, HotFolder
    from tests.node.conftest import context, node_env

    node_env(monkeypatch)
    inbox = tmp_path / "in"
    inbox.mkdir()
    junk = _file_over_path_max_in_a_listable_folder(inbox, b"not an image\n")
    with pytest.raises(OSError) as caught:  # the control: by its path, the system refuses to look at it
        os.lstat(junk)
    assert caught.value.errno == errno.ENAMETOOLONG
    folder = HotFolder(context(), inbox, tmp_path / "o", settle_s=0.5)
    folder.start()
    try:
        assert folder.scan_once(now=0.0).waiting == 1  # seen (through its folder), settling like any file
        done = folder.scan_once(now=1.0)
    finally:
        folder.stop()
    assert done.rejected == 1
    fd = os.open(junk.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert junk.name not in os.listdir(fd)  # moved out of IN
    finally:
        os.close(fd)
    moved = [p for p in (tmp_path / "o" / "rejected").iterdir() if not p.name.endswith(REASON_SUFFIX)]
    assert [p.read_bytes() for p in moved] == [b"not an image\n"] and len(moved[0].name) < 80
    reason = moved[0].with_name(moved[0].name + REASON_SUFFIX).read_text()
    assert "error: DAI-201" in reason and "a path longer than this system allows" in reason


# --- messages: a path of thousands of bytes is shortened, also in an internal error's line -------


@pytest.mark.req("SRS-017")
def test_an_internal_error_quoting_a_4500_byte_path_is_shortened(monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import device_ai.cli.model

    path = "/x" * 2250

    def fails(_args) -> int:  # noqa: ANN001
        raise OSError(errno.EIO, "Input/output error", path)

    monkeypatch.setattr(device_ai.cli.model, "cmd_model_verify", fails)
    assert main(["model", "verify"]) == 70
    err = capsys.readouterr().err
    assert err.startswith("error DAI-999: internal error (OSError: ") and "(4502 bytes)" in err, err
    assert len(err) < 400 and path not in err  # control: the unshortened line would be over 4,500 characters
