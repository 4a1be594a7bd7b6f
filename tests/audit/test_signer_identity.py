"""A log is signed by one key under one origin (issue 22 item 1, SRS-156; SRS-028, SRS-145).

The finding: after a record was edited, changing the audit_origin setting or swapping the key
file made `audit verify` pass, because every existing note then read as "not ours". Now the
log's own notes must be its own, the log records its signer (signer.vkey), opening it under
another key or origin is refused before any work, and a site-chosen origin under another key
in the copy location is a problem. What only a pinned verifier key can catch is shown too.
"""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_ai import cli
from device_ai.audit.entry import ANALYSIS_RUN
from device_ai.audit.identity import SIGNER_NAME, read_signer
from device_ai.audit.log import CHECKPOINT_DIR, LOG_NAME, AuditLog, copy_subfolder, default_folder, notes_in
from device_ai.audit.notefiles import LATEST_NAME
from device_ai.audit.checkpoint import parse_verifier_key
from device_ai.audit.store import scan
from device_ai.errors import AuditIntegrityError
from device_ai.keystore import key_path
from tests.dicom.synthetic import phantom_hu, write_series

SITE_ORIGIN = "site.example/ct1"
FAILED = AuditIntegrityError.exit_code


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("in") / "SERIES"
    write_series(folder, phantom_hu(2, 64))
    return folder


def _device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str = "home", origin: str | None = SITE_ORIGIN,
            shared: str = "offsite") -> None:
    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / name))
    monkeypatch.setenv("DEVICE_AI_AUDIT_COPY_DIR", str(tmp_path / shared))
    for variable in ("DEVICE_AI_AUDIT_KEY_FILE", "DEVICE_AI_CONFIG", "DEVICE_AI_AUDIT_KEY_PASSPHRASE_FILE"):
        monkeypatch.delenv(variable, raising=False)
    if origin is None:
        monkeypatch.delenv("DEVICE_AI_AUDIT_ORIGIN", raising=False)
    else:
        monkeypatch.setenv("DEVICE_AI_AUDIT_ORIGIN", origin)


def _record(count: int) -> str:
    """``count`` entries, checkpoints every 2 and at close; the verifier key."""
    with AuditLog.open(checkpoint_every=2) as log:
        for i in range(count):
            log.append(ANALYSIS_RUN, details={"i": str(i)})
        return log.public_key()


def _edit_record(index: int) -> None:
    """Change one detail of record ``index`` and fix its CRC: only the signed roots can tell."""
    path = default_folder() / LOG_NAME
    data = path.read_bytes()
    record = scan(data).records[index]
    payload = record.payload.replace(b'"i":"', b'"i":"9', 1)
    assert payload != record.payload
    frame = struct.pack(">II", len(payload), zlib.crc32(payload)) + payload
    path.write_bytes(data[: record.offset] + frame + data[record.offset + 8 + len(record.payload):])


def _swap_key() -> None:
    """Replace the key file with a new key, as an attacker (or a careless rotation) would."""
    pem = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption())
    key_path("audit-checkpoint").write_bytes(pem)


def _change(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if how == "audit_origin changed":
        monkeypatch.setenv("DEVICE_AI_AUDIT_ORIGIN", "other.example/ct1")
    else:
        _swap_key()


def _verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["audit", "verify", *args])
    return code, capsys.readouterr().out


def _remove_local_evidence(*, signer: bool = True, notes: bool = False) -> None:
    folder = default_folder()
    if signer:
        (folder / SIGNER_NAME).unlink()
    if notes:
        shutil.rmtree(folder / CHECKPOINT_DIR)
        (folder / LATEST_NAME).unlink()


def _everything(tmp_path: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file() and "keys" not in p.parts}


CHANGES = ["audit_origin changed", "key file swapped"]


@pytest.mark.req("SRS-156", "SRS-028")
@pytest.mark.parametrize("how", CHANGES)
def test_an_edited_record_then_a_changed_key_or_origin_fails_verify(
        how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _device(tmp_path, monkeypatch)
    _record(3)
    _edit_record(1)
    _change(how, monkeypatch)
    code, out = _verify(capsys)
    assert code == FAILED, out
    assert f"{SIGNER_NAME}: this log is signed as origin '{SITE_ORIGIN}'" in out, out
    # the attacker also removes the recorded signer: every local note is then named as not this log's
    _remove_local_evidence()
    code, out = _verify(capsys)
    assert code == FAILED, out
    local = [*notes_in(default_folder() / CHECKPOINT_DIR), default_folder() / LATEST_NAME]
    reason = "names origin 'site.example/ct1'" if how == "audit_origin changed" else "is signed by another key"
    for note in local:
        assert f"FAIL: {note}: this log's own checkpoint {reason}" in out, out
    assert "changed since it was written, or the note was planted" in out, out
    copies = len(list((tmp_path / "offsite").rglob("*.note")))
    assert f"not ours: {copies} note(s)" in out, out  # the copy location's old subfolder only, never a local note


@pytest.mark.req("SRS-156", "SRS-028")
def test_negative_control_the_same_edit_without_a_change_reports_the_rewrite_and_no_signer_problem(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _device(tmp_path, monkeypatch)
    _record(3)
    code, out = _verify(capsys)
    assert code == 0 and "OK: 3 records" in out, out  # unedited: passes
    _edit_record(1)
    _remove_local_evidence()  # no recorded signer: a log made before the file existed
    code, out = _verify(capsys)
    assert code == FAILED and "the log was rewritten" in out, out
    assert "this log's own checkpoint" not in out and "signed as" not in out, out


@pytest.mark.req("SRS-156", "SRS-030")
@pytest.mark.parametrize("how", CHANGES)
def test_an_audited_command_refuses_a_log_signed_under_another_key_or_origin_before_any_work(
        how: str, series: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _device(tmp_path, monkeypatch)
    _record(3)
    _edit_record(1)
    _change(how, monkeypatch)
    for evidence in ("recorded signer", "local notes only"):
        if evidence == "local notes only":
            _remove_local_evidence()  # the refusal then rests on the notes beside the log
        before = _everything(tmp_path)
        out = tmp_path / f"out-{evidence.replace(' ', '-')}"
        capsys.readouterr()
        assert cli.main(["anonymize", str(series), str(out)]) == FAILED
        err = capsys.readouterr().err
        assert "DAI-701" in err and "the audit key file or the audit_origin setting changed" in err, err
        assert "restore the audit key file from its backup" in err and "not supported yet" in err, err
        assert not out.exists() and _everything(tmp_path) == before, "the refused command wrote something"
        with pytest.raises(AuditIntegrityError, match="the device stopped before doing anything"):
            AuditLog.open()


@pytest.mark.req("SRS-156", "SRS-030")
def test_negative_control_the_same_command_runs_on_an_unchanged_log_after_a_restart(
        series: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _device(tmp_path, monkeypatch)
    vkey = _record(3)
    signer = (default_folder() / SIGNER_NAME).read_bytes()
    assert read_signer(default_folder()) == vkey  # written when the log was made
    assert cli.main(["anonymize", str(series), str(tmp_path / "out")]) == 0  # a new process: a restart
    _record(1)
    assert (default_folder() / SIGNER_NAME).read_bytes() == signer, "the recorded signer was replaced"
    code, out = _verify(capsys)
    assert code == 0 and "OK: " in out and "not ours" not in out, out


@pytest.mark.req("SRS-156", "SRS-145")
def test_a_swapped_key_with_the_local_evidence_removed_still_fails_under_a_site_chosen_origin(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _device(tmp_path, monkeypatch)
    _record(3)
    _edit_record(1)
    _swap_key()
    _remove_local_evidence(notes=True)
    _record(1)  # the device now opens the log as a new signer's: nothing local says otherwise
    code, out = _verify(capsys)
    assert code == FAILED, out
    assert f"name this log's origin '{SITE_ORIGIN}' but are signed by another key" in out, out
    assert "this log's signing key was replaced, or another device uses the same audit_origin" in out, out


@pytest.mark.req("SRS-156", "SRS-145")
def test_negative_control_two_devices_with_their_own_origins_share_one_copy_location(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The legitimate shared case: neither device fails, each names the other's log as another."""
    for device, origin in (("b", "site.example/ct2"), ("a", SITE_ORIGIN)):
        _device(tmp_path, monkeypatch, device, origin)
        _record(3)
    for device, origin, other in (("a", SITE_ORIGIN, "site.example/ct2"), ("b", "site.example/ct2", SITE_ORIGIN)):
        _device(tmp_path, monkeypatch, device, origin)
        _record(1)  # a restart: opened again, one more entry
        code, out = _verify(capsys)
        assert code == 0 and "OK: 4 records" in out, out
        theirs = len(list((tmp_path / "offsite").glob(f"{other.replace('/', '%2F')}+*/*.note")))
        assert theirs >= 2 and f"not ours: {theirs} note(s)" in out, out
        assert f"Other logs in the copy location (check that each is a known device): {other}" in out, out


@pytest.mark.req("SRS-156", "SRS-028")
def test_off_site_verification_with_the_pinned_key_catches_what_the_device_cannot(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The documented residual risk: an attacker who swaps the key AND changes the origin AND removes
    every local note and the recorded signer leaves a log that verifies with the device's own key
    (the old notes look like another device's); only the pinned verifier key exposes it."""
    _device(tmp_path, monkeypatch)
    pinned = _record(3)
    _edit_record(1)
    _swap_key()
    _remove_local_evidence(notes=True)
    monkeypatch.setenv("DEVICE_AI_AUDIT_ORIGIN", "other.example/ct1")
    _record(1)
    code, out = _verify(capsys)
    assert code == 0, out  # the residual risk, as docs/key_custody.md states it
    assert f"Other logs in the copy location (check that each is a known device): {SITE_ORIGIN}" in out, out
    code, out = _verify(capsys, "--key", pinned, "--dir", str(default_folder()), "--checkpoint",
                        str(tmp_path / "offsite"))
    assert code == FAILED, out
    assert "the log was rewritten" in out, out  # the old key's notes in its subfolder, verified with the pin
    assert f"{SIGNER_NAME}: this log is signed as origin 'other.example/ct1'" in out, out


@pytest.mark.req("SRS-156", "SRS-145")
def test_a_foreign_note_in_the_logs_own_copy_subfolder_is_a_problem_but_not_in_a_shared_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _device(tmp_path, monkeypatch, "b", "site.example/ct2")
    _record(2)
    stranger = notes_in(*(tmp_path / "offsite").iterdir())[0]
    _device(tmp_path, monkeypatch, "a", SITE_ORIGIN)
    vkey = _record(2)
    own = copy_subfolder(tmp_path / "offsite", SITE_ORIGIN, parse_verifier_key(vkey)[1])
    shutil.copy(stranger, tmp_path / "offsite" / "planted.note")  # the flat layout: shared by every device
    code, out = _verify(capsys)
    assert code == 0 and "not ours: 2 note(s)" in out, out  # negative control
    shutil.copy(stranger, own / "planted.note")
    code, out = _verify(capsys)
    assert code == FAILED, out
    assert f"FAIL: {own / 'planted.note'}: this log's own checkpoint names origin 'site.example/ct2'" in out, out


@pytest.mark.req("SRS-156")
def test_a_log_made_before_the_signer_file_gets_it_on_open_unless_its_notes_name_another_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _device(tmp_path, monkeypatch)
    vkey = _record(2)
    _remove_local_evidence()  # as a log made before this version
    AuditLog.open().file.close()
    assert read_signer(default_folder()) == vkey
    _remove_local_evidence()
    _swap_key()  # negative control: the notes beside it name another key: refused, nothing recorded
    with pytest.raises(AuditIntegrityError, match="is signed by another key"):
        AuditLog.open()
    assert not (default_folder() / SIGNER_NAME).exists()


@pytest.mark.req("SRS-156")
def test_a_damaged_signer_file_is_a_problem_and_refuses_the_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _device(tmp_path, monkeypatch)
    _record(2)
    (default_folder() / SIGNER_NAME).write_bytes(b"not a key\n")
    with pytest.raises(AuditIntegrityError, match="signer file is damaged"):
        AuditLog.open()
    code, out = _verify(capsys)
    assert code == FAILED and "the log's signer file is damaged" in out, out
