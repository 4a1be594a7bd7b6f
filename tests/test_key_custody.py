"""The audit signing key can live apart from the log, encrypted; `config show` says where each
key is without showing it (issue 22 item 2, SRS-107)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from device_ai import cli, keystore
from device_ai.audit.log import AuditLog
from device_ai.audit.entry import ANALYSIS_RUN
from device_ai.errors import ConfigError


def _custody(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, passphrase: str | None = "a fake passphrase") -> Path:
    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DEVICE_AI_AUDIT_KEY_FILE", str(tmp_path / "vault" / "audit-signing.pem"))
    if passphrase is not None:
        (tmp_path / "passphrase").write_text(passphrase + "\n")
        (tmp_path / "passphrase").chmod(0o600)  # owner-only, or it is refused
        monkeypatch.setenv("DEVICE_AI_AUDIT_KEY_PASSPHRASE_FILE", str(tmp_path / "passphrase"))
    return tmp_path / "vault" / "audit-signing.pem"


@pytest.mark.req("SRS-107")
def test_the_signing_key_lives_outside_home_encrypted_and_signs_checkpoints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = _custody(tmp_path, monkeypatch)
    log = AuditLog.open()
    log.append(ANALYSIS_RUN)
    log.close()
    assert key_file.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not list((tmp_path / "home").rglob("*.pem")), "a signing key was also written into DEVICE_AI_HOME"
    assert cli.main(["audit", "verify"]) == 0  # the checkpoint verifies with the key's public half


@pytest.mark.req("SRS-107")
@pytest.mark.parametrize("change", ["wrong passphrase", "no passphrase", "damaged key"])
def test_a_key_that_cannot_be_opened_is_a_typed_refusal(change: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = _custody(tmp_path, monkeypatch)
    keystore.ed25519_key(keystore.AUDIT_KEY_NAME)  # created, encrypted
    if change == "wrong passphrase":
        (tmp_path / "passphrase").write_text("not the passphrase\n")
    elif change == "no passphrase":
        monkeypatch.delenv("DEVICE_AI_AUDIT_KEY_PASSPHRASE_FILE")
    else:
        key_file.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError) as refused:
        keystore.ed25519_key(keystore.AUDIT_KEY_NAME)
    assert str(key_file) in refused.value.message and refused.value.hint


@pytest.mark.req("SRS-107")
def test_negative_control_the_right_passphrase_opens_the_same_key(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _custody(tmp_path, monkeypatch)
    first = keystore.ed25519_key(keystore.AUDIT_KEY_NAME).public_key().public_bytes_raw()
    assert keystore.ed25519_key(keystore.AUDIT_KEY_NAME).public_key().public_bytes_raw() == first


@pytest.mark.req("SRS-107")
def test_config_show_says_where_each_key_is_and_never_shows_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    key_file = _custody(tmp_path, monkeypatch)
    secret = keystore.secret("pseudonym-key")
    keystore.ed25519_key(keystore.AUDIT_KEY_NAME)
    capsys.readouterr()
    assert cli.main(["config", "show"]) == 0
    out = capsys.readouterr().out
    rows = {row["role"]: row for row in json.loads(out)["keys"]}
    audit = rows["audit checkpoint signing key"]
    assert audit == {"role": "audit checkpoint signing key", "path": str(key_file), "exists": True, "encrypted": True}
    assert rows["pseudonym key (audit object pseudonyms)"]["exists"] is True
    assert secret.hex() not in out and "BEGIN" not in out and "a fake passphrase" not in out
    assert {name for _, name, _ in keystore.KEY_ROLES} >= {"pseudonym-key", "deidentification-key", "crosswalk-key"}


@pytest.mark.req("SRS-107")
def test_key_roles_name_the_keys_the_code_uses() -> None:
    from device_ai import pseudonyms
    from device_ai.audit import log
    from device_ai.dicom.deidentify import crosswalk, keyed

    names = {name for _, name, _ in keystore.KEY_ROLES}
    assert names == {log.KEY_NAME, pseudonyms.SECRET_NAME, keyed.SECRET_NAME, crosswalk.KEY_NAME}
