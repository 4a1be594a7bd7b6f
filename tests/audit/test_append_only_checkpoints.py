"""Checkpoints are never overwritten, and recovery never cuts acknowledged records (issue 22,
SRS-105, SRS-106): the adversarial probe's two findings, each with its negative control."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from device_ai.atomic_io import write_once
from device_ai.audit import store
from device_ai.audit.entry import ANALYSIS_RUN, LOG_RECOVERED, AuditObject
from device_ai.audit.log import CHECKPOINT_DIR, LOG_NAME, AuditLog, notes_in
from device_ai.audit.store import scan
from device_ai.audit.verify import verify_log
from device_ai.errors import AuditIntegrityError


def _fill(folder: Path, count: int, copy_dir: Path | None = None) -> str:
    log = AuditLog.open(folder, copy_dir=copy_dir)
    for i in range(count):
        log.append(ANALYSIS_RUN, objects=(AuditObject(kind="study", id=f"study-{i:016x}"),), details={"i": str(i)})
    vkey = log.public_key()
    log.close()  # the final checkpoint, here and in the copy location
    return vkey


def _copies(copy_dir: Path) -> list[Path]:
    """The notes in the copy location: each log writes into its own subfolder (SRS-145)."""
    return sorted(copy_dir.glob("*/*.note"))


def _delete_last_record(folder: Path) -> None:
    data = (folder / LOG_NAME).read_bytes()
    last = scan(data).records[-1]
    (folder / LOG_NAME).write_bytes(data[: last.offset])  # a whole frame removed: no torn tail to see


def _one_more_action(folder: Path, copy_dir: Path) -> None:
    log = AuditLog.open(folder, copy_dir=copy_dir)
    log.append(ANALYSIS_RUN, details={"after": "tampering"})
    log.close()


@pytest.mark.req("SRS-105", "SRS-028")
def test_a_deleted_record_stays_visible_after_more_use_locally_and_off_site(tmp_path: Path) -> None:
    folder, copy_dir = tmp_path / "audit", tmp_path / "off-site"
    vkey = _fill(folder, 5, copy_dir)
    before = {p.name: p.read_bytes() for p in _copies(copy_dir)}
    _delete_last_record(folder)
    _one_more_action(folder, copy_dir)  # the log is back at 5 records, with a different last record

    after = {p.name: p.read_bytes() for p in _copies(copy_dir)}
    assert all(after.get(name) == body for name, body in before.items()), "an off-site checkpoint was overwritten"
    assert len(after) > len(before), "the new tree head was not copied beside the old one"
    off_site = verify_log(folder, vkey, _copies(copy_dir))
    assert not off_site.ok and any("rewritten" in p or "forked" in p for p in off_site.problems)
    local = verify_log(folder, vkey)
    assert not local.ok, "the local checkpoints no longer show the deleted record"


@pytest.mark.req("SRS-105")
def test_negative_control_untouched_log_verifies_against_the_same_copies(tmp_path: Path) -> None:
    folder, copy_dir = tmp_path / "audit", tmp_path / "off-site"
    vkey = _fill(folder, 5, copy_dir)
    _one_more_action(folder, copy_dir)
    report = verify_log(folder, vkey, _copies(copy_dir))
    assert report.ok, report.problems
    assert len(report.checkpoints) >= 4  # two local and two copied tree heads, none replaced


@pytest.mark.req("SRS-105")
def test_write_once_never_replaces_a_file(tmp_path: Path) -> None:
    target = tmp_path / "000000000001-00.note"
    assert write_once(target, b"first") is True
    assert write_once(target, b"first") is False  # the same evidence again: nothing to do
    with pytest.raises(FileExistsError):
        write_once(target, b"second")
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == [target.name], "a temporary file was left behind"


def _forge_length(folder: Path, record: int, length: int) -> bytes:
    data = bytearray((folder / LOG_NAME).read_bytes())
    offset = scan(bytes(data)).records[record].offset
    struct.pack_into(">I", data, offset, length)
    (folder / LOG_NAME).write_bytes(bytes(data))
    return bytes(data)


@pytest.mark.req("SRS-106")
def test_a_forged_length_never_makes_the_device_cut_acknowledged_records(tmp_path: Path) -> None:
    folder = tmp_path / "audit"
    _fill(folder, 32)
    forged = _forge_length(folder, 12, 0x000F0000)  # the probe's edit: records 12..31 now look "torn"
    assert scan(forged).torn_bytes, "the forged file must look like a torn tail to the scanner"
    with pytest.raises(AuditIntegrityError, match="length was altered"):
        AuditLog.open(folder)
    assert (folder / LOG_NAME).read_bytes() == forged, "the device cut or changed the log"


@pytest.mark.req("SRS-106")
def test_a_torn_tail_inside_signed_records_is_not_cut(tmp_path: Path) -> None:
    folder = tmp_path / "audit"
    _fill(folder, 6)  # checkpoint at 6 records
    data = (folder / LOG_NAME).read_bytes()
    last = scan(data).records[-1]
    torn = data[: last.offset + store.FRAME.size + 3]  # a genuine-looking torn write of record 5
    (folder / LOG_NAME).write_bytes(torn)
    with pytest.raises(AuditIntegrityError, match="signed checkpoint covers 6 records"):
        AuditLog.open(folder)
    assert (folder / LOG_NAME).read_bytes() == torn


@pytest.mark.req("SRS-106", "SRS-026")
def test_negative_control_an_unsigned_torn_tail_is_still_cut_and_recorded(tmp_path: Path) -> None:
    folder = tmp_path / "audit"
    log = AuditLog.open(folder)
    for i in range(3):
        log.append(ANALYSIS_RUN, details={"i": str(i)})
    log.file.close()  # no checkpoint covers these records: a crash before the next one
    data = (folder / LOG_NAME).read_bytes()
    last = scan(data).records[-1]
    (folder / LOG_NAME).write_bytes(data[: last.offset + store.FRAME.size + 5])
    reopened = AuditLog.open(folder)
    events = [r.payload for r in scan((folder / LOG_NAME).read_bytes()).records]
    assert reopened.size == 3 and LOG_RECOVERED.code.encode() in events[-1]
    reopened.file.close()


@pytest.mark.req("SRS-106")
def test_complete_frame_search_finds_a_hidden_record_and_nothing_in_a_torn_payload() -> None:
    payload = b'{"seq": 7, "event": "x"}'
    frame = store.frame(payload)
    assert store.complete_frame_in(frame[:-2]) is None  # a torn record alone
    hidden = store.FRAME.pack(0x000F0000, 0) + b"garbage" + frame
    assert store.complete_frame_in(hidden) == store.FRAME.size + len(b"garbage")


@pytest.mark.req("SRS-028")
def test_verify_reports_a_folder_named_like_a_note_instead_of_crashing(tmp_path: Path) -> None:
    folder = tmp_path / "audit"
    vkey = _fill(folder, 2)
    (folder / CHECKPOINT_DIR / "000000000099-ffff.note").mkdir()
    report = verify_log(folder, vkey)
    assert report.ok, report.problems  # a folder is not a checkpoint: ignored by the glob
    unreadable = tmp_path / "given.note"
    unreadable.mkdir()
    report = verify_log(folder, vkey, [unreadable])
    assert not report.ok and any("cannot read" in p for p in report.problems)


@pytest.mark.req("SRS-105", "SRS-028")
def test_probe_replay_delete_then_model_verify_then_audit_verify_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The probe's sequence through the CLI: `audit verify` (no --checkpoint) checks the copy location too."""
    from device_ai import cli

    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DEVICE_AI_AUDIT_COPY_DIR", str(tmp_path / "off-site"))
    assert cli.main(["model", "verify"]) == 0
    assert cli.main(["model", "verify"]) == 0
    assert cli.main(["audit", "verify"]) == 0  # negative control: untouched
    folder = tmp_path / "home" / "audit"
    _delete_last_record(folder)
    for note in notes_in(folder / CHECKPOINT_DIR):  # the attacker also removes the local evidence
        note.unlink()
    assert cli.main(["model", "verify"]) == 0
    capsys.readouterr()
    assert cli.main(["audit", "verify"]) == AuditIntegrityError.exit_code
    assert "FAIL" in capsys.readouterr().out
    assert cli.main(["audit", "verify", "--checkpoint", str(tmp_path / "off-site")]) == AuditIntegrityError.exit_code


@pytest.mark.req("SRS-106")
def test_a_forged_length_on_the_last_unsigned_record_is_not_cut(tmp_path: Path) -> None:
    """The last record was acknowledged but no checkpoint covers it yet, and nothing follows it,
    so no hidden frame is there to find: its own checksum shows it is complete."""
    folder = tmp_path / "audit"
    log = AuditLog.open(folder)
    for i in range(3):
        log.append(ANALYSIS_RUN, details={"i": str(i)})
    log.file.close()  # acknowledged, not yet checkpointed
    forged = _forge_length(folder, 2, 0x000F0000)
    assert scan(forged).torn_bytes and store.complete_frame_in(forged[scan(forged).good_end:]) is None
    with pytest.raises(AuditIntegrityError, match="length was altered"):
        AuditLog.open(folder)
    assert (folder / LOG_NAME).read_bytes() == forged, "the device cut or changed the log"


@pytest.mark.req("SRS-106")
def test_lengthened_record_check_tells_a_forged_length_from_a_torn_write() -> None:
    frame = store.frame(b'{"seq": 7, "event": "x"}')
    lengthened = store.FRAME.pack(0x000F0000, struct.unpack_from(">I", frame, 4)[0]) + frame[store.FRAME.size:]
    assert store.lengthened_record(lengthened)
    assert store.lengthened_record(lengthened + b"X")  # a byte appended after it (independent review)
    assert store.lengthened_record(lengthened + b"\0" * 4096)
    assert not store.lengthened_record(frame[:-2])  # a torn write: the CRC covers bytes never written
    assert not store.lengthened_record(frame[: store.FRAME.size])
