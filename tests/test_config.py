"""Configuration: file, environment, validation errors as ConfigError (SRS-017)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from device_ai import cli
from device_ai.config import load_settings
from device_ai.errors import ConfigError


@pytest.mark.req("SRS-017", "SRS-038")
def test_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "device.yaml"
    config.write_text("inference_threads: 3\nmax_files: 10\n")
    monkeypatch.setenv("DEVICE_AI_MAX_FILES", "20")
    settings = load_settings(config)
    assert settings.inference_threads == 3 and settings.max_files == 20


@pytest.mark.req("SRS-017", "SRS-038")
def test_invalid_values_are_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "device.yaml"
    config.write_text("inference_threads: 0\n")
    with pytest.raises(ConfigError, match="inference_threads"):
        load_settings(config)
    config.write_text("no_such_setting: 1\n")
    with pytest.raises(ConfigError):
        load_settings(config)
    assert cli.main(["--config", str(config), "config", "show"]) == 2
    assert capsys.readouterr().err.startswith("error DAI-100")


@pytest.mark.req("SRS-017", "SRS-038")
def test_config_show_prints_effective_values(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DEVICE_AI_INFERENCE_THREADS", "4")
    assert cli.main(["config", "show"]) == 0
    assert json.loads(capsys.readouterr().out)["inference_threads"] == 4


def _environment_readers(root: Path) -> list[str]:
    """``file:line`` of every read of the process environment outside config.py and the
    regulatory evidence records (which record the CI run, not device settings)."""
    import re

    pattern = re.compile(r"os\.environ|os\.getenv|getenv\(")
    # __init__.py only sets a default for pydantic (its plugins off: re-review 159 D1), no device setting
    allowed = {"config.py", "regulatory/records.py", "__init__.py"}
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        if relative in allowed:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if pattern.search(line.split("#")[0]):
                found.append(f"{relative}:{number}")
    return found


@pytest.mark.req("SRS-038")
def test_settings_are_the_only_reader_of_the_environment(tmp_path: Path) -> None:
    import device_ai

    assert _environment_readers(Path(device_ai.__file__).parent) == []
    (tmp_path / "rogue.py").write_text('import os\nhome = os.environ.get("DEVICE_AI_HOME")\n')  # negative control
    assert _environment_readers(tmp_path) == ["rogue.py:2"]


@pytest.mark.req("SRS-038")
def test_home_copy_dir_and_origin_come_from_the_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "device.yaml"
    config.write_text(f"home: {tmp_path / 'home'}\naudit_copy_dir: {tmp_path / 'copy'}\naudit_origin: site.example/audit\n")
    monkeypatch.delenv("DEVICE_AI_HOME")
    assert cli.main(["--config", str(config), "audit", "public-key"]) == 0
    assert capsys.readouterr().out.startswith("site.example/audit+")
    assert (tmp_path / "home" / "keys" / "audit-checkpoint.pem").is_file()
    assert cli.main(["model", "verify", "--config", str(config)]) == 0
    assert (tmp_path / "home" / "audit" / "audit.log").is_file() and list((tmp_path / "copy").glob("site.example%2Faudit+*/*.note"))
    import os

    assert "DEVICE_AI_CONFIG" not in os.environ, "--config applies to one command only"


@pytest.mark.req("SRS-147")
@pytest.mark.parametrize(("value", "titles"), [
    ('["PACS","ORTHANC"]', ("PACS", "ORTHANC")),  # before: ('["PACS"', '"ORTHANC"]')
    (' [ "PACS" , "MY PACS" ] ', ("PACS", "MY PACS")),
    ("PACS,ORTHANC", ("PACS", "ORTHANC")),
    ("PACS ORTHANC", ("PACS", "ORTHANC"))])
def test_allowed_calling_aets_read_as_a_json_list_or_separated(monkeypatch: pytest.MonkeyPatch, value: str,
                                                                titles: tuple[str, ...]) -> None:
    monkeypatch.setenv("DEVICE_AI_NODE_ALLOWED_CALLING_AETS", value)
    assert load_settings().node_allowed_calling_aets == titles


@pytest.mark.req("SRS-147")
@pytest.mark.parametrize("value", [
    '["PACS",',  # cut JSON: not two titles '["PACS"' and nothing
    '["PACS",1]',
    '["PACS","BAD\\\\TITLE"]', '["PACS","TAB\\tTITLE"]', '["PACS","BELL\\u0007"]',
    '["12345678901234567"]', '[""]', "PACS,BAD\\TITLE"])
def test_bad_allowed_calling_aets_are_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """DAI-100 naming node_allowed_calling_aets, for a broken JSON list and for a title the AE VR
    does not allow (backslash, control character, over 16 characters, empty)."""
    monkeypatch.setenv("DEVICE_AI_NODE_ALLOWED_CALLING_AETS", value)
    with pytest.raises(ConfigError, match="node_allowed_calling_aets") as refused:
        load_settings()
    assert refused.value.code == "DAI-100"


@pytest.mark.req("SRS-147")
@pytest.mark.parametrize("title", ["BAD\\TITLE", "12345678901234567", "TAB\tTITLE"])
def test_the_node_s_own_and_a_destination_s_ae_title_are_checked_like_the_allow_list(
        monkeypatch: pytest.MonkeyPatch, title: str) -> None:
    """node_ae_title and a dimse destination's ae_title get the same AE VR check (re-review:
    only the allow-list was tested); a valid title is accepted (control)."""
    import json

    monkeypatch.setenv("DEVICE_AI_NODE_AE_TITLE", title)
    with pytest.raises(ConfigError, match="node_ae_title"):
        load_settings()
    monkeypatch.setenv("DEVICE_AI_NODE_AE_TITLE", "DEVICE_AI")
    destination = {"name": "pacs", "kind": "dimse", "ae_title": title, "host": "127.0.0.1", "port": 11112}
    monkeypatch.setenv("DEVICE_AI_NODE_DESTINATIONS", json.dumps([destination]))
    with pytest.raises(ConfigError, match="node_destinations.*not an AE title"):
        load_settings()
    monkeypatch.setenv("DEVICE_AI_NODE_DESTINATIONS", json.dumps([{**destination, "ae_title": "ORTHANC"}]))
    assert load_settings().node_destinations[0].ae_title == "ORTHANC"


@pytest.mark.req("SRS-152")
@pytest.mark.parametrize("name", [".", "..", ".x", "a/b", "share.1 (control)", "backup-2 (control)"])
def test_a_destination_name_is_a_plain_folder_name_never_dot_or_hidden(monkeypatch: pytest.MonkeyPatch,
                                                                       name: str) -> None:
    """The name is the destination's folder in the outbound queue (outbound/<state>/<name>/):
    '.', '..' or a hidden name would step outside its folder or be one requeue cannot name
    (re-review helper-48)."""
    import json

    plain = name.split(" ")[0]
    monkeypatch.setenv("DEVICE_AI_NODE_DESTINATIONS", json.dumps([{"name": plain, "kind": "folder", "path": "/tmp"}]))
    if name.endswith("(control)"):
        assert load_settings().node_destinations[0].name == plain
    else:
        with pytest.raises(ConfigError, match="node_destinations") as refused:
            load_settings()
        assert refused.value.code == "DAI-100"


@pytest.mark.req("SRS-131")
def test_a_yaml_syntax_error_names_the_place_not_the_line(tmp_path: Path) -> None:
    """YAML's own message quotes the broken line, which may hold a destination URL's password
    (independent re-review F7); the error says line and column instead."""
    config = tmp_path / "device-ai.yaml"
    config.write_text("node_destinations:\n  - name: web\n    kind: stow\n    url: https://u:S3cretPW@host/x: [bad\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(config)
    assert "S3cretPW" not in str(refused.value) and "line 4" in str(refused.value)
    config.write_text("max_files: 10\n")  # control: the same file, valid, loads
    assert load_settings(config).max_files == 10


@pytest.mark.req("SRS-038")
def test_an_environment_value_nested_too_deeply_is_a_config_error(monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """JSON past the decoder's nesting (a RecursionError inside pydantic-settings) was an internal error, DAI-999."""
    monkeypatch.setenv("DEVICE_AI_NODE_DESTINATIONS", "[" * 60_000 + "]" * 60_000)
    with pytest.raises(ConfigError, match="DEVICE_AI_NODE_DESTINATIONS holds values nested too deeply"):
        load_settings()
    assert cli.main(["config", "show"]) == 2
    said = capsys.readouterr().err
    assert said.startswith("error DAI-100") and "DEVICE_AI_NODE_DESTINATIONS" in said and "Traceback" not in said
    monkeypatch.setenv("DEVICE_AI_NODE_DESTINATIONS", "[" * 3 + "]" * 3)  # control: shallow, an ordinary refusal
    with pytest.raises(ConfigError, match="node_destinations"):
        load_settings()
    monkeypatch.setenv("DEVICE_AI_NODE_DESTINATIONS", "[]")
    assert not load_settings().node_destinations
