"""``analyze --batch IN OUT`` on a real ``dask.distributed.LocalCluster`` (2 worker processes on
127.0.0.1, no scheduler mocks): one unit per CT series wherever its files lie, each published
once into OUT/<series pseudonym> with the single ``analyze``'s results (the same labels,
measurements and previews; the SEG's and SR's own UIDs and times are new in every run, by
design), one Analysis Run entry per unit written by the coordinator, a refused series recorded
with its code while the job goes on, and a re-run (after completion, or after the coordinator
was SIGKILLed) that skips what was published and duplicates nothing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

from device_ai import app
from device_ai.app.audit_trail import EntryFilter, entries, verify
from device_ai.app.result_check import verify_results
from device_ai.app.context import Context
from device_ai.batch.analyze_job import BatchAnalyzeRequest, analyze_batch, failed_note
from device_ai.batch.engines import DaskEngine
from device_ai.batch.unit_work import OUTPUT
from device_ai.config import Settings
from tests.batch.helpers import kill_group, ledger_rows, make_studies, published_count, wait_for

CLI = [sys.executable, "-m", "device_ai.cli"]
GOOD = 3


def _context() -> Context:
    return Context(settings=Settings())


def _two_workers(workers: int, scheduler: str | None, units: int) -> DaskEngine:  # noqa: ARG001
    return DaskEngine(workers=2)


def _archive(folder: Path, good: int = GOOD, slices: int = 2) -> list[Path]:
    """``good`` phantom series (256 x 256, in the contract) and one of 64 x 64 (refused, DAI-210);
    the last good series and the refused one lie mixed in one flat folder, so units cannot be
    folders. Returns each good series' files (for its single run)."""
    make_studies(folder, good, slices=slices, rows=256)
    make_studies(folder / "other", 1, slices=2, rows=64, first=good)
    flat = folder / "flat"
    flat.mkdir()
    last = folder / f"patient-{good - 1:03d}" / "series-1"
    for path in sorted(last.iterdir()):
        path.rename(flat / f"A{path.name}")
    for path in sorted((folder / "other").rglob("*.dcm")):
        path.rename(flat / f"B{path.name}")
    shutil.rmtree(folder / "other")
    last.rmdir()
    series = [folder / f"patient-{i:03d}" / "series-1" for i in range(good - 1)]
    return series + [sorted(flat.glob("A*.dcm"))]


def _single_runs(tmp_path: Path, series: list) -> dict[str, Path]:
    """Series Instance UID -> the single ``analyze``'s output folder (the last series: its files,
    copied to a folder of their own, as a user would pass them)."""
    outputs = {}
    for index, source in enumerate(series):
        if isinstance(source, list):
            folder = tmp_path / "single-input"
            folder.mkdir()
            for path in source:
                shutil.copy(path, folder / path.name)
            source = folder
        result = app.analyze(_context(), app.AnalysisRequest(input=source, out=tmp_path / f"single-{index}"))
        outputs[result.summary["input"]["series_instance_uid"]] = result.out_dir
    return outputs


def _numbers(path: Path) -> list[tuple[str, str]]:
    """Every numeric measurement of an SR, in document order (concept, value)."""
    found = []

    def walk(items) -> None:  # noqa: ANN001
        for item in items:
            if "MeasuredValueSequence" in item and item.MeasuredValueSequence:
                found.append((item.ConceptNameCodeSequence[0].CodeMeaning,
                              str(item.MeasuredValueSequence[0].NumericValue)))
            if "ContentSequence" in item:
                walk(item.ContentSequence)

    walk(pydicom.dcmread(path).ContentSequence)
    return found


def result_differences(single: Path, batch: Path) -> list[str]:
    """What differs between a single run's results and a batch unit's folder, beyond the new
    UIDs and times each run gives its SEG and SR (and the summary's elapsed_s)."""
    problems = []
    a, b = json.loads((single / "summary.json").read_text()), json.loads((batch / "summary.json").read_text())
    a.pop("elapsed_s"), b.pop("elapsed_s")
    if a != b:
        problems.append("summary (volumes, lesions, input, model, outputs) differs")
    if sorted(p.name for p in single.iterdir()) != sorted(p.name for p in batch.iterdir()):
        problems.append("other file names")
    for png in sorted(single.glob("*.png")):
        if not (batch / png.name).is_file() or png.read_bytes() != (batch / png.name).read_bytes():
            problems.append(f"preview {png.name} differs")
    seg_a, seg_b = pydicom.dcmread(single / "segmentation.dcm"), pydicom.dcmread(batch / "segmentation.dcm")
    if seg_a.pixel_array.tolist() != seg_b.pixel_array.tolist():
        problems.append("segmentation frames differ")
    if [s.SegmentLabel for s in seg_a.SegmentSequence] != [s.SegmentLabel for s in seg_b.SegmentSequence]:
        problems.append("segments differ")
    if _numbers(single / "measurements.dcm") != _numbers(batch / "measurements.dcm"):
        problems.append("SR measurements differ")
    return problems


def _analysis_entries() -> list[dict]:
    return entries(None, EntryFilter(event="DAI004"))[1]


def _unit_entries(job: str) -> list[dict]:
    return [e for e in _analysis_entries() if e["details"].get("batch_job") == job and "batch_unit" in e["details"]]


@pytest.mark.req("SRS-174", "SRS-222")
def test_series_on_two_workers_are_published_once_with_the_single_runs_results(tmp_path: Path) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    series = _archive(inputs)
    singles = _single_runs(tmp_path, series)
    single_entries = {e["objects"][1]["id"]: e for e in _analysis_entries()}  # series pseudonym -> its entry
    (inputs / "notes.txt").write_text("not DICOM\n")  # no Series Instance UID: the unit 'unassigned', refused
    result = analyze_batch(_context(), BatchAnalyzeRequest(input=inputs, out=out), engine_factory=_two_workers)

    assert result.engine == "LocalCluster (2 worker processes)"
    assert (result.units, result.published, result.duplicates_discarded) == (GOOD + 2, GOOD, 0)
    assert result.failed.pop("unassigned") == "DAI-201"
    assert list(result.failed.values()) == ["DAI-210"] and result.exit_code == 3
    refused = next(iter(result.failed))
    assert "Rows is 64" in failed_note(out, refused).read_text()
    published = sorted(p for p in out.iterdir() if not p.name.startswith("."))
    assert [p.name for p in published] == sorted(u for u, r in ledger_rows(out).items() if r["state"] == "published")
    by_uid = {json.loads((p / "summary.json").read_text())["input"]["series_instance_uid"]: p for p in published}
    assert sorted(by_uid) == sorted(singles)
    assert {uid: result_differences(singles[uid], by_uid[uid]) for uid in singles} == {uid: [] for uid in singles}
    # negative control of the comparison: another series' results are told apart
    first, second = sorted(singles)[:2]
    assert result_differences(singles[first], by_uid[second])

    found = _unit_entries(result.job)
    successes = [e for e in found if "error" not in e["details"]]
    assert sorted(e["details"]["batch_unit"] for e in successes) == [p.name for p in published]
    for entry in successes:  # the single run's objects and details, plus the job's fields
        single = single_entries[entry["details"]["batch_unit"]]
        # the published files by name and digest (SRS-222): the single run's names, this unit's bytes
        named = [o for o in entry["objects"] if o["kind"] != "file"]
        assert named == [o for o in single["objects"] if o["kind"] != "file"] and entry["outcome"] == 0
        assert [o["role"] for o in entry["objects"] if o["kind"] == "file"] == \
            [o["role"] for o in single["objects"] if o["kind"] == "file"]
        check = verify_results(out / entry["details"]["batch_unit"])
        assert check.ok and check.entry.seq == entry["seq"]
        assert {k: entry["details"][k] for k in single["details"]} == single["details"]
    failures = [e for e in found if "error" in e["details"]]
    assert sorted((e["details"]["batch_unit"], e["details"]["error"], e["outcome"]) for e in failures) == \
        sorted([(refused, "DAI-210", 4), ("unassigned", "DAI-201", 4)])
    steps = [e["details"]["batch_step"] for e in _analysis_entries() if e["details"].get("batch_job") == result.job
             and "batch_step" in e["details"]]
    assert steps == ["started", "finished"]
    assert not any((out / ".device-ai-batch" / "staging").iterdir()), "attempt folders left"
    assert verify(None, None, []).ok

    # the same command again, through the command line: every published series skipped
    again = subprocess.run([*CLI, "analyze", "--batch", str(inputs), str(out), "--workers", "2"],
                           capture_output=True, text=True, timeout=240)
    assert again.returncode == 3, again.stderr
    assert f"0 published now, {GOOD} published before (skipped), 2 failed" in again.stdout
    assert f"unit {refused} [DAI-210]" in again.stderr and "Traceback" not in again.stderr
    after = _unit_entries(result.job)
    assert [e for e in after if "error" not in e["details"]] == successes, "a published series was recorded again"
    assert len(after) == len(found) + 2  # the refused units, refused again
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [p.name for p in published]
    assert verify(None, None, []).ok


@pytest.mark.req("SRS-174", "SRS-222")
def test_a_worker_refuses_a_package_that_is_not_the_coordinators(tmp_path: Path) -> None:
    """In one process (the worker's function itself): the task's manifest digest decides; the
    package the coordinator verified analyzes the series (control), another digest is DAI-300."""
    from device_ai.app.model import model_path
    from device_ai.batch.analyze_work import SeriesTask, analyze_unit
    from device_ai.batch.unit_work import secret_check
    from device_ai.keystore import secret
    from device_ai.model.package.verify import verify_package
    from device_ai.app.model import trusted_keys
    from device_ai.pseudonyms import SECRET_NAME

    study = make_studies(tmp_path / "in", 1, slices=2, rows=256)[0]
    ctx = _context()
    package = str(model_path(ctx, None))
    digest = verify_package(Path(package), trusted_keys(ctx)).manifest_sha256
    files = tuple(str(p) for p in sorted(study.rglob("*.dcm")))

    def task(manifest_sha256: str, unit: str) -> SeriesTask:
        return SeriesTask(unit=unit, files=files, staging_root=str(tmp_path / "staging"), package=package,
                          manifest_sha256=manifest_sha256, trusted_keys=tuple(ctx.settings.trusted_model_keys),
                          limits=ctx.read_limits(), pseudonym_check=secret_check(secret(SECRET_NAME)))

    same = analyze_unit(task(digest, "series-same"))
    assert not same.failed and same.details["slices"] == "2" and [o.kind for o in same.objects][:3] == \
        ["study", "series", "model"]
    output = tmp_path / "staging" / same.attempt / OUTPUT / "series-same"
    assert {o.role: o.id for o in same.objects[3:] if o.kind == "file"} == \
        {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in output.iterdir()}  # SRS-222
    other = analyze_unit(task("0" * 64, "series-other"))
    assert (other.error_code, other.error_input, other.objects) == ("DAI-300", False, ())
    wrong_key = analyze_unit(SeriesTask(**{**task(digest, "series-key").__dict__, "pseudonym_check": "0" * 64}))
    assert wrong_key.error_code == "DAI-122"


@pytest.mark.req("SRS-174")
def test_a_killed_coordinator_is_resumed_without_duplicates(tmp_path: Path) -> None:
    """The command SIGKILLed after its first published series, then run again: the published
    series are skipped (the ledger says so), the rest complete, one success entry per series."""
    inputs, out = tmp_path / "in", tmp_path / "out"
    make_studies(inputs, 6, slices=6, rows=256)
    command = [*CLI, "analyze", "--batch", str(inputs), str(out), "--workers", "2"]
    with open(tmp_path / "killed.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(lambda: published_count(out) >= 1, 240, "a published series")
            os.kill(process.pid, signal.SIGKILL)  # the coordinator only
            assert process.wait(timeout=30) == -signal.SIGKILL
        finally:
            kill_group(process)
    before = ledger_rows(out)
    finished = sorted(u for u, r in before.items() if r["state"] == "published")
    assert 1 <= len(finished) < 6, f"{len(finished)} of 6 series were published when the coordinator was killed"
    entries_before = len(_analysis_entries())

    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"{len(finished)} published before (skipped)" in again.stdout
    after = ledger_rows(out)
    assert {r["state"] for r in after.values()} == {"published"} and sorted(after) == sorted(before)
    assert all(after[u]["attempts"] == before[u]["attempts"] for u in finished), "a finished series ran again"
    new = _analysis_entries()[entries_before:]
    assert not [e for e in new if e["details"].get("batch_unit") in finished], "entries for finished series"
    job = next(e["details"]["batch_job"] for e in new if "batch_job" in e["details"])
    successes = [e["details"]["batch_unit"] for e in _unit_entries(job) if "error" not in e["details"]]
    assert sorted(successes) == sorted(after), "not exactly one success entry per series"
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(after)
    assert not any((out / ".device-ai-batch" / "staging").iterdir())
    assert verify(None, None, []).ok


@pytest.mark.req("SRS-174")
def test_control_without_the_ledgers_published_check_a_rerun_records_a_series_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control of the re-run checks above: the same job re-run with the ledger's
    published state hidden runs the series again and writes a second success entry for it."""
    import dataclasses

    from device_ai.batch import analyze_job
    from device_ai.batch.engines import InProcessEngine
    from device_ai.batch.ledger import Ledger

    class Forgetful(Ledger):
        def units_where(self, clause: str, args: tuple = ()) -> list:
            if args == ("published",):
                return []
            if args == ("pending", "failed"):
                return [dataclasses.replace(r, state="pending") for r in super().units_where("1 = 1")]
            return super().units_where(clause, args)

        def unit(self, unit: str):  # noqa: ANN201
            return dataclasses.replace(super().unit(unit), state="pending")

    inputs, out = tmp_path / "in", tmp_path / "out"
    make_studies(inputs, 1, slices=2, rows=256)
    request = BatchAnalyzeRequest(input=inputs, out=out)
    first = analyze_batch(_context(), request, engine_factory=lambda *args: InProcessEngine())
    assert first.published == 1 and len(_unit_entries(first.job)) == 1
    monkeypatch.setattr(analyze_job, "Ledger", Forgetful)
    again = analyze_batch(_context(), request, engine_factory=lambda *args: InProcessEngine())
    assert again.already_published == 0
    assert sum("error" not in e["details"] for e in _unit_entries(first.job)) == 2, "the series was recorded again"


@pytest.mark.req("SRS-174")
@pytest.mark.parametrize("step", ["before-rename", "after-rename", "results gone (negative control)"])
def test_a_series_stopped_between_its_entry_and_the_ledger_is_completed_once(step: str, tmp_path: Path) -> None:
    """The coordinator stopped (KeyboardInterrupt, as a kill stops it) after a unit's Analysis
    Run entry and before its rename, or after the rename and before the ledger said published:
    the re-run completes it without a second entry. Control: with the staged results removed
    before the re-run, the entry is superseded (DAI-500) and the series runs again."""
    from device_ai.batch import publish
    from device_ai.batch.engines import InProcessEngine
    from device_ai.batch.ledger import Ledger

    inputs, out = tmp_path / "in", tmp_path / "out"
    make_studies(inputs, 2, slices=2, rows=256)
    request = BatchAnalyzeRequest(input=inputs, out=out)

    def stop(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as stopped:  # only the first run is stopped
        if step == "after-rename":
            stopped.setattr(Ledger, "published", stop)
        else:
            stopped.setattr(publish, "publish", stop)
        with pytest.raises(KeyboardInterrupt):
            analyze_batch(_context(), request, engine_factory=lambda *args: InProcessEngine())
    recording = [u for u, r in ledger_rows(out).items() if r["state"] == "recording"]
    assert len(recording) == 1
    if step.startswith("results gone"):
        shutil.rmtree(out / ".device-ai-batch" / "staging")
    result = analyze_batch(_context(), request, engine_factory=lambda *args: InProcessEngine())
    assert result.exit_code == 0 and {r["state"] for r in ledger_rows(out).values()} == {"published"}
    found = _unit_entries(result.job)
    superseded = {int(s) for e in found for s in e["details"].get("supersedes", "").split(",") if s}
    live = sorted(e["details"]["batch_unit"] for e in found if "error" not in e["details"] and e["seq"] not in superseded)
    assert live == sorted(ledger_rows(out)), "not one live success entry per series"
    if step.startswith("results gone"):
        assert result.resumed == 0 and [e["details"]["error"] for e in found if "error" in e["details"]] == ["DAI-500"]
    else:
        assert result.resumed == 1 and len(found) == 2, "the stopped series was recorded again"
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(ledger_rows(out))
    assert verify(None, None, []).ok


@pytest.mark.req("SRS-174")
def test_a_rerun_of_another_job_or_into_a_foreign_out_is_refused_before_any_work(tmp_path: Path) -> None:
    """Through the command line: OUT holding the ledger of a job over another IN is refused
    (DAI-120, exit 2), as are an OUT that is neither new, empty nor a job's and an OUT inside IN
    (DAI-501); nothing is written there. Control: the same IN again is accepted (exit 0)."""
    first_in, other_in, out = tmp_path / "in", tmp_path / "other", tmp_path / "out"
    make_studies(first_in, 1, slices=2, rows=256)
    make_studies(other_in, 1, slices=2, rows=256)
    done = subprocess.run([*CLI, "analyze", "--batch", str(first_in), str(out)], capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr
    same = subprocess.run([*CLI, "analyze", "--batch", str(first_in), str(out)], capture_output=True, text=True,
                          timeout=240)
    assert same.returncode == 0 and "1 published before (skipped)" in same.stdout, same.stderr
    other = subprocess.run([*CLI, "analyze", "--batch", str(other_in), str(out)], capture_output=True, text=True,
                           timeout=240)
    assert other.returncode == 2 and "DAI-120" in other.stderr and "input" in other.stderr, other.stderr
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "x").write_text("someone else's\n")
    refused = subprocess.run([*CLI, "analyze", "--batch", str(first_in), str(foreign)], capture_output=True,
                             text=True, timeout=240)
    assert refused.returncode == 6 and "DAI-501" in refused.stderr and "no batch job ledger" in refused.stderr
    assert sorted(p.name for p in foreign.iterdir()) == ["x"]
    inside = subprocess.run([*CLI, "analyze", "--batch", str(first_in), str(first_in / "out")], capture_output=True,
                            text=True, timeout=240)
    assert inside.returncode == 6 and "one inside the other" in inside.stderr and not (first_in / "out").exists()
    assert "Traceback" not in other.stderr + refused.stderr + inside.stderr


@pytest.mark.req("SRS-174")
def test_a_series_result_for_a_published_unit_is_discarded(tmp_path: Path) -> None:
    """Every series handed to a real 2-process LocalCluster twice (two real runs, two results):
    the second result to arrive is discarded, one folder and one success entry per series."""
    from tests.batch.test_duplicate_result import _EveryTaskTwice

    inputs, out = tmp_path / "in", tmp_path / "out"
    make_studies(inputs, 2, slices=2, rows=256)
    result = analyze_batch(_context(), BatchAnalyzeRequest(input=inputs, out=out),
                           engine_factory=lambda *args: _EveryTaskTwice(workers=2))
    assert (result.published, result.duplicates_discarded, result.exit_code) == (2, 2, 0)
    found = _unit_entries(result.job)
    assert sorted(e["details"]["batch_unit"] for e in found) == sorted(ledger_rows(out))
    assert all("error" not in e["details"] for e in found)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(ledger_rows(out))
    assert not any((out / ".device-ai-batch" / "staging").iterdir())
    assert verify(None, None, []).ok


@pytest.mark.req("SRS-174")
@pytest.mark.parametrize("link", ["leading outside IN", "none (control)"])
def test_a_link_leading_outside_in_is_refused_and_never_read(link: str, tmp_path: Path) -> None:
    """A link under IN to the slices of a series outside IN: those files are the unit
    'not-followed', refused (DAI-201) by the coordinator without being read, so the outside
    series is not analyzed; the series inside IN is. Control: without the link, one unit."""
    from device_ai.batch.engines import InProcessEngine

    inputs, outside, out = tmp_path / "in", tmp_path / "outside", tmp_path / "out"
    make_studies(inputs, 1, slices=2, rows=256)
    make_studies(outside, 1, slices=2, rows=256, first=1)
    if link != "none (control)":
        (inputs / "linked").mkdir()
        for path in sorted(outside.rglob("*.dcm")):
            (inputs / "linked" / path.name).symlink_to(path)
    result = analyze_batch(_context(), BatchAnalyzeRequest(input=inputs, out=out),
                           engine_factory=lambda *args: InProcessEngine())
    assert result.published == 1
    published = [p for p in out.iterdir() if not p.name.startswith(".")]
    assert [json.loads((p / "summary.json").read_text())["input"]["slices"] for p in published] == [2]
    if link == "none (control)":
        assert result.failed == {} and result.units == 1
        return
    assert result.failed == {"not-followed": "DAI-201"} and result.exit_code == 3
    assert "outside" in failed_note(out, "not-followed").read_text()
    failures = [e for e in _unit_entries(result.job) if "error" in e["details"]]
    assert [(e["details"]["batch_unit"], e["details"]["error"]) for e in failures] == [("not-followed", "DAI-201")]
