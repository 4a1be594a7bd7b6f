"""A unit's result that arrives after the ledger records the unit as published (SRS-162): here
each unit really runs twice on a real 2-process LocalCluster (every task handed to Dask twice,
as Dask re-runs a task whose worker was lost after finishing); the second result to arrive is
discarded: nothing is published twice, one success entry per unit, and the job counts the
duplicates. The negative control switches the coordinator's published check off."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from device_ai import app
from device_ai.app.audit_trail import verify
from device_ai.app.context import Context
from device_ai.batch import BatchAnonymizeRequest, anonymize_batch
from device_ai.batch.engines import DaskEngine
from device_ai.batch.ledger import Ledger
from device_ai.config import Settings
from tests.batch.helpers import dicom_tree, job_entries, ledger_rows, make_studies

STUDIES = 3


class _EveryTaskTwice(DaskEngine):
    """A real LocalCluster of 2 processes that receives every unit twice: two real runs of the
    unit on the workers, two results coming back to the coordinator."""

    def run(self, function: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        def twice() -> Iterator[Any]:
            for task in tasks:
                yield task
                yield task

        return super().run(function, twice())


def _job(tmp_path: Path) -> tuple[object, dict[str, bytes], Path]:
    inputs, out = tmp_path / "in", tmp_path / "out"
    make_studies(inputs, STUDIES)
    app.anonymize(Context(settings=Settings()), app.AnonymizeRequest(inputs=[inputs], out=tmp_path / "single"))
    result = anonymize_batch(Context(settings=Settings()), BatchAnonymizeRequest(input=inputs, out=out),
                             engine_factory=lambda *args: _EveryTaskTwice(workers=2))
    return result, dicom_tree(tmp_path / "single"), out


@pytest.mark.req("SRS-162")
def test_a_result_for_a_published_unit_is_discarded(tmp_path: Path) -> None:
    result, expected, out = _job(tmp_path)
    assert result.duplicates_discarded == STUDIES  # every unit's second result
    assert result.published == STUDIES and result.failed == {} and result.exit_code == 0
    assert dicom_tree(out) == expected, "the outputs are not the single run's (published twice, or lost)"
    found = job_entries(result.job)
    unit_entries = [e for e in found if "batch_unit" in e["details"]]
    assert sorted(e["details"]["batch_unit"] for e in unit_entries) == sorted(ledger_rows(out)), \
        "not exactly one entry per unit (a duplicate was recorded)"
    assert all("error" not in e["details"] for e in unit_entries)
    # handed out once by the coordinator; the second run is the cluster's, as a re-run after a lost worker
    assert {r["attempts"] for r in ledger_rows(out).values()} == {1}
    finished = next(e for e in found if e["details"].get("batch_step") == "finished")
    assert finished["details"]["duplicates_discarded"] == str(STUDIES)
    assert not any((out / ".device-ai-batch" / "staging").iterdir()), "a duplicate's attempt folder was left"
    assert verify(None, None, []).ok


class _NoPublishedCheck(Ledger):
    """The coordinator's per-result look-up answers 'not published' for every unit."""

    def unit(self, unit: str):  # noqa: ANN201
        record = super().unit(unit)
        return dataclasses.replace(record, state="pending") if record.state == "published" else record


@pytest.mark.req("SRS-162")
def test_control_without_the_published_check_a_duplicate_is_recorded_again(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: with the check off, each second result gets a second success entry
    (then a failure entry when its rename meets the published folder), nothing is counted as
    discarded, and the job reports the units as failed: the assertions above would fail."""
    from device_ai.batch import anonymize_job

    monkeypatch.setattr(anonymize_job, "Ledger", _NoPublishedCheck)
    result, _, out = _job(tmp_path)
    assert result.duplicates_discarded == 0
    unit_entries = [e for e in job_entries(result.job) if "batch_unit" in e["details"]]
    assert len(unit_entries) > len(ledger_rows(out))
    assert sum("error" not in e["details"] for e in unit_entries) == 2 * STUDIES
    assert len(result.failed) == STUDIES
