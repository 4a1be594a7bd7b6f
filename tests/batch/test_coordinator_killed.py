"""The coordinator (``device-ai anonymize --batch`` as a subprocess) SIGKILLed mid-job, then the
same command run again: the units the ledger records as published are skipped, the rest
complete, no output and no audit entry is duplicated, the log verifies."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from device_ai import app
from device_ai.app.audit_trail import verify
from device_ai.app.context import Context
from device_ai.batch import BatchAnonymizeRequest, anonymize_batch
from device_ai.batch import anonymize_job
from device_ai.batch.engines import DaskEngine
from device_ai.batch.ledger import Ledger
from device_ai.config import Settings
from tests.batch.helpers import (dicom_tree, job_entries, kill_group, ledger_rows, make_studies, published_count,
                                 unit_successes, wait_for)

STUDIES = 10


def _killed_job(tmp_path: Path) -> tuple[Path, Path, dict[str, dict], int]:
    """A job whose coordinator was SIGKILLed after its second published unit; (IN, OUT, the
    ledger as the kill left it, audit entries before the re-run)."""
    inputs, out = tmp_path / "in", tmp_path / "out"
    make_studies(inputs, STUDIES, slices=60)
    app.anonymize(Context(settings=Settings()), app.AnonymizeRequest(inputs=[inputs], out=tmp_path / "single"))
    command = [sys.executable, "-m", "device_ai.cli", "anonymize", "--batch", str(inputs), str(out), "--workers", "2"]
    with open(tmp_path / "killed.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(lambda: published_count(out) >= 2, 240, "two published units")
            os.kill(process.pid, signal.SIGKILL)  # the coordinator only
            assert process.wait(timeout=30) == -signal.SIGKILL
        finally:
            kill_group(process)  # its cluster's worker processes, orphaned by the kill
    before = ledger_rows(out)
    done = sum(r["state"] == "published" for r in before.values())
    assert 2 <= done < STUDIES, f"{done} of {STUDIES} units were published when the coordinator was killed"
    return inputs, out, before, len(job_entries())


def rerun_problems(out: Path, expected: dict[str, bytes], before: dict[str, dict], entries_before: int) -> list[str]:
    """What breaks 'finished units skipped, the rest complete, nothing duplicated'."""
    problems = []
    after = ledger_rows(out)
    if any(r["state"] != "published" for r in after.values()) or sorted(after) != sorted(before):
        problems.append("not every unit is published")
    finished = [u for u, r in before.items() if r["state"] == "published"]
    rerun = [u for u in finished if after[u]["attempts"] != before[u]["attempts"]]
    if rerun:
        problems.append(f"{len(rerun)} finished unit(s) ran again")
    found = job_entries()
    new = found[entries_before:]
    touched = sorted({e["details"]["batch_unit"] for e in new if e["details"].get("batch_unit") in finished})
    if touched:
        problems.append(f"the re-run wrote entries for {len(touched)} finished unit(s)")
    successes = unit_successes(found)
    if any(len(seqs) != 1 for seqs in successes.values()) or sorted(successes) != sorted(after):
        problems.append("not exactly one success entry per unit")
    got = dicom_tree(out)
    if got != expected:
        problems.append("the outputs are not the single run's")
    if any((out / ".device-ai-batch" / "staging").iterdir()):
        problems.append("attempt folders left in staging")
    report = verify(None, None, [])
    if report is None or not report.ok:
        problems.append("the audit log does not verify")
    return problems


@pytest.mark.req("SRS-163", "SRS-161")
def test_a_killed_coordinator_resumes_without_duplicates(tmp_path: Path) -> None:
    inputs, out, before, entries_before = _killed_job(tmp_path)
    command = [sys.executable, "-m", "device_ai.cli", "anonymize", "--batch", str(inputs), str(out), "--workers", "2"]
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    finished = sum(r["state"] == "published" for r in before.values())
    assert f"{finished} published before (skipped)" in again.stdout
    assert rerun_problems(out, dicom_tree(tmp_path / "single"), before, entries_before) == []


class _ForgetfulLedger(Ledger):
    """A ledger whose published check is disabled: it reports every unit as pending."""

    def units_where(self, clause: str, args: tuple = ()) -> list:
        if args == ("published",):
            return []
        if args == ("pending", "failed"):
            return [dataclasses.replace(r, state="pending") for r in super().units_where("1 = 1")]
        return super().units_where(clause, args)

    def unit(self, unit: str):  # noqa: ANN201
        record = super().unit(unit)
        return dataclasses.replace(record, state="pending") if record.state == "published" else record


@pytest.mark.req("SRS-163")
def test_control_without_the_ledger_check_the_rerun_repeats_finished_units(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: the same kill and re-run with the ledger's published check disabled
    runs the finished units again and writes entries for them a second time."""
    inputs, out, before, entries_before = _killed_job(tmp_path)
    monkeypatch.setattr(anonymize_job, "Ledger", _ForgetfulLedger)
    anonymize_batch(Context(settings=Settings()), BatchAnonymizeRequest(input=inputs, out=out),
                    engine_factory=lambda *args: DaskEngine(workers=2))
    problems = rerun_problems(out, dicom_tree(tmp_path / "single"), before, entries_before)
    assert any("ran again" in p for p in problems), problems
    assert any("re-run wrote entries" in p for p in problems), problems


def _interrupted_at(step: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A job stopped (KeyboardInterrupt, as a kill would stop it, minus the job's failure entry)
    at ``step`` of its first unit: after the unit's audit entry and before the rename, or after
    the rename and before the ledger said published."""
    from device_ai.batch import publish
    from device_ai.batch.engines import InProcessEngine

    inputs, out = tmp_path / "in", tmp_path / "out"
    make_studies(inputs, 3)
    app.anonymize(Context(settings=Settings()), app.AnonymizeRequest(inputs=[inputs], out=tmp_path / "single"))
    if step == "before-rename":
        def stop(*args: object, **kwargs: object) -> None:
            raise KeyboardInterrupt
        monkeypatch.setattr(publish, "publish", stop)
    else:
        def stop_after(self: Ledger, unit: str, seq: int) -> None:
            raise KeyboardInterrupt
        monkeypatch.setattr(Ledger, "published", stop_after)
    with pytest.raises(KeyboardInterrupt):
        anonymize_batch(Context(settings=Settings()), BatchAnonymizeRequest(input=inputs, out=out),
                        engine_factory=lambda *args: InProcessEngine())
    monkeypatch.undo()
    return inputs, out


@pytest.mark.req("SRS-163", "SRS-161")
@pytest.mark.parametrize("step", ["before-rename", "after-rename"])
def test_a_unit_stopped_between_its_entry_and_the_ledger_is_completed_once(step: str, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    home = os.environ["DEVICE_AI_HOME"]
    inputs, out = _interrupted_at(step, tmp_path, monkeypatch)
    monkeypatch.setenv("DEVICE_AI_HOME", home)  # (undo() also undid the test's own DEVICE_AI_HOME)
    recording = [u for u, r in ledger_rows(out).items() if r["state"] == "recording"]
    assert len(recording) == 1
    assert len(unit_successes(job_entries())[recording[0]]) == 1  # its entry is in the log already
    result = anonymize_batch(Context(settings=Settings()), BatchAnonymizeRequest(input=inputs, out=out),
                             engine_factory=lambda *args: DaskEngine(workers=2))
    assert result.resumed == 1 and result.exit_code == 0
    successes = unit_successes(job_entries())
    assert len(successes) == 3 and all(len(seqs) == 1 for seqs in successes.values()), successes
    assert dicom_tree(out) == dicom_tree(tmp_path / "single")
    assert all(r["state"] == "published" for r in ledger_rows(out).values())
    assert verify(None, None, []).ok


@pytest.mark.req("SRS-163")
def test_control_a_resume_that_does_not_look_for_the_entry_writes_it_twice(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    home = os.environ["DEVICE_AI_HOME"]
    inputs, out = _interrupted_at("before-rename", tmp_path, monkeypatch)
    monkeypatch.setenv("DEVICE_AI_HOME", home)
    monkeypatch.setattr(anonymize_job._Coordinator, "_entry_of", lambda self, attempt: None)
    anonymize_batch(Context(settings=Settings()), BatchAnonymizeRequest(input=inputs, out=out),
                    engine_factory=lambda *args: DaskEngine(workers=2))
    assert sorted(len(seqs) for seqs in unit_successes(job_entries()).values()) == [1, 1, 2]


@pytest.mark.req("SRS-163")
@pytest.mark.parametrize("resume", ["as built", "published folder not recognised (negative control)"])
def test_a_unit_without_output_stopped_after_its_quarantine_rename_gets_no_false_failure_entry(
        resume: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review helper-47: a unit whose files are all quarantined (no study folder), stopped after
    its quarantine folder was renamed into place and before the ledger said published, was taken
    for lost on the re-run: a DAI-500 'files are gone' entry superseding its success entry, then a
    second success entry. The files were not gone."""
    from device_ai.batch.engines import InProcessEngine

    home = os.environ["DEVICE_AI_HOME"]
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    for index in range(2):
        (inputs / f"junk{index}.bin").write_bytes(b"not DICOM " * 50)  # quarantined: the unit has no output

    def stop_after(self: Ledger, unit: str, seq: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Ledger, "published", stop_after)
    with pytest.raises(KeyboardInterrupt):
        anonymize_batch(Context(settings=Settings()), BatchAnonymizeRequest(input=inputs, out=out),
                        engine_factory=lambda *args: InProcessEngine())
    monkeypatch.undo()
    monkeypatch.setenv("DEVICE_AI_HOME", home)
    if resume.startswith("published folder not recognised"):
        monkeypatch.setattr(anonymize_job, "_label", lambda unit: "elsewhere")
    anonymize_batch(Context(settings=Settings()), BatchAnonymizeRequest(input=inputs, out=out),
                    engine_factory=lambda *args: InProcessEngine())
    failures = [e for e in job_entries() if e["details"].get("supersedes")]
    if resume == "as built":
        assert failures == [] and all(r["state"] == "published" for r in ledger_rows(out).values())
        assert all(len(seqs) == 1 for seqs in unit_successes(job_entries()).values())
    else:
        assert failures and failures[0]["details"]["error"] == "DAI-500"
