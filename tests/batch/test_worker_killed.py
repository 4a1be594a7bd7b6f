"""A worker process SIGKILLed while a batch job runs, on a real LocalCluster (2 processes,
127.0.0.1): every unit is published exactly once, none is missing, the audit log verifies.
The worker's PID comes from the cluster (``Client.run(os.getpid)`` on the workers the
scheduler lists as processing a unit) and is killed from the test."""

from __future__ import annotations

import os
import random
import signal
import threading
from pathlib import Path

import dask
import pytest

from device_ai import app
from device_ai.app.audit_trail import verify
from device_ai.app.context import Context
from device_ai.batch import BatchAnonymizeRequest, anonymize_batch
from device_ai.batch import anonymize_job
from device_ai.batch.engines import DaskEngine
from device_ai.config import Settings
from tests.batch.helpers import dicom_tree, job_entries, ledger_rows, make_studies, published_count, unit_successes


def _kill_workers(engines: list[DaskEngine], out: Path, kills: int, units: int, killed: list[int],
                  rng: random.Random) -> None:
    """Wait for the first published unit, then SIGKILL ``kills`` worker processes that are
    running a unit, at random moments, while units remain."""
    import time

    deadline = time.monotonic() + 240
    while published_count(out) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    while len(killed) < kills and published_count(out) < units and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.0, 0.4))
        try:  # the local cluster's nannies know their workers' PIDs; no message to a dying worker
            pids = engines[0].worker_pids(busy_only=True)
        except Exception:  # noqa: BLE001 - a worker restarting: ask again
            continue
        if not pids:
            continue
        pid = pids[rng.choice(sorted(pids))]
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except ProcessLookupError:
            continue


def exactly_once_problems(out: Path, expected: dict[str, bytes], job: str) -> list[str]:
    """What breaks 'every unit published exactly once, none missing'."""
    problems = []
    rows = ledger_rows(out)
    not_published = sorted(u for u, r in rows.items() if r["state"] != "published")
    if not_published:
        problems.append(f"{len(not_published)} unit(s) not published: {[rows[u]['error'] for u in not_published]}")
    got = dicom_tree(out)
    if sorted(got) != sorted(expected):
        problems.append(f"outputs: {len(set(expected) - set(got))} missing, {len(set(got) - set(expected))} extra")
    elif any(got[name] != expected[name] for name in expected):
        problems.append("outputs differ in bytes")
    successes = unit_successes(job_entries(job))
    twice = [u for u, seqs in successes.items() if len(seqs) != 1]
    if twice or sorted(successes) != sorted(rows):
        problems.append(f"success entries: {len(twice)} unit(s) more than once, {len(set(rows) - set(successes))} none")
    if any((out / ".device-ai-batch" / "staging").iterdir()):
        problems.append("attempt folders left in staging")
    report = verify(None, None, [])
    if report is None or not report.ok:
        problems.append("the audit log does not verify")
    return problems


def _job_with_kills(tmp_path: Path, studies: int, kills: int, seed: int) -> tuple[list[str], list[int], object]:
    inputs, out = tmp_path / "in", tmp_path / "out"
    make_studies(inputs, studies, slices=60)
    context = Context(settings=Settings())
    app.anonymize(context, app.AnonymizeRequest(inputs=[inputs], out=tmp_path / "single"))
    expected = dicom_tree(tmp_path / "single")
    engines: list[DaskEngine] = []

    def two_workers(*args: object) -> DaskEngine:
        engines.append(DaskEngine(workers=2))
        return engines[-1]

    killed: list[int] = []
    killer = threading.Thread(target=_kill_workers, args=(engines, out, kills, studies, killed, random.Random(seed)),
                              daemon=True)
    killer.start()
    result = anonymize_batch(context, BatchAnonymizeRequest(input=inputs, out=out), engine_factory=two_workers)
    killer.join(timeout=30)
    return exactly_once_problems(out, expected, result.job), killed, result


@pytest.mark.req("SRS-162", "SRS-161")
def test_a_worker_killed_mid_job_loses_no_unit_and_publishes_none_twice(tmp_path: Path) -> None:
    problems, killed, result = _job_with_kills(tmp_path, studies=8, kills=1, seed=1)
    assert killed, "no worker was killed while units remained: make the units larger"
    assert problems == []
    assert result.exit_code == 0 and result.published == 8


@pytest.mark.slow
@pytest.mark.req("SRS-162", "SRS-161")
def test_workers_killed_ten_times_at_random_moments(tmp_path: Path) -> None:
    """SIGKILLs at random moments of one job: 5 in `make test` (DEVICE_AI_TEST_BATCH_KILLS), the issue's
    figure of 10 in `make test-kill-rounds` (each kill costs a worker restart: 10 took 128 s of a loaded
    2-core `make test`, as long as any other test)."""
    kills = int(os.environ.get("DEVICE_AI_TEST_BATCH_KILLS", "5"))
    problems, killed, result = _job_with_kills(tmp_path, studies=40, kills=kills, seed=17)
    assert len(killed) == kills, f"only {len(killed)} kills landed while units remained"
    assert problems == []
    assert result.exit_code == 0


@pytest.mark.req("SRS-162")
def test_control_without_retries_a_killed_worker_loses_its_unit(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control: with Dask's re-runs switched off (allowed-failures 0) and the
    coordinator's retry off, the same kill loses the unit it was running: the check finds it
    missing and the ledger records DAI-521; the job still ends with a typed exit code."""
    monkeypatch.setattr(anonymize_job, "MAX_ATTEMPTS_PER_RUN", 1)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        problems, killed, result = _job_with_kills(tmp_path, studies=8, kills=1, seed=1)
    assert killed
    assert any("not published" in p for p in problems), problems
    assert "DAI-521" in result.failed.values() and result.exit_code == 6
