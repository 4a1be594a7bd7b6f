"""Key custody refusals found by an independent review of issue 22 item 2 (SRS-107, SRS-036):
the audit signing key and its passphrase are checked when the audit log is opened, before the
audited action does any work; a missing key is recreated only for a log nothing was signed
for yet; passphrase and key files must be regular, owner-only files."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from device_ai import cli, keystore
from device_ai.audit.entry import ANALYSIS_RUN
from device_ai.audit.log import CHECKPOINT_DIR, LOG_NAME, AuditLog, default_folder
from device_ai.errors import ConfigError
from tests.dicom.synthetic import phantom_hu, write_series

PASSPHRASE = "a fake passphrase"


def _custody(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, passphrase: str | None = PASSPHRASE) -> Path:
    """The signing key configured outside DEVICE_AI_HOME, encrypted with an owner-only passphrase file."""
    monkeypatch.setenv("DEVICE_AI_AUDIT_KEY_FILE", str(tmp_path / "vault" / "audit-signing.pem"))
    if passphrase is not None:
        _write_private(tmp_path / "passphrase", passphrase + "\n")
        monkeypatch.setenv("DEVICE_AI_AUDIT_KEY_PASSPHRASE_FILE", str(tmp_path / "passphrase"))
    return tmp_path / "vault" / "audit-signing.pem"


def _write_private(path: Path, text: str) -> None:
    path.write_text(text)
    os.chmod(path, 0o600)


def _signed_log() -> None:
    """One entry and the checkpoints that sign it (the key is created on this first use)."""
    with AuditLog.open() as log:
        log.append(ANALYSIS_RUN)


def _log_bytes() -> bytes:
    path = default_folder() / LOG_NAME
    return path.read_bytes() if path.exists() else b""


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("in") / "SERIES"
    write_series(folder, phantom_hu(2, 64))
    return folder


# --- 1. a passphrase the crypto backend cannot take ---------------------------------------------

@pytest.mark.req("SRS-107")
def test_a_passphrase_longer_than_the_backend_takes_is_refused_when_the_log_opens(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    key_file = _custody(tmp_path, monkeypatch, passphrase="p" * 1024)
    with pytest.raises(ConfigError) as refused:
        AuditLog.open()
    message = refused.value.message
    assert "audit_key_passphrase_file" in message and "1023" in message and str(tmp_path / "passphrase") in message
    assert not key_file.exists() and _log_bytes() == b"", "a key or an entry was written before the refusal"
    assert cli.main(["audit", "public-key"]) == ConfigError.exit_code  # not exit 70
    assert "1023" in capsys.readouterr().err
    # negative control: the longest passphrase the backend takes (plus its newline) is used
    _write_private(tmp_path / "passphrase", "p" * 1023 + "\n")
    _signed_log()
    assert key_file.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")


# --- 2. the key checked before the audited action does any work ----------------------------------

BREAKS = ["intact", "wrong passphrase", "damaged key", "key open to others", "unreadable key", "missing key",
          "passphrase open to others"]


def _break(how: str, key_file: Path, passphrase: Path, monkeypatch: pytest.MonkeyPatch) -> Path | None:
    """Damage the custody setup one way; returns the file the refusal must name (None: intact)."""
    if how == "wrong passphrase":
        _write_private(passphrase, "not the passphrase\n")
    elif how == "damaged key":
        key_file.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n")
    elif how == "key open to others":
        os.chmod(key_file, 0o644)
    elif how == "unreadable key":  # tests run as root here: chmod 000 would not stop the read
        real_open = os.open

        def refusing_open(path: object, *args: object, **kwargs: object) -> int:
            if Path(os.fsdecode(path)) == key_file:  # type: ignore[arg-type]
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "open", refusing_open)
    elif how == "missing key":
        key_file.unlink()
    elif how == "passphrase open to others":
        os.chmod(passphrase, 0o644)
        return passphrase
    return None if how == "intact" else key_file


@pytest.mark.req("SRS-107")
@pytest.mark.parametrize("how", BREAKS)
def test_a_key_problem_stops_the_action_before_it_runs_and_publishes_nothing(
        how: str, series: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    key_file = _custody(tmp_path, monkeypatch)
    _signed_log()
    before = _log_bytes()
    named = _break(how, key_file, tmp_path / "passphrase", monkeypatch)
    out = tmp_path / "out"
    capsys.readouterr()
    status = cli.main(["anonymize", str(series), str(out)])
    err = capsys.readouterr().err
    if named is None:  # negative control: the same command with the key intact runs and is recorded
        assert status == 0 and out.is_dir() and len(_log_bytes()) > len(before), err
        return
    assert status == ConfigError.exit_code, err
    assert not out.exists() and not out.with_name("out-quarantine").exists(), "published despite the key problem"
    assert _log_bytes() == before, "an entry was written although the action never ran"
    assert str(named) in err and "what to do:" in err and "free space" not in err, err
    assert "Traceback" not in err


# --- 3. a lost key is never silently replaced -----------------------------------------------------

@pytest.mark.req("SRS-107")
@pytest.mark.parametrize("evidence", ["checkpoints folder", "latest checkpoint", "log records"])
def test_a_missing_key_is_not_recreated_once_the_log_has_anything_to_vouch_for(
        evidence: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = _custody(tmp_path, monkeypatch, passphrase=None)
    _signed_log()
    folder = default_folder()
    places = {"checkpoints folder": list((folder / CHECKPOINT_DIR).glob("*.note")),
              "latest checkpoint": [folder / "checkpoint.note"], "log records": [folder / LOG_NAME]}
    assert all(places.values())
    for place, paths in places.items():
        if place != evidence:  # keep one kind of evidence of what the old key signed, or must sign
            for path in paths:
                path.unlink()
    key_file.unlink()
    with pytest.raises(ConfigError) as refused:
        AuditLog.open()
    assert str(key_file) in refused.value.message and "missing" in refused.value.message
    assert "backup" in (refused.value.hint or "") and "docs/key_custody.md" in (refused.value.hint or "")
    assert cli.main(["audit", "public-key"]) == ConfigError.exit_code
    verified = cli.main(["audit", "verify"])
    if evidence != "latest checkpoint":  # verify reads the log and checkpoints/, not the latest note alone
        assert verified == ConfigError.exit_code
    assert not key_file.exists(), "a new signing key was made: the old checkpoints' signer is lost"


@pytest.mark.req("SRS-107")
def test_audit_verify_never_makes_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A home whose log and key are gone while its copies remain: verify refuses, names --key."""
    key_file = _custody(tmp_path, monkeypatch, passphrase=None)
    monkeypatch.setenv("DEVICE_AI_AUDIT_COPY_DIR", str(tmp_path / "offsite"))
    _signed_log()
    for path in [*default_folder().rglob("*.note"), default_folder() / LOG_NAME, key_file]:
        path.unlink()
    capsys.readouterr()
    assert cli.main(["audit", "verify"]) == ConfigError.exit_code
    assert "--key" in capsys.readouterr().err and not key_file.exists()


@pytest.mark.req("SRS-107")
def test_negative_control_a_new_home_gets_its_key_on_first_use(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Also beside another device's notes under the same origin name in a shared copy location:
    they cannot be told apart from a lost key's notes without the key, so they do not count."""
    key_file = _custody(tmp_path, monkeypatch, passphrase=None)
    monkeypatch.setenv("DEVICE_AI_AUDIT_COPY_DIR", str(tmp_path / "shared"))
    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / "other-device"))
    monkeypatch.setenv("DEVICE_AI_AUDIT_KEY_FILE", str(tmp_path / "other-vault" / "key.pem"))
    _signed_log()  # another device, same origin, same copy location
    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DEVICE_AI_AUDIT_KEY_FILE", str(key_file))
    assert list((tmp_path / "shared").rglob("*.note")) and not key_file.exists()
    _signed_log()
    assert key_file.is_file()


@pytest.mark.req("SRS-107")
def test_a_key_moved_to_a_new_audit_key_file_is_found_by_the_hint(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A site that sets audit_key_file on a home that already signed with the default key is
    told where that key is, not given a new one."""
    _signed_log()  # signed with DEVICE_AI_HOME/keys/audit-checkpoint.pem
    key_file = _custody(tmp_path, monkeypatch, passphrase=None)
    with pytest.raises(ConfigError) as refused:
        AuditLog.open()
    default_key = keystore.device_home() / "keys" / f"{keystore.AUDIT_KEY_NAME}.pem"
    assert str(default_key) in (refused.value.hint or "") and not key_file.exists()


# --- 4. passphrase and key files: regular and owner-only, never a FIFO --------------------------

def _refused_without_hanging(call: Callable[[], object], fifo: Path | None) -> ConfigError:
    """``call()``'s ConfigError; fails (and unblocks the call) if it waits on a FIFO."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=10)
    if worker.is_alive() and fifo is not None:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # release the reader blocked on the FIFO
        worker.join(timeout=10)
        pytest.fail("opening the file waited on a FIFO")
    assert outcome and isinstance(outcome[0], ConfigError), f"not refused: {outcome!r}"
    return outcome[0]


@pytest.mark.req("SRS-107")
@pytest.mark.parametrize("kind", ["fifo", "symlink to fifo", "symlink to a device", "folder"])
@pytest.mark.parametrize("which", ["passphrase file", "key file"])
def test_a_special_file_as_passphrase_or_key_is_refused_before_it_is_read(
        which: str, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = _custody(tmp_path, monkeypatch)
    _signed_log()
    target = tmp_path / "passphrase" if which == "passphrase file" else key_file
    target.unlink()
    if kind == "fifo":
        os.mkfifo(target, 0o600)
    elif kind == "symlink to fifo":
        os.mkfifo(tmp_path / "fifo", 0o600)
        target.symlink_to(tmp_path / "fifo")
    elif kind == "symlink to a device":
        target.symlink_to("/dev/zero")
    else:
        target.mkdir(mode=0o700)
    refused = _refused_without_hanging(lambda: AuditLog.open(), target if "fifo" in kind else None)
    assert str(target) in refused.message and "not a regular file" in refused.message and refused.hint


@pytest.mark.req("SRS-107")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_passphrase_file_others_can_read_is_refused(mode: int, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = _custody(tmp_path, monkeypatch)
    os.chmod(tmp_path / "passphrase", mode)
    with pytest.raises(ConfigError) as refused:
        AuditLog.open()
    assert f"{mode:04o}" in refused.value.message and str(tmp_path / "passphrase") in refused.value.message
    assert f"chmod 600 {tmp_path / 'passphrase'}" in (refused.value.hint or "")
    assert not key_file.exists()


@pytest.mark.req("SRS-107")
@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_negative_control_an_owner_only_passphrase_file_even_through_a_link_is_used(
        mode: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = _custody(tmp_path, monkeypatch)
    os.chmod(tmp_path / "passphrase", mode)
    (tmp_path / "link").symlink_to(tmp_path / "passphrase")
    monkeypatch.setenv("DEVICE_AI_AUDIT_KEY_PASSPHRASE_FILE", str(tmp_path / "link"))
    _signed_log()
    assert key_file.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
