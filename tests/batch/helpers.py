"""Shared by the batch tests: synthetic studies, the output tree, the job's audit entries."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

from device_ai.app.audit_trail import EntryFilter, entries

LEDGER = Path(".device-ai-batch") / "ledger.sqlite"


def make_studies(folder: Path, count: int, *, slices: int = 2, rows: int = 64, first: int = 0) -> list[Path]:
    """``count`` synthetic phantom studies (obviously fake patients), one folder each, laid out
    as a PACS export by patient: ``folder/patient-<i>/<series>/CT*.dcm``."""
    from device_ai.training.ct_series import write_ct_series
    from device_ai.training.phantoms import generate_case, split_seeds

    studies = []
    for i, seed in enumerate(split_seeds("test", first + count)[first:], start=first):
        study = folder / f"patient-{i:03d}"
        write_ct_series(generate_case(seed, n_slices=slices, rows=rows), study / "series-1")
        studies.append(study)
    return studies


def dicom_tree(out: Path) -> dict[str, bytes]:
    """Every de-identified file under ``out`` (relative name -> bytes), hidden folders and
    the report left out."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.dcm"))
            if not any(part.startswith(".") for part in p.relative_to(out).parts)}


def job_entries(job: str | None = None) -> list[dict]:
    """The De-identification entries of batch jobs (``job`` only, when given), oldest first."""
    _, found = entries(None, EntryFilter(event="DAI001"))
    return [e for e in found if "batch_job" in e["details"] and (job is None or e["details"]["batch_job"] == job)]


def unit_successes(found: list[dict]) -> dict[str, list[int]]:
    """unit -> the sequence numbers of its success entries that no later failure supersedes."""
    superseded = {int(s) for e in found for s in e["details"].get("supersedes", "").split(",") if s}
    units: dict[str, list[int]] = {}
    for e in found:
        d = e["details"]
        if "batch_unit" in d and "error" not in d and e["seq"] not in superseded:
            units.setdefault(d["batch_unit"], []).append(e["seq"])
    return units


def ledger_rows(out: Path) -> dict[str, dict]:
    """The ledger read as a bystander would (read-only; the coordinator may be writing)."""
    db = sqlite3.connect(f"file:{out / LEDGER}?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute("SELECT unit, state, attempts, error_code, output_digest FROM units").fetchall()
    finally:
        db.close()
    return {r[0]: {"state": r[1], "attempts": r[2], "error": r[3], "digest": r[4]} for r in rows}


def published_count(out: Path) -> int:
    try:
        return sum(1 for r in ledger_rows(out).values() if r["state"] == "published")
    except sqlite3.Error:
        return 0  # not created yet


def wait_for(predicate, timeout_s: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def kill_group(process) -> None:  # noqa: ANN001 - subprocess.Popen started with start_new_session
    """SIGKILL what is left of a process group this test started (a killed coordinator's workers)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)
