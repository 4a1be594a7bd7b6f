"""``anonymize --batch --crosswalk FILE``: the job's crosswalk (workers' encrypted parts merged by
the coordinator) decrypts to the single run's crosswalk of the same input; a re-run replaces only
the job's own crosswalk; a missing part is a typed failure, never a partial crosswalk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from device_ai import app
from device_ai.app.context import Context
from device_ai.batch import BatchAnonymizeRequest, anonymize_batch
from device_ai.batch.engines import DaskEngine, InProcessEngine
from device_ai.batch.ledger import Ledger
from device_ai.config import Settings
from device_ai.dicom.deidentify.crosswalk import read_crosswalk
from device_ai.errors import OutputError, OutputRefused
from tests.batch.helpers import make_studies


def _context() -> Context:
    return Context(settings=Settings())


def _single_crosswalk(inputs: Path, tmp_path: Path) -> dict:
    app.anonymize(_context(), app.AnonymizeRequest(inputs=[inputs], out=tmp_path / "single",
                                                   crosswalk=tmp_path / "single.crosswalk"))
    return read_crosswalk(tmp_path / "single.crosswalk")


@pytest.mark.req("SRS-166")
def test_the_jobs_crosswalk_is_the_single_runs_and_survives_a_rerun(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    inputs, out, crosswalk = tmp_path / "in", tmp_path / "out", tmp_path / "job.crosswalk"
    make_studies(inputs, 3)
    # the first patient again in a second study (another image of the same seed: other UIDs, same patient)
    from device_ai.training.ct_series import write_ct_series
    from device_ai.training.phantoms import generate_case, split_seeds

    write_ct_series(generate_case(split_seeds("test", 1)[0], n_slices=3, rows=64), inputs / "patient-000-b" / "ct")
    expected = _single_crosswalk(inputs, tmp_path)
    assert len(expected["patients"]) == 3 and expected["uids"]

    # the first run stops after its first unit's study folder is renamed into place, before its end
    home = os.environ["DEVICE_AI_HOME"]

    def stop_after(self: Ledger, unit: str, seq: int) -> None:
        raise KeyboardInterrupt
    monkeypatch.setattr(Ledger, "published", stop_after)
    with pytest.raises(KeyboardInterrupt):
        anonymize_batch(_context(), BatchAnonymizeRequest(input=inputs, out=out, crosswalk=crosswalk),
                        engine_factory=lambda *args: InProcessEngine())
    monkeypatch.undo()
    monkeypatch.setenv("DEVICE_AI_HOME", home)
    assert not crosswalk.exists()

    result = anonymize_batch(_context(), BatchAnonymizeRequest(input=inputs, out=out, crosswalk=crosswalk),
                             engine_factory=lambda *args: DaskEngine(workers=2))
    assert result.exit_code == 0 and result.resumed == 1 and result.units == 4
    assert read_crosswalk(crosswalk) == expected
    assert not (out / "job.crosswalk").exists() and not list(out.rglob("*crosswalk*")), "nothing of it under OUT"

    first = crosswalk.read_bytes()
    again = anonymize_batch(_context(), BatchAnonymizeRequest(input=inputs, out=out, crosswalk=crosswalk),
                            engine_factory=lambda *args: DaskEngine(workers=2))
    assert again.already_published == 4 and read_crosswalk(crosswalk) == expected
    assert crosswalk.read_bytes() != first  # written again (a new nonce), this job's own file replaced

    # Negative controls: another file at FILE is never replaced; a missing part fails the job
    other = tmp_path / "other.crosswalk"
    other.write_bytes(b"someone else's file\n")
    with pytest.raises(OutputRefused, match="not this job's crosswalk"):
        anonymize_batch(_context(), BatchAnonymizeRequest(input=inputs, out=out, crosswalk=other),
                        engine_factory=lambda *args: InProcessEngine())
    assert other.read_bytes() == b"someone else's file\n"
    next((tmp_path / "out-quarantine").rglob("crosswalk.part")).unlink()
    before = crosswalk.read_bytes()
    with pytest.raises(OutputError, match="crosswalk parts of 1 published unit"):
        anonymize_batch(_context(), BatchAnonymizeRequest(input=inputs, out=out, crosswalk=crosswalk),
                        engine_factory=lambda *args: InProcessEngine())
    assert crosswalk.read_bytes() == before
