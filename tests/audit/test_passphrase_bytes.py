"""A NUL byte in the audit key's passphrase file (issue 22 review leftover; SRS-107).

The device uses every byte of the passphrase file but a final newline, NUL bytes included (so a
random binary passphrase works); OpenSSL's ``-pass file:`` stops at the first NUL, so a key it
makes from such a file is encrypted under the bytes before it, and the device refuses that key
as a wrong passphrase (documented in docs/key_custody.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from device_ai.audit.entry import ANALYSIS_RUN
from device_ai.audit.log import AuditLog
from device_ai.errors import ConfigError

PASSPHRASE = b"fake-pass\x00phrase"


def _configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, passphrase: bytes) -> tuple[Path, Path]:
    key_file, secret = tmp_path / "vault" / "audit-signing.pem", tmp_path / "passphrase"
    secret.write_bytes(passphrase + b"\n")
    os.chmod(secret, 0o600)
    monkeypatch.setenv("DEVICE_AI_AUDIT_KEY_FILE", str(key_file))
    monkeypatch.setenv("DEVICE_AI_AUDIT_KEY_PASSPHRASE_FILE", str(secret))
    return key_file, secret


def _open(folder: Path) -> None:
    with AuditLog.open(folder) as log:
        log.append(ANALYSIS_RUN)


@pytest.mark.req("SRS-107")
def test_a_nul_byte_is_part_of_the_passphrase_not_its_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file, secret = _configure(tmp_path, monkeypatch, PASSPHRASE)
    _open(tmp_path / "audit")  # a new log: the device makes the key, encrypted under all the bytes
    assert b"ENCRYPTED" in key_file.read_bytes()
    secret.write_bytes(PASSPHRASE.split(b"\x00")[0] + b"\n")  # what a C-string reader would have used
    with pytest.raises(ConfigError, match="wrong passphrase"):
        _open(tmp_path / "audit")
    secret.write_bytes(PASSPHRASE + b"\n")  # negative control: the whole passphrase opens it
    _open(tmp_path / "audit")


@pytest.mark.req("SRS-107")
def test_a_key_openssl_made_from_a_passphrase_file_with_a_nul_is_refused_as_documented(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    key_file, secret = _configure(tmp_path, monkeypatch, PASSPHRASE)
    key_file.parent.mkdir(mode=0o700)

    def make_key(passphrase_file: Path) -> None:
        key_file.unlink(missing_ok=True)
        subprocess.run([openssl, "genpkey", "-algorithm", "ed25519", "-aes-256-cbc", "-pass",
                        f"file:{passphrase_file}", "-out", str(key_file)], check=True, capture_output=True)
        os.chmod(key_file, 0o600)

    make_key(secret)
    with pytest.raises(ConfigError, match="wrong passphrase"):
        _open(tmp_path / "audit")
    plain = tmp_path / "plain-passphrase"  # negative control: the same procedure without a NUL byte
    plain.write_bytes(b"fake-passphrase\n")
    os.chmod(plain, 0o600)
    monkeypatch.setenv("DEVICE_AI_AUDIT_KEY_PASSPHRASE_FILE", str(plain))
    make_key(plain)
    _open(tmp_path / "audit")
