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


# --- helper-137 (fix of review 134 T5, T6, T7; not re-reviewed) ---------------------------------------------

SECRET_URL = "https://fake-user:FAKE-PASSWORD-137@pacs.example.test/dicom-web/studies"


def _destinations(url: str) -> str:
    return f"node_destinations:\n- {{name: pacs, kind: stow, url: '{url}'}}\n"


@pytest.mark.req("SRS-231")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_configuration_file_with_a_password_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = _config(tmp_path, _destinations(SECRET_URL), mode)
    with pytest.raises(ConfigError, match=f"holds a secret \\(the url of destination pacs.*mode {mode:04o}") as caught:
        load_settings(path)
    assert str(path) in caught.value.message and f"chmod 600 {path}" in (caught.value.hint or "")
    assert "FAKE-PASSWORD-137" not in caught.value.message + (caught.value.hint or "")  # never echoed


@pytest.mark.req("SRS-231")
@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_configuration_file_with_a_password_only_its_owner_can_read_is_read(tmp_path: Path, mode: int) -> None:
    settings = load_settings(_config(tmp_path, _destinations(SECRET_URL), mode))
    assert settings.node_destinations[0].credentials == ("fake-user", "FAKE-PASSWORD-137")


@pytest.mark.req("SRS-231")
def test_a_query_value_counts_as_a_secret_and_a_file_without_one_is_read_by_anyone(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="holds a secret"):
        load_settings(_config(tmp_path, _destinations("https://pacs.example.test/dicom-web/studies?token=FAKE"), 0o644))
    # control: the same destination without a secret, in a file every account can read, is read (SRS-218)
    plain = load_settings(_config(tmp_path, _destinations("https://pacs.example.test/dicom-web/studies"), 0o644))
    assert plain.node_destinations[0].credentials is None


@pytest.mark.req("SRS-231")
def test_destinations_from_the_environment_are_not_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.setenv("DEVICE_AI_NODE_DESTINATIONS", json.dumps([{"name": "pacs", "kind": "stow", "url": SECRET_URL}]))
    settings = load_settings(_config(tmp_path, "max_files: 7\n", 0o644))
    assert settings.max_files == 7 and settings.node_destinations[0].credentials is not None


def _write_to_folder(tmp_path: Path, umask: int, group: bool) -> Path:
    """One result through the node's folder destination, as send() writes it; the result file."""
    from device_ai.config import Destination
    from device_ai.node.outbound import send

    (tmp_path / "share").mkdir()
    result = tmp_path / "segmentation.dcm"
    result.write_bytes(b"SEG with the fake patient's identity")
    settings = Settings(results_group_readable=group)
    previous = os.umask(umask)
    try:
        send(Destination(name="share", kind="folder", path=tmp_path / "share"), result,
             {"study": "study-x", "series": "series-y", "generation": 1}, settings)
    finally:
        os.umask(previous)
    return tmp_path / "share" / "study-x" / "series-y.gen-0001" / "segmentation.dcm"


@pytest.mark.req("SRS-217")
@pytest.mark.parametrize(("umask", "group", "modes"), [(0o022, False, (0o700, 0o700, 0o600)),
                                                       (0o000, False, (0o700, 0o700, 0o600)),
                                                       (0o022, True, (0o750, 0o750, 0o640)),
                                                       (0o077, True, (0o750, 0o750, 0o640))])
def test_the_nodes_folder_copies_get_the_results_modes_whatever_the_umask(tmp_path: Path, umask: int, group: bool,
                                                                          modes: tuple[int, int, int]) -> None:
    written = _write_to_folder(tmp_path, umask, group)
    assert (_mode(written.parent.parent), _mode(written.parent), _mode(written)) == modes
    assert _mode(tmp_path / "share") == 0o777 & ~0o022  # the destination's own path keeps the site's modes


@pytest.mark.req("SRS-217")
def test_the_nodes_folder_copies_under_the_umask_would_be_readable_by_every_account(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.node import outbound

    monkeypatch.setattr(outbound, "result_access", lambda group: Access.PUBLIC)  # the copies before helper-137
    written = _write_to_folder(tmp_path, 0o022, False)
    assert _mode(written) == 0o644  # negative control: what THR-018 is about


MZ = b"MZ\x90\x00\x03\x00\x00\x00"  # a PE header where the preamble is (CVE-2019-11687)


def _polyglot(index: int, **changes: object) -> bytes:
    from device_ai.dicom.writer import part10_bytes
    from tests.dicom.deid_corpus import ct_slice

    ds = ct_slice(index)
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    return MZ + part10_bytes(ds)[len(MZ):]


@pytest.mark.req("SRS-077")
def test_anonymize_keeps_a_quarantined_polyglot_byte_for_byte_owner_only(tmp_path: Path) -> None:
    from device_ai.dicom.deidentify.options import parse_options
    from device_ai.dicom.deidentify.run import QUARANTINE_INDEX, Deidentifier, RunConfig

    (tmp_path / "in").mkdir()
    burned = _polyglot(0, BurnedInAnnotation="YES")
    (tmp_path / "in" / "burned.dcm").write_bytes(burned)
    (tmp_path / "in" / "plain.dcm").write_bytes(_polyglot(1))
    previous = os.umask(0o022)
    try:
        Deidentifier(RunConfig(options=parse_options(()), secret=b"helper-137-fake-secret".ljust(32, b"!"))).run(
            [tmp_path / "in"], tmp_path / "out", tmp_path / "kept" / "quarantine")
    finally:
        os.umask(previous)
    [copy] = list((tmp_path / "kept" / "quarantine").glob("file-*.dcm"))
    assert copy.read_bytes() == burned  # kept as it came, preamble included
    assert (_mode(tmp_path / "kept"), _mode(tmp_path / "kept" / "quarantine")) == (0o700, 0o700)
    assert _mode(copy) == 0o600 and _mode(tmp_path / "kept" / "quarantine" / QUARANTINE_INDEX) == 0o600
    [output] = list((tmp_path / "out").rglob("*.dcm"))
    assert output.read_bytes()[:132] == bytes(128) + b"DICM"  # control: what it writes for others is zeroed


def _watch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **settings: object):  # noqa: ANN202 - HotFolder
    from device_ai.node.hot_folder import HotFolder
    from tests.node.conftest import context, node_env

    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / "home"))
    node_env(monkeypatch, **settings)
    (tmp_path / "in").mkdir(exist_ok=True)
    return HotFolder(context(), tmp_path / "in", tmp_path / "out", settle_s=1.0, pipeline=False)


@pytest.mark.req("SRS-077", "SRS-139")
def test_watch_keeps_a_refused_polyglot_byte_for_byte_owner_only(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from device_ai.node.hot_folder import REASON_SUFFIX

    data = _polyglot(0, Modality="MR", SOPClassUID="1.2.840.10008.5.1.4.1.1.4")  # refused: not CT
    previous = os.umask(0o022)
    try:
        folder = _watch(tmp_path, monkeypatch)
        folder.start()
        try:
            (tmp_path / "in" / "sub").mkdir()
            (tmp_path / "in" / "sub" / "setup.exe").write_bytes(data)
            folder.scan_once(now=0.0)
            assert folder.scan_once(now=1.0).rejected == 1
        finally:
            folder.stop()
    finally:
        os.umask(previous)
    moved = folder.rejected / "sub" / "setup.exe"
    assert moved.read_bytes() == data  # the site's evidence, as dropped
    assert (_mode(folder.rejected), _mode(moved.parent), _mode(moved)) == (0o700, 0o700, 0o600)
    assert _mode(moved.with_name(moved.name + REASON_SUFFIX)) == 0o600
    assert _mode(folder.out) == 0o700  # OUT, made by watch, with the results' mode (SRS-217)


@pytest.mark.req("SRS-077")
def test_watch_refuses_a_rejected_folder_others_can_reach(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "out" / "rejected").mkdir(parents=True)
    (tmp_path / "out" / "rejected").chmod(0o755)
    with pytest.raises(ConfigError, match="rejected folder .* has mode 0755") as caught:
        _watch(tmp_path, monkeypatch)
    assert "chmod 700" in (caught.value.hint or "")
    (tmp_path / "out" / "rejected").chmod(0o700)  # control: owner-only, used as it is
    assert _watch(tmp_path, monkeypatch).rejected == tmp_path / "out" / "rejected"
