"""Where units run: in this process, on a ``dask.distributed.LocalCluster`` of worker
processes, or on an existing Dask cluster (``--scheduler tls://HOST:PORT``); both over mutual TLS
only (:mod:`device_ai.batch.cluster_security`, SRS-220).

An engine takes tasks and yields their results as they finish; it knows nothing of ledgers,
audit logs or publication (the coordinator's). At most ``in_flight`` tasks are with the
cluster at a time, so a job of a million units does not put a million tasks on the scheduler.
A task whose worker process dies is re-run by Dask on another worker (the scheduler's
``allowed-failures`` times); past that its result is a :class:`~device_ai.batch.errors.WorkerLost`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from device_ai.batch.cluster_security import NO_HTTP_ROUTES, SiteScheduler, local_cluster_security
from device_ai.batch.errors import SchedulerUnreachable, WorkerLost

_IN_FLIGHT_PER_WORKER = 4
_WATCH_S = 5.0  # how often a run with nothing finished looks for workers
NO_WORKER_S = 60.0  # a run with no worker connected this long stops (typed), instead of waiting forever


@dataclass(frozen=True)
class Lost:
    """A task no worker could finish (its worker processes died); ``error`` is typed."""

    task: Any
    error: WorkerLost


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class InProcessEngine:
    """Runs each task here, one after the other (one study, tests, no cluster)."""

    name = "in-process"
    dashboard: str | None = None
    workers = 1

    def run(self, function: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        for task in tasks:
            yield function(task)

    def close(self) -> None:
        pass


class DaskEngine:
    """A Dask client on a local cluster it starts (``scheduler`` None) or on a site's scheduler.

    The local cluster's scheduler, nannies and workers listen on 127.0.0.1 over TLS with the job's
    own key and certificate (``security``), required of every peer; it serves no dashboard, so
    ``dashboard`` is None (a site scheduler's is reported when it serves one)."""

    def __init__(self, workers: int = 0, scheduler: SiteScheduler | None = None) -> None:
        try:
            import dask
            from dask.distributed import Client, LocalCluster
        except ImportError as exc:  # a dependency of the package: missing means a broken install
            raise SchedulerUnreachable(f"dask.distributed is not installed ({exc.name} is missing)",
                                       hint="install the device with its dependencies (pip install device-ai)") from exc
        # The cluster's own log lines (a worker restarted after it died) are not the operator's: the
        # job reports what happened to each unit
        logging.getLogger("distributed").setLevel(logging.ERROR)
        self.cluster = None
        self.client = None
        address = scheduler.address if scheduler is not None else None
        try:
            if scheduler is None:
                self.workers = workers or default_workers()
                self.name = f"LocalCluster ({self.workers} worker processes)"
                self.security = local_cluster_security()
                # processes, one thread each: a unit is CPU-bound Python; 127.0.0.1 only, TLS only; no
                # dashboard and no HTTP route (the worker processes take this configuration from their
                # nannies); Dask still opens its HTTP server: on a free port, not 8787
                with dask.config.set(NO_HTTP_ROUTES):
                    self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                                host="127.0.0.1", protocol="tls://", security=self.security,
                                                dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False})
                self.client = Client(self.cluster, security=self.security)
                # its workers print on our stderr: no traceback for the heartbeat cut at shutdown
                from device_ai.batch.worker_logging import QuietWorkerShutdown
                self.client.register_plugin(QuietWorkerShutdown())
            else:
                self.name = f"Dask scheduler {address}"
                self.security = scheduler.security
                # waits distributed.comm.timeouts.connect (Dask's configuration; 30 s by default); a
                # certificate either side refuses fails the handshake, which is retried until then
                self.client = Client(address, security=scheduler.security)
                self.workers = max(1, len(self.client.scheduler_info().get("workers", {})))
        except (OSError, TimeoutError) as exc:
            self.close()
            where = address or "the local cluster"
            raise SchedulerUnreachable(f"could not reach {where}: {exc}",
                                       hint="check --scheduler (tls://HOST:PORT), that the scheduler runs, that "
                                            "batch_tls_ca_file signed its certificate and that it trusts the CA of "
                                            "batch_tls_cert_file"
                                       if address else "check free memory and that 127.0.0.1 ports can be opened") from exc
        # a local cluster's HTTP server serves nothing: no dashboard to announce
        self.dashboard = (self.client.dashboard_link if self.cluster is None and _has_dashboard(self.client)
                          else None)

    def worker_pids(self, busy_only: bool = False) -> dict[str, int]:
        """Worker address -> process id (``busy_only``: of the workers running a unit now), for
        operators and tests. A local cluster's are its nannies' child processes (no message to a
        worker that may be dying); an existing cluster's workers are asked."""
        workers = self.client.scheduler_info().get("workers", {})
        if busy_only:
            busy = {address for address, keys in self.client.processing().items() if keys}
            workers = {address: info for address, info in workers.items() if address in busy}
        if self.cluster is None:
            return self.client.run(os.getpid, workers=list(workers)) if workers else {}
        pids = {address: getattr(self.cluster.workers.get(info.get("name")), "pid", None)
                for address, info in workers.items()}
        return {address: pid for address, pid in pids.items() if pid}

    def run(self, function: Callable[[Any], Any], tasks: Iterable[Any]) -> Iterator[Any]:
        """Each task's result (or a :class:`Lost`) as it finishes, in no particular order. With no
        worker connected for ``NO_WORKER_S`` seconds the run stops (SchedulerUnreachable): the
        units not finished stay in the ledger for the next run, rather than waiting forever."""
        from distributed import wait
        from distributed.scheduler import KilledWorker

        pending = iter(tasks)
        futures: dict[Any, tuple[Any, Any]] = {}  # key -> (future, task)
        limit = max(1, self.workers * _IN_FLIGHT_PER_WORKER)

        def submit_next() -> bool:
            for task in pending:
                future = self.client.submit(function, task, pure=False)
                futures[future.key] = (future, task)
                return True
            return False

        for _ in range(limit):
            if not submit_next():
                break
        without_workers = 0.0
        try:
            while futures:
                try:
                    done, _ = wait([f for f, _ in futures.values()], timeout=_WATCH_S, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    without_workers = 0.0 if self._has_workers() else without_workers + _WATCH_S
                    if without_workers >= NO_WORKER_S:
                        raise SchedulerUnreachable(
                            f"no worker process has been connected to {self.name} for {NO_WORKER_S:.0f} s; "
                            f"{len(futures)} unit(s) in progress were not finished",
                            hint="run the command again (finished units are kept); check the workers") from None
                    continue
                without_workers = 0.0
                for future in done:
                    _, task = futures.pop(future.key)
                    try:
                        result = future.result()
                    except KilledWorker:
                        result = Lost(task, WorkerLost(
                            f"unit {getattr(task, 'unit', getattr(task, 'number', '?'))}: the worker processes running "
                            "it died as many times as the scheduler allows; nothing of it was published",
                            hint="run the command again (the unit is retried); check the workers' memory if it "
                                 "repeats"))
                    except Exception as exc:  # the task itself never raises: this is the cluster failing
                        raise SchedulerUnreachable(f"the Dask cluster failed while running units: "
                                                   f"{type(exc).__name__}: {exc}",
                                                   hint="run the command again; finished units are kept") from exc
                    finally:
                        future.release()
                    yield result
                    submit_next()
        finally:
            if futures:  # the job stopped early: nothing more for the cluster to do
                with contextlib.suppress(Exception):
                    self.client.cancel([future for future, _ in futures.values()])

    def _has_workers(self) -> bool:
        try:
            return bool(self.client.scheduler_info().get("workers"))
        except Exception:  # noqa: BLE001 - a scheduler that does not answer has no worker for us
            return False

    def close(self) -> None:
        # a worker's heartbeat cut by the shutdown is logged as an error by Dask: expected here
        logging.getLogger("distributed").setLevel(logging.CRITICAL)
        try:
            for part in (self.client, self.cluster):
                if part is not None:
                    with contextlib.suppress(Exception):
                        part.close()
        finally:
            logging.getLogger("distributed").setLevel(logging.ERROR)


def _has_dashboard(client: Any) -> bool:
    try:
        return bool(client.scheduler_info().get("services", {}).get("dashboard"))
    except Exception:  # noqa: BLE001 - no dashboard is an ordinary state
        return False


def engine_for(workers: int, scheduler: SiteScheduler | None, units_to_run: int):  # noqa: ANN201 - an engine
    """In this process for at most one unit (no cluster to start); a local cluster otherwise;
    the given scheduler when named (:func:`~device_ai.batch.cluster_security.site_scheduler`)."""
    if scheduler is not None:
        return DaskEngine(scheduler=scheduler)
    if units_to_run <= 1:
        return InProcessEngine()
    return DaskEngine(workers=workers)
