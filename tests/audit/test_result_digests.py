"""Result digests in the signed audit log and the check a reader runs (SRS-222, threat THR-015).

An analysis's success entry lists every file it published with the SHA-256 of its bytes, under
the device's own file names; `audit verify-results FOLDER` verifies the log, finds that entry by
the files and reports each file. Every alteration below is checked on a folder that passed the
check just before (the control), with the released demonstration model on a two-slice phantom."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import pytest

from device_ai import cli
from device_ai.app.audit_trail import EntryFilter, entries
from device_ai.app.result_check import PublishingEntry, _matching_entry, verify_results
from device_ai.audit.log import LOG_NAME, default_folder
from device_ai.audit.result_files import DEVICE_NAME, published_files
from device_ai.audit.store import FRAME, MAGIC
from device_ai.errors import InternalError, NoPublishingEntry
from tests.phantom_series import two_slice_phantom_series


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return two_slice_phantom_series(tmp_path_factory)


def _analyze(series: Path, out: Path) -> Path:
    assert cli.main(["analyze", str(series), "--out", str(out)]) == 0
    return out


def _check(folder: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["audit", "verify-results", str(folder), *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _analysis_entries() -> list[dict]:
    return entries(None, EntryFilter(event="DAI004"))[1]


@pytest.mark.req("SRS-222")
def test_the_analysis_entry_lists_every_published_file_with_its_digest(series: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = _analyze(series, tmp_path / "out")
    [entry] = _analysis_entries()
    files = {o["role"]: o["id"] for o in entry["objects"] if o["kind"] == "file"}
    on_disk = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in out.iterdir()}
    assert files == on_disk  # summary.json included: its digest is taken after it is written
    assert sorted(files) == sorted(json.loads((out / "summary.json").read_text())["outputs"])
    assert all(DEVICE_NAME.fullmatch(name) for name in files)
    raw = (default_folder() / LOG_NAME).read_bytes()
    assert b"PHANTOM" not in raw and b"2.25." not in raw, "an identifier in the audit log"
    code, text = _check(out, capsys)
    assert code == 0 and "OK: all 5 file(s) are as the device published them" in text, text
    # control: a name that is not the device's (it could carry an identifier) is refused, never recorded
    (out / "PHANTOM^JANE.dcm").write_bytes(b"x")
    with pytest.raises(InternalError):
        published_files(out)


def _flip_one_byte(folder: Path, name: str, second: Path) -> None:  # noqa: ARG001
    path = folder / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _sr_of_second_run(folder: Path, name: str, second: Path) -> None:
    shutil.copyfile(second / name, folder / name)


def _delete(folder: Path, name: str, second: Path) -> None:  # noqa: ARG001
    (folder / name).unlink()


def _add(folder: Path, name: str, second: Path) -> None:  # noqa: ARG001
    (folder / name).write_text("a note someone put beside the results\n")


TAMPERS = {
    "one byte of the SEG changed": (_flip_one_byte, "segmentation.dcm", "altered"),
    "the SR replaced by another run's valid SR": (_sr_of_second_run, "measurements.dcm", "altered"),
    "a preview deleted": (_delete, "preview_slice0001.png", "missing"),
    "an extra file added": (_add, "readme.txt", "not published by the device"),
}


@pytest.mark.req("SRS-222")
@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_an_altered_result_fails_the_check_naming_the_file(tamper: str, series: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    how, name, state = TAMPERS[tamper]
    out = _analyze(series, tmp_path / "out")
    second = _analyze(series, tmp_path / "second") if how is _sr_of_second_run else tmp_path
    code, text = _check(out, capsys)
    assert code == 0, text  # control: the folder as published passes
    how(out, name, second)
    # The two runs' summaries differ only in elapsed_s (milliseconds): when it is equal, the tampered folder holds as
    # many files of the second run's entry as of the first's (SR + previews + summary against SEG + previews +
    # summary), and the check, rightly, takes the newer entry as the publisher and names the SEG as the file from
    # another run (CI run 23 at 03ecbea). The assertions follow whichever entry the file counts make the publisher.
    tie = how is _sr_of_second_run and (out / "summary.json").read_bytes() == (second / "summary.json").read_bytes()
    named = "segmentation.dcm" if tie else name
    code, text = _check(out, capsys)
    assert code == 8 and "DAI-711" in text, text
    assert f"{out / named}: {state}" in text, text
    others = [line for line in map(str.strip, text.splitlines()) if line.startswith(f"{out}/") and f"/{named}:" not in line]
    assert others == [], "only the altered file is named"
    if how is _sr_of_second_run:  # a valid SR of the same series, from another run: said whose it is
        [first_entry, second_entry] = _analysis_entries()
        publisher, other = (second_entry, first_entry) if tie else (first_entry, second_entry)
        assert f"its bytes are {named} of audit entry {other['seq']}" in text
        assert f"published by audit entry {publisher['seq']}" in text


@pytest.mark.req("SRS-222")
def test_a_log_entry_whose_digest_was_rewritten_fails_audit_verify_and_the_check(
        series: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _analyze(series, tmp_path / "out")
    assert _check(out, capsys)[0] == 0  # control
    assert cli.main(["audit", "verify"]) == 0
    [entry] = _analysis_entries()
    seg_digest = next(o["id"] for o in entry["objects"] if o.get("role") == "segmentation.dcm")
    forged = hashlib.sha256(b"the forger's SEG").hexdigest()
    _rewrite_record(default_folder() / LOG_NAME, entry["seq"], seg_digest, forged)
    assert _analysis_entries()[0]["objects"] != entry["objects"], "the rewrite took effect (framing intact)"
    capsys.readouterr()
    assert cli.main(["audit", "verify"]) == 8
    code, text = _check(out, capsys)
    assert code == 8 and "DAI-701" in text and str(default_folder()) in text and "does not verify" in text, text
    assert "unchanged" not in text, "nothing is compared against a log that does not verify"


def _rewrite_record(path: Path, seq: int, old: str, new: str) -> None:
    """Replace text in record ``seq`` with a valid frame (length and CRC recomputed): only the tree
    and the signed checkpoints can show it."""
    data = path.read_bytes()
    pos, index = len(MAGIC), 0
    while True:
        length, _ = FRAME.unpack_from(data, pos)
        if index == seq:
            payload = data[pos + FRAME.size:pos + FRAME.size + length].replace(old.encode(), new.encode())
            assert len(payload) == length
            frame = struct.pack(">II", len(payload), zlib.crc32(payload)) + payload
            path.write_bytes(data[:pos] + frame + data[pos + FRAME.size + length:])
            return
        pos, index = pos + FRAME.size + length, index + 1


@pytest.mark.req("SRS-222")
def test_folders_the_log_does_not_vouch_for_are_typed_errors(series: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _check(tmp_path / "none", capsys)  # no log at all yet
    assert code == 2 and "does not exist" in text, text
    empty = tmp_path / "empty"
    empty.mkdir()
    code, text = _check(empty, capsys)
    assert code == 7 and "DAI-710" in text and "no audit log" in text, text
    out = _analyze(series, tmp_path / "out")
    assert _check(out, capsys)[0] == 0  # control
    code, text = _check(empty, capsys)
    assert code == 7 and "DAI-710" in text and "lists any file" in text, text
    forged = tmp_path / "forged"  # a look-alike folder: the device's names, other bytes
    forged.mkdir()
    for path in out.iterdir():
        (forged / path.name).write_bytes(path.read_bytes() + b"\0")
    code, text = _check(forged, capsys)
    assert code == 7 and "DAI-710" in text, text
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked"
        shutil.copytree(out, locked)
        (locked / "inner").mkdir(mode=0)
        code, text = _check(locked, capsys)
        assert code == 2 and "cannot be read" in text, text


@pytest.mark.req("SRS-222")
def test_only_checks_a_partial_copy_and_still_requires_the_named_files(series: Path, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A node folder destination holds the SEG and SR only."""
    out = _analyze(series, tmp_path / "out")
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("segmentation.dcm", "measurements.dcm"):
        shutil.copyfile(out / name, copy / name)
    only = ["--only", "segmentation.dcm", "--only", "measurements.dcm"]
    assert _check(copy, capsys, *only)[0] == 0
    code, text = _check(copy, capsys)  # control: without --only the rest is missing
    assert code == 8 and "preview_slice0001.png: missing" in text, text
    (copy / "segmentation.dcm").unlink()
    code, text = _check(copy, capsys, *only)
    assert code == 8 and f"{copy / 'segmentation.dcm'}: missing" in text, text
    code, text = _check(copy, capsys, "--only", "other.dcm")
    assert code == 2 and "lists no such file" in text, text


@pytest.mark.req("SRS-222")
def test_the_entry_is_chosen_by_the_files_and_a_superseded_one_is_not_a_publication(tmp_path: Path) -> None:
    files = {"segmentation.dcm": "a" * 64, "measurements.dcm": "b" * 64, "summary.json": "c" * 64}
    step = PublishingEntry(3, "t", "Explanation Produced", {"explanation.json": "d" * 64})
    run = PublishingEntry(4, "t", "Analysis Run", {**files, "explanation.json": "d" * 64})
    other = PublishingEntry(7, "t", "Analysis Run", {**files, "summary.json": "e" * 64})
    found = {**files, "explanation.json": "d" * 64}
    assert _matching_entry(tmp_path, found, [step, run, other], {}).seq == 4
    assert _matching_entry(tmp_path, {"explanation.json": "d" * 64}, [step, run], {}).seq == 4  # the enclosing one
    with pytest.raises(NoPublishingEntry, match="entry 9 supersedes"):
        _matching_entry(tmp_path, found, [run], {4: 9})
    with pytest.raises(NoPublishingEntry, match="lists any file"):  # control: nothing in common
        _matching_entry(tmp_path, {"segmentation.dcm": "f" * 64}, [step, run, other], {})


@pytest.mark.req("SRS-222")
def test_a_standalone_explanation_records_its_files(series: Path, tmp_path: Path) -> None:
    """``explain`` publishes files outside an analysis: its Explanation Produced entry lists them."""
    assert cli.main(["explain", str(series), "--label", "Organ", "--slices", "1", "--out", str(tmp_path / "ex")]) == 0
    check = verify_results(tmp_path / "ex")
    assert check.ok and check.entry.event == "Explanation Produced"
    assert sorted(s.name for s in check.states) == sorted(p.name for p in (tmp_path / "ex").iterdir())
    (tmp_path / "ex" / "explanation.json").write_text("{}\n")
    assert not verify_results(tmp_path / "ex").ok  # control
