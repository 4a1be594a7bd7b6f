"""Local controls of the threat model (helper-118, issue 19 "each threat a verified control"):
results owner-only unless the site opts for group read (THR-018), a configuration file another
account could have changed is refused (THR-040), a hot folder IN every account can write is
refused (THR-004). Each acceptance check has its negative control beside it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from device_ai.app.context import Context
from device_ai.atomic_io import Access, atomic_write_bytes, result_access, staged_directory
from device_ai.config import Settings, load_settings
from device_ai.errors import ConfigError


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _config(tmp_path: Path, text: str, mode: int) -> Path:
    path = tmp_path / "device-ai.yaml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.mark.req("SRS-217")
@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_results_are_owner_only_by_default_and_group_readable_only_when_asked(tmp_path: Path, umask: int) -> None:
    assert Context(settings=Settings()).result_access() is Access.PRIVATE
    assert Context(settings=Settings(results_group_readable=True)).result_access() is Access.GROUP
    previous = os.umask(umask)  # even a umask of 0 (0666 files) must not open the results
    try:
        for name, group in (("private", False), ("group", True)):
            with staged_directory(tmp_path / name, access=result_access(group)) as stage:
                atomic_write_bytes(stage / "segmentation.dcm", b"x", access=result_access(group))
        with staged_directory(tmp_path / "public", access=Access.PUBLIC) as stage:  # negative control
            atomic_write_bytes(stage / "a.bin", b"x", access=Access.PUBLIC)
    finally:
        os.umask(previous)
    assert (_mode(tmp_path / "private"), _mode(tmp_path / "private" / "segmentation.dcm")) == (0o700, 0o600)
    assert (_mode(tmp_path / "group"), _mode(tmp_path / "group" / "segmentation.dcm")) == (0o750, 0o640)
    # the umask's modes would let every account read: what THR-018 is about
    assert _mode(tmp_path / "public" / "a.bin") == 0o666 & ~umask and _mode(tmp_path / "public" / "a.bin") & 0o004


@pytest.mark.req("SRS-217")
def test_the_group_read_option_comes_from_the_configuration_file(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEVICE_AI_RESULTS_GROUP_READABLE", raising=False)
    on = load_settings(_config(tmp_path, "results_group_readable: true\n", 0o600))
    assert Context(settings=on).result_access() is Access.GROUP
    off = load_settings(_config(tmp_path, "max_files: 10\n", 0o600))
    assert Context(settings=off).result_access() is Access.PRIVATE


@pytest.mark.req("SRS-218")
@pytest.mark.parametrize("mode", [0o666, 0o646, 0o620, 0o602])
def test_a_configuration_file_other_accounts_can_write_is_refused(tmp_path: Path, mode: int) -> None:
    path = _config(tmp_path, "demonstration_mode: true\n", mode)
    with pytest.raises(ConfigError, match="writable by other accounts") as caught:
        load_settings(path)
    assert str(path) in str(caught.value) and "chmod go-w" in (caught.value.hint or "")


@pytest.mark.req("SRS-218")
@pytest.mark.parametrize("mode", [0o600, 0o644, 0o400])
def test_a_configuration_file_only_its_owner_can_write_is_read(tmp_path: Path, mode: int) -> None:
    assert load_settings(_config(tmp_path, "max_files: 7\n", mode)).max_files == 7


@pytest.mark.req("SRS-218")
def test_a_configuration_file_owned_by_another_account_is_refused(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = _config(tmp_path, "max_files: 7\n", 0o644)
    if os.geteuid() == 0:
        os.chown(path, 54321, -1)  # root may read it but must not trust it
    else:
        monkeypatch.setattr("device_ai.config.os.geteuid", lambda: path.stat().st_uid + 1)
    with pytest.raises(ConfigError, match="owned by another account"):
        load_settings(path)


@pytest.mark.req("SRS-219")
def test_a_hot_folder_in_every_account_can_write_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.node.hot_folder import HotFolder
    from tests.node.conftest import context, node_env

    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / "home"))
    node_env(monkeypatch)
    inbox = tmp_path / "in"
    inbox.mkdir()
    inbox.chmod(0o777)
    with pytest.raises(ConfigError, match="writable by every account") as caught:
        HotFolder(context(), inbox, tmp_path / "out", settle_s=1.0, pipeline=False)
    assert "chmod o-w" in (caught.value.hint or "")
    assert not (tmp_path / "out").exists()
    for mode in (0o755, 0o775, 0o1770):  # the owner's, or a group of exporting accounts: accepted
        inbox.chmod(mode)
        HotFolder(context(), inbox, tmp_path / "out", settle_s=1.0, pipeline=False)
