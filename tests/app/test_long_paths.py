"""Paths longer than the system allows (independent review of issue 22, item 3; SRS-111,
SRS-061, SRS-109): an input path over PATH_MAX (4096 bytes) or with a name over NAME_MAX (255)
was an internal error (exit 70, ``OSError: [Errno 36] File name too long``) in analyze,
anonymize and the output checks. Now: analyze refuses the input (exit 3, the path shortened in
the message, nothing published, the refusal audited with its code); anonymize quarantines the
entry it cannot look at and de-identifies the others (exit 3, as for any quarantined file); an
OUT that leaves no room for what is written inside it is refused before any work.

The deep trees are built relative to folder descriptors (``mkdir``/``open`` with ``dir_fd``):
no path over PATH_MAX is ever passed to the system by the test itself."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from device_ai.app.audit_trail import EntryFilter, entries
from device_ai.cli import main
from device_ai.dicom.deidentify.run import QUARANTINE_INDEX
from device_ai.dicom.paths import status
from device_ai.errors import DicomReadError, InputRefused, OutputRefused
from tests.dicom.synthetic import ct_slice, part10, phantom_hu, write_series

NAME = "d" * 200  # 201 bytes per level with its separator: 21 levels pass 4096
SLICES = 3


def _recorded(event: str) -> list[dict]:
    return entries(None, EntryFilter(event=event))[1]


def _nest(top: Path, levels: int, leaf: str | None = None, data: bytes = b"") -> int:
    """``levels`` folders named NAME under ``top`` (and a file ``leaf`` in the last one);
    returns the byte length of the deepest path made."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(levels):
            os.mkdir(NAME, dir_fd=fd)
            inner = os.open(NAME, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        if leaf is not None:
            out = os.open(leaf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd)
            os.write(out, data)
            os.close(out)
    finally:
        os.close(fd)
    return len(os.fsencode(top)) + levels * (len(NAME) + 1) + (len(leaf) + 1 if leaf else 0)


def _series_with_deep_entry(folder: Path, entry: str) -> int:
    """A valid 3-slice series plus one more slice of it deep below: in a folder whose own path
    is over PATH_MAX ("folder"), or as a file whose path is ("file"); returns that path's length."""
    hu = phantom_hu(SLICES + 1, 256)
    write_series(folder, hu[:SLICES])
    extra = part10(ct_slice(SLICES, hu))
    if entry == "folder":
        length = _nest(folder, 21, "slice003.dcm", extra)
        assert length - len("/slice003.dcm") > 4096
    else:
        levels = (4094 - len(os.fsencode(folder))) // (len(NAME) + 1)  # the deepest folder within the limit
        deepest = len(os.fsencode(folder)) + levels * (len(NAME) + 1)
        leaf = "s" * (4100 - deepest - 4) + ".dcm"  # 4101 bytes with its separator
        length = _nest(folder, levels, leaf, extra)
        assert length > 4096 and deepest < 4096 and len(leaf) < 255  # only the file's own path is over the limit
    return length


@pytest.mark.req("SRS-111")
@pytest.mark.parametrize("entry", ["folder", "file"])
def test_analyze_refuses_an_input_holding_a_path_over_path_max(entry: str, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "IN"
    length = _series_with_deep_entry(folder, entry)
    out = tmp_path / "OUT"
    assert main(["analyze", str(folder), "--out", str(out)]) == DicomReadError.exit_code == 3
    err = capsys.readouterr().err
    assert "DAI-201" in err and "Traceback" not in err and "DAI-999" not in err
    assert f"({length} bytes)" in err or "bytes long; this system allows" in err, err
    assert str(folder)[:30] in err and max(len(line) for line in err.splitlines()) < 400  # named, shortened
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["IN"]  # nothing published, no staging
    recorded = _recorded("Analysis Run")
    assert [(e["outcome"], e["details"].get("error")) for e in recorded] == [(4, "DAI-201")], recorded


@pytest.mark.req("SRS-111")
def test_negative_control_a_long_but_legal_input_path_is_analyzed(tmp_path: Path) -> None:
    """The same series 16 levels deep (3.2 KB of path): within the limits, analyzed."""
    _nest(tmp_path, 16)
    deep = tmp_path.joinpath(*[NAME] * 16)
    write_series(deep / "IN", phantom_hu(SLICES, 256))
    assert main(["analyze", str(deep / "IN"), "--out", str(tmp_path / "OUT")]) == 0
    assert [(e["outcome"], e["details"].get("error")) for e in _recorded("Analysis Run")] == [(0, None)]


@pytest.mark.req("SRS-111", "SRS-061")
@pytest.mark.parametrize(("entry", "code"), [("folder", "unreadable-folder"), ("file", "unreadable")])
def test_anonymize_quarantines_the_entry_over_path_max_and_publishes_the_others(
        entry: str, code: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "IN"
    length = _series_with_deep_entry(folder, entry)
    out = tmp_path / "OUT"
    assert main(["anonymize", str(folder), str(out)]) == InputRefused.exit_code == 3
    err = capsys.readouterr().err
    assert f"[{code}]" in err and "Traceback" not in err and "DAI-999" not in err
    report = json.loads((out / "deidentification-report.json").read_text())
    assert (report["files_written"], report["files_quarantined"]) == (SLICES, 1)
    quarantined = json.loads((tmp_path / "OUT-quarantine" / QUARANTINE_INDEX).read_text())["quarantined"]
    assert [(q["code"], q["copied"]) for q in quarantined] == [(code, None)]
    # the first path over the limit on the way down: the file's, or the first folder's over it (where that
    # is depends on the length of the temporary folder's own path)
    [named] = [int(n) for n in re.findall(r"\((\d+) bytes\)", quarantined[0]["reason"])]
    assert 4095 < named <= length, quarantined
    recorded = _recorded("De-identification")
    assert [(e["outcome"], e["details"].get("quarantined")) for e in recorded] == [(4, "1")], recorded


@pytest.mark.req("SRS-111", "SRS-061")
def test_negative_control_anonymize_of_the_series_alone_quarantines_nothing(tmp_path: Path) -> None:
    write_series(tmp_path / "IN", phantom_hu(SLICES, 256))
    assert main(["anonymize", str(tmp_path / "IN"), str(tmp_path / "OUT")]) == 0
    report = json.loads((tmp_path / "OUT" / "deidentification-report.json").read_text())
    assert (report["files_written"], report["files_quarantined"]) == (SLICES, 0)


@pytest.mark.req("SRS-111")
@pytest.mark.parametrize("command", ["analyze", "anonymize"])
def test_an_input_argument_with_a_name_over_name_max_is_refused(command: str, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    given = tmp_path / ("x" * 300)
    out = tmp_path / "OUT"
    argv = ["analyze", str(given), "--out", str(out)] if command == "analyze" else ["anonymize", str(given), str(out)]
    assert main(argv) == DicomReadError.exit_code
    err = capsys.readouterr().err
    assert "DAI-201" in err and "is 300 bytes long; this file system allows 255" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.req("SRS-109")
@pytest.mark.parametrize("command", ["analyze", "anonymize"])
def test_an_out_over_path_max_is_refused_before_any_work(command: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    series = tmp_path / "IN"
    write_series(series, phantom_hu(SLICES, 256))
    out = tmp_path.joinpath(*["o" * 250] * 18)  # every name legal, the path over 4096 bytes
    argv = ["analyze", str(series), "--out", str(out)] if command == "analyze" else ["anonymize", str(series), str(out)]
    assert main(argv) == OutputRefused.exit_code
    err = capsys.readouterr().err
    assert "DAI-501" in err and "bytes long; this system allows" in err and "Traceback" not in err
    assert max(len(line) for line in err.splitlines()) < 400
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IN"]  # nothing made, no quarantine folder
    event = "Analysis Run" if command == "analyze" else "De-identification"
    assert [(e["outcome"], e["details"].get("error")) for e in _recorded(event)] == [(4, "DAI-501")]


def _out_leaving(top: Path, left: int) -> Path:
    """An OUT path (not created) under folders nested in ``top`` that leaves ``left`` bytes of
    PATH_MAX for what is written inside it."""
    fd, deep = os.open(top, os.O_RDONLY | os.O_DIRECTORY), top
    try:
        while (spare := 4095 - len(os.fsencode(deep)) - 11 - left) > 0:  # 11: "/" and OUT's own 10-byte name
            name = "d" * min(200, max(spare - 1, 1))
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd, deep = inner, deep / name
    finally:
        os.close(fd)
    out = deep / ("o" * 10)
    assert 4095 - len(os.fsencode(out)) == left
    return out


@pytest.mark.req("SRS-109")
def test_an_out_leaving_no_room_inside_is_refused_before_work_and_one_with_room_is_not(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """OUT itself fits in PATH_MAX, but the keyed <patient>/<study>/<series>/<instance>.dcm
    outputs in its staging folder would not (170 bytes left): refused before any file is read,
    where it used to fail after de-identifying every file (DAI-500); with 300 bytes left (the
    quarantine folder beside it too) the same run completes (negative control)."""
    series = tmp_path / "IN"
    write_series(series, phantom_hu(SLICES, 256))
    (tmp_path / "tight").mkdir()
    (tmp_path / "roomy").mkdir()
    tight = _out_leaving(tmp_path / "tight", 170)
    assert main(["anonymize", str(series), str(tight)]) == OutputRefused.exit_code
    err = capsys.readouterr().err
    assert "DAI-501" in err and "bytes kept for what is written inside it" in err and "de-identified" not in err
    assert os.listdir(tight.parent) == []
    roomy = _out_leaving(tmp_path / "roomy", 300)
    assert main(["anonymize", str(series), str(roomy)]) == 0
    assert len(list(roomy.rglob("*.dcm"))) == SLICES


@pytest.mark.req("SRS-111")
def test_status_names_a_path_it_cannot_look_at_and_reads_a_normal_one(tmp_path: Path) -> None:
    long_name = tmp_path / ("n" * 300)
    with pytest.raises(DicomReadError, match="is 300 bytes long") as refused:
        status(long_name)
    assert len(refused.value.message) < 300 and refused.value.hint
    assert status(tmp_path / "missing") is None
    assert status(tmp_path) is not None  # negative control


@pytest.mark.req("SRS-109")
@pytest.mark.parametrize("name", ["c" * 300, "c" * 20 + ".bin (control: a legal name)"])
def test_a_crosswalk_or_signing_key_name_over_name_max_is_refused_not_an_internal_error(
        name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Found by the review of item 3: these two outputs checked `exists()` before the path checks.
    series = tmp_path / "IN"
    write_series(series, phantom_hu(SLICES, 256))
    crosswalk, key = tmp_path / name, tmp_path / "keys" / name
    key.parent.mkdir()
    anonymized = main(["anonymize", str(series), str(tmp_path / "OUT"), "--crosswalk", str(crosswalk)])
    made_key = main(["model", "keygen", "--out", str(key)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if len(name) > 255:
        assert (anonymized, made_key) == (OutputRefused.exit_code, 6) and err.count("DAI-501") == 2
        assert not (tmp_path / "OUT").exists() and list(key.parent.iterdir()) == []
    else:
        assert (anonymized, made_key) == (0, 0) and crosswalk.is_file() and key.is_file()
