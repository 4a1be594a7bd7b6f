"""``--scheduler``: a job on an existing Dask cluster (a LocalCluster the test starts, 2 worker
processes on 127.0.0.1, mutual TLS with certificates made for the test: SRS-220); workers holding
another site secret refuse every unit (DAI-122) instead of writing other pseudonyms; a second
coordinator on the same job is refused (DAI-123); an unreachable scheduler is a typed refusal."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dask.distributed import LocalCluster

from device_ai.app.context import Context
from device_ai.batch import BatchAnonymizeRequest, anonymize_batch
from device_ai.config import Settings
from tests.batch.helpers import LEDGER, dicom_tree, ledger_rows, make_studies
from tests.batch.site_tls import SiteCredentials, site_credentials

CLI = [sys.executable, "-m", "device_ai.cli"]


def _cluster(site: SiteCredentials, workers: int = 2, **worker_env: str) -> LocalCluster:
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                        protocol="tls://", security=site.cluster_security(), dashboard_address=None,
                        env=worker_env or None)


@pytest.mark.req("SRS-160", "SRS-164")
def test_an_existing_cluster_runs_the_job_and_workers_with_another_secret_refuse(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    make_studies(inputs, 3)
    site = site_credentials(tmp_path / "tls")
    settings = Settings(**site.device_settings())
    cluster = _cluster(site)
    try:  # the control: the cluster's workers share the coordinator's key store
        result = anonymize_batch(Context(settings=settings),
                                 BatchAnonymizeRequest(input=inputs, out=tmp_path / "ok", scheduler=cluster.scheduler_address))
    finally:
        cluster.close()
    assert result.engine.startswith("Dask scheduler tls://127.0.0.1:") and result.published == 3
    assert result.exit_code == 0 and len(dicom_tree(tmp_path / "ok")) == 6

    cluster = _cluster(site, DEVICE_AI_HOME=str(tmp_path / "another-site"))
    try:
        result = anonymize_batch(Context(settings=settings), BatchAnonymizeRequest(
            input=inputs, out=tmp_path / "refused", scheduler=cluster.scheduler_address))
    finally:
        cluster.close()
    assert sorted(result.failed.values()) == ["DAI-122"] * 3 and result.published == 0
    assert result.exit_code == 2  # a configuration error of the cluster, not of the input
    assert dicom_tree(tmp_path / "refused") == {}
    assert {r["state"] for r in ledger_rows(tmp_path / "refused").values()} == {"failed"}


@pytest.mark.req("SRS-163")
def test_a_second_coordinator_and_an_unreachable_scheduler_are_refused(tmp_path: Path) -> None:
    inputs, out = tmp_path / "in", tmp_path / "out"
    make_studies(inputs, 1)
    first = subprocess.run([*CLI, "anonymize", "--batch", str(inputs), str(out)], capture_output=True, text=True,
                           timeout=240)
    assert first.returncode == 0, first.stderr
    lock = os.open(out / LEDGER.parent / "job.lock", os.O_RDWR)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running coordinator holds it
        second = subprocess.run([*CLI, "anonymize", "--batch", str(inputs), str(out)], capture_output=True,
                                text=True, timeout=240)
    finally:
        os.close(lock)
    assert second.returncode == 2 and "DAI-123" in second.stderr and "Traceback" not in second.stderr
    unreachable = subprocess.run([*CLI, "anonymize", "--batch", str(inputs), str(tmp_path / "other"), "--scheduler",
                                  "tls://127.0.0.1:9"], capture_output=True, text=True, timeout=240,
                                 env={**os.environ, **site_credentials(tmp_path / "tls").device_environment(),
                                      "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"})
    assert unreachable.returncode == 2 and "DAI-121" in unreachable.stderr, unreachable.stderr
    assert "Traceback" not in unreachable.stderr


@pytest.mark.req("SRS-162")
def test_a_cluster_without_workers_stops_the_job_with_a_typed_error(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A scheduler whose workers are all gone (here: one started without any) does not make the
    job wait forever: after NO_WORKER_S it stops with DAI-121, its units pending for the next run."""
    from device_ai.batch import engines
    from device_ai.errors import ConfigError

    monkeypatch.setattr(engines, "NO_WORKER_S", 2.0)
    monkeypatch.setattr(engines, "_WATCH_S", 0.5)
    inputs = tmp_path / "in"
    make_studies(inputs, 2)
    site = site_credentials(tmp_path / "tls")
    cluster = _cluster(site, workers=0)
    try:
        with pytest.raises(ConfigError, match="no worker process has been connected") as raised:
            anonymize_batch(Context(settings=Settings(**site.device_settings())), BatchAnonymizeRequest(
                input=inputs, out=tmp_path / "out", scheduler=cluster.scheduler_address))
    finally:
        cluster.close()
    assert raised.value.code == "DAI-121"
    assert {r["state"] for r in ledger_rows(tmp_path / "out").values()} == {"pending"}
    assert dicom_tree(tmp_path / "out") == {}
