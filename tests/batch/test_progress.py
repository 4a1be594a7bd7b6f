"""A batch job's progress (issue 17 item 5): units done, failed and in total, rate and ETA, at
most once a second and once at the end, with the Dask dashboard's address; computed by
``batch.progress`` (driven here by a fake clock), printed on stderr by the command line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from device_ai.batch.progress import JobProgress, Snapshot
from tests.batch.helpers import make_studies


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.req("SRS-175")
def test_rate_eta_and_counts_with_a_fake_clock() -> None:
    clock, lines = _Clock(), []
    progress = JobProgress(10, lines.append, what="units", clock=clock)
    progress.announce("LocalCluster (2 worker processes)", "http://127.0.0.1:8787/status")
    assert lines == ["units: 10 to run on LocalCluster (2 worker processes); Dask dashboard "
                     "http://127.0.0.1:8787/status"]
    clock.now += 0.5
    progress.finished("a")  # the first result: a line at once
    assert lines[-1] == "units: 1 done, 0 failed, 1/10 (2.00/s, ETA 0:00:05)"
    clock.now += 0.4
    progress.finished("b", failed=True)
    progress.finished("b", failed=True)  # the same unit again (a duplicate result): counted once
    assert len(lines) == 2, "a second line within the interval"
    clock.now += 0.6  # 1.0 s after the last line: due
    progress.finished("c")
    assert lines[-1] == "units: 2 done, 1 failed, 3/10 (2.00/s, ETA 0:00:04)"
    clock.now += 5.0
    progress.finished("b")  # a retried unit's latest outcome counts: no longer failed
    assert lines[-1] == "units: 3 done, 0 failed, 3/10 (0.46/s, ETA 0:00:16)"
    final = progress.end()
    assert (final.done, final.failed, final.total) == (3, 0, 10) and final.eta_s == pytest.approx(7 / (3 / 6.5))
    assert len(lines) == 4, "end() repeated the counts the last line gave"
    clock.now += 0.1
    progress.finished("d", failed=True)  # within the interval: no line ...
    assert len(lines) == 4
    progress.end()  # ... but the end gives one, whatever the interval
    assert lines[-1] == "units: 3 done, 1 failed, 4/10 (0.61/s, ETA 0:00:10)"
    # negative controls of the arithmetic: before any unit the rate is 0 and the ETA unknown;
    # finished, the ETA is 0
    assert Snapshot(done=0, failed=0, total=4, elapsed_s=3.0).line() == "units: 0 done, 0 failed, 0/4 (0.00/s, ETA unknown)"
    assert Snapshot(done=3, failed=1, total=4, elapsed_s=2.0).eta_s == 0.0
    assert Snapshot(done=1, failed=0, total=4, elapsed_s=2.0).eta_s == 6.0
    assert Snapshot(done=0, failed=0, total=2, elapsed_s=7325.2).line().endswith("ETA unknown)")
    assert JobProgress(1, None, clock=clock).end().total == 1  # no sink: nothing printed, counts kept
    # a unit refused before running: failed, no line of its own, not in the rate
    lines.clear()
    progress = JobProgress(3, lines.append, what="units", clock=clock)
    progress.refused("over")
    assert lines == []
    clock.now += 2.0
    progress.finished("a")
    assert lines == ["units: 1 done, 1 failed, 2/3 (0.50/s, ETA 0:00:02)"]


@pytest.mark.req("SRS-175")
def test_a_small_job_prints_its_final_progress_line(tmp_path: Path) -> None:
    """Through the command line, 2 local worker processes: 3 studies published, one refused
    (above max_files): the last progress line on stderr says 3 done, 1 failed of 4, with a rate;
    the first names the engine, and no dashboard (the local cluster serves none: SRS-220)."""
    inputs = tmp_path / "in"
    make_studies(inputs, 3, slices=2)
    make_studies(inputs, 1, slices=4, first=3)
    done = subprocess.run([sys.executable, "-m", "device_ai.cli", "anonymize", "--batch", str(inputs),
                           str(tmp_path / "out"), "--workers", "2"], capture_output=True, text=True, timeout=240,
                          env={**os.environ, "DEVICE_AI_MAX_FILES": "3"})
    assert done.returncode == 3, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("units (studies): ")]
    assert re.fullmatch(r"units \(studies\): 4 to run on LocalCluster \(2 worker processes\)", lines[0]), lines
    assert re.fullmatch(r"units \(studies\): 3 done, 1 failed, 4/4 \(\d+\.\d\d/s, ETA 0:00:00\)", lines[-1]), lines
    assert float(re.search(r"\((\d+\.\d\d)/s", lines[-1]).group(1)) > 0
    assert "Traceback" not in done.stderr
