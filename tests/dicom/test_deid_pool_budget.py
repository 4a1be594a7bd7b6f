"""The de-identification pool shares the run's memory bound (review 70, SRS-172; helper-75).

Each process of a pooled run may hold one file's memory budget; with the configured per-file
budget (640 MiB by default) two processes could hold more than the 1 GiB a run may use. The pool
therefore gives each file its share of the bound (:func:`run.pool_plan`), and a pooled file over its
share is de-identified again after the pool, in the parent alone, with the configured budget: the
same outputs as a one-process run, the bound kept, ordinary CT files still de-identified by a pool.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from device_ai.dicom.deidentify import run as run_module
from device_ai.dicom.deidentify.run import Deidentifier, RunConfig
from device_ai.dicom.reader import MIB, ReadLimits
from tests.dicom.synthetic import ct_slice, phantom_hu, write

SECRET = b"pool-budget-test-secret-not-a-site-key"
CLEAN_PROCESS = "DEVICE_AI_TEST_CLEAN_PROCESS"


@pytest.mark.req("SRS-172")
def test_the_pool_gives_each_file_its_share_of_the_run_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    bound = run_module._RUN_MEMORY_BYTES
    for cores, resident_mib in ((4, 200), (2, 150), (8, 100), (2, 300)):
        monkeypatch.setattr(run_module.os, "sched_getaffinity", lambda pid, c=cores: set(range(c)), raising=False)
        resident = resident_mib * MIB
        workers, budget = run_module.pool_plan(RunConfig(secret=SECRET), 5000, resident)
        assert workers >= 2, (cores, resident_mib)  # ordinary CT files still go to a pool
        assert workers * (resident + budget) <= bound, (cores, resident_mib, workers, budget // MIB)
        assert run_module._FILE_RESERVE_BYTES <= budget < ReadLimits().max_input_memory_bytes
        # consistent: with that budget per file the pool is the same size
        limited = RunConfig(secret=SECRET, limits=ReadLimits(max_input_memory_bytes=budget))
        assert run_module.worker_count(limited, 5000, resident) == workers
    # negative control: with the configured 640 MiB a file, two processes would pass the bound
    assert 2 * (150 * MIB + ReadLimits().max_input_memory_bytes) > bound
    assert run_module.worker_count(RunConfig(secret=SECRET), 5000, 150 * MIB) == 1
    # few files: this process alone, with the configured budget
    assert run_module.pool_plan(RunConfig(secret=SECRET), 15, 150 * MIB) == (1, ReadLimits().max_input_memory_bytes)


def _inputs(folder: Path) -> list[Path]:
    """15 ordinary slices and one 20 MiB multi-frame file (de-identifying it holds ~80 MiB)."""
    hu = phantom_hu(16, 256)
    paths = [write(ct_slice(i, hu), folder / f"CT{i:02d}.dcm") for i in range(15)]
    big = ct_slice(15, hu)
    big.NumberOfFrames = 160
    big.PixelData = big.PixelData * 160
    paths.append(write(big, folder / "CT15.dcm"))
    return paths


@pytest.mark.req("SRS-172")
def test_a_pooled_file_over_its_share_is_deidentified_alone_after_the_pool(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if threading.active_count() > 1 and not os.environ.get(CLEAN_PROCESS):
        # the pool refuses to fork beside another thread (an earlier test's): run in a fresh interpreter
        again = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider",
                                f"{__file__}::test_a_pooled_file_over_its_share_is_deidentified_alone_after_the_pool"],
                               env={**os.environ, CLEAN_PROCESS: "1"}, capture_output=True, text=True, timeout=900)
        assert again.returncode == 0 and " passed" in again.stdout, again.stdout[-3000:] + again.stderr[-2000:]
        return
    folder = tmp_path / "in"
    folder.mkdir()
    _inputs(folder)
    # a small bound, so that the pool's share (64 MiB) is below the big file's need and the configured budget
    monkeypatch.setattr(run_module, "_RUN_MEMORY_BYTES", 160 * MIB)
    monkeypatch.setattr(run_module, "_resident_bytes", lambda: 16 * MIB)
    monkeypatch.setattr(run_module.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert run_module.pool_plan(RunConfig(secret=SECRET), 16) == (2, 64 * MIB)
    result = Deidentifier(RunConfig(secret=SECRET)).run([folder], tmp_path / "out", tmp_path / "q")
    assert result.workers == 2  # the pool really ran
    assert len(result.written) == 16 and not result.quarantined, [q.reason for q in result.quarantined]
    # negative control: with 64 MiB configured per file (no larger budget to try it again with) it is refused
    result = Deidentifier(RunConfig(secret=SECRET, limits=ReadLimits(max_input_memory_bytes=64 * MIB))).run(
        [folder], tmp_path / "out2", tmp_path / "q2")
    assert result.workers == 2
    assert len(result.written) == 15 and [q.code for q in result.quarantined] == ["read-limit"]
    assert result.quarantined[0].source.name == "CT15.dcm"
