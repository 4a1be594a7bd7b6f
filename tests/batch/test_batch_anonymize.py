"""``anonymize --batch`` on a real ``dask.distributed.LocalCluster`` (2 worker processes on
127.0.0.1, no scheduler mocks): the outputs are the single run's, byte for byte, with the
same secret; one audit log that verifies, one entry per unit; bad input is a unit's typed
failure and the job goes on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from device_ai import app
from device_ai.app.audit_trail import verify
from device_ai.app.context import Context
from device_ai.batch import BatchAnonymizeRequest, anonymize_batch
from device_ai.batch.engines import DaskEngine
from device_ai.config import Settings
from tests.batch.helpers import dicom_tree, job_entries, ledger_rows, make_studies, unit_successes

CLI = [sys.executable, "-m", "device_ai.cli"]


def _context() -> Context:
    return Context(settings=Settings())


def _two_workers(workers: int, scheduler: str | None, units: int) -> DaskEngine:  # noqa: ARG001
    """The engine of these tests: always a real LocalCluster of 2 processes (never in-process)."""
    return DaskEngine(workers=2)


def _same_as_single(tmp_path: Path, studies: int) -> None:
    inputs = tmp_path / "in"
    make_studies(inputs, studies)
    (inputs / "notes.txt").write_text("not DICOM\n")  # the unassigned unit: quarantined, as in a single run
    single = app.anonymize(_context(), app.AnonymizeRequest(inputs=[inputs], out=tmp_path / "single"))
    result = anonymize_batch(_context(), BatchAnonymizeRequest(input=inputs, out=tmp_path / "batch"),
                             engine_factory=_two_workers)

    expected, got = dicom_tree(tmp_path / "single"), dicom_tree(tmp_path / "batch")
    assert len(expected) == 2 * studies and len(single.quarantined) == 1
    assert sorted(got) == sorted(expected), "the batch named its outputs otherwise than the single run"
    assert [name for name in expected if got[name] != expected[name]] == [], "outputs differ in bytes"
    assert result.engine == "LocalCluster (2 worker processes)"
    assert (result.units, result.published, result.written, result.quarantined) == (studies + 1, studies + 1,
                                                                                      2 * studies, 1)
    assert result.exit_code == 3  # one file quarantined, as the single run's exit code says

    found = job_entries(result.job)
    successes = unit_successes(found)
    assert sorted(successes) == sorted(ledger_rows(tmp_path / "batch")), "one entry per unit"
    assert all(len(seqs) == 1 for seqs in successes.values())
    steps = [e["details"].get("batch_step") for e in found if "batch_step" in e["details"]]
    assert steps == ["started", "finished"]
    assert len(found) == studies + 1 + 2  # units, start, end: nothing else
    unit_entry = next(e for e in found if e["details"].get("batch_unit", "").startswith("DAI-"))
    single_entry = next(e for e in job_entries_all() if "batch_job" not in e["details"])
    assert set(single_entry["details"]) < set(unit_entry["details"]), "a unit's entry has the single run's fields"
    assert unit_entry["objects"] == [{"kind": "study", "id": unit_entry["details"]["batch_unit"].split("/")[1],
                                      "role": None}]
    report = verify(None, None, [])
    assert report is not None and report.ok, report
    merged = json.loads((tmp_path / "batch" / "deidentification-report.json").read_text())
    assert merged["files_written"] == 2 * studies and merged["files_quarantined"] == 1
    assert sorted(merged["outputs"]) == sorted(expected)
    assert not any((tmp_path / "batch" / ".device-ai-batch" / "staging").iterdir()), "attempt folders left"


def job_entries_all() -> list[dict]:
    from device_ai.app.audit_trail import EntryFilter, entries

    return entries(None, EntryFilter(event="DAI001"))[1]


@pytest.mark.req("SRS-160", "SRS-161")
def test_two_workers_give_the_single_runs_outputs_and_one_entry_per_unit(tmp_path: Path) -> None:
    _same_as_single(tmp_path, studies=6)


@pytest.mark.slow
@pytest.mark.req("SRS-160", "SRS-161")
def test_forty_studies_on_two_workers_are_the_single_runs_outputs(tmp_path: Path) -> None:
    """The issue's figure: 40 synthetic studies."""
    _same_as_single(tmp_path, studies=40)


@pytest.mark.req("SRS-160")
def test_control_another_secret_gives_other_outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control of the comparison: the same studies under another site secret (another
    DEVICE_AI_HOME) are named and written otherwise, and the comparison says so."""
    inputs = tmp_path / "in"
    make_studies(inputs, 2)
    app.anonymize(_context(), app.AnonymizeRequest(inputs=[inputs], out=tmp_path / "single"))
    monkeypatch.setenv("DEVICE_AI_HOME", str(tmp_path / "other-home"))
    anonymize_batch(_context(), BatchAnonymizeRequest(input=inputs, out=tmp_path / "batch"),
                    engine_factory=_two_workers)
    expected, got = dicom_tree(tmp_path / "single"), dicom_tree(tmp_path / "batch")
    assert len(got) == len(expected) == 4
    assert not set(got) & set(expected)


@pytest.mark.req("SRS-164")
def test_refused_input_is_a_units_typed_failure_and_the_job_goes_on(tmp_path: Path) -> None:
    """Through the command line: a study above max_files is refused (DAI-202 in the ledger), a
    non-DICOM file is quarantined, the other studies are published; exit 3, no traceback; the
    re-run keeps the refused unit refused and publishes nothing twice."""
    inputs = tmp_path / "in"
    make_studies(inputs, 3, slices=2)
    make_studies(inputs, 1, slices=4, first=3)  # the one study above max_files 3
    (inputs / "patient-000" / "readme.txt").write_text("not DICOM\n")
    env = {**os.environ, "DEVICE_AI_MAX_FILES": "3"}
    out = tmp_path / "out"
    command = [*CLI, "anonymize", "--batch", str(inputs), str(out), "--workers", "2"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "[DAI-202]" in done.stderr
    rows = ledger_rows(out)
    refused = [u for u, r in rows.items() if r["state"] == "failed"]
    assert len(refused) == 1 and rows[refused[0]]["error"] == "DAI-202"
    assert sum(r["state"] == "published" for r in rows.values()) == 4  # 3 studies + the unassigned file
    assert len(dicom_tree(out)) == 6
    quarantine = tmp_path / "out-quarantine" / "unassigned" / "quarantine.json"
    assert [q["code"] for q in json.loads(quarantine.read_text())["quarantined"]] == ["not-dicom"]
    failures = [e for e in job_entries() if e["details"].get("error") == "DAI-202"]
    assert len(failures) == 1 and failures[0]["outcome"] == 4  # minor failure: input refused

    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)
    assert again.returncode == 3, again.stderr
    assert all(len(s) == 1 for s in unit_successes(job_entries()).values())


@pytest.mark.req("SRS-163")
def test_a_rerun_with_other_options_or_a_foreign_out_is_refused_before_any_work(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    make_studies(inputs, 1)
    out = tmp_path / "out"
    first = subprocess.run([*CLI, "anonymize", "--batch", str(inputs), str(out)], capture_output=True, text=True,
                           timeout=240)
    assert first.returncode == 0, first.stderr
    other = subprocess.run([*CLI, "anonymize", "--batch", str(inputs), str(out), "--option", "retain-uids"],
                           capture_output=True, text=True, timeout=240)
    assert other.returncode == 2 and "DAI-120" in other.stderr and "options" in other.stderr
    assert "Traceback" not in other.stderr
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "x").write_text("someone else's\n")
    refused = subprocess.run([*CLI, "anonymize", "--batch", str(inputs), str(foreign)], capture_output=True,
                             text=True, timeout=240)
    assert refused.returncode == 6 and "DAI-501" in refused.stderr and "no batch job ledger" in refused.stderr
    assert sorted(p.name for p in foreign.iterdir()) == ["x"]
    inside = subprocess.run([*CLI, "anonymize", "--batch", str(inputs), str(inputs / "out")], capture_output=True,
                            text=True, timeout=240)
    assert inside.returncode == 6 and "DAI-501" in inside.stderr and "one inside the other" in inside.stderr
    assert not (inputs / "out").exists()


@pytest.mark.req("SRS-160")
def test_discovery_reads_headers_from_a_prefix_and_falls_back_to_the_reader(tmp_path: Path) -> None:
    """A unit is (Patient ID, Study Instance UID): the prefix read and the reader's full read
    agree; a file whose header lies past the prefix is read with the reader."""
    from pydicom import dcmread

    from device_ai.batch import units
    from device_ai.dicom.reader import ReadLimits

    study = make_studies(tmp_path / "in", 1)[0]
    path = sorted(study.rglob("*.dcm"))[0]
    ds = dcmread(path)
    expected = (str(ds.PatientID), str(ds.StudyInstanceUID))
    assert units.header_identity(path, ReadLimits()) == expected
    # a private block before the study UID longer than the first prefix: the second one reaches it
    ds.add_new(0x00190010, "LO", "SYNTHETIC PRIVATE")
    ds.add_new(0x00191000, "OB", b"\0" * 20_000)
    medium = tmp_path / "medium.dcm"
    ds.save_as(medium, enforce_file_format=True)
    assert units._prefix_identity(medium.read_bytes()[:units.HEADER_PREFIXES[0]]) is None
    assert units.header_identity(medium, ReadLimits()) == expected
    # longer than the last prefix: the reader (with its limits) reads it
    ds[0x00191000].value = b"\0" * (units.HEADER_PREFIX + 10)
    big = tmp_path / "big.dcm"
    ds.save_as(big, enforce_file_format=True)
    assert units._prefix_identity(big.read_bytes()[:units.HEADER_PREFIX]) is None
    assert units.header_identity(big, ReadLimits()) == expected
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"\0" * 1000)
    assert units.header_identity(junk, ReadLimits()) is None
