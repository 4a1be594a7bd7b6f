"""Verified key backup and restore (SRS-223, threat THR-030 "Keys are lost"): `keys backup`
writes one encrypted file, `keys verify-backup` compares it with the live keys, `keys restore`
puts lost keys back so that a crosswalk made before decrypts and the copied-back audit log
verifies. Every check has its negative control."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from device_ai import cli
from device_ai.app.audit_trail import EntryFilter, entries
from device_ai.errors import ConfigError, KeyBackupIncomplete, KeyBackupUnreadable, OutputRefused
from device_ai.keybackup import sealed
from device_ai.pseudonyms import pseudonym
from tests.dicom.deid_corpus import FAKE_MRN, write_study

PASSPHRASE = "a fake backup passphrase for tests\n"
FAKE_STUDY_UID = "1.2.999.123.1"


def _home() -> Path:
    return Path(os.environ["DEVICE_AI_HOME"])


def _private(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def used_device(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Path]:
    """A home after real use: an anonymize run with a crosswalk made every key and signed a log;
    then a backup of its keys. Returns the paths the tests need."""
    write_study(tmp_path / "in")
    crosswalk = tmp_path / "xwalk.bin"
    assert cli.main(["anonymize", str(tmp_path / "in"), str(tmp_path / "out"), "--crosswalk", str(crosswalk)]) == 0
    (tmp_path / "pseudonym").write_text(pseudonym("study", FAKE_STUDY_UID))  # makes the pseudonym key
    passphrase = _private(tmp_path / "backup-passphrase", PASSPHRASE)
    backup = tmp_path / "site" / "keys.backup"
    capsys.readouterr()
    code, _, err = _run(capsys, "keys", "backup", "--out", str(backup), "--passphrase-file", str(passphrase))
    assert code == 0, err
    return {"crosswalk": crosswalk, "passphrase": passphrase, "backup": backup}


@pytest.mark.req("SRS-223")
def test_backup_verifies_and_holds_no_key_in_clear(used_device: dict[str, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    backup = used_device["backup"]
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    data = backup.read_bytes()
    keys = sorted((_home() / "keys").iterdir())
    assert {p.name for p in keys} == {"audit-checkpoint.pem", "pseudonym-key.bin", "deidentification-key.bin",
                                      "crosswalk-key.bin"}
    for key in keys:  # no key, nor its PEM body, appears in the file
        assert key.read_bytes() not in data
        assert key.read_bytes()[27:60] not in data
    code, out, err = _run(capsys, "keys", "verify-backup", str(backup), "--passphrase-file",
                          str(used_device["passphrase"]))
    assert code == 0, err
    assert out.count(": matches") == 6 and "OK: every key" in out  # four keys, signer.vkey, origin
    _, recorded = entries(None, EntryFilter())
    events = [(e["event"]["meaning"], e["details"].get("verdict")) for e in recorded]
    assert ("Keys Backed Up", None) in events and events[-1] == ("Key Backup Verified", "complete")
    # negative control: a backup made on another home (other keys) does not verify here
    home = _home()
    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / "other-home"))
    assert cli.main(["audit", "public-key"]) == 0
    assert cli.main(["keys", "backup", "--out", str(tmp_path / "other.backup"), "--passphrase-file",
                     str(used_device["passphrase"])]) == 0
    monkeypatch.setenv("DEVICE_AI_HOME", str(home))
    capsys.readouterr()
    code, out, err = _run(capsys, "keys", "verify-backup", str(tmp_path / "other.backup"), "--passphrase-file",
                          str(used_device["passphrase"]))
    assert code == KeyBackupIncomplete.exit_code == 1 and KeyBackupIncomplete.code in err
    assert "audit checkpoint signing key: differs" in out
    assert "crosswalk key (encrypts re-identification crosswalks): missing in backup" in out


@pytest.mark.req("SRS-223")
@pytest.mark.parametrize("damage", ["wrong passphrase", "one flipped byte", "flipped header byte", "truncated",
                                    "not a backup"])
def test_a_wrong_passphrase_or_damaged_backup_is_a_typed_error_naming_the_file(
        damage: str, used_device: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    backup, passphrase = used_device["backup"], used_device["passphrase"]
    # negative control first: the intact backup with its passphrase decrypts
    assert sealed.unseal(backup, PASSPHRASE.strip().encode()).item("crosswalk-key") is not None
    damaged = tmp_path / "damaged.backup"
    data = bytearray(backup.read_bytes())
    if damage == "wrong passphrase":
        passphrase = _private(tmp_path / "wrong", "another fake passphrase\n")
    elif damage == "one flipped byte":
        data[len(data) // 2] ^= 0x01
    elif damage == "flipped header byte":
        data[len(sealed.MAGIC) + 8] ^= 0x80  # in the salt: authenticated as associated data
    elif damage == "truncated":
        data = data[:-1]
    else:
        data = bytearray(b"-----BEGIN PRIVATE KEY-----\n" + bytes(data))
    damaged.write_bytes(bytes(data))
    for command in ("verify-backup", "restore"):
        code, out, err = _run(capsys, "keys", command, str(damaged), "--passphrase-file", str(passphrase))
        assert code == KeyBackupUnreadable.exit_code == 3, (command, err)
        assert KeyBackupUnreadable.code in err and str(damaged) in err and "Traceback" not in err
        assert out == ""


@pytest.mark.req("SRS-223")
def test_a_key_changed_after_the_backup_is_reported_as_differs(used_device: dict[str, Path],
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    args = ("keys", "verify-backup", str(used_device["backup"]), "--passphrase-file", str(used_device["passphrase"]))
    assert _run(capsys, *args)[0] == 0  # negative control: unchanged keys verify
    key = _home() / "keys" / "pseudonym-key.bin"
    key.write_bytes(os.urandom(32))  # replaced, as a rotation or a loss and re-creation would
    code, out, err = _run(capsys, *args)
    assert code == KeyBackupIncomplete.exit_code and "pseudonym key (audit object pseudonyms): differs" in out
    assert "pseudonym key (audit object pseudonyms): differs" in err and KeyBackupIncomplete.code in err
    _, recorded = entries(None, EntryFilter(event="Key Backup Verified"))
    assert recorded[-1]["details"]["verdict"] == "incomplete"
    assert recorded[-1]["details"]["pseudonym-key"] == "differs"
    # a key lost since the backup is not a fault of the backup: it says to restore it
    key.unlink()
    code, out, _ = _run(capsys, *args)
    assert code == 0 and "pseudonym key (audit object pseudonyms): missing on the device" in out


@pytest.mark.req("SRS-223")
def test_restore_after_the_home_is_lost_brings_back_crosswalks_and_the_log(
        used_device: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = _home()
    shutil.copytree(home / "audit", tmp_path / "site-copy-of-audit")  # the site's own backup of the log
    shutil.rmtree(home)  # the disk failed
    home.mkdir(mode=0o700)
    shutil.copytree(tmp_path / "site-copy-of-audit", home / "audit")  # the site copies the log back
    crosswalk = ("anonymize-crosswalk", str(used_device["crosswalk"]))
    # negative control: without the keys neither the crosswalk nor the log can be used
    code, _, err = _run(capsys, *crosswalk)
    assert code == ConfigError.exit_code and "missing" in err
    code, _, err = _run(capsys, "audit", "verify")
    assert code == ConfigError.exit_code and "is missing" in err
    assert not (home / "keys").exists() or not any((home / "keys").iterdir()), "a key was made instead of refused"

    code, out, err = _run(capsys, "keys", "restore", str(used_device["backup"]), "--passphrase-file",
                          str(used_device["passphrase"]))
    assert code == 0, err
    assert out.count("restored: ") == 4 and "recorded in the audit trail" in out
    for key in (home / "keys").iterdir():
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "keys").stat().st_mode) == 0o700

    code, out, err = _run(capsys, *crosswalk)
    assert code == 0, err
    assert FAKE_MRN in out  # re-identification works again with the restored crosswalk key
    code, out, err = _run(capsys, "audit", "verify")
    assert code == 0, err
    assert pseudonym("study", FAKE_STUDY_UID) == (tmp_path / "pseudonym").read_text()  # earlier entries match again
    _, recorded = entries(None, EntryFilter(event="Keys Restored"))
    assert len(recorded) == 1 and recorded[0]["details"]["restored"] == \
        "audit-checkpoint,pseudonym-key,deidentification-key,crosswalk-key"
    code, _, _ = _run(capsys, "keys", "verify-backup", str(used_device["backup"]), "--passphrase-file",
                      str(used_device["passphrase"]))
    assert code == 0


@pytest.mark.req("SRS-223")
def test_restore_never_overwrites_an_existing_key(used_device: dict[str, Path],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    args = ("keys", "restore", str(used_device["backup"]), "--passphrase-file", str(used_device["passphrase"]))
    crosswalk_key = _home() / "keys" / "crosswalk-key.bin"
    # negative control: over identical keys a restore writes nothing and succeeds
    code, out, err = _run(capsys, *args)
    assert code == 0 and "nothing was missing" in out and out.count("already there, identical") == 5, err
    kept = os.urandom(32)
    crosswalk_key.write_bytes(kept)
    (_home() / "keys" / "pseudonym-key.bin").unlink()
    code, out, err = _run(capsys, *args)
    assert code == OutputRefused.exit_code and OutputRefused.code in err and str(crosswalk_key) in err
    assert crosswalk_key.read_bytes() == kept, "the existing key was overwritten"
    assert not (_home() / "keys" / "pseudonym-key.bin").exists(), "a refused restore wrote a key"
    _, recorded = entries(None, EntryFilter(event="Keys Restored"))
    assert [e["details"]["restored"] for e in recorded] == ["none"]  # the refused restore left no entry


@pytest.mark.req("SRS-223")
def test_passphrase_file_must_be_owner_only_and_the_backup_never_replaces_a_file(
        used_device: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    passphrase = used_device["passphrase"]
    out = tmp_path / "second.backup"
    passphrase.chmod(0o640)
    code, _, err = _run(capsys, "keys", "backup", "--out", str(out), "--passphrase-file", str(passphrase))
    assert code == ConfigError.exit_code and "others can read it" in err and str(passphrase) in err
    assert not out.exists()
    passphrase.chmod(0o600)  # negative control: owner-only is accepted
    umask = os.umask(0)  # the mode is the backup's own, not the umask's (0666 here)
    try:
        assert _run(capsys, "keys", "backup", "--out", str(out), "--passphrase-file", str(passphrase))[0] == 0
    finally:
        os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    before = out.read_bytes()
    code, _, err = _run(capsys, "keys", "backup", "--out", str(out), "--passphrase-file", str(passphrase))
    assert code == OutputRefused.exit_code and str(out) in err and out.read_bytes() == before
    short = _private(tmp_path / "short", "too short\n")
    code, _, err = _run(capsys, "keys", "backup", "--out", str(tmp_path / "third"), "--passphrase-file", str(short))
    assert code == ConfigError.exit_code and "at least 12" in err


@pytest.mark.req("SRS-223")
def test_restore_refuses_an_audit_key_under_another_origin(used_device: dict[str, Path],
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    args = ("keys", "restore", str(used_device["backup"]), "--passphrase-file", str(used_device["passphrase"]))
    shutil.rmtree(_home() / "keys")
    monkeypatch.setenv("DEVICE_AI_AUDIT_ORIGIN", "site.example/another-log")
    code, out, err = _run(capsys, *args)
    assert code == ConfigError.exit_code and "device-ai.local/audit" in err and out == ""
    assert not (_home() / "keys").exists(), "a refused restore wrote a key"
    monkeypatch.delenv("DEVICE_AI_AUDIT_ORIGIN")  # negative control: under the log's origin it restores
    code, out, err = _run(capsys, *args)
    assert code == 0 and out.count("restored: ") == 4, err
