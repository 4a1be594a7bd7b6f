"""Independent review (helper-58) of issue 17's batch requirements (SRS-160..166, SRS-174, SRS-175).

Defects found in review, each a strict xfail beside a control that passes (the SRS-160 one became a
normal test when the lead re-worded SRS-160; SRS-166 now states its limitation, which stays open):

- SRS-160 says each unit is de-identified by a worker process of a LocalCluster (N processes) or
  of the named cluster; a job with one unit to run (one study, or a re-run with one left) runs
  it in the coordinator's process (``engine_for``: in-process for at most one unit), even with
  ``--workers 2``. The code follows the issue ("in-process, default for one study"); the text
  does not say so.
- SRS-166 says no original identifier travels between the workers and the coordinator; each
  unit's task carries the input files' paths, so an export laid out by Study Instance UID (a
  common PACS layout) sends the original UID to the scheduler and the worker in every task.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pydicom
import pytest

from device_ai.app.context import Context
from device_ai.batch import BatchAnonymizeRequest, anonymize_batch
from device_ai.batch.engines import InProcessEngine
from device_ai.config import Settings
from tests.batch.helpers import make_studies


def _context() -> Context:
    return Context(settings=Settings())


def _one_unit_job_engine(tmp_path: Path, studies: int) -> str:
    inputs = tmp_path / "in"
    make_studies(inputs, studies)
    return anonymize_batch(_context(), BatchAnonymizeRequest(input=inputs, out=tmp_path / "out", workers=2)).engine


@pytest.mark.req("SRS-160")
def test_control_a_two_study_job_runs_on_a_local_cluster(tmp_path: Path) -> None:
    assert _one_unit_job_engine(tmp_path, 2) == "LocalCluster (2 worker processes)"


@pytest.mark.req("SRS-160")
def test_a_one_study_job_with_workers_2_runs_in_the_coordinators_process(tmp_path: Path) -> None:
    # Was a strict xfail (review helper-58: the text said every unit runs on a cluster worker); the
    # lead re-worded SRS-160 to what the code and the issue say (in-process for one unit to run).
    assert _one_unit_job_engine(tmp_path, 1) == "in-process"


class _Recording(InProcessEngine):
    """Runs here, and keeps each task as Dask would send it (pickled)."""

    def __init__(self, sent: list[bytes]) -> None:
        self.sent = sent

    def run(self, function, tasks):  # noqa: ANN001, ANN201
        def recorded():  # noqa: ANN202
            for task in tasks:
                self.sent.append(pickle.dumps(task))
                yield task
        return super().run(function, recorded())


def _original_uid_sent(tmp_path: Path, layout_by_uid: bool) -> bool:
    inputs = tmp_path / "in"
    study = make_studies(inputs, 1)[0]
    uid = str(pydicom.dcmread(next(study.rglob("*.dcm")), stop_before_pixels=True).StudyInstanceUID)
    if layout_by_uid:  # a PACS export laid out by Study Instance UID
        study.rename(inputs / uid)
    sent: list[bytes] = []
    result = anonymize_batch(_context(), BatchAnonymizeRequest(input=inputs, out=tmp_path / "out"),
                             engine_factory=lambda *args: _Recording(sent))
    assert result.published == 1 and sent
    return any(uid.encode() in task for task in sent)


@pytest.mark.req("SRS-166")
def test_control_no_original_uid_in_the_tasks_of_an_export_laid_out_by_patient_number(tmp_path: Path) -> None:
    assert not _original_uid_sent(tmp_path, layout_by_uid=False)


@pytest.mark.req("SRS-166")
@pytest.mark.xfail(strict=True, reason="review helper-58: the unit's task carries the input paths; an export laid "
                                       "out by Study Instance UID sends the original UID to the workers (SRS-166 now "
                                       "states this limitation; open)")
def test_no_original_uid_travels_to_the_workers_of_an_export_laid_out_by_uid(tmp_path: Path) -> None:
    assert not _original_uid_sent(tmp_path, layout_by_uid=True)
