"""Independent review (helper-37) of the audit log's signer identity (984a74b, SRS-156, SRS-145).

Proven defects were strict xfails with the finding as reason (4dd73c6); each has a control that
passes, so that a fix cannot make the test pass by breaking the legitimate case. The defects were
fixed by helper-41 and the xfail marks removed (the findings' text is kept in the section titles
and in git history; finding 1's test now expects the open to be refused too). Three passing
tests close clauses that mutation showed untested: the recorded signer alone refuses the open,
`audit verify` verifies the recorded signer's notes, and recovery counts only notes its own key
signed in the copy location's flat layout.
"""

from __future__ import annotations

import os
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from device_ai import cli
from device_ai.audit.checkpoint import parse_verifier_key
from device_ai.audit.entry import ANALYSIS_RUN
from device_ai.audit.identity import SIGNER_NAME
from device_ai.audit.log import CHECKPOINT_DIR, LOG_NAME, AuditLog, copy_subfolder, default_folder, notes_in
from device_ai.audit.notefiles import LATEST_NAME
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


def _device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, origin: str | None = SITE_ORIGIN,
            home: str = "home") -> Path:
    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / home))
    monkeypatch.setenv("DEVICE_AI_AUDIT_COPY_DIR", str(tmp_path / "offsite"))
    for variable in ("DEVICE_AI_AUDIT_KEY_FILE", "DEVICE_AI_CONFIG", "DEVICE_AI_AUDIT_KEY_PASSPHRASE_FILE"):
        monkeypatch.delenv(variable, raising=False)
    if origin is None:
        monkeypatch.delenv("DEVICE_AI_AUDIT_ORIGIN", raising=False)
    else:
        monkeypatch.setenv("DEVICE_AI_AUDIT_ORIGIN", origin)
    return tmp_path / "offsite"


def _record(count: int) -> str:
    """``count`` entries, a checkpoint every 2 and at close; the verifier key."""
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


def _remove_local_evidence(*, signer: bool = True, notes: bool = True) -> None:
    folder = default_folder()
    if signer:
        (folder / SIGNER_NAME).unlink()
    if notes:
        shutil.rmtree(folder / CHECKPOINT_DIR)
        (folder / LATEST_NAME).unlink()


def _swap_key() -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption())
    key_path("audit-checkpoint").write_bytes(pem)


def _verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main(["audit", "verify", *args])
    return code, capsys.readouterr().out


# --- Finding 1 (high): the origin alone changed; the key file is never touched ---------------

@pytest.mark.req("SRS-156")
def test_a_changed_origin_with_the_same_key_and_local_evidence_removed_fails_verify(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    offsite = _device(tmp_path, monkeypatch)
    _record(3)
    key_before = key_path("audit-checkpoint").read_bytes()
    _edit_record(1)
    _remove_local_evidence()
    monkeypatch.setenv("DEVICE_AI_AUDIT_ORIGIN", "site.example/ct1-b")
    log_before = (default_folder() / LOG_NAME).read_bytes()
    # fixed (helper-41): the copy location's old subfolder is this key's under the old origin, so
    # the open is refused (the review's step took the log as the new origin's) and writes nothing
    with pytest.raises(AuditIntegrityError, match="under another origin 'site.example/ct1'"):
        _record(1)
    assert (default_folder() / LOG_NAME).read_bytes() == log_before
    assert not (default_folder() / SIGNER_NAME).exists()
    assert key_path("audit-checkpoint").read_bytes() == key_before, "the key file was not touched"
    code, out = _verify(capsys, "--dir", str(default_folder()), "--checkpoint", str(offsite))
    assert code == FAILED, out  # against the off-site copy, without --key
    code, out = _verify(capsys)
    assert code == FAILED, out  # on the device


@pytest.mark.req("SRS-156", "SRS-145")
def test_control_a_documented_rotation_new_origin_and_new_key_still_verifies_both_logs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """docs/key_custody.md, Rotation: archive the folder and the key, new origin, new key. A fix of
    finding 1 must keep this passing (the old folder is another key's, under another origin)."""
    offsite = _device(tmp_path, monkeypatch)
    old = _record(3)
    archive = tmp_path / "archive"
    archive.mkdir()
    shutil.move(default_folder(), archive / "audit")
    shutil.move(key_path("audit-checkpoint"), archive / "audit-checkpoint.pem")
    monkeypatch.setenv("DEVICE_AI_AUDIT_ORIGIN", "site.example/ct1-2027")
    new = _record(2)
    assert parse_verifier_key(new)[1] != parse_verifier_key(old)[1]
    code, out = _verify(capsys)
    assert code == 0 and "OK: 2 records" in out, out
    code, out = _verify(capsys, "--dir", str(archive / "audit"), "--key", old, "--checkpoint", str(offsite))
    assert code == 0 and "OK: 3 records" in out, out


# --- Finding 2 (medium): an origin the signed-note format cannot carry bricks the log --------

@pytest.mark.req("SRS-156")
@pytest.mark.parametrize("origin", [
    pytest.param("site.example/ct+1", id="plus"),
    pytest.param("site\nct1", id="newline"),
    pytest.param(SITE_ORIGIN, id="control-site-origin"),
])
def test_an_origin_is_either_refused_at_start_or_keeps_working(
        origin: str, series: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _device(tmp_path, monkeypatch, origin)
    codes = [cli.main(["anonymize", str(series), str(tmp_path / f"out{i}")]) for i in range(2)]
    err = capsys.readouterr().err
    if codes[0] == 2:  # refused as a setting: fine, if it says which one and wrote nothing
        assert codes == [2, 2] and "audit_origin" in err and not (tmp_path / "out0").exists(), err
        return
    assert codes == [0, 0], err  # accepted: the device must keep working on its own log
    code, out = _verify(capsys)
    assert code == 0, out


# --- Finding 3 (low): a checkpoints path that is not a folder is an internal error ----------

@pytest.mark.req("SRS-156")
@pytest.mark.parametrize("replace", [
    pytest.param("a file"),
    pytest.param("a symlink loop"),
    pytest.param("nothing", id="control-removed"),
])
def test_a_checkpoints_path_that_is_not_a_folder_is_a_typed_refusal(
        replace: str, series: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    _device(tmp_path, monkeypatch)
    _record(2)
    checkpoints = default_folder() / CHECKPOINT_DIR
    shutil.rmtree(checkpoints)
    if replace == "a file":
        checkpoints.write_bytes(b"x\n")
    elif replace == "a symlink loop":
        os.symlink(checkpoints, checkpoints)
    capsys.readouterr()
    code = cli.main(["anonymize", str(series), str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code != 70 and "internal error" not in err, err
    if replace == "nothing":
        assert code == 0, err
    else:
        assert code == FAILED and str(checkpoints) in err and "what to do" in err, err


# --- Finding 4 (low): `watch` refused by the signer check has created OUT already ------------

@pytest.mark.req("SRS-156")
def test_watch_refused_for_another_signer_creates_no_out_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _device(tmp_path, monkeypatch)
    _record(2)
    monkeypatch.setenv("DEVICE_AI_AUDIT_ORIGIN", "other.example/ct1")
    inbox, out = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    capsys.readouterr()
    assert cli.main(["watch", str(inbox), str(out)]) == FAILED
    assert "DAI-701" in capsys.readouterr().err
    assert not out.exists(), sorted(p.name for p in out.rglob("*"))


# --- Finding 5 (low): a malformed --key is not named -----------------------------------------

@pytest.mark.req("SRS-156")
def test_a_malformed_key_argument_is_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _device(tmp_path, monkeypatch)
    _record(2)
    capsys.readouterr()
    cli.main(["audit", "verify", "--key", "garbage"])
    err = capsys.readouterr().err
    assert "--key" in err and "what to do" in err, err


# --- Clauses mutation showed untested (these pass) ---------------------------------------------

@pytest.mark.req("SRS-156")
@pytest.mark.parametrize("how", ["audit_origin changed", "key file swapped"])
def test_the_recorded_signer_alone_refuses_the_open(
        how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Local notes gone, signer.vkey kept: the refusal rests on signer.vkey only (the mutant that
    skips comparing it passed every test of 984a74b)."""
    _device(tmp_path, monkeypatch)
    _record(2)
    _remove_local_evidence(signer=False)
    AuditLog.open().file.close()  # negative control: unchanged key and origin open (no note is written)
    assert not (default_folder() / CHECKPOINT_DIR).exists()
    if how == "audit_origin changed":
        monkeypatch.setenv("DEVICE_AI_AUDIT_ORIGIN", "other.example/ct1")
    else:
        _swap_key()
    with pytest.raises(AuditIntegrityError, match=f"is signed as origin '{SITE_ORIGIN}'.*{SIGNER_NAME}"):
        AuditLog.open()


@pytest.mark.req("SRS-156", "SRS-028")
def test_verify_checks_the_recorded_signers_notes_with_its_own_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Key swapped, signer.vkey kept: the old key's notes are verified with the recorded key and
    show the rewrite (the mutant that drops the recorded signer passed every test of 984a74b)."""
    _device(tmp_path, monkeypatch)
    _record(3)
    _swap_key()
    code, out = _verify(capsys)
    assert code == FAILED and "the log was rewritten" not in out, out  # control: no edit, no rewrite reported
    _edit_record(1)
    code, out = _verify(capsys)
    assert code == FAILED and "the log was rewritten" in out, out
    assert "this log's own checkpoint" not in out, out  # the recorded signer's notes are not 'foreign'


@pytest.mark.req("SRS-145", "SRS-106")
def test_recovery_does_not_count_another_keys_note_in_the_flat_layout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A note of another key under the same origin name, flat in the copy location (the layout
    before subfolders), signing a larger tree, must not stop the cut of an unsigned torn tail
    (the mutant that counts notes without checking their signature passed every test of 984a74b)."""
    offsite = _device(tmp_path, monkeypatch, None, home="b")
    _record(5)
    theirs = max(notes_in(*offsite.iterdir()))
    _device(tmp_path, monkeypatch, None, home="a")
    mine = parse_verifier_key(_record(3))[1]
    shutil.copy(theirs, offsite / "flat.note")  # size 5, origin device-ai.local/audit, b's key
    shutil.rmtree(copy_subfolder(offsite, "device-ai.local/audit", mine))
    _remove_local_evidence(signer=False)
    log_file = default_folder() / LOG_NAME
    log_file.write_bytes(log_file.read_bytes()[:-3])  # record 2 torn; nothing of a's key signs it now
    AuditLog.open().file.close()
    assert len(scan(log_file.read_bytes()).records) == 3  # 2 intact + the recovery entry: the tail was cut
