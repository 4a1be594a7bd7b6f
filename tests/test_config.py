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
