"""What the worker processes of a local cluster print on the operator's terminal.

A local cluster's workers write to the coordinator's stderr. When the job ends, the scheduler
closes while a worker's heartbeat may be in flight, and Dask logs that cut connection as an
error with a traceback ("Failed to communicate with scheduler during heartbeat"): a traceback
the operator would read as a failure, though every unit's outcome is already reported. A
heartbeat that lost its scheduler mid-job is reported by the coordinator as well (the run stops
with DAI-121 or the unit is retried), so the worker's own line adds nothing either way.
"""

from __future__ import annotations

import logging

from distributed.diagnostics.plugin import WorkerPlugin

_WORKER_LOGGER = "distributed.worker"


class DropLostSchedulerHeartbeat(logging.Filter):
    """Drops a worker's heartbeat failure caused by a closed or unreachable scheduler; keeps the rest."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        lost_connection = isinstance(error, OSError)  # CommClosedError is an OSError
        return not (lost_connection and "heartbeat" in record.getMessage())


class QuietWorkerShutdown(WorkerPlugin):
    """Installs :class:`DropLostSchedulerHeartbeat` in every worker process, restarted ones included."""

    name = "device-ai-quiet-worker-shutdown"

    def setup(self, worker) -> None:  # noqa: ANN001 - Dask's Worker
        logger = logging.getLogger(_WORKER_LOGGER)
        if not any(isinstance(f, DropLostSchedulerHeartbeat) for f in logger.filters):
            logger.addFilter(DropLostSchedulerHeartbeat())
