"""The device home and key store are owner-only; pseudonyms are keyed (SRS-036, SRS-037)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from device_ai import keystore
from device_ai.pseudonyms import pseudonym


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.req("SRS-036")
def test_device_home_and_keys_are_owner_only_and_created_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("DEVICE_AI_HOME", str(home))
    first = keystore.secret("pseudonym-key")
    key = keystore.ed25519_key("audit")
    assert _mode(home) == 0o700 and _mode(home / "keys") == 0o700
    assert _mode(home / "keys" / "pseudonym-key.bin") == 0o600
    assert _mode(home / "keys" / "audit.pem") == 0o600
    assert keystore.secret("pseudonym-key") == first and len(first) == 32
    assert keystore.ed25519_key("audit").public_key().public_bytes_raw() == key.public_key().public_bytes_raw()
    assert not [p for p in (home / "keys").iterdir() if p.name.startswith(".")], "temporary key file left behind"


@pytest.mark.req("SRS-036")
def test_a_loosened_home_folder_is_refused_not_re_moded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.errors import ConfigError

    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    monkeypatch.setenv("DEVICE_AI_HOME", str(home))
    with pytest.raises(ConfigError, match="mode 0755") as refused:
        keystore.device_home()
    assert "chmod 700" in (refused.value.hint or "")
    assert _mode(home) == 0o755 and not list(home.iterdir()), "the site's folder was changed"
    os.chmod(home, 0o700)  # negative control: the same folder made owner-only is accepted
    assert keystore.device_home() == home


@pytest.mark.req("SRS-036")
def test_a_key_file_others_can_read_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.errors import ConfigError

    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / "home"))
    keystore.secret("pseudonym-key")
    os.chmod(tmp_path / "home" / "keys" / "pseudonym-key.bin", 0o644)
    with pytest.raises(ConfigError, match="others can read it"):
        keystore.secret("pseudonym-key")


@pytest.mark.req("SRS-037")
def test_pseudonyms_are_keyed_stable_and_not_plain_hashes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uid = "2.25.123456789"
    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / "site-a"))
    a = pseudonym("study", uid)
    assert a == pseudonym("study", uid) and a.startswith("study-") and uid not in a
    assert a != pseudonym("series", uid)
    assert a[len("study-"):] not in hashlib.sha256(uid.encode()).hexdigest()
    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / "site-b"))
    assert pseudonym("study", uid) != a


@pytest.mark.req("SRS-036")
def test_threads_creating_a_key_at_once_all_get_the_same_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by the DICOM node's concurrency test: temporary names were per process, not per thread."""
    import threading

    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / "home"))
    keystore.device_home()
    results: list[object] = []
    start = threading.Barrier(8)

    def create() -> None:
        start.wait()
        try:
            results.append(keystore.secret("pseudonym-key"))
        except Exception as exc:  # noqa: BLE001 - reported below
            results.append(exc)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 8 and all(isinstance(r, bytes) for r in results), results
    assert len(set(results)) == 1
    assert not [p for p in (tmp_path / "home" / "keys").iterdir() if p.name.startswith(".")]
