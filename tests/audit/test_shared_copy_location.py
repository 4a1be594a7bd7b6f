"""A copy location shared by several devices, and checkpoint notes read with a size cap
(issue 22 review, SRS-145; SRS-105, SRS-106, SRS-028 as they apply to it).

Two devices (two DEVICE_AI_HOMEs, their own keys) copy their checkpoints to one folder: each
verifies its own notes and counts the other's as not ours; a note that carries this log's key
ID with a bad signature is still a failure; the flat layout written before the per-log
subfolders is still verified; a huge or special file named like a note is reported, not read.
"""

from __future__ import annotations

import os
import shutil
import tracemalloc
from pathlib import Path

import pytest

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from device_ai import cli
from device_ai.audit.checkpoint import parse_verifier_key
from device_ai.audit.entry import ANALYSIS_RUN
from device_ai.audit.log import CHECKPOINT_DIR, LOG_NAME, AuditLog, copy_subfolder, default_folder, notes_in, read_note
from device_ai.audit.notefiles import MAX_NOTE_BYTES
from device_ai.audit.store import scan
from device_ai.audit.verify import verify_log
from device_ai.errors import AuditIntegrityError


def _use_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, origin: str | None) -> None:
    """Point the settings at device ``name``'s home (its own keys) and the shared copy folder."""
    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / name))
    monkeypatch.setenv("DEVICE_AI_AUDIT_COPY_DIR", str(tmp_path / "shared"))
    if origin is None:
        monkeypatch.delenv("DEVICE_AI_AUDIT_ORIGIN", raising=False)  # the default origin name
    else:
        monkeypatch.setenv("DEVICE_AI_AUDIT_ORIGIN", origin)
    monkeypatch.delenv("DEVICE_AI_AUDIT_KEY_FILE", raising=False)
    monkeypatch.delenv("DEVICE_AI_CONFIG", raising=False)


def _record(count: int, *, checkpoint_every: int = 2) -> AuditLog:
    log = AuditLog.open(checkpoint_every=checkpoint_every)
    for i in range(count):
        log.append(ANALYSIS_RUN, details={"i": str(i)})
    log.close()
    return log


def _verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["audit", "verify", *args])
    return code, capsys.readouterr().out


def _two_devices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, origin_a: str | None,
                 origin_b: str | None) -> AuditLog:
    _use_device(tmp_path, monkeypatch, "b", origin_b)
    _record(5)
    _use_device(tmp_path, monkeypatch, "a", origin_a)
    return _record(3)


@pytest.mark.req("SRS-145", "SRS-105", "SRS-028")
def test_two_devices_sharing_a_copy_location_each_verify_their_own_notes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    log_a = _two_devices(tmp_path, monkeypatch, "a.example/audit", "b.example/audit")
    code, out = _verify(capsys)
    assert code == 0, out
    assert "not ours: 3 note(s) of other origins skipped" in out and "name this log's origin" not in out, out
    assert "OK: 3 records" in out and "4 checkpoint(s)" in out, out  # sizes 2 and 3, locally and in its subfolder
    subfolders = sorted(p.name for p in (tmp_path / "shared").iterdir())
    assert len(subfolders) == 2 and not notes_in(tmp_path / "shared"), "notes were not copied per log"
    ours = notes_in(copy_subfolder(tmp_path / "shared", "a.example/audit", _public(log_a)))
    assert len(ours) == 2, "device a's copies are not all in its own subfolder"
    _use_device(tmp_path, monkeypatch, "b", "b.example/audit")
    code, out = _verify(capsys)
    assert code == 0 and "not ours: 2 note(s)" in out, out


def _public(log: AuditLog) -> Ed25519PublicKey:
    """The public key of ``log``'s device (the settings point at its home)."""
    return parse_verifier_key(log.public_key())[1]


@pytest.mark.req("SRS-145")
def test_two_devices_with_the_default_origin_name_are_told_apart_by_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _two_devices(tmp_path, monkeypatch, None, None)
    code, out = _verify(capsys)
    assert code == 0, out
    assert "not ours: 3 note(s)" in out and "3 of them name this log's origin but are signed by another key" in out


@pytest.mark.req("SRS-145", "SRS-028")
def test_negative_control_a_note_with_our_key_id_and_a_bad_signature_fails_in_a_shared_location(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    log_a = _two_devices(tmp_path, monkeypatch, "a.example/audit", "b.example/audit")
    ours = notes_in(copy_subfolder(tmp_path / "shared", "a.example/audit", _public(log_a)))
    note = ours[-1].read_bytes()
    size = note.split(b"\n")[1]
    forged = note.replace(b"\n" + size + b"\n", b"\n" + str(int(size) + 7).encode() + b"\n", 1)
    assert forged != note
    (tmp_path / "shared" / "000000000099-forged.note").write_bytes(forged)  # in the flat (old) layout
    code, out = _verify(capsys)
    assert code == AuditIntegrityError.exit_code, out
    assert "000000000099-forged.note: checkpoint signature does not verify" in out and "not ours: 3" in out, out


@pytest.mark.req("SRS-145", "SRS-105")
def test_notes_in_the_old_flat_layout_are_still_verified(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    log_a = _two_devices(tmp_path, monkeypatch, "a.example/audit", "b.example/audit")
    own = copy_subfolder(tmp_path / "shared", "a.example/audit", _public(log_a))
    for note in notes_in(own):  # as copied before the per-log subfolders
        shutil.move(note, tmp_path / "shared" / note.name)
    code, out = _verify(capsys)
    assert code == 0 and "OK: 3 records" in out and "4 checkpoint(s)" in out, out  # 2 local + 2 flat
    folder = default_folder()
    data = (folder / LOG_NAME).read_bytes()
    (folder / LOG_NAME).write_bytes(data[: scan(data).records[-1].offset])  # the last record deleted
    for note in notes_in(folder / CHECKPOINT_DIR):  # and the local evidence with it
        note.unlink()
    code, out = _verify(capsys)
    assert code == AuditIntegrityError.exit_code and "missing (truncated)" in out, out
    code, out = _verify(capsys, "--dir", str(folder), "--checkpoint", str(tmp_path / "shared"))
    assert code == AuditIntegrityError.exit_code and "missing (truncated)" in out, out


@pytest.mark.req("SRS-145", "SRS-106")
def test_recovery_counts_its_own_notes_in_its_subfolder_and_never_the_other_devices(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log_a = _two_devices(tmp_path, monkeypatch, None, None)  # b signed 5 records under the same origin name
    folder = default_folder()
    for note in [*notes_in(folder / CHECKPOINT_DIR), folder / "checkpoint.note"]:
        note.unlink()  # only a's copies in the shared location show that a signed 3 records
    data = (folder / LOG_NAME).read_bytes()
    torn = data[:-3]  # record 2, which a's copies sign, torn
    (folder / LOG_NAME).write_bytes(torn)
    with pytest.raises(AuditIntegrityError, match="a signed checkpoint covers 3 records"):
        AuditLog.open()
    assert (folder / LOG_NAME).read_bytes() == torn, "the device cut a signed record"

    # negative control: without a's own copies, b's notes (size 5, same origin name, another key)
    # must not count, so the tail is cut as an unsigned torn write
    shutil.rmtree(copy_subfolder(tmp_path / "shared", "device-ai.local/audit", _public(log_a)))
    AuditLog.open().file.close()
    assert len(scan((folder / LOG_NAME).read_bytes()).records) == 3  # 2 intact + the recovery entry


@pytest.mark.req("SRS-145", "SRS-028")
def test_a_huge_file_named_like_a_note_is_reported_without_being_read(tmp_path: Path) -> None:
    folder = tmp_path / "audit"
    log = AuditLog.open(folder, copy_dir=tmp_path / "copy")
    log.append(ANALYSIS_RUN)
    vkey = log.public_key()
    log.close()
    huge = tmp_path / "copy" / "x.note"
    with huge.open("wb") as sparse:  # 100 MiB on paper, no disk used
        sparse.truncate(100 * 1024 * 1024)
    tracemalloc.start()
    try:
        report = verify_log(folder, vkey, [huge, *notes_in(folder / CHECKPOINT_DIR)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"verify held {peak} bytes: the file was read"
    assert not report.ok and any(str(huge) in p and "104857600 bytes" in p and "not read" in p
                                 for p in report.problems), report.problems
    huge.unlink()  # negative control: without it the same log verifies
    assert verify_log(folder, vkey, notes_in(folder / CHECKPOINT_DIR)).ok


@pytest.mark.req("SRS-145")
def test_read_note_refuses_a_fifo_without_blocking_and_reads_a_note_at_the_cap(tmp_path: Path) -> None:
    fifo = tmp_path / "x.note"
    os.mkfifo(fifo)
    with pytest.raises(AuditIntegrityError, match="not a regular file"):
        read_note(fifo)  # without O_NONBLOCK the open waits for a writer forever
    log = AuditLog.open(tmp_path / "audit", copy_dir=tmp_path / "copy")
    log.append(ANALYSIS_RUN)
    vkey = log.public_key()
    log.close()
    report = verify_log(tmp_path / "audit", vkey, [fifo])  # before the fix: blocked here for good
    assert report.problems == [f"{fifo}: cannot read the checkpoint: not a regular file (a folder, FIFO, device or "
                               "socket named like a note); not read"]
    at_cap = tmp_path / "cap.note"
    at_cap.write_bytes(b"a" * MAX_NOTE_BYTES)
    assert len(read_note(at_cap)) == MAX_NOTE_BYTES  # the cap itself is allowed: refused above it only
    at_cap.write_bytes(b"a" * (MAX_NOTE_BYTES + 1))
    with pytest.raises(AuditIntegrityError, match="larger than any checkpoint note"):
        read_note(at_cap)
