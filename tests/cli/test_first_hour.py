"""What a new user meets in the first hour: --version, --debug where the hint points, the audit
commands on a new home, readable audit listings and time filters, progress on explain."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

import device_ai
from device_ai import app, cli
from device_ai.app.audit_trail import parse_time
from device_ai.config import Settings
from device_ai.errors import AuditIntegrityError, ConfigError


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.mark.req("SRS-017")
def test_version_is_printed_by_the_option_and_the_command() -> None:
    for argv in (["--version"], ["version"]):
        result = subprocess.run([sys.executable, "-m", "device_ai.cli", *argv], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0 and result.stdout.strip() == f"device_ai {device_ai.__version__}"


@pytest.mark.req("SRS-017")
def test_debug_is_accepted_after_any_sub_command(capsys: pytest.CaptureFixture[str]) -> None:
    """(``--config`` after a sub-command: tests/test_config.py.)"""
    for argv in (["audit", "show", "--debug"], ["--debug", "audit", "show"], ["audit", "verify", "--debug"],
                 ["config", "show", "--debug"], ["model", "info", "--debug"]):
        code, _, err = _run(capsys, *argv)
        assert code == 0 and "unrecognized arguments" not in err, (argv, err)


@pytest.mark.req("SRS-017", "SRS-083")
def test_audit_commands_on_a_new_home_say_there_is_nothing_yet(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "audit", "show")
    assert code == 0 and "no audit entries yet" in out
    code, out, _ = _run(capsys, "audit", "verify")
    assert code == 0 and "no audit entries yet" in out and "nothing to verify" in out
    code, out, _ = _run(capsys, "audit", "export", "--format", "fhir")
    assert code == 0 and out == ""


@pytest.mark.req("SRS-028")
def test_a_deleted_log_with_checkpoints_fails_verification(capsys: pytest.CaptureFixture[str]) -> None:
    """Negative control of the 'nothing yet' answer: a home whose log was deleted but whose signed
    checkpoints remain is not a new home."""
    from device_ai.audit.log import LOG_NAME, AuditLog, default_folder
    from device_ai.audit.entry import APPLICATION_ACTIVITY

    with AuditLog.open() as log:
        log.append(APPLICATION_ACTIVITY)
    (default_folder() / LOG_NAME).unlink()
    code, out, _ = _run(capsys, "audit", "verify")
    assert code == AuditIntegrityError.exit_code and "FAIL:" in out and "missing" in out


@pytest.mark.req("SRS-017", "SRS-030")
def test_audit_show_has_a_header_outcomes_in_words_and_strict_times(capsys: pytest.CaptureFixture[str]) -> None:
    from device_ai.audit.entry import ANALYSIS_RUN, MODEL_VERIFIED, Outcome
    from device_ai.audit.log import AuditLog

    with AuditLog.open() as log:
        log.append(ANALYSIS_RUN, action="C")
        log.append(ANALYSIS_RUN, action="C", outcome=Outcome.MINOR_FAILURE, details={"error": "DAI-210"})
        log.append(MODEL_VERIFIED, action="R")  # another event: the --event filter must leave it out
    code, out, err = _run(capsys, "audit", "show", "--since", "yesterday")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["seq", "time", "(UTC)"]
    assert "success" in lines[1] and "minor failure" in lines[2] and "3 of 3 entries shown" in err
    code, out, err = _run(capsys, "audit", "show", "--until", "yesterday")
    assert code == 0 and len(out.splitlines()) == 1 and "0 of 3 entries shown" in err
    code, out, err = _run(capsys, "audit", "show", "--event", "analysis run", "--since", "24h")
    assert code == 0 and "2 of 3" in err and "Model Verified" not in out
    code, _, err = _run(capsys, "audit", "show", "--since", "last tuesday")
    assert code == ConfigError.exit_code and "'last tuesday' is not a time" in err and "yesterday" in err


@pytest.mark.req("SRS-017")
@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-24", "2026-11-24T00:00:00.000000Z"),
    ("2026-11-24T08:30:00", "2026-11-24T08:30:00.000000Z"),
    ("2026-11-24T09:30:00+01:00", "2026-11-24T08:30:00.000000Z"),
    ("2026-11-24T08:30:00Z", "2026-11-24T08:30:00.000000Z"),
    ("today", "2026-12-03T00:00:00.000000Z"),
    ("yesterday", "2026-12-02T00:00:00.000000Z"),
    ("90m", "2026-12-03T10:30:00.000000Z"),
    ("24h", "2026-12-02T12:00:00.000000Z"),
    ("7d", "2026-11-26T12:00:00.000000Z"),
])
def test_time_forms(text: str, expected: str) -> None:
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    assert parse_time(text, "--since", now) == expected


@pytest.mark.req("SRS-017")
@pytest.mark.parametrize("text", ["", "soon", "24x", "2026-13-01", "-3d"])
def test_unreadable_times_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="is not a time"):
        parse_time(text, "--since")


@pytest.mark.req("SRS-033")
def test_explain_reports_progress(tmp_path: Path) -> None:
    from device_ai.training.ct_series import write_ct_series
    from device_ai.training.phantoms import generate_case, split_seeds

    write_ct_series(generate_case(split_seeds("test", 1)[0], n_slices=3), tmp_path / "in")
    seen: dict[str, list[tuple[int, int]]] = {}

    def progress(label: str):  # noqa: ANN202
        return lambda done, total: seen.setdefault(label, []).append((done, total))

    ctx = app.Context(settings=Settings(), progress=progress)
    result = app.explain(ctx, app.ExplainRequest(input=tmp_path / "in", out=tmp_path / "out", label="Organ", slices=1))
    assert result.files
    assert seen["finding slices to explain"][-1] == (3, 3)
    assert seen["explaining slices"] == [(1, 1)]
    summary = json.loads((tmp_path / "out" / "explanation.json").read_text())
    assert summary
    # the folder of a standalone explain is owner-only like analyze's by default (THR-018)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o700
