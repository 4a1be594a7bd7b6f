"""SRS-220: the batch layer's Dask communication is mutual TLS (threats THR-036, THR-038, THR-039).

The local cluster a job starts refuses every peer without the job's own certificate (a plain
tcp:// client, a TLS client with a certificate of its own) on its scheduler, nanny and worker
ports, and its HTTP servers serve nothing; the job's client gets in (the control). ``--scheduler``
is refused before anything runs unless it is tls:// with the device's credentials configured and
protected; a site cluster with TLS (its CA and certificates made here) runs units end to end, and
the same cluster is refused typed with credentials of another CA. Everything on 127.0.0.1, with
short timeouts; every cluster started is closed."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import dask
import pytest
from dask.distributed import LocalCluster
from distributed.comm import connect
from distributed.security import Security

from device_ai.batch.cluster_security import TLS_SETTINGS, SiteScheduler, site_scheduler
from device_ai.batch.engines import DaskEngine
from device_ai.batch.errors import SchedulerNotSecured, SchedulerUnreachable
from device_ai.config import Settings
from device_ai.errors import ConfigError
from tests.batch.helpers import make_studies
from tests.batch.site_tls import site_credentials

CLI = [sys.executable, "-m", "device_ai.cli"]
SHORT_CONNECT = {"distributed.comm.timeouts.connect": "3s"}


async def _identity(address: str, security: Security | None) -> dict:
    """The peer's answer to Dask's ``identity`` request, through a connection made with
    ``security`` (None: plain TCP)."""
    comm = await connect(address, timeout=3, **(security.get_connection_args("client") if security else {}))
    try:
        await comm.write({"op": "identity"})
        return await asyncio.wait_for(comm.read(), 3)
    finally:
        await comm.close()


def _http_status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


async def _default_scheduler_http() -> int:
    """The control of the HTTP check: a Dask scheduler as Dask configures it serves its JSON page."""
    from distributed import Scheduler

    async with Scheduler(host="127.0.0.1", port=0, dashboard_address="127.0.0.1:0") as scheduler:
        return await asyncio.to_thread(_http_status, scheduler.http_server.port, "/json/identity.json")


@pytest.mark.req("SRS-220")
def test_the_local_cluster_runs_units_and_refuses_every_peer_without_the_jobs_certificate() -> None:
    engine = DaskEngine(workers=1)
    try:
        assert sorted(engine.run(abs, [-1, -2, -3])) == [1, 2, 3]  # the job's own units still run
        assert engine.dashboard is None
        info = engine.client.scheduler_info()
        workers = info["workers"]
        targets = [engine.cluster.scheduler_address, *workers, *(w["nanny"] for w in workers.values())]
        assert len(targets) == 3 and all(t.startswith("tls://127.0.0.1:") for t in targets), targets
        for target in targets:
            # the control: the job's own credentials get an answer from each of them
            answer = asyncio.run(_identity(target, engine.security))
            assert answer["type"] in ("Scheduler", "Worker", "Nanny"), answer
            plain = "tcp://" + target.removeprefix("tls://")
            with pytest.raises(OSError):  # CommClosedError: the TLS listener drops a plain TCP peer
                asyncio.run(_identity(plain, None))
            with pytest.raises(OSError):  # another account's own certificate: no handshake
                asyncio.run(_identity(target, Security.temporary()))
        # the HTTP servers Dask starts anyway serve no page (dashboard, JSON, info, metrics)
        ports = [info["services"]["dashboard"], *(w["services"]["dashboard"] for w in workers.values())]
        for port in ports:
            for path in ("/json/identity.json", "/info/main/workers.html", "/metrics", "/health", "/status"):
                assert _http_status(port, path) == 404, (port, path)
    finally:
        engine.close()
    assert asyncio.run(_default_scheduler_http()) == 200  # the control: Dask's default would serve it


@pytest.mark.req("SRS-220")
@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "127.0.0.1:8786", "TCP://127.0.0.1:8786",
                                     "ws://127.0.0.1:8786", "inproc://127.0.0.1/1/1", "TLS://127.0.0.1:8786"])
def test_a_scheduler_reached_without_tls_is_refused(address: str, tmp_path: Path) -> None:
    site = site_credentials(tmp_path / "tls")
    with pytest.raises(SchedulerNotSecured, match="over tls:// \\(mutual TLS\\) only") as refused:
        site_scheduler(address, Settings(**site.device_settings()))
    assert refused.value.code == "DAI-124" and "batch_tls_ca_file" in refused.value.hint
    # the control: the same credentials with a tls:// address are taken (nothing connects yet)
    accepted = site_scheduler("tls://127.0.0.1:8786", Settings(**site.device_settings()))
    assert isinstance(accepted, SiteScheduler) and accepted.security.require_encryption
    assert "BEGIN" not in repr(accepted)  # the key is not shown


@pytest.mark.req("SRS-220")
def test_tls_without_the_devices_credentials_is_refused_naming_the_settings(tmp_path: Path) -> None:
    with pytest.raises(SchedulerNotSecured) as refused:
        site_scheduler("tls://127.0.0.1:8786", Settings())
    assert all(name in refused.value.message for name in TLS_SETTINGS), refused.value.message
    site = site_credentials(tmp_path / "tls")
    for name in TLS_SETTINGS:  # one missing: that one is named
        values = {**site.device_settings(), name: None}
        with pytest.raises(SchedulerNotSecured, match=f"\\({name} not set"):
            site_scheduler("tls://127.0.0.1:8786", Settings(**values))
    # through the command line, before any model is loaded or anything is written
    done = subprocess.run([*CLI, "validate", "--patients", "20", "--scheduler", "tls://127.0.0.1:9",
                           "--out", str(tmp_path / "report.json")], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if not k.startswith("DEVICE_AI_BATCH_TLS")})
    assert done.returncode == 2 and "DAI-124" in done.stderr and "batch_tls_cert_file" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "report.json").exists()


@pytest.mark.req("SRS-220")
def test_credential_files_another_account_could_change_or_read_are_refused(tmp_path: Path) -> None:
    site = site_credentials(tmp_path / "tls")
    settings = Settings(**site.device_settings())
    assert site_scheduler("tls://127.0.0.1:8786", settings) is not None  # the control: 0600 files are taken
    for path, mode, words in ((site.ca, 0o620, "writable by other accounts"),
                              (site.client_cert, 0o602, "writable by other accounts"),
                              (site.client_key, 0o604, "mode 0604: others can read it"),
                              (site.client_key, 0o640, "mode 0640: others can read it")):  # the group too (THR-028)
        path.chmod(mode)
        with pytest.raises(SchedulerNotSecured, match=words):  # DAI-124, a ConfigError
            site_scheduler("tls://127.0.0.1:8786", settings)
        path.chmod(0o600)
    site.ca.chmod(0o644)  # a CA certificate readable by all is fine
    assert site_scheduler("tls://127.0.0.1:8786", settings) is not None
    not_pem = tmp_path / "tls" / "not.pem"
    not_pem.write_text("ca.pem")  # text without a line break would be a file name to Dask
    with pytest.raises(SchedulerNotSecured, match="not a PEM file"):
        site_scheduler("tls://127.0.0.1:8786", Settings(**{**site.device_settings(), "batch_tls_ca_file": not_pem}))
    other = site_credentials(tmp_path / "other", "other")
    with pytest.raises(SchedulerNotSecured, match="do not load together"):  # a key that is not the certificate's
        site_scheduler("tls://127.0.0.1:8786",
                       Settings(**{**site.device_settings(), "batch_tls_key_file": other.client_key}))
    with pytest.raises(SchedulerNotSecured, match="cannot read batch_tls_ca_file"):
        site_scheduler("tls://127.0.0.1:8786",
                       Settings(**{**site.device_settings(), "batch_tls_ca_file": tmp_path / "missing.pem"}))


@pytest.mark.req("SRS-220")
def test_a_tcp_scheduler_is_refused_before_anything_runs_or_is_recorded(tmp_path: Path) -> None:
    """``analyze --batch --scheduler tcp://...`` at a port that listens: exit 2 with DAI-124, no
    connection made to it, no OUT (ledger) and no audit log written. The control: the same job
    with a tls:// address (credentials set, nothing listening) gets as far as the audit log and
    OUT's ledger before it fails to connect (DAI-121)."""
    inputs, home = tmp_path / "in", Path(os.environ["DEVICE_AI_HOME"])
    make_studies(inputs, 2, slices=2, rows=256)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    try:
        port = listener.getsockname()[1]
        refused = subprocess.run([*CLI, "analyze", "--batch", str(inputs), str(tmp_path / "out"), "--scheduler",
                                  f"tcp://127.0.0.1:{port}"], capture_output=True, text=True, timeout=120)
        with pytest.raises(BlockingIOError):  # nobody connected to the plain scheduler's port
            listener.accept()
        probe = socket.create_connection(("127.0.0.1", port), timeout=3)  # the control: a connection is seen
        listener.setblocking(True)
        listener.settimeout(3)
        listener.accept()[0].close()
        probe.close()
    finally:
        listener.close()
    assert refused.returncode == 2, refused.stderr
    assert "DAI-124" in refused.stderr and "tls://" in refused.stderr and "Traceback" not in refused.stderr
    assert refused.stdout == ""  # no summary line claiming a job
    assert not (tmp_path / "out").exists() and not (home / "audit").exists()

    site = site_credentials(tmp_path / "tls")
    with socket.create_server(("127.0.0.1", 0)) as closed:
        free_port = closed.getsockname()[1]
    control = subprocess.run([*CLI, "analyze", "--batch", str(inputs), str(tmp_path / "out"), "--scheduler",
                              f"tls://127.0.0.1:{free_port}"], capture_output=True, text=True, timeout=180,
                             env={**os.environ, **site.device_environment(),
                                  "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"})
    assert control.returncode == 2 and "DAI-121" in control.stderr, control.stderr
    assert (tmp_path / "out" / ".device-ai-batch").is_dir() and (home / "audit").is_dir()


def _site_cluster(security: Security, workers: int = 1) -> LocalCluster:
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                        protocol="tls://", security=security, dashboard_address=None)


@pytest.mark.req("SRS-220")
def test_a_site_scheduler_with_tls_runs_units_and_refuses_credentials_of_another_ca(tmp_path: Path) -> None:
    site = site_credentials(tmp_path / "site")
    other = site_credentials(tmp_path / "other", "other")
    cluster = _site_cluster(site.cluster_security())
    try:
        assert cluster.scheduler_address.startswith("tls://127.0.0.1:")
        scheduler = site_scheduler(cluster.scheduler_address, Settings(**site.device_settings()))
        engine = DaskEngine(scheduler=scheduler)
        try:
            assert engine.name == f"Dask scheduler {cluster.scheduler_address}" and engine.workers == 1
            assert sorted(engine.run(abs, [-4, 5, -6])) == [4, 5, 6]
        finally:
            engine.close()
        with dask.config.set(SHORT_CONNECT):
            # a client certificate of another CA: the site's scheduler refuses the device
            stranger = {**site.device_settings(), "batch_tls_cert_file": other.client_cert,
                        "batch_tls_key_file": other.client_key}
            with pytest.raises(SchedulerUnreachable, match="could not reach") as unknown_client:
                DaskEngine(scheduler=site_scheduler(cluster.scheduler_address, Settings(**stranger)))
            # another CA trusted by the device: the site's scheduler looks like an impostor
            impostor = {**other.device_settings()}
            with pytest.raises(SchedulerUnreachable, match="could not reach") as impostor_seen:
                DaskEngine(scheduler=site_scheduler(cluster.scheduler_address, Settings(**impostor)))
        assert unknown_client.value.code == impostor_seen.value.code == "DAI-121"
        for refusal in (unknown_client.value.message, impostor_seen.value.message):  # the handshake, not the port
            assert "SSL" in refusal or "TLS certificate" in refusal, refusal
        assert "batch_tls_ca_file" in impostor_seen.value.hint
    finally:
        cluster.close()
